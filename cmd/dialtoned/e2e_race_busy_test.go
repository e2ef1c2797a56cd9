package main

import (
	"slices"
	"testing"

	"github.com/dialtone/dialtone/client"
)

// R3.1, §1: alice's phone and laptop each start a call at once. A user is in at most one call:
// one invite succeeds and the other gets 6000290, and the refused call rings nobody.
func TestE2ERaceTwoDevicesInvite(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), raceFlags...)...)
	phone, laptop := ts.login(t, "alice", "phone"), ts.login(t, "alice", "laptop")
	bob, carol := ts.login(t, "bob", "b"), ts.login(t, "carol", "c")
	for round := range soak(12) {
		var res [2]client.CallInviteResult
		rings := [2]int{rungBy(bob, "alice"), rungBy(carol, "alice")}
		errs := together(
			func() (err error) { res[0], err = phone.CallInvite(t.Context(), []string{"bob"}, advanced); return err },
			func() (err error) {
				res[1], err = laptop.CallInvite(t.Context(), []string{"carol"}, advanced)
				return err
			},
		)
		won := slices.IndexFunc(errs, func(err error) bool { return err == nil })
		if won < 0 || code(errs[1-won]) != client.CodeBusy {
			t.Fatalf("round %d: invites returned %v; want one success and 6000290", round, errs)
		}
		id := res[won].CallID
		callee, other := []*device{bob, carol}[won], []*device{bob, carol}[1-won]
		callee.wait(id, "received from alice")
		if got := settled(t, ts, other, ""); rungBy(other, "alice") != rings[1-won] {
			t.Fatalf("round %d: %s was rung by the refused invite: %q", round, other.user, got)
		}
		must(t, second(phone.CallCancel(t.Context(), id, nil, client.OpConfig{})))
		callee.wait(id, "cancelled "+callee.user+"=BeCancelled")
		wantHooks(t, hooks, id, "cancelled", "call_create", "call_cancel", "call_end")
		if t.Failed() {
			return
		}
	}
}

// R3.3b, R3.3, R4.1: bob answers alice's ring while carol answers bob's own ring to her, at
// once. If carol's answer commits first, bob's own call is answered (general mode: it ends),
// and bob is free to accept; if bob's accept commits first, his own call is cancelled by glare
// and carol's accept gets 6000276. Either way nobody is in two calls, and no call is both
// answered and cancelled.
func TestE2ERaceGlareVersusAnswer(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), raceFlags...)...)
	alice, bob, carol := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c")
	for round := range soak(12) {
		toBob, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
		must(t, err)
		toCarol, err := bob.CallInvite(t.Context(), []string{"carol"}, client.InviteConfig{Timeout: 60})
		must(t, err)
		alice.wait(toBob.CallID, "changed bob=Received")
		bob.wait(toCarol.CallID, "changed carol=Received")
		errs := together(
			func() error { return second(bob.CallAccept(t.Context(), toBob.CallID, client.OpConfig{})) },
			func() error { return second(carol.CallAccept(t.Context(), toCarol.CallID, client.OpConfig{})) },
		)
		must(t, errs[0])
		switch code(errs[1]) {
		case 0:
			wantHooks(t, hooks, toCarol.CallID, "answered", "call_create", "call_accept", "call_end")
		case client.CodeCallUnavailable:
			wantHooks(t, hooks, toCarol.CallID, "cancelled", "call_create", "call_cancel", "call_end")
		default:
			t.Fatalf("round %d: carol's accept got %v", round, errs[1])
		}
		wantHooks(t, hooks, toBob.CallID, "answered", "call_create", "call_accept", "call_end")
		checkCallEvents(t, ts, []string{toBob.CallID, toCarol.CallID}, alice, bob, carol)
		for _, d := range []*device{alice, bob, carol} {
			if in := checkNotBusyTwice(t, d); in != "" {
				t.Fatalf("round %d: %s still in %s", round, d.user, in)
			}
		}
		if t.Failed() {
			return
		}
	}
}

// rungBy returns how many invitations from inviter d has received.
func rungBy(d *device, inviter string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return count(d.summaries(""), "received from "+inviter)
}
