package main

import (
	"slices"
	"testing"

	"github.com/dialtone/dialtone/client"
)

// R3.5, §5, §10b: in advanced mode an invitee whose own ring times out goes alone: it gets
// callInvitationTimeout, the listeners (pending users, Accepted users' main devices) get its
// change, timed at its deadline, and the call goes on for everyone else.
func TestE2EAdvancedInviteeTimesOutAlone(t *testing.T) {
	ts := startServer(t)
	alice, alice2 := ts.login(t, "alice", "a"), ts.login(t, "alice", "a2")
	bob, carol, dave := ts.login(t, "bob", "b"), ts.login(t, "carol", "c"), ts.login(t, "dave", "d")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
	must(t, err)
	id := res.CallID
	bob.wait(id, "received from alice")
	must(t, second(bob.CallAccept(t.Context(), id, client.OpConfig{})))
	must(t, second(alice.CallingInvite(t.Context(), id, []string{"dave"}, client.CallingInviteConfig{Timeout: 60})))
	dave.wait(id, "changed dave=Received")
	must(t, second(bob.CallingInvite(t.Context(), id, []string{"carol"}, client.CallingInviteConfig{Timeout: 1})))
	ring := carol.wait(id, "received from bob").(client.CallInvitationReceived)

	timeout := carol.wait(id, "timeout").(client.CallInvitationTimeout)
	if timeout.Mode != client.ModeAdvanced || timeout.Version <= ring.Version {
		t.Errorf("callInvitationTimeout = %+v", timeout)
	}
	for _, d := range []*device{alice, bob, dave} {
		ev := d.wait(id, "changed carol=Timeout").(client.CallUserStateChanged)
		c := ev.CallUserList[0]
		if ev.Version != timeout.Version || ev.CallState != 0 || ev.EndTime != 0 || c.Deadline != 0 || c.UpdateTime != ring.Deadline {
			t.Errorf("%s: callUserStateChanged = %+v, want version %d, the call going on, carol's change at her deadline %d",
				d.user, ev, timeout.Version, ring.Deadline)
		}
	}
	alice2.expectNone(ts, id, "changed carol=Timeout") // not the main device (R6.3)
	carol.expect(ts, id, "received from bob", "changed carol=Received", "timeout")

	info, err := alice.QueryCall(t.Context(), id)
	must(t, err)
	if info.State != client.CallStarted || userIn(t, info.CallUserList, "dave").State != client.StateReceived ||
		userIn(t, info.CallUserList, "dave").Deadline == 0 || userIn(t, info.CallUserList, "bob").State != client.StateAccepted {
		t.Errorf("after carol's timeout: %+v", info)
	}
	wantCode(t, "carol accepts after her timeout", second(carol.CallAccept(t.Context(), id, client.OpConfig{})), client.CodeCallUnavailable)

	// R3.6, §10b: a timed-out user invited again rings anew, with the re-inviter as inviter.
	must(t, second(alice.CallingInvite(t.Context(), id, []string{"carol"}, client.CallingInviteConfig{Timeout: 60, ExtendedData: "again"})))
	again := carol.wait(id, "received from alice").(client.CallInvitationReceived)
	if c := userIn(t, again.CallUserList, "carol"); again.ExtendedData != "again" || c.State != client.StateInviting ||
		c.Inviter != "alice" || c.Deadline != again.Deadline || c.Deadline <= ring.Deadline {
		t.Errorf("re-invitation = %+v, carol's entry %+v", again, c)
	}
}

