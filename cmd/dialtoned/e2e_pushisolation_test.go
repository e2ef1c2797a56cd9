package main

import (
	"testing"

	"github.com/dialtone/dialtone/client"
)

// §9, docs/push.md "One failing target delays no other": an invitee whose push service keeps
// failing (503, retried with backoff) does not hold up the invitation push of another invitee
// of the same call, whose phone rings at once.
func TestE2EPushFailingInviteeDelaysNoOtherInvitee(t *testing.T) {
	pushes := newPushService(t)
	pushes.down = map[string]bool{"bob-down": true}
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL)
	ctx := t.Context()
	for _, u := range []struct{ user, token string }{{"bob", "bob-down"}, {"carol", "carol-phone"}} {
		phone := ts.login(t, u.user, u.user+"-phone")
		must(t, phone.PushRegister(ctx, client.PushTarget{Provider: "webhook", Token: u.token}))
		phone.Close()
	}
	alice := ts.login(t, "alice", "a")
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 1")

	res, err := alice.CallInvite(ctx, []string{"bob", "carol"}, client.InviteConfig{Timeout: 30, PushConfig: ring})
	must(t, err)
	pushes.waitRefused(2) // bob's push failed, and was retried, before carol's is looked for
	if inv := pushes.wait(1); inv.Target.Token != "carol-phone" || inv.Message.CallID != res.CallID ||
		inv.Message.Kind != "invitation" {
		t.Fatalf("push = %+v, want carol's invitation", inv)
	}
}

// §9, docs/push.md "A withdrawal supersedes": an invitation push that the user's push service
// refused, and that waits for its retry, is not sent once the invitation is withdrawn (here
// cancelled) — it would ring a phone for a call that no longer rings — and the withdrawal goes
// at once, without waiting for the invitation's retries.
func TestE2EPushInvitationWithdrawnBeforeItsRetryIsNotSent(t *testing.T) {
	pushes := newPushService(t)
	pushes.down = map[string]bool{"bob-phone": true}
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL)
	ctx := t.Context()
	phone := ts.login(t, "bob", "bob-phone")
	must(t, phone.PushRegister(ctx, client.PushTarget{Provider: "webhook", Token: "bob-phone"}))
	phone.Close()
	alice := ts.login(t, "alice", "a")
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 1")

	res, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60, PushConfig: ring})
	must(t, err)
	pushes.waitRefused(1) // the invitation's first attempt failed; it waits for its retry
	_, err = alice.CallCancel(ctx, res.CallID, nil, client.OpConfig{})
	must(t, err)
	pushes.mu.Lock()
	pushes.down = nil // bob's push service is back
	pushes.mu.Unlock()

	if got := pushes.wait(1); got.Message.Kind != "withdrawal" || got.Message.CallID != res.CallID {
		t.Fatalf("first push bob's phone took after the cancel: %+v, want the withdrawal of %s", got, res.CallID)
	}
	for _, p := range pushes.all() {
		if p.Message.Kind == "invitation" {
			t.Errorf("bob's phone was sent the invitation of a cancelled call: %+v", p)
		}
	}
}
