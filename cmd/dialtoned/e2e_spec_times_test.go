package main

import (
	"slices"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// within reports whether the server time ms falls between the wall-clock instants before and
// after a request (the server runs in this process, on the same clock).
func within(ms int64, before, after time.Time) bool {
	return before.UnixMilli() <= ms && ms <= after.UnixMilli()
}

// R3.1, R3.3, R3.4, R3.7, R3.8, R3.9, §10b, docs/behaviour.md §12 ("The times in the replies
// of callJoin, callQuit and callEnd"): every time a reply or the callUserList gives is the
// time of the op that set it: createTime of the callInvite (the caller's acceptTime too, and
// each invitee's updateTime, with deadline = createTime + the default 90 s), acceptTime of the
// accept, updateTime of the reject, joinTime of the join (for a device switch too, which keeps
// the user's acceptTime), quitTime of the quit, endTime of the callEnd. The users' own
// extendedData is the one their op carried; callEnd keeps pending users' states, clearing their
// deadlines.
func TestE2EOpTimesAreTheirOps(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	alice, alice2 := ts.login(t, "alice", "a"), ts.login(t, "alice", "a2")
	bob, carol, dave := ts.login(t, "bob", "b"), ts.login(t, "carol", "c"), ts.login(t, "dave", "d")
	before := time.Now()
	res, err := alice.CallInvite(ctx, []string{"bob", "carol", "dave"}, client.InviteConfig{Mode: client.ModeAdvanced})
	after := time.Now()
	must(t, err)
	id, created := res.CallID, res.CallInfo.CreateTime
	query := func() client.CallInfo {
		t.Helper()
		info, err := bob.QueryCall(ctx, id)
		must(t, err)
		return info
	}
	if !within(created, before, after) || res.Timeout != 90 {
		t.Errorf("callInvite: createTime %d outside [%d, %d], or timeout %d != 90", created, before.UnixMilli(), after.UnixMilli(), res.Timeout)
	}
	if a := userIn(t, res.CallInfo.CallUserList, "alice"); a.AcceptTime != created || a.UpdateTime != created {
		t.Errorf("caller entry %+v, want acceptTime and updateTime = createTime %d", a, created)
	}
	for _, u := range []string{"bob", "carol", "dave"} {
		if e := userIn(t, res.CallInfo.CallUserList, u); e.UpdateTime != created || e.Deadline != created+90_000 {
			t.Errorf("%s's entry %+v, want updateTime %d and deadline %d", u, e, created, created+90_000)
		}
	}
	for _, d := range []*device{bob, carol, dave} {
		alice.wait(id, "changed "+d.user+"=Received")
	}

	before = time.Now()
	must(t, second(bob.CallAccept(ctx, id, client.OpConfig{ExtendedData: "yes"})))
	after = time.Now()
	b := userIn(t, query().CallUserList, "bob")
	if !within(b.AcceptTime, before, after) || b.UpdateTime != b.AcceptTime || b.ExtendedData != "yes" || b.Deadline != 0 {
		t.Errorf("bob after his accept: %+v, want acceptTime = updateTime within [%d, %d], extendedData yes, no deadline",
			b, before.UnixMilli(), after.UnixMilli())
	}

	before = time.Now()
	must(t, second(carol.CallReject(ctx, id, client.OpConfig{ExtendedData: "no"})))
	after = time.Now()
	c := userIn(t, query().CallUserList, "carol")
	if c.State != client.StateRejected || !within(c.UpdateTime, before, after) || c.AcceptTime != 0 || c.ExtendedData != "no" || c.Deadline != 0 {
		t.Errorf("carol after her reject: %+v, want updateTime within [%d, %d], no acceptTime, extendedData no",
			c, before.UnixMilli(), after.UnixMilli())
	}

	before = time.Now()
	j, err := carol.CallJoin(ctx, id, client.OpConfig{ExtendedData: "back"})
	after = time.Now()
	must(t, err)
	c = userIn(t, j.CallUserList, "carol")
	if !within(j.JoinTime, before, after) || j.CreateTime != created || c.AcceptTime != j.JoinTime || c.UpdateTime != j.JoinTime {
		t.Errorf("carol's join: %+v, want joinTime within [%d, %d] and her acceptTime and updateTime", j, before.UnixMilli(), after.UnixMilli())
	}

	before = time.Now()
	sw, err := alice2.CallJoin(ctx, id, client.OpConfig{})
	after = time.Now()
	must(t, err)
	if a := userIn(t, sw.CallUserList, "alice"); !within(sw.JoinTime, before, after) || a.AcceptTime != created || a.UpdateTime != created {
		t.Errorf("alice's device switch: %+v, want joinTime within [%d, %d] and her entry unchanged", sw, before.UnixMilli(), after.UnixMilli())
	}

	before = time.Now()
	q, err := bob.CallQuit(ctx, id, client.OpConfig{})
	after = time.Now()
	must(t, err)
	b = userIn(t, query().CallUserList, "bob")
	if !within(q.QuitTime, before, after) || q.CreateTime != created || q.AcceptTime != b.AcceptTime || b.UpdateTime != q.QuitTime {
		t.Errorf("bob's quit: %+v, his entry %+v; want quitTime within [%d, %d] = his updateTime, his acceptTime kept",
			q, b, before.UnixMilli(), after.UnixMilli())
	}

	daveBefore := userIn(t, query().CallUserList, "dave")
	before = time.Now()
	e, err := carol.CallEnd(ctx, id, client.OpConfig{})
	after = time.Now()
	must(t, err)
	info := query()
	if !within(e.EndTime, before, after) || e.CreateTime != created || e.AcceptTime != j.JoinTime || info.EndTime != e.EndTime {
		t.Errorf("carol's callEnd: %+v, the call %+v; want endTime within [%d, %d], her acceptTime %d", e, info,
			before.UnixMilli(), after.UnixMilli(), j.JoinTime)
	}
	if d := userIn(t, info.CallUserList, "dave"); d.State != client.StateReceived || d.Deadline != 0 || d.UpdateTime != daveBefore.UpdateTime {
		t.Errorf("dave after the end: %+v, want Received, no deadline, his updateTime kept (%d)", d, daveBefore.UpdateTime)
	}
	if ev := dave.wait(id, "ended by carol").(client.CallInvitationEnded); ev.EndTime != e.EndTime {
		t.Errorf("dave's callInvitationEnded = %+v, want endTime %d", ev, e.EndTime)
	}
}

// §4 ("an advanced-mode call lives until one of these"): a caller left alone after every
// invitee declined (one rejects, one times out) stays Accepted in a Started call, busy (R3.1:
// 6000290), and may callingInvite others; the changes carry no end. The one who rejected may
// join again (R3.7).
func TestE2EAdvancedCallerLeftAloneGoesOn(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	alice, bob, carol, dave := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c"), ts.login(t, "dave", "d")
	res, err := alice.CallInvite(ctx, []string{"bob", "carol"}, client.InviteConfig{Timeout: 2, Mode: client.ModeAdvanced})
	must(t, err)
	id := res.CallID
	alice.wait(id, "changed bob=Received")
	alice.wait(id, "changed carol=Received")
	must(t, second(bob.CallReject(ctx, id, client.OpConfig{})))
	carol.wait(id, "timeout")
	alice.wait(id, "changed bob=Rejected")                                                                                 // no end (R4.1 is general mode's)
	if ev := alice.wait(id, "changed carol=Timeout").(client.CallUserStateChanged); ev.CallState != 0 || ev.EndTime != 0 { // nor here
		t.Errorf("the last invitee's timeout: %+v, want the call going on", ev)
	}

	info, err := alice.QueryCall(ctx, id)
	must(t, err)
	if info.State != client.CallStarted || info.EndTime != 0 || userIn(t, info.CallUserList, "alice").State != client.StateAccepted {
		t.Fatalf("after every invitee declined: %+v, want the call Started with alice Accepted", info)
	}
	wantCode(t, "a new call of the caller left alone", second(alice.CallInvite(ctx, []string{"erin"}, client.InviteConfig{})), client.CodeBusy)

	inv, err := alice.CallingInvite(ctx, id, []string{"dave", "carol"}, client.CallingInviteConfig{Timeout: 60})
	must(t, err)
	if len(inv.ErrorUserList) != 0 {
		t.Errorf("callingInvite by the caller left alone: errorUserList %+v", inv.ErrorUserList)
	}
	for _, d := range []*device{dave, carol} {
		d.waitCount(id, "received from alice", map[string]int{"dave": 1, "carol": 2}[d.user])
		d.mu.Lock()
		ring := d.events[slices.IndexFunc(d.events, func(r recorded) bool {
			return r.callID == id && r.summary == "received from alice" && r.version > res.CallInfo.Version
		})].ev.(client.CallInvitationReceived)
		d.mu.Unlock()
		if u := userIn(t, ring.CallUserList, d.user); ring.Inviter != "alice" || ring.Timeout != 60 || u.State != client.StateInviting {
			t.Errorf("%s's invitation = %+v", d.user, ring)
		}
	}
	j, err := bob.CallJoin(ctx, id, client.OpConfig{})
	must(t, err)
	if u := userIn(t, j.CallUserList, "bob"); u.State != client.StateAccepted {
		t.Errorf("bob's join after his reject: %+v", u)
	}
	alice.wait(id, "changed bob=Accepted")
}

// R3.2 in general mode (docs/behaviour.md §12, "Cancel in general mode"): a cancel naming
// invitees cancels the whole call all the same; errorInvitees lists, once each and in the order
// named, the targets that were not cancelled (terminal, or not in the call).
func TestE2EGeneralCancelNamingInvitees(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	alice, bob, carol, dave := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c"), ts.login(t, "dave", "d")
	res, err := alice.CallInvite(ctx, []string{"bob", "carol", "dave"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	id := res.CallID
	carol.wait(id, "received from alice")
	must(t, second(carol.CallReject(ctx, id, client.OpConfig{})))
	cres, err := alice.CallCancel(ctx, id, []string{"carol", "zoe", "bob", "zoe", "carol"}, client.OpConfig{})
	must(t, err)
	if cres.CallID != id || !slices.Equal(cres.ErrorInvitees, []string{"carol", "zoe"}) {
		t.Errorf("callCancel = %+v, want errorInvitees [carol zoe]", cres)
	}
	for _, d := range []*device{bob, dave} {
		d.wait(id, "cancelled bob=BeCancelled,dave=BeCancelled")
	}
	info, err := alice.QueryCall(ctx, id)
	must(t, err)
	want := map[string]client.CallUserState{"alice": client.StateCancelled, "bob": client.StateBeCancelled,
		"carol": client.StateRejected, "dave": client.StateBeCancelled}
	if info.State != client.CallEnded {
		t.Errorf("after the cancel: %+v", info)
	}
	for _, u := range info.CallUserList {
		if u.State != want[u.UserID] {
			t.Errorf("%s: state %s, want %s", u.UserID, stateName(u.State), stateName(want[u.UserID]))
		}
	}
}

// §4, R3.3b, §1 ("Answered"): an advanced call whose caller is left alone after its only
// invitee rejected is still unanswered, so the caller's accept of another call cancels it in
// the same commit (glare): the caller becomes Cancelled, the call Ended, and the caller
// Accepted in the call it answered.
func TestE2EGlareOfACallerLeftAlone(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	alice, alice2, bob, erin := ts.login(t, "alice", "a"), ts.login(t, "alice", "a2"), ts.login(t, "bob", "b"), ts.login(t, "erin", "e")
	own, err := alice.CallInvite(ctx, []string{"bob"}, advanced)
	must(t, err)
	bob.wait(own.CallID, "received from alice")
	must(t, second(bob.CallReject(ctx, own.CallID, client.OpConfig{})))
	alice.wait(own.CallID, "changed bob=Rejected")

	other, err := erin.CallInvite(ctx, []string{"alice"}, advanced)
	must(t, err)
	alice.wait(other.CallID, "received from erin")
	must(t, second(alice.CallAccept(ctx, other.CallID, client.OpConfig{})))
	for _, d := range []*device{alice, alice2} {
		d.wait(own.CallID, "cancelled ") // nobody was pending: the list is empty (§5)
	}
	info, err := alice.QueryCall(ctx, own.CallID)
	must(t, err)
	if info.State != client.CallEnded || userIn(t, info.CallUserList, "alice").State != client.StateCancelled ||
		userIn(t, info.CallUserList, "bob").State != client.StateRejected {
		t.Errorf("alice's own call after her accept of erin's: %+v", info)
	}
	if info, err := erin.QueryCall(ctx, other.CallID); err != nil || userIn(t, info.CallUserList, "alice").State != client.StateAccepted {
		t.Errorf("erin's call after alice's accept: %+v, %v", info, err)
	}
}
