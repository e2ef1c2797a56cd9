package main

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// wantHooks waits for the webhook last of callID and checks that the call's webhooks are
// exactly want, in order, each once (§10), and that call_end carries reason.
func wantHooks(t *testing.T, hooks *hookReceiver, callID, reason string, want ...string) {
	t.Helper()
	names, bodies := hooks.call(callID, want[len(want)-1])
	if !slices.Equal(names, want) {
		t.Errorf("call %s webhooks %v, want %v", callID, names, want)
		return
	}
	if end := bodies[len(bodies)-1]; end["event"] == "call_end" && end["reason"] != reason {
		t.Errorf("call %s call_end reason %v, want %q: %v", callID, end["reason"], reason, end)
	}
}

// ringBoth rings bob's phone and laptop from alice and waits until bob's receipt is in
// (R5.1), so the answers below race each other and nothing else.
func ringBoth(t *testing.T, alice, phone, laptop *device, cfg client.InviteConfig) string {
	t.Helper()
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, cfg)
	must(t, err)
	phone.wait(res.CallID, "received from alice")
	laptop.wait(res.CallID, "received from alice")
	alice.wait(res.CallID, "changed bob=Received")
	phone.wait(res.CallID, "changed bob=Received")
	laptop.wait(res.CallID, "changed bob=Received")
	return res.CallID
}

// R3.3 ("two devices of one user accepting at once"), R4.1, §5, §10: bob accepts alice's
// general-mode ring on his phone and his laptop at once. The first commits and ends the call;
// the second gets 6000276. Every device gets the answer exactly once, and the webhooks are
// call_create, call_accept, call_end (answered), once each.
func TestE2ERaceTwoDevicesAcceptGeneral(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), raceFlags...)...)
	alice := ts.login(t, "alice", "a")
	phone, laptop := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop")
	for round := range soak(10) {
		id := ringBoth(t, alice, phone, laptop, client.InviteConfig{Timeout: 60})
		errs := together(
			func() error { return second(phone.CallAccept(t.Context(), id, client.OpConfig{})) },
			func() error { return second(laptop.CallAccept(t.Context(), id, client.OpConfig{})) },
		)
		won := slices.IndexFunc(errs, func(err error) bool { return err == nil })
		if won < 0 || code(errs[1-won]) != client.CodeCallUnavailable {
			t.Fatalf("round %d: accepts returned %v; want one success and 6000276", round, errs)
		}
		answered := "changed bob=Accepted (call ended)"
		alice.expect(ts, id, "created", "changed bob=Received", answered)
		for _, d := range []*device{phone, laptop} {
			d.expect(ts, id, "received from alice", "changed bob=Received", answered)
		}
		wantHooks(t, hooks, id, "answered", "call_create", "call_accept", "call_end")
		if t.Failed() {
			return
		}
	}
}

// R3.3, §5: the same in advanced mode, where the call goes on: the second accept gets
// 6000274, bob's main device is the winner's, and only the winner's accept is announced.
func TestE2ERaceTwoDevicesAcceptAdvanced(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), raceFlags...)...)
	alice := ts.login(t, "alice", "a")
	phone, laptop := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop")
	for round := range soak(10) {
		id := ringBoth(t, alice, phone, laptop, advanced)
		errs := together(
			func() error { return second(phone.CallAccept(t.Context(), id, client.OpConfig{})) },
			func() error { return second(laptop.CallAccept(t.Context(), id, client.OpConfig{})) },
		)
		won := slices.IndexFunc(errs, func(err error) bool { return err == nil })
		if won < 0 || code(errs[1-won]) != client.CodeStateForbids {
			t.Fatalf("round %d: accepts returned %v; want one success and 6000274", round, errs)
		}
		must(t, second(alice.CallEnd(t.Context(), id, client.OpConfig{})))
		alice.expect(ts, id, "created", "changed bob=Received", "changed bob=Accepted", "ended by alice")
		for _, d := range []*device{phone, laptop} {
			d.expect(ts, id, "received from alice", "changed bob=Received", "changed bob=Accepted", "ended by alice")
		}
		wantHooks(t, hooks, id, "ended", "call_create", "call_accept", "call_end")
		if t.Failed() {
			return
		}
	}
}

