package main

import (
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// R5.3, R3.6, §10b: a device that logs in while its user is pending gets, after its login
// reply, a synthesized invitation with that user's own invitation: for a user invited by a
// callingInvite, the inviter who invited it and that callingInvite's extendedData, not the
// call's caller and extendedData; for a user re-invited after it rejected, the re-inviter and
// the re-invitation's extendedData. Its timeout is the whole seconds left, and its deadline the
// invitation's.
func TestE2ESynthesizedInvitationIsTheUsersOwn(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	alice, bob, carol := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c")
	cfg := advanced
	cfg.ExtendedData = "the call's"
	res, err := alice.CallInvite(ctx, []string{"bob", "carol"}, cfg)
	must(t, err)
	id := res.CallID
	alice.wait(id, "changed carol=Received")
	must(t, second(bob.CallAccept(ctx, id, client.OpConfig{})))
	must(t, second(carol.CallReject(ctx, id, client.OpConfig{})))
	// dave has no device: he hears of his invitation only when he logs in
	must(t, second(bob.CallingInvite(ctx, id, []string{"dave"}, client.CallingInviteConfig{Timeout: 40, ExtendedData: "from bob"})))
	must(t, second(bob.CallingInvite(ctx, id, []string{"carol"}, client.CallingInviteConfig{Timeout: 50, ExtendedData: "again"})))
	info, err := alice.QueryCall(ctx, id)
	must(t, err)
	time.Sleep(1100 * time.Millisecond) // so that a second of each ring has gone

	for _, c := range []struct {
		user, inviter, ext string
		ring               int
	}{{"dave", "bob", "from bob", 40}, {"carol", "bob", "again", 50}} {
		d := ts.login(t, c.user, c.user+"-tablet")
		ev := d.wait(id, "received from "+c.inviter+" (synthetic)").(client.CallInvitationReceived)
		u := userIn(t, info.CallUserList, c.user)
		if ev.ExtendedData != c.ext || ev.Caller != "alice" || ev.Deadline != u.Deadline || ev.Timeout >= c.ring || ev.Timeout < 1 {
			t.Errorf("%s's synthesized invitation: %+v; want extendedData %q, caller alice, deadline %d and under %d s left",
				c.user, ev, c.ext, u.Deadline, c.ring)
		}
	}
}
