package main

import (
	"testing"

	"github.com/dialtone/dialtone/client"
)

// §9 with R4.3 and R6.4: bob, with no connected device, was pushed an invitation, which
// stops being pending for him when a main device is lost: the caller's before anyone answered
// (bob becomes BeCancelled), and that of the last Accepted member of an advanced call (the call
// ends while bob still rings). Each sends him one withdrawal, with the invitation's pushConfig
// (a loss carries none), and nothing else: a loss is a quit without pushConfig.
func TestE2EPushWithdrawalsWhenMainDevicesAreLost(t *testing.T) {
	pushes := newPushService(t)
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL)
	ctx := t.Context()
	alice := offlineWithTargets(t, ts, client.PushTarget{Provider: "webhook", Token: "bob-phone"})

	cancelled, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60, PushConfig: ring})
	must(t, err)
	pushes.wait(1)
	alice.Close() // killed before anyone answered: the call is cancelled once she is lost
	pushes.wait(2)
	pushes.wantPushes(t, "the caller lost", cancelled.CallID, "alice", "invitation Alice", "withdrawal Alice")

	carol, dave := ts.login(t, "carol", "c"), ts.login(t, "dave", "d")
	adv := client.InviteConfig{Timeout: 60, Mode: client.ModeAdvanced, PushConfig: ring}
	ended, err := carol.CallInvite(ctx, []string{"bob", "dave"}, adv)
	must(t, err)
	pushes.wait(3)
	must(t, second(dave.CallAccept(ctx, ended.CallID, client.OpConfig{})))
	must(t, second(carol.CallQuit(ctx, ended.CallID, client.OpConfig{})))
	dave.Close() // the last Accepted member, killed: once lost he quits and the call ends
	pushes.wait(4)
	// Six records in all: the four pushes sent, and dave's invitation and withdrawal, not sent
	// (he was connected when invited); no quit push for anyone.
	pushRecordsHandled(t, ts, 6)
	pushes.wantPushes(t, "the last member lost", ended.CallID, "carol", "invitation Alice", "withdrawal Alice")
	info, err := carol.QueryCall(ctx, ended.CallID)
	must(t, err)
	if b := userIn(t, info.CallUserList, "bob"); info.State != client.CallEnded || b.State != client.StateInviting {
		t.Errorf("after the last Accepted member was lost: %+v", info)
	}
}
