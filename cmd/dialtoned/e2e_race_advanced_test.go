package main

import (
	"fmt"
	"slices"
	"testing"

	"github.com/dialtone/dialtone/client"
)

// answeredAdvancedCall has alice ring bob (and others) in advanced mode and bob accept it.
func answeredAdvancedCall(t *testing.T, alice, bob *device, others ...string) string {
	t.Helper()
	res, err := alice.CallInvite(t.Context(), append([]string{"bob"}, others...), advanced)
	must(t, err)
	bob.wait(res.CallID, "received from alice")
	must(t, second(bob.CallAccept(t.Context(), res.CallID, client.OpConfig{})))
	alice.wait(res.CallID, "changed bob=Accepted")
	return res.CallID
}

// noGhostRing checks, after a barrier, that d's last event of the ended call callID is its
// end: a device shown a ring must be told that it is over (§5, R4.4).
func noGhostRing(t *testing.T, ts *testServer, d *device, callID, end string) {
	t.Helper()
	got := settled(t, ts, d, callID)
	if len(got) == 0 {
		return
	}
	if got[len(got)-1] != end || count(got, end) != 1 {
		t.Errorf("%s@%s events of call %s: %q, want one %q last", d.user, d.id, callID, got, end)
	}
}

// R3.6, R3.9, R4.4, §5, §10: alice re-rings carol into a call while bob ends it. Either the
// invitation commits first, and carol's devices then get the end (no ring is left on them),
// or the end does, and the callingInvite gets 6000276 and carol hears nothing of the call.
func TestE2ERaceCallingInviteVersusEnd(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), raceFlags...)...)
	alice, bob := ts.login(t, "alice", "a"), ts.login(t, "bob", "b")
	c1, c2 := ts.login(t, "carol", "c1"), ts.login(t, "carol", "c2")
	for round := range soak(12) {
		id := answeredAdvancedCall(t, alice, bob)
		errs := together(
			func() error {
				return second(alice.CallingInvite(t.Context(), id, []string{"carol"}, client.CallingInviteConfig{Timeout: 60}))
			},
			func() error { return second(bob.CallEnd(t.Context(), id, client.OpConfig{})) },
		)
		must(t, errs[1])
		end := "ended by bob"
		switch code(errs[0]) {
		case 0:
			for _, d := range []*device{c1, c2} {
				noGhostRing(t, ts, d, id, end)
				if got := settled(t, ts, d, id); got[0] != "received from alice" {
					t.Errorf("round %d: carol@%s events %q", round, d.id, got)
				}
			}
			wantHooks(t, hooks, id, "ended", "call_create", "call_accept", "call_invite", "call_end")
		case client.CodeCallUnavailable:
			for _, d := range []*device{c1, c2} {
				if got := settled(t, ts, d, id); len(got) != 0 {
					t.Errorf("round %d: carol@%s heard of a call it was never rung in: %q", round, d.id, got)
				}
			}
			wantHooks(t, hooks, id, "ended", "call_create", "call_accept", "call_end")
		default:
			t.Fatalf("round %d: callingInvite racing the end got %v", round, errs[0])
		}
		for _, d := range []*device{alice, bob} {
			noGhostRing(t, ts, d, id, end)
		}
		if t.Failed() {
			return
		}
	}
}

// R3.8, R3.7, §5, §10: bob, the last user Accepted, quits while carol (who rejected) joins.
// A join first keeps the call going with carol in it; a quit first ends it (everyone_left)
// and the join gets 6000276. Nobody is left busy in an ended call.
func TestE2ERaceLastQuitVersusJoin(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), raceFlags...)...)
	bob, carol := ts.login(t, "bob", "b"), ts.login(t, "carol", "c")
	for round := range soak(12) {
		alice := ts.login(t, fmt.Sprintf("alice%d", round), "a")
		res, err := alice.CallInvite(t.Context(), []string{"bob", "carol"}, advanced)
		must(t, err)
		id := res.CallID
		bob.wait(id, "received from "+alice.user)
		carol.wait(id, "received from "+alice.user)
		must(t, second(bob.CallAccept(t.Context(), id, client.OpConfig{})))
		must(t, second(carol.CallReject(t.Context(), id, client.OpConfig{})))
		must(t, second(alice.CallQuit(t.Context(), id, client.OpConfig{})))
		errs := together(
			func() error { return second(bob.CallQuit(t.Context(), id, client.OpConfig{})) },
			func() error { return second(carol.CallJoin(t.Context(), id, client.OpConfig{})) },
		)
		must(t, errs[0])
		before := []string{"call_create", "call_accept", "call_reject", "call_quit"}
		info, err := carol.QueryCall(t.Context(), id)
		must(t, err)
		switch code(errs[1]) {
		case 0:
			if info.State != client.CallStarted || userIn(t, info.CallUserList, "carol").State != client.StateAccepted {
				t.Fatalf("round %d: join won, call %v %s", round, info.State, userStates(info.CallUserList))
			}
			if in := checkNotBusyTwice(t, carol); in != id {
				t.Fatalf("round %d: carol in %q, want %q", round, in, id)
			}
			must(t, second(carol.CallQuit(t.Context(), id, client.OpConfig{})))
			// bob's quit comes after carol's join in the call's order whichever reply came first.
			wantHooks(t, hooks, id, "everyone_left", append(before, "call_join", "call_quit", "call_quit", "call_end")...)
		case client.CodeCallUnavailable:
			if info.State != client.CallEnded {
				t.Fatalf("round %d: quit won, call %v %s", round, info.State, userStates(info.CallUserList))
			}
			wantHooks(t, hooks, id, "everyone_left", append(before, "call_quit", "call_end")...)
		default:
			t.Fatalf("round %d: join racing the last quit got %v", round, errs[1])
		}
		checkCallEvents(t, ts, []string{id}, bob, carol)
		for _, d := range []*device{bob, carol} {
			if in := checkNotBusyTwice(t, d); in != "" {
				t.Fatalf("round %d: %s still busy in %s", round, d.user, in)
			}
		}
		if t.Failed() {
			return
		}
	}
}

