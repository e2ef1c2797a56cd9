package push

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// §9 "never a VoIP push" for the webhook provider too: a VoIP target (a PushKit token the push
// service forwards to APNs) is sent invitations only; withdrawals, quit and end pushes are
// not sent to it, without a request (Skipper), as for an APNs VoIP target (docs/push.md "The
// VoIP rule"). An ordinary target gets them all.
func TestWebhookVoIPTargetGetsOnlyInvitations(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var b WebhookBody
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Errorf("body %s: %v", raw, err)
		}
		mu.Lock()
		got = append(got, b.Target.Token+" "+b.Message.Kind)
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	var p Provider = NewWebhook(srv.URL, srv.Client())
	voip := Target{Provider: "webhook", Token: "pushkit", VoIP: true, BundleID: "app"}
	alert := Target{Provider: "webhook", Token: "alert", BundleID: "app"}
	for _, kind := range []string{KindInvitation, KindWithdrawal, KindQuit, KindEnd} {
		m := Message{Kind: kind, CallID: "c1", Caller: "alice"}
		for _, tg := range []Target{voip, alert} {
			if err := p.Send(context.Background(), tg, m); err != nil {
				t.Fatalf("Send %s to %s: %v", kind, tg.Token, err)
			}
		}
		s, ok := p.(Skipper)
		if want := kind != KindInvitation; !ok || s.Skips(voip, m) != want || s.Skips(alert, m) {
			t.Errorf("%s: the webhook provider skips the VoIP target: %v (a Skipper: %v), want %v; the alert target never",
				kind, ok && s.Skips(voip, m), ok, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"pushkit invitation", "alert invitation", "alert withdrawal", "alert quit", "alert end"}
	if !slices.Equal(got, want) {
		t.Errorf("the push service got %q; want %q", got, want)
	}
}
