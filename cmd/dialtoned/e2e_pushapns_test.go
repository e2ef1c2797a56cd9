package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/push"
)

// apnsRequest is one request a fake APNs took: its device token, the headers Dialtone sets
// and the body's kind, callID, deadline and alert.
type apnsRequest struct {
	token, pushType, topic, collapseID, expiration string
	body                                           push.APNsPayload
}

// fakeAPNs answers POST /3/device/<token> with 200, as APNs does, and records each request.
type fakeAPNs struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []apnsRequest
	poke chan struct{}
}

func newFakeAPNs(t *testing.T) *fakeAPNs {
	f := &fakeAPNs{poke: make(chan struct{}, 1)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
		raw, _ := io.ReadAll(r.Body)
		var body push.APNsPayload
		if !ok || r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("authorization"), "bearer ") ||
			json.Unmarshal(raw, &body) != nil {
			t.Errorf("APNs request %s %s %q", r.Method, r.URL.Path, raw)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.got = append(f.got, apnsRequest{token: token, pushType: r.Header.Get("apns-push-type"),
			topic: r.Header.Get("apns-topic"), collapseID: r.Header.Get("apns-collapse-id"),
			expiration: r.Header.Get("apns-expiration"), body: body})
		f.mu.Unlock()
		select {
		case f.poke <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPNs) all() []apnsRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

// §9 through the real server and APNs' protocol: bob, offline, registered an alert token and
// a VoIP (PushKit) token. The invitation goes to both, as an alert push and as a VoIP push on
// the `.voip` topic, each collapsed by the callID and expiring at the ring deadline (a late
// push is not delivered); the cancel's withdrawal, never a VoIP push, goes to the alert token
// only, with the same collapse ID and the cancel's pushConfig, and no expiration.
func TestE2EPushAPNsInvitationAndWithdrawal(t *testing.T) {
	apns := newFakeAPNs(t)
	keyFile, _ := apnsKeyFile(t)
	ts := startServer(t, "--apns-key-file", keyFile, "--apns-key-id", "KEYID12345", "--apns-team-id", "TEAMID1234",
		"--apns-endpoint", apns.srv.URL)
	ctx := t.Context()
	alice := offlineWithTargets(t, ts, client.PushTarget{Provider: "apns", Token: "alert-token", BundleID: "com.example"},
		client.PushTarget{Provider: "apns", Token: "voip-token", VoIP: true, BundleID: "com.example"})

	res, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 30, PushConfig: ring})
	must(t, err)
	deadline := userIn(t, res.CallInfo.CallUserList, "bob").Deadline
	pushRecordsHandled(t, ts, 1)
	must(t, second(alice.CallCancel(ctx, res.CallID, nil, client.OpConfig{PushConfig: &client.PushConfig{Title: "Missed"}})))
	pushRecordsHandled(t, ts, 2)

	got := apns.all()
	slices.SortStableFunc(got[:min(2, len(got))], func(a, b apnsRequest) int { return strings.Compare(a.token, b.token) })
	expiration := strconv.FormatInt((deadline+999)/1000, 10)
	want := []struct{ token, pushType, topic, kind, title, expiration string }{
		{"alert-token", "alert", "com.example", "invitation", "Alice", expiration},
		{"voip-token", "voip", "com.example.voip", "invitation", "Alice", expiration},
		{"alert-token", "alert", "com.example", "withdrawal", "Missed", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("APNs took %d requests, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		wantDeadline := int64(0)
		if w.kind == "invitation" {
			wantDeadline = deadline
		}
		if g.token != w.token || g.pushType != w.pushType || g.topic != w.topic || g.collapseID != res.CallID ||
			g.expiration != w.expiration || g.body.Kind != w.kind || g.body.CallID != res.CallID ||
			g.body.Caller != "alice" || g.body.Deadline != wantDeadline || g.body.APS.Alert.Title != w.title {
			t.Errorf("APNs request %d = %+v, want %+v with collapse ID %s and deadline %d", i, g, w, res.CallID, wantDeadline)
		}
	}
}
