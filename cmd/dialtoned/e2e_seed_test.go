package main

import (
	"testing"

	"github.com/dialtone/dialtone/client"
)

// §5, R6.3 with two devices per user through an advanced call: pending users hear every change
// on all their devices; an Accepted user hears others' changes on its main device only, its own
// changes and the end on all of them; new invitees get their invitation, not the change; a user
// who left hears nothing more; callEnd from a non-main device ends the call for all devices of
// every active user (R3.6, R3.7, R3.8, R3.9).
func TestE2EAdvancedEventsPerDevice(t *testing.T) {
	ts := startServer(t)
	a1, a2 := ts.login(t, "alice", "a1"), ts.login(t, "alice", "a2")
	b1, b2 := ts.login(t, "bob", "b1"), ts.login(t, "bob", "b2")
	c1, c2 := ts.login(t, "carol", "c1"), ts.login(t, "carol", "c2")
	ctx := t.Context()

	id := a1.callBobAnsweredOn(t, b2)
	must(t, second(b2.CallingInvite(ctx, id, []string{"carol"}, client.CallingInviteConfig{})))
	a1.wait(id, "changed carol=Received")
	must(t, second(c1.CallReject(ctx, id, client.OpConfig{})))
	a1.wait(id, "changed carol=Rejected")
	must(t, second(a1.CallingInvite(ctx, id, []string{"carol"}, client.CallingInviteConfig{})))
	a1.waitCount(id, "changed carol=Received", 2)
	must(t, second(c2.CallAccept(ctx, id, client.OpConfig{})))
	a1.wait(id, "changed carol=Accepted")
	must(t, second(b1.CallJoin(ctx, id, client.OpConfig{}))) // bob's main device: b2 → b1
	b2.wait(id, "main device b1")
	must(t, second(c2.CallQuit(ctx, id, client.OpConfig{})))
	a1.wait(id, "changed carol=Quit")
	must(t, second(a2.CallEnd(ctx, id, client.OpConfig{})))

	carol := []string{"received from bob", "changed carol=Received", "changed carol=Rejected",
		"received from alice", "changed carol=Received", "changed carol=Accepted", "changed carol=Quit"}
	for _, c := range []struct {
		d    *device
		want []string
	}{
		{a1, []string{"created", "changed bob=Received", "changed bob=Accepted", "changed carol=Inviting",
			"changed carol=Received", "changed carol=Rejected", "changed carol=Inviting", "changed carol=Received",
			"changed carol=Accepted", "changed carol=Quit", "ended by alice"}},
		{a2, []string{"created", "ended by alice"}},
		{b1, []string{"received from alice", "changed bob=Received", "changed bob=Accepted", "main device b1",
			"changed carol=Quit", "ended by alice"}},
		{b2, []string{"received from alice", "changed bob=Received", "changed bob=Accepted", "changed carol=Inviting",
			"changed carol=Received", "changed carol=Rejected", "changed carol=Inviting", "changed carol=Received",
			"changed carol=Accepted", "main device b1", "ended by alice"}},
		{c1, carol},
		{c2, carol},
	} {
		c.d.expect(ts, id, c.want...)
	}
}

// R3.7, R3.3b: a pending user's callJoin is an accept in every respect, glare included: the
// user's own unanswered call is cancelled in the same commit, for its callee and for all the
// user's devices, and the join succeeds.
func TestE2EPendingJoinCancelsOwnUnansweredCall(t *testing.T) {
	ts := startServer(t)
	alice, bob, bob2 := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "bob", "b2")
	ctx := t.Context()
	theirs, err := alice.CallInvite(ctx, []string{"bob"}, advanced)
	must(t, err)
	bob.wait(theirs.CallID, "received from alice")
	own, err := bob.CallInvite(ctx, []string{"alice"}, client.InviteConfig{})
	must(t, err)
	bob.wait(own.CallID, "changed alice=Received")

	must(t, second(bob.CallJoin(ctx, theirs.CallID, client.OpConfig{ExtendedData: "coming"})))
	alice.wait(theirs.CallID, "changed bob=Accepted")
	alice.wait(own.CallID, "cancelled alice=BeCancelled")
	bob.expect(ts, own.CallID, "created", "changed alice=Received", "cancelled alice=BeCancelled")
	bob2.expect(ts, own.CallID, "created", "cancelled alice=BeCancelled")
	info, err := bob.QueryCall(ctx, own.CallID)
	must(t, err)
	if info.State != client.CallEnded || userIn(t, info.CallUserList, "bob").State != client.StateCancelled {
		t.Errorf("bob's own call after his join elsewhere: %+v", info)
	}
	info, err = bob.QueryCall(ctx, theirs.CallID)
	must(t, err)
	if b := userIn(t, info.CallUserList, "bob"); b.State != client.StateAccepted || b.ExtendedData != "coming" {
		t.Errorf("bob in the call he joined: %+v", b)
	}
}