// R4.4, §5, R3.9: after callEnd every operation but callReceived and the queries gets 6000276;
// callInvitationEnded went, with the ending op's fields, to all devices of every user active
// just before the end (the ender's own included) and to nobody else; states stay as they were.
func TestE2EEndedCallRefusesEveryOp(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "1000")
	alice, alice2 := ts.login(t, "alice", "a"), ts.login(t, "alice", "a2")
	bob, bob2 := ts.login(t, "bob", "b"), ts.login(t, "bob", "b2")
	carol, dave, erin := ts.login(t, "carol", "c"), ts.login(t, "dave", "d"), ts.login(t, "erin", "e")
	res, err := alice.CallInvite(t.Context(), []string{"bob", "carol", "dave", "erin"}, advanced)
	must(t, err)
	id := res.CallID
	for _, d := range []*device{bob2, carol, dave, erin} {
		d.wait(id, "changed "+d.user+"=Received")
	}
	ctx := t.Context()
	must(t, second(bob.CallAccept(ctx, id, client.OpConfig{})))
	must(t, second(dave.CallReject(ctx, id, client.OpConfig{})))
	must(t, second(erin.CallAccept(ctx, id, client.OpConfig{})))
	must(t, second(erin.CallQuit(ctx, id, client.OpConfig{})))

	e, err := alice.CallEnd(ctx, id, client.OpConfig{ExtendedData: "bye"})
	must(t, err)
	if e.CallID != id || e.CreateTime != res.CallInfo.CreateTime || e.AcceptTime != res.CallInfo.CreateTime || e.EndTime < e.CreateTime {
		t.Errorf("callEnd result = %+v", e)
	}
	for _, d := range []*device{alice, alice2, bob, bob2, carol} {
		ev := d.wait(id, "ended by alice").(client.CallInvitationEnded)
		if ev.Mode != client.ModeAdvanced || ev.Caller != "alice" || ev.OperatedUserID != "alice" ||
			ev.ExtendedData != "bye" || ev.EndTime != e.EndTime {
			t.Errorf("%s@%s: callInvitationEnded = %+v", d.user, d.id, ev)
		}
	}

	refusals := map[string]error{
		"accept":              second(carol.CallAccept(ctx, id, client.OpConfig{})),
		"reject":              second(carol.CallReject(ctx, id, client.OpConfig{})),
		"pending user's join": second(carol.CallJoin(ctx, id, client.OpConfig{})),
		"whole cancel":        second(alice.CallCancel(ctx, id, nil, client.OpConfig{})),
		"subset cancel":       second(alice.CallCancel(ctx, id, []string{"carol"}, client.OpConfig{})),
		"callingInvite":       second(bob.CallingInvite(ctx, id, []string{"frank"}, client.CallingInviteConfig{})),
		"quit":                second(bob.CallQuit(ctx, id, client.OpConfig{})),
		"end again":           second(alice.CallEnd(ctx, id, client.OpConfig{})),
		"switch device":       second(bob2.CallJoin(ctx, id, client.OpConfig{})),
		"rejoin after reject": second(dave.CallJoin(ctx, id, client.OpConfig{})),
		"rejoin after quit":   second(erin.CallJoin(ctx, id, client.OpConfig{})),
	}
	for name, err := range refusals {
		wantCode(t, name+" on an ended call", err, client.CodeCallUnavailable)
	}
	wantCode(t, "callReceived on an ended call", carol.CallReceived(ctx, id), 0)
	info, err := dave.QueryCall(ctx, id)
	must(t, err)
	want := map[string]client.CallUserState{"alice": client.StateAccepted, "bob": client.StateAccepted,
		"carol": client.StateReceived, "dave": client.StateRejected, "erin": client.StateQuit}
	if info.State != client.CallEnded || info.EndTime != e.EndTime {
		t.Errorf("queryCall after the end = %+v", info)
	}
	for _, u := range info.CallUserList {
		if u.State != want[u.UserID] || u.Deadline != 0 {
			t.Errorf("%s after the end: state %d deadline %d, want state %d and no deadline (R3.9)", u.UserID, u.State, u.Deadline, want[u.UserID])
		}
	}
	// Nothing after the end (R4.4), and the users who had left get no end.
	for _, d := range []*device{alice, alice2, bob, bob2, carol} {
		ts.barrier(t, d)
		d.mu.Lock()
		got := d.summaries(id)
		d.mu.Unlock()
		if got[len(got)-1] != "ended by alice" || slices.Index(got, "ended by alice") != len(got)-1 {
			t.Errorf("%s@%s: events %q, want one end, last", d.user, d.id, got)
		}
	}
	dave.expectNone(ts, id, "ended by alice")
	erin.expectNone(ts, id, "ended by alice")
	// Nobody is in the call any more (§1): both may call again.
	must(t, second(alice.CallInvite(ctx, []string{"frank"}, advanced)))
	must(t, second(bob.CallInvite(ctx, []string{"frank"}, advanced)))
}