// R3.3, R3.2, §5, §10: bob accepts on his phone while alice cancels the general-mode ring.
// Exactly one wins: an answered call refuses the cancel with 6000276 (it ended, R4.4), a
// cancelled call refuses the accept with 6000276. Each device gets the winner's event once:
// bob's laptop stops ringing either way.
func TestE2ERaceAcceptVersusCancel(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), raceFlags...)...)
	alice, tablet := ts.login(t, "alice", "a"), ts.login(t, "alice", "tablet")
	phone, laptop := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop")
	for round := range soak(12) {
		id := ringBoth(t, alice, phone, laptop, client.InviteConfig{Timeout: 60})
		tablet.wait(id, "created")
		errs := together(
			func() error { return second(phone.CallAccept(t.Context(), id, client.OpConfig{})) },
			func() error { return second(alice.CallCancel(t.Context(), id, nil, client.OpConfig{})) },
		)
		if (errs[0] == nil) == (errs[1] == nil) || code(errs[0])|code(errs[1]) != client.CodeCallUnavailable {
			t.Fatalf("round %d: accept, cancel returned %v; want one success and 6000276", round, errs)
		}
		if errs[0] == nil {
			answered := "changed bob=Accepted (call ended)"
			alice.expect(ts, id, "created", "changed bob=Received", answered)
			tablet.expect(ts, id, "created", answered) // a non-main device hears only the end (§5)
			for _, d := range []*device{phone, laptop} {
				d.expect(ts, id, "received from alice", "changed bob=Received", answered)
			}
			wantHooks(t, hooks, id, "answered", "call_create", "call_accept", "call_end")
		} else {
			cancelled := "cancelled bob=BeCancelled"
			alice.expect(ts, id, "created", "changed bob=Received")
			tablet.expect(ts, id, "created", cancelled)
			for _, d := range []*device{phone, laptop} {
				d.expect(ts, id, "received from alice", "changed bob=Received", cancelled)
			}
			wantHooks(t, hooks, id, "cancelled", "call_create", "call_cancel", "call_end")
		}
		if t.Failed() {
			t.Fatalf("round %d: accept, cancel returned %v", round, errs)
		}
	}
}

// R3.3, R4.3, R6.1, §5: bob accepts on his phone while alice's device logs out (lost at
// once). An answer first ends the general call (the loss then finds nothing to do); a loss
// first cancels it (webhook caller_cancel) and the accept gets 6000276.
func TestE2ERaceAcceptVersusCallerLogout(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), raceFlags...)...)
	phone, laptop := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop")
	for round := range soak(10) {
		alice := ts.login(t, fmt.Sprintf("alice%d", round), "a")
		res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
		must(t, err)
		id := res.CallID
		phone.wait(id, "received from "+alice.user)
		laptop.wait(id, "received from "+alice.user)
		alice.wait(id, "changed bob=Received")
		errs := together(
			func() error { return second(phone.CallAccept(t.Context(), id, client.OpConfig{})) },
			func() error { return alice.Logout(t.Context()) },
		)
		must(t, errs[1])
		info, err := phone.QueryCall(t.Context(), id)
		must(t, err)
		ring := []string{"received from " + alice.user, "changed bob=Received"}
		switch {
		case errs[0] == nil:
			if got := userStates(info.CallUserList); got != alice.user+"=Accepted,bob=Accepted" || info.State != client.CallEnded {
				t.Fatalf("round %d: accept won, call %v %s", round, info.State, got)
			}
			for _, d := range []*device{phone, laptop} {
				d.expect(ts, id, append(ring, "changed bob=Accepted (call ended)")...)
			}
			wantHooks(t, hooks, id, "answered", "call_create", "call_accept", "call_end")
		case code(errs[0]) != client.CodeCallUnavailable:
			t.Fatalf("round %d: accept racing the caller's logout got %v", round, errs[0])
		default:
			if got := userStates(info.CallUserList); got != alice.user+"=Cancelled,bob=BeCancelled" || info.State != client.CallEnded {
				t.Fatalf("round %d: logout won, call %v %s", round, info.State, got)
			}
			for _, d := range []*device{phone, laptop} {
				d.expect(ts, id, append(ring, "cancelled bob=BeCancelled")...)
			}
			wantHooks(t, hooks, id, "cancelled", "call_create", "call_cancel", "call_end")
		}
		if t.Failed() {
			return
		}
	}
}

// R6.1, R4.3, R3.3, §5: alice's app closes while her general-mode ring is unanswered, and bob
// accepts on his phone right when her device is lost (heartbeatTimeout, 3s here, after the
// close). An answer first ends the call answered and the loss finds nothing to do; a loss
// first cancels the call (caller_cancel) and the accept gets 6000276.
func TestE2ERaceAcceptVersusCallerLoss(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), raceFlags...)...)
	phone, laptop := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop")
	for round := range soak(8) {
		alice := ts.login(t, fmt.Sprintf("alice%d", round), "a")
		res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
		must(t, err)
		id := res.CallID
		phone.wait(id, "changed bob=Received")
		laptop.wait(id, "changed bob=Received")
		alice.Close()
		closed := time.Now()
		// Aim at the loss, from 20 ms before to 20 ms after (an instant, not an event).
		timer := time.NewTimer(time.Until(closed.Add(3*time.Second + time.Duration(round%5-2)*10*time.Millisecond)))
		<-timer.C
		err = second(phone.CallAccept(t.Context(), id, client.OpConfig{}))
		t.Logf("round %d: accept at the caller's loss got %v", round, err)
		ring := []string{"received from " + alice.user, "changed bob=Received"}
		switch code(err) {
		case 0:
			for _, d := range []*device{phone, laptop} {
				d.expect(ts, id, append(ring, "changed bob=Accepted (call ended)")...)
			}
			wantHooks(t, hooks, id, "answered", "call_create", "call_accept", "call_end")
		case client.CodeCallUnavailable:
			for _, d := range []*device{phone, laptop} {
				d.expect(ts, id, append(ring, "cancelled bob=BeCancelled")...)
			}
			wantHooks(t, hooks, id, "cancelled", "call_create", "call_cancel", "call_end")
		default:
			t.Fatalf("round %d: accept racing the caller's loss got %v", round, err)
		}
		if t.Failed() {
			t.Fatalf("round %d: accept returned %v", round, err)
		}
	}
}