// R6.1, R6.4, R3.3: bob's phone accepts an advanced call and logs out at once. The logout is
// carried out after the accept read before it: if the accept succeeded, bob, whose main device
// is then logged out, has quit (call_quit with lost); otherwise he is still ringing on his
// laptop. Never is bob left Accepted with a main device that is gone.
func TestE2ERaceAcceptVersusOwnLogout(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), raceFlags...)...)
	alice, laptop := ts.login(t, "alice", "a"), ts.login(t, "bob", "laptop")
	for round := range soak(12) {
		phone := ts.login(t, "bob", "phone")
		res, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
		must(t, err)
		id := res.CallID
		phone.wait(id, "received from alice")
		alice.wait(id, "changed bob=Received")
		errs := together(
			func() error { return second(phone.CallAccept(t.Context(), id, client.OpConfig{})) },
			func() error { return phone.Logout(t.Context()) },
		)
		info, err := alice.QueryCall(t.Context(), id)
		must(t, err)
		bobState := userIn(t, info.CallUserList, "bob").State
		switch {
		case errs[0] == nil:
			names, bodies := hooks.call(id, "call_quit")
			if bobState != client.StateQuit || !slices.Equal(names, []string{"call_create", "call_accept", "call_quit"}) ||
				bodies[2]["lost"] != true {
				t.Fatalf("round %d: accept then logout (%v): bob %s, webhooks %v", round, errs[1], stateName(bobState), names)
			}
		case bobState != client.StateReceived:
			t.Fatalf("round %d: accept refused (%v) but bob is %s", round, errs[0], stateName(bobState))
		default:
			must(t, second(laptop.CallReject(t.Context(), id, client.OpConfig{})))
		}
		must(t, second(alice.CallEnd(t.Context(), id, client.OpConfig{})))
		if t.Failed() {
			return
		}
	}
}

// R3.8, R3.7, §5: alice, alone Accepted in her advanced call, quits while bob, still ringing,
// joins (an accept, R3.7). A join first answers the call and it goes on with bob; a quit first
// ends it (everyone_left), bob's devices get the end as their last event, and the join gets
// 6000276.
func TestE2ERaceCallerQuitVersusPendingJoin(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), raceFlags...)...)
	phone, laptop := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop")
	for round := range soak(12) {
		alice := ts.login(t, fmt.Sprintf("alice%d", round), "a")
		res, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
		must(t, err)
		id := res.CallID
		phone.wait(id, "changed bob=Received")
		laptop.wait(id, "changed bob=Received")
		errs := together(
			func() error { return second(alice.CallQuit(t.Context(), id, client.OpConfig{})) },
			func() error { return second(phone.CallJoin(t.Context(), id, client.OpConfig{})) },
		)
		must(t, errs[0])
		switch code(errs[1]) {
		case 0:
			must(t, second(phone.CallQuit(t.Context(), id, client.OpConfig{})))
			wantHooks(t, hooks, id, "everyone_left", "call_create", "call_accept", "call_quit", "call_quit", "call_end")
		case client.CodeCallUnavailable:
			for _, d := range []*device{phone, laptop} {
				noGhostRing(t, ts, d, id, "ended by "+alice.user)
			}
			wantHooks(t, hooks, id, "everyone_left", "call_create", "call_quit", "call_end")
		default:
			t.Fatalf("round %d: pending join racing the last quit got %v", round, errs[1])
		}
		checkCallEvents(t, ts, []string{id}, alice, phone, laptop)
		if in := checkNotBusyTwice(t, phone); in != "" {
			t.Fatalf("round %d: bob still busy in %s", round, in)
		}
		if t.Failed() {
			return
		}
	}
}