// §8 order: on an ended general-mode call the advanced-mode ops get 6000276, which comes
// before 6000286.
func TestE2EEndedGeneralCallIsUnavailableFirst(t *testing.T) {
	ts := startServer(t)
	alice, bob := ts.login(t, "alice", "a"), ts.login(t, "bob", "b")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	bob.wait(res.CallID, "received from alice")
	must(t, second(bob.CallReject(t.Context(), res.CallID, client.OpConfig{})))
	ctx := t.Context()
	for name, err := range map[string]error{
		"callingInvite": second(alice.CallingInvite(ctx, res.CallID, []string{"carol"}, client.CallingInviteConfig{})),
		"callQuit":      second(alice.CallQuit(ctx, res.CallID, client.OpConfig{})),
		"callEnd":       second(alice.CallEnd(ctx, res.CallID, client.OpConfig{})),
		"callJoin":      second(bob.CallJoin(ctx, res.CallID, client.OpConfig{})),
	} {
		wantCode(t, name+" on an ended general call", err, client.CodeCallUnavailable)
	}
}

// R4.1, §5: a general group call that goes on after an answer ends when the last invitee
// times out: that user gets its callInvitationTimeout, every device of every other user active
// just before gets the change with callState 2, and a user who had rejected gets nothing. Until
// then the non-main device of the Accepted user gets only its user's own changes (R6.3).
func TestE2EGeneralGroupEndsByTimeout(t *testing.T) {
	ts := startServer(t)
	alice := ts.login(t, "alice", "a")
	bob, bob2 := ts.login(t, "bob", "b"), ts.login(t, "bob", "b2")
	carol := ts.login(t, "carol", "c")
	// dave has no device: he stays Inviting until the ring times out.
	res, err := alice.CallInvite(t.Context(), []string{"bob", "carol", "dave"}, client.InviteConfig{Timeout: 3})
	must(t, err)
	id := res.CallID
	carol.wait(id, "received from alice")
	bob.wait(id, "received from alice")
	must(t, second(bob.CallAccept(t.Context(), id, client.OpConfig{})))
	must(t, second(carol.CallReject(t.Context(), id, client.OpConfig{})))
	wantCode(t, "the caller of a group call that goes on invites", second(alice.CallInvite(t.Context(), []string{"erin"}, client.InviteConfig{})), client.CodeBusy)

	var ends []client.CallUserStateChanged
	for _, d := range []*device{alice, bob, bob2} {
		ends = append(ends, d.wait(id, "changed dave=Timeout (call ended)").(client.CallUserStateChanged))
	}
	info, err := alice.QueryCall(t.Context(), id)
	must(t, err)
	dave := userIn(t, info.CallUserList, "dave")
	for _, ev := range ends {
		if ev.EndTime != info.EndTime || ev.EndTime != res.CallInfo.CreateTime+3000 || ev.Version != info.Version ||
			len(ev.CallUserList) != 1 || ev.CallUserList[0] != dave {
			t.Errorf("final change = %+v, want the call %+v ended at dave's deadline", ev, info)
		}
	}
	if info.State != client.CallEnded || dave.State != client.StateTimeout || userIn(t, info.CallUserList, "bob").State != client.StateAccepted {
		t.Errorf("after the timeout: %+v", info)
	}
	carol.expectNone(ts, id, "changed dave=Timeout (call ended)")
	bob2.mu.Lock()
	got := bob2.summaries(id)
	bob2.mu.Unlock()
	if slices.Contains(got, "changed carol=Rejected") || !slices.Contains(got, "changed bob=Accepted") {
		t.Errorf("bob's other device: events %q; want his own accept and not carol's reject", got)
	}
	// The users are free again.
	must(t, second(alice.CallInvite(t.Context(), []string{"erin"}, client.InviteConfig{})))
}