// R3.2 in advanced mode: the caller's cancel with no invitees cancels the whole unanswered call;
// every pending user, whoever invited it, is BeCancelled and told; a user who rejected keeps its
// state and hears nothing; the caller is Cancelled and the call ends (R4.4).
func TestE2EAdvancedWholeCancel(t *testing.T) {
	ts := startServer(t)
	alice, alice2 := ts.login(t, "alice", "a"), ts.login(t, "alice", "a2")
	bob, carol, dave := ts.login(t, "bob", "b"), ts.login(t, "carol", "c"), ts.login(t, "dave", "d")
	ctx := t.Context()
	res, err := alice.CallInvite(ctx, []string{"bob", "carol"}, advanced)
	must(t, err)
	id := res.CallID
	alice.wait(id, "changed carol=Received")
	alice.wait(id, "changed bob=Received")
	must(t, second(bob.CallReject(ctx, id, client.OpConfig{})))
	must(t, second(alice.CallingInvite(ctx, id, []string{"dave"}, client.CallingInviteConfig{})))
	alice.wait(id, "changed dave=Received")

	cres, err := alice.CallCancel(ctx, id, nil, client.OpConfig{ExtendedData: "never mind"})
	if err != nil || len(cres.ErrorInvitees) != 0 {
		t.Fatalf("whole cancel = %+v, %v", cres, err)
	}
	for _, d := range []*device{carol, dave} {
		ev := d.wait(id, "cancelled carol=BeCancelled,dave=BeCancelled").(client.CallInvitationCancelled)
		if ev.Inviter != "alice" || ev.ExtendedData != "never mind" || ev.Mode != client.ModeAdvanced {
			t.Errorf("%s's callInvitationCancelled = %+v", d.user, ev)
		}
	}
	alice2.expect(ts, id, "created", "cancelled carol=BeCancelled,dave=BeCancelled")
	ts.barrier(t, bob)
	if got := bob.last(id); got != "changed bob=Rejected" {
		t.Errorf("bob, who rejected, heard of the cancel: last event %q", got)
	}
	info, err := alice.QueryCall(ctx, id)
	must(t, err)
	if info.State != client.CallEnded || userIn(t, info.CallUserList, "alice").State != client.StateCancelled ||
		userIn(t, info.CallUserList, "bob").State != client.StateRejected {
		t.Errorf("after the whole cancel: %+v", info)
	}
	wantCode(t, "join after the whole cancel", second(bob.CallJoin(ctx, id, client.OpConfig{})), client.CodeCallUnavailable)
}

// §5, R3.2, R3.4, R4.1 in general mode with two devices per user: a reject stops every device
// of the callee ringing and ends the call on every device of the caller, the non-main one
// included; a cancel made from the caller's non-main device tells its main device and every
// device of the callee; an accept that ends the call leaves the other device nothing to answer.
func TestE2EGeneralEventsPerDevice(t *testing.T) {
	ts := startServer(t)
	a1, a2 := ts.login(t, "alice", "a1"), ts.login(t, "alice", "a2")
	b1, b2 := ts.login(t, "bob", "b1"), ts.login(t, "bob", "b2")
	ctx := t.Context()

	res, err := a1.CallInvite(ctx, []string{"bob"}, client.InviteConfig{})
	must(t, err)
	id := res.CallID
	a1.wait(id, "changed bob=Received")
	must(t, second(b1.CallReject(ctx, id, client.OpConfig{ExtendedData: "busy"})))
	a1.expect(ts, id, "created", "changed bob=Received", "changed bob=Rejected (call ended)")
	a2.expect(ts, id, "created", "changed bob=Rejected (call ended)")
	for _, d := range []*device{b1, b2} {
		d.expect(ts, id, "received from alice", "changed bob=Received", "changed bob=Rejected (call ended)")
		ev := d.wait(id, "changed bob=Rejected (call ended)").(client.CallUserStateChanged)
		if ev.CallUserList[0].ExtendedData != "busy" || ev.EndTime == 0 {
			t.Errorf("%s: the reject's change = %+v", d.id, ev)
		}
	}

	res, err = a1.CallInvite(ctx, []string{"bob"}, client.InviteConfig{})
	must(t, err)
	id = res.CallID
	a1.wait(id, "changed bob=Received")
	must(t, second(a2.CallCancel(ctx, id, nil, client.OpConfig{})))
	a1.expect(ts, id, "created", "changed bob=Received", "cancelled bob=BeCancelled")
	a2.expect(ts, id, "created")
	for _, d := range []*device{b1, b2} {
		d.expect(ts, id, "received from alice", "changed bob=Received", "cancelled bob=BeCancelled")
	}

	// R3.3: when the first device's accept ended the call, the second device's answer is 6000276.
	res, err = a1.CallInvite(ctx, []string{"bob"}, client.InviteConfig{})
	must(t, err)
	id = res.CallID
	a1.wait(id, "changed bob=Received")
	must(t, second(b2.CallAccept(ctx, id, client.OpConfig{})))
	wantCode(t, "the other device's accept", second(b1.CallAccept(ctx, id, client.OpConfig{})), client.CodeCallUnavailable)
	wantCode(t, "the other device's reject", second(b1.CallReject(ctx, id, client.OpConfig{})), client.CodeCallUnavailable)
	for _, d := range []*device{a1, a2} {
		d.wait(id, "changed bob=Accepted (call ended)")
	}
	b1.expect(ts, id, "received from alice", "changed bob=Received", "changed bob=Accepted (call ended)")
}

