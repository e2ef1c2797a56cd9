package main

import (
	"slices"
	"testing"

	"github.com/dialtone/dialtone/client"
)

// R3.3b, R3.1, §5, §10: alice and bob, each on two devices, ring each other at once from one
// device and answer each other's ring at once from the other. Exactly one answer wins: its
// general-mode call ends answered, the winner's own call is cancelled in the same commit
// (caller_cancel), and the loser's accept of that cancelled call gets 6000276. Every device
// gets each call's final event exactly once and nothing rings on.
func TestE2ERaceGlareSeveralDevices(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), raceFlags...)...)
	a1, a2 := ts.login(t, "alice", "a1"), ts.login(t, "alice", "a2")
	b1, b2 := ts.login(t, "bob", "b1"), ts.login(t, "bob", "b2")
	ring := client.InviteConfig{Timeout: 60}
	for round := range soak(12) {
		var toBob, toAlice client.CallInviteResult
		errs := together(
			func() (err error) { toBob, err = a1.CallInvite(t.Context(), []string{"bob"}, ring); return err },
			func() (err error) { toAlice, err = b1.CallInvite(t.Context(), []string{"alice"}, ring); return err },
		)
		must(t, errs[0])
		must(t, errs[1])
		for _, d := range []*device{a1, a2} {
			d.wait(toAlice.CallID, "changed alice=Received")
		}
		for _, d := range []*device{b1, b2} {
			d.wait(toBob.CallID, "changed bob=Received")
		}
		a1.wait(toBob.CallID, "changed bob=Received")
		b1.wait(toAlice.CallID, "changed alice=Received")
		errs = together(
			func() error { return second(b2.CallAccept(t.Context(), toBob.CallID, client.OpConfig{})) },
			func() error { return second(a2.CallAccept(t.Context(), toAlice.CallID, client.OpConfig{})) },
		)
		won := slices.IndexFunc(errs, func(err error) bool { return err == nil })
		if won < 0 || code(errs[1-won]) != client.CodeCallUnavailable {
			t.Fatalf("round %d: glare accepts returned %v; want one success and 6000276", round, errs)
		}
		// answered: the call whose accept won; glared: the winner's own call, cancelled.
		answered, glared, winner, loser := toBob.CallID, toAlice.CallID, "bob", "alice"
		if won == 1 {
			answered, glared, winner, loser = glared, answered, loser, winner
		}
		end := "changed " + winner + "=Accepted (call ended)"
		cancelled := "cancelled " + loser + "=BeCancelled"
		for _, d := range []*device{a1, a2, b1, b2} {
			if got := settled(t, ts, d, answered); len(got) == 0 || got[len(got)-1] != end || count(got, end) != 1 {
				t.Errorf("round %d: %s@%s events of the answered call: %q, want one %q last", round, d.user, d.id, got, end)
			}
			if got := settled(t, ts, d, glared); len(got) == 0 || got[len(got)-1] != cancelled || count(got, cancelled) != 1 {
				t.Errorf("round %d: %s@%s events of the glared call: %q, want one %q last", round, d.user, d.id, got, cancelled)
			}
		}
		for _, id := range []string{answered, glared} {
			info, err := a1.QueryCall(t.Context(), id)
			must(t, err)
			if info.State != client.CallEnded {
				t.Errorf("round %d: call %s is %v (%s)", round, id, info.State, userStates(info.CallUserList))
			}
		}
		wantHooks(t, hooks, answered, "answered", "call_create", "call_accept", "call_end")
		wantHooks(t, hooks, glared, "cancelled", "call_create", "call_cancel", "call_end")
		if _, bodies := hooks.ofCall(glared); len(bodies) == 3 && (bodies[1]["reason"] != "caller_cancel" || bodies[1]["operatedUserID"] != winner) {
			t.Errorf("round %d: glare call_cancel %v", round, bodies[1])
		}
		if t.Failed() {
			return
		}
	}
}

// count returns how many times s occurs in list.
func count(list []string, s string) int {
	n := 0
	for _, e := range list {
		if e == s {
			n++
		}
	}
	return n
}

// settled returns the summaries of d's events of callID once every event committed so far
// has reached d (a barrier, see device.expect).
func settled(t *testing.T, ts *testServer, d *device, callID string) []string {
	t.Helper()
	ts.barrier(t, d)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.summaries(callID)
}
