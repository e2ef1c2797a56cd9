package main

import (
	"testing"

	"github.com/dialtone/dialtone/client"
)

// R3.6, R3.8, §5, §10b, R6.3 through the server: the caller quits, is invited again by an
// invitee, answers from another device (its new main device), then, left the last Accepted
// user, quits from its first device. The re-invitation rings every device of the caller with
// the re-inviter as inviter; the others' changes then reach only the new main device; the
// last quit ends the call: the quitter's devices get its Quit change carrying the end, the
// user still ringing gets callInvitationEnded, the users who left get nothing.
func TestE2ECallerReinvitedThenLastToQuit(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	a1, a2 := ts.login(t, "alice", "a1"), ts.login(t, "alice", "a2")
	bob, carol := ts.login(t, "bob", "b"), ts.login(t, "carol", "c")
	res, err := a1.CallInvite(ctx, []string{"bob", "carol"}, advanced)
	must(t, err)
	id := res.CallID
	carol.wait(id, "changed carol=Received")
	must(t, second(bob.CallAccept(ctx, id, client.OpConfig{})))
	a1.wait(id, "changed bob=Accepted")
	must(t, second(a1.CallQuit(ctx, id, client.OpConfig{})))
	bob.wait(id, "changed alice=Quit")

	inv, err := bob.CallingInvite(ctx, id, []string{"alice"}, client.CallingInviteConfig{Timeout: 60, ExtendedData: "come back"})
	must(t, err)
	if len(inv.ErrorUserList) != 0 {
		t.Fatalf("re-invite of the caller who quit: errorUserList %+v", inv.ErrorUserList)
	}
	for _, d := range []*device{a1, a2} {
		ring := d.wait(id, "received from bob").(client.CallInvitationReceived)
		if u := userIn(t, ring.CallUserList, "alice"); ring.Caller != "alice" || ring.ExtendedData != "come back" ||
			u.State != client.StateInviting || u.Inviter != "bob" || u.AcceptTime != 0 || u.ExtendedData != "" || u.Deadline != ring.Deadline {
			t.Errorf("%s: the caller's re-invitation %+v, its entry %+v", d.id, ring, u)
		}
	}
	bob.wait(id, "changed alice=Received")
	carol.wait(id, "changed alice=Received")

	must(t, second(a2.CallAccept(ctx, id, client.OpConfig{ExtendedData: "back"})))
	accepted := a1.wait(id, "changed alice=Accepted").(client.CallUserStateChanged)
	back := userIn(t, accepted.CallUserList, "alice")
	if back.AcceptTime == 0 || back.AcceptTime != back.UpdateTime || back.Inviter != "bob" || back.ExtendedData != "back" || back.Deadline != 0 {
		t.Errorf("the re-invited caller's accept: %+v", back)
	}
	bob.wait(id, "changed alice=Accepted")

	must(t, second(bob.CallQuit(ctx, id, client.OpConfig{})))
	a2.wait(id, "changed bob=Quit")
	carol.wait(id, "changed bob=Quit")
	a1.expectNone(ts, id, "changed bob=Quit") // no longer the main device (R6.3)

	q, err := a1.CallQuit(ctx, id, client.OpConfig{ExtendedData: "bye"}) // from a device that is not the main one
	must(t, err)
	if q.AcceptTime != back.AcceptTime {
		t.Errorf("callQuit acceptTime %d, want the re-invited caller's accept %d", q.AcceptTime, back.AcceptTime)
	}
	ended := carol.wait(id, "ended by alice").(client.CallInvitationEnded)
	if ended.EndTime != q.QuitTime || ended.ExtendedData != "bye" {
		t.Errorf("callInvitationEnded = %+v, want endTime %d and the quit's extendedData", ended, q.QuitTime)
	}
	a2.expect(ts, id, "created", "changed alice=Quit", "received from bob", "changed alice=Received",
		"changed alice=Accepted", "changed bob=Quit", "changed alice=Quit (call ended)")
	a1.wait(id, "changed alice=Quit (call ended)")
	a1.expectNone(ts, id, "ended by alice")
	bob.expectNone(ts, id, "ended by alice")
	bob.expectNone(ts, id, "changed alice=Quit (call ended)")

	info, err := carol.QueryCall(ctx, id)
	must(t, err)
	a, c := userIn(t, info.CallUserList, "alice"), userIn(t, info.CallUserList, "carol")
	if info.State != client.CallEnded || info.EndTime != q.QuitTime || a.State != client.StateQuit || a.AcceptTime != back.AcceptTime ||
		a.UpdateTime != q.QuitTime || a.ExtendedData != "bye" || a.Inviter != "bob" || c.State != client.StateReceived || c.Deadline != 0 {
		t.Errorf("after the last quit: call %+v\n alice %+v\n carol %+v", info, a, c)
	}
}