// R4.3, R6.4 in advanced mode: the caller's logout cancels its call while nobody else has
// accepted, whoever is still ringing (seed: 主叫用户主动登出 … 呼叫邀请被取消), also when every
// invitee has declined; once answered, the caller's logout only makes it Quit and the call
// goes on for the others.
func TestE2EAdvancedCallerLogout(t *testing.T) {
	ts := startServer(t, "--heartbeat-interval", "10s", "--heartbeat-timeout", "60s")
	bob, carol := ts.login(t, "bob", "b"), ts.login(t, "carol", "c")
	ctx := t.Context()
	call := func(user string, invitees ...string) (*device, string) {
		caller := ts.login(t, user, user+"-phone")
		res, err := caller.CallInvite(ctx, invitees, advanced)
		must(t, err)
		for _, u := range invitees {
			caller.wait(res.CallID, "changed "+u+"=Received")
		}
		return caller, res.CallID
	}
	state := func(id, user string) client.CallUserState {
		info, err := bob.QueryCall(ctx, id)
		must(t, err)
		return userIn(t, info.CallUserList, user).State
	}

	// Ringing: bob declined, carol still rings; the logout cancels carol only.
	alice, id := call("alice", "bob", "carol")
	must(t, second(bob.CallReject(ctx, id, client.OpConfig{})))
	must(t, alice.Logout(ctx))
	carol.wait(id, "cancelled carol=BeCancelled")
	if st := state(id, "alice"); st != client.StateCancelled || state(id, "bob") != client.StateRejected {
		t.Errorf("after the ringing caller's logout: alice %d, bob %d", st, state(id, "bob"))
	}

	// Nobody ringing any more: the logout still ends the unanswered call, as a whole cancel.
	dave, id := call("dave", "bob")
	must(t, second(bob.CallReject(ctx, id, client.OpConfig{})))
	dave.wait(id, "changed bob=Rejected")
	watch := ts.login(t, "dave", "dave-watch")
	must(t, dave.Logout(ctx))
	watch.wait(id, "cancelled ") // the caller's other devices are told, with nobody cancelled (§5)
	if st := state(id, "dave"); st != client.StateCancelled {
		t.Errorf("dave after his logout from the call left alone: %d, want Cancelled", st)
	}

	// Answered: the caller quits, the call goes on.
	erin, id := call("erin", "bob", "carol")
	must(t, second(bob.CallAccept(ctx, id, client.OpConfig{})))
	erin.wait(id, "changed bob=Accepted")
	must(t, erin.Logout(ctx))
	bob.wait(id, "changed erin=Quit")
	carol.wait(id, "changed erin=Quit")
	info, err := bob.QueryCall(ctx, id)
	must(t, err)
	if info.State != client.CallStarted || userIn(t, info.CallUserList, "carol").State != client.StateReceived {
		t.Errorf("after the answered caller's logout: %+v", info)
	}
}

// R3.7, R6.3, R4.3: the caller moves its call to another device before anyone answers (seed:
// 使用设备 A 发起 … 希望让其他设备成为新的主设备). Only the new main device follows the call; the
// old one's logout changes nothing, and the new one's cancels the unanswered call.
func TestE2ECallerSwitchesDeviceBeforeAnswer(t *testing.T) {
	ts := startServer(t, "--heartbeat-interval", "10s", "--heartbeat-timeout", "60s")
	a1, a2 := ts.login(t, "alice", "a1"), ts.login(t, "alice", "a2")
	bob, carol := ts.login(t, "bob", "b"), ts.login(t, "carol", "c")
	ctx := t.Context()
	res, err := a1.CallInvite(ctx, []string{"bob", "carol"}, advanced)
	must(t, err)
	id := res.CallID
	a1.wait(id, "changed bob=Received")
	a1.wait(id, "changed carol=Received")

	must(t, second(a2.CallJoin(ctx, id, client.OpConfig{})))
	a1.wait(id, "main device a2")
	must(t, second(carol.CallReject(ctx, id, client.OpConfig{})))
	a2.wait(id, "changed carol=Rejected")
	a1.expectNone(ts, id, "changed carol=Rejected")

	must(t, a1.Logout(ctx))
	bob.expectNone(ts, id, "cancelled bob=BeCancelled")
	must(t, a2.Logout(ctx))
	got := bob.wait(id, "cancelled bob=BeCancelled").(client.CallInvitationCancelled)
	if got.Inviter != "alice" {
		t.Errorf("callInvitationCancelled = %+v", got)
	}
}
