package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// hungFCM is an FCM endpoint that stopped answering: its token endpoint works, and it accepts
// every messages:send request (TCP and HTTP headers read) but never answers it.
type hungFCM struct {
	srv     *httptest.Server
	waiting atomic.Int64 // messages:send requests left unanswered so far
	release chan struct{}
}

func newHungFCM(t *testing.T) *hungFCM {
	h := &hungFCM{release: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			_, _ = w.Write([]byte(`{"access_token":"at","expires_in":3600}`))
			return
		}
		h.waiting.Add(1)
		select { // no answer until the client gives up or the test ends
		case <-r.Context().Done():
		case <-h.release:
		}
	}))
	t.Cleanup(func() { close(h.release); h.srv.Close() })
	return h
}

// §9, docs/push.md "A hung provider delays only its own pushes": when FCM stops answering
// (each request accepted, none answered) while more pushes wait for it than the push worker
// sends at once, the invitation push of a callee whose target is on another provider that
// works is still sent at once, long before the hung requests give up (10 s).
func TestE2EPushHungProviderDelaysNoOtherProvider(t *testing.T) {
	pushes := newPushService(t)
	fcm := newHungFCM(t)
	creds := filepath.Join(t.TempDir(), "sa.json")
	must(t, os.WriteFile(creds, serviceAccount(t), 0o600))
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL, "--fcm-credentials", creds,
		"--fcm-token-url", fcm.srv.URL+"/token", "--fcm-endpoint", fcm.srv.URL+"/v1/projects/{project}/messages:send")
	ctx := t.Context()

	// 36 offline callees on FCM (four calls of 9): more pushes wait for FCM than the push worker
	// sends at once.
	const calls, perCall = 4, 9
	register := func(user, provider string) {
		phone := ts.login(t, user, user+"-phone")
		must(t, phone.PushRegister(ctx, client.PushTarget{Provider: provider, Token: user + "-token"}))
		phone.Close()
	}
	invitees := make([][]string, calls)
	for c := range calls {
		for i := range perCall {
			u := fmt.Sprintf("fcm%d%d", c, i)
			register(u, "fcm")
			invitees[c] = append(invitees[c], u)
		}
	}
	register("carol", "webhook")
	callers := make([]*device, calls+1)
	for c := range callers {
		callers[c] = ts.login(t, fmt.Sprintf("caller%d", c), "a")
	}
	waitMetric(t, ts, "dialtone_sessions ", fmt.Sprintf("dialtone_sessions %d", len(callers)))

	for c := range calls {
		_, err := callers[c].CallInvite(ctx, invitees[c], client.InviteConfig{Timeout: 60, PushConfig: ring})
		must(t, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for fcm.waiting.Load() < 16 {
		if time.Now().After(deadline) {
			t.Fatalf("FCM got %d requests, want 16 left waiting", fcm.waiting.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}

	start := time.Now()
	res, err := callers[calls].CallInvite(ctx, []string{"carol"}, client.InviteConfig{Timeout: 60, PushConfig: ring})
	must(t, err)
	select {
	case <-pushes.poke:
	case <-time.After(5 * time.Second):
		t.Fatalf("carol's push on a working provider not sent within 5 s while FCM hangs (%d FCM requests unanswered)",
			fcm.waiting.Load())
	}
	if got := pushes.wait(1); got.Target.Token != "carol-token" || got.Message.CallID != res.CallID {
		t.Fatalf("push = %+v, want carol's invitation of %s", got, res.CallID)
	}
	t.Logf("carol's push sent %v after the invitation, with %d FCM requests unanswered",
		time.Since(start).Round(time.Millisecond), fcm.waiting.Load())
}
