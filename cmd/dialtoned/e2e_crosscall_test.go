package main

import (
	"fmt"
	"testing"

	"github.com/dialtone/dialtone/client"
)

// R3.3b, R3.3: alice's accept of carol's call, which cancels alice's own unanswered call
// (glare), races bob's answer to that own call. Whichever commits first decides: bob's answer
// makes alice busy in an answered call (her accept → 6000290), or alice's glare cancel ends her
// call (bob's answer → 6000276). Never both, never neither.
func TestE2ERaceAnswerAgainstTheCallersGlare(t *testing.T) {
	ts := startServer(t, raceFlags...)
	alice, bob, carol := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c")
	for round := range soak(20) {
		own, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
		must(t, err)
		other, err := carol.CallInvite(t.Context(), []string{"alice"}, advanced)
		must(t, err)
		bob.wait(own.CallID, "received from alice")
		alice.wait(other.CallID, "received from carol")
		errs := together(
			func() error { return second(bob.CallAccept(t.Context(), own.CallID, client.OpConfig{})) },
			func() error { return second(alice.CallAccept(t.Context(), other.CallID, client.OpConfig{})) },
		)
		checkCallEvents(t, ts, []string{own.CallID, other.CallID}, alice, bob, carol)
		ownInfo, err := bob.QueryCall(t.Context(), own.CallID)
		must(t, err)
		switch in := checkNotBusyTwice(t, alice); {
		case errs[0] == nil && code(errs[1]) == client.CodeBusy:
			if in != own.CallID || ownInfo.State != client.CallStarted {
				t.Fatalf("round %d: bob's answer won, but alice is in %q and her call is %v", round, in, ownInfo.State)
			}
			must(t, second(alice.CallEnd(t.Context(), own.CallID, client.OpConfig{})))
			must(t, second(carol.CallEnd(t.Context(), other.CallID, client.OpConfig{})))
		case errs[1] == nil && code(errs[0]) == client.CodeCallUnavailable:
			if in != other.CallID || ownInfo.State != client.CallEnded ||
				ownInfo.CallUserList[0].State != client.StateCancelled || ownInfo.CallUserList[1].State != client.StateBeCancelled {
				t.Fatalf("round %d: alice's glare won, but alice is in %q and her call is %v, %s",
					round, in, ownInfo.State, userStates(ownInfo.CallUserList))
			}
			must(t, second(carol.CallEnd(t.Context(), other.CallID, client.OpConfig{})))
		default:
			t.Fatalf("round %d: bob's answer and alice's glare accept returned %v", round, errs)
		}
	}
}

// R3.7, §1: a user Rejected in two advanced calls rejoins both at once from two devices; only
// one join wins, and the other is refused as busy (6000290): a join is not an accept, so it
// cancels nothing (R3.3b).
func TestE2ERaceJoinsOfTwoCalls(t *testing.T) {
	ts := startServer(t, raceFlags...)
	phone, laptop := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop")
	alice, carol := ts.login(t, "alice", "a"), ts.login(t, "carol", "c")
	for round := range soak(20) {
		one, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
		must(t, err)
		two, err := carol.CallInvite(t.Context(), []string{"bob"}, advanced)
		must(t, err)
		phone.wait(two.CallID, "received from carol")
		must(t, second(phone.CallReject(t.Context(), one.CallID, client.OpConfig{})))
		must(t, second(laptop.CallReject(t.Context(), two.CallID, client.OpConfig{})))
		errs := together(
			func() error { return second(phone.CallJoin(t.Context(), one.CallID, client.OpConfig{})) },
			func() error { return second(laptop.CallJoin(t.Context(), two.CallID, client.OpConfig{})) },
		)
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: joins returned %v; exactly one must win", round, errs)
		}
		won, lost := one.CallID, two.CallID
		if errs[0] != nil {
			won, lost = lost, won
		}
		if c := code(errs[0]) + code(errs[1]); c != client.CodeBusy {
			t.Fatalf("round %d: the losing join got %v, want 6000290", round, errs)
		}
		if in := checkNotBusyTwice(t, phone); in != won {
			t.Fatalf("round %d: bob is in %q, want %q", round, in, won)
		}
		info, err := phone.QueryCall(t.Context(), lost)
		must(t, err)
		if info.State != client.CallStarted || userIn(t, info.CallUserList, "bob").State != client.StateRejected {
			t.Fatalf("round %d: the call bob failed to join is %v, %s", round, info.State, userStates(info.CallUserList))
		}
		checkCallEvents(t, ts, []string{one.CallID, two.CallID}, phone, laptop, alice, carol)
		must(t, second(alice.CallEnd(t.Context(), one.CallID, client.OpConfig{})))
		must(t, second(carol.CallEnd(t.Context(), two.CallID, client.OpConfig{})))
	}
}

// R3.1, R3.3b: one device of bob invites dave while another accepts carol's call. The accept
// always wins: if the invite committed first, bob's new call is his own unanswered call and
// the accept cancels it (glare); otherwise bob is busy and the invite is refused (6000290).
// Two invites at once from two devices: one is refused (6000290), an invite has no glare.
func TestE2ERaceInviteAgainstAccept(t *testing.T) {
	ts := startServer(t, raceFlags...)
	phone, laptop := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop")
	carol := ts.login(t, "carol", "c")
	for round := range soak(20) {
		other, err := carol.CallInvite(t.Context(), []string{"bob"}, advanced)
		must(t, err)
		laptop.wait(other.CallID, "received from carol")
		var own client.CallInviteResult
		errs := together(
			func() (err error) { own, err = phone.CallInvite(t.Context(), []string{"dave"}, advanced); return err },
			func() error { return second(laptop.CallAccept(t.Context(), other.CallID, client.OpConfig{})) },
		)
		must(t, errs[1])
		switch {
		case errs[0] == nil:
			info, err := phone.QueryCall(t.Context(), own.CallID)
			must(t, err)
			if info.State != client.CallEnded || info.CallUserList[0].State != client.StateCancelled {
				t.Fatalf("round %d: bob's invite won the race, but his call is %v, %s after his accept",
					round, info.State, userStates(info.CallUserList))
			}
			checkCallEvents(t, ts, []string{own.CallID, other.CallID}, phone, laptop, carol)
		case code(errs[0]) != client.CodeBusy:
			t.Fatalf("round %d: invite racing the accept got %v, want success or 6000290", round, errs[0])
		}
		if in := checkNotBusyTwice(t, phone); in != other.CallID {
			t.Fatalf("round %d: bob is in %q, want %q", round, in, other.CallID)
		}
		must(t, second(carol.CallEnd(t.Context(), other.CallID, client.OpConfig{})))

		var a, b client.CallInviteResult
		errs = together(
			func() (err error) { a, err = phone.CallInvite(t.Context(), []string{"dave"}, advanced); return err },
			func() (err error) { b, err = laptop.CallInvite(t.Context(), []string{"erin"}, advanced); return err },
		)
		if (errs[0] == nil) == (errs[1] == nil) || code(errs[0])+code(errs[1]) != client.CodeBusy {
			t.Fatalf("round %d: two invites at once returned %v; exactly one must win, the other 6000290", round, errs)
		}
		mine := a.CallID
		if errs[0] != nil {
			mine = b.CallID
		}
		if in := checkNotBusyTwice(t, phone); in != mine {
			t.Fatalf("round %d: bob is in %q, want %q", round, in, mine)
		}
		must(t, second(phone.CallCancel(t.Context(), mine, nil, client.OpConfig{})))
	}
}

// §1, R3.1, §4, R6.4: a user is busy exactly while it is Accepted in a Started call. Each way a
// call ends or a user leaves it frees the users it took out of the call at once (a new call
// is accepted right after the reply or the event), and only them.
func TestE2EBusyReleasedAtEveryEnd(t *testing.T) {
	ts := startServer(t, raceFlags...)
	ctx := t.Context()
	n := 0
	pair := func(t *testing.T) (*device, *device) {
		n++
		return ts.login(t, fmt.Sprint("caller", n), "a"), ts.login(t, fmt.Sprint("callee", n), "b")
	}
	free := func(t *testing.T, d *device, why string) {
		t.Helper()
		res, err := d.CallInvite(ctx, []string{"nobody"}, client.InviteConfig{Timeout: 60})
		if err != nil {
			t.Fatalf("%s: %s cannot start a call: %v", why, d.user, err)
		}
		must(t, second(d.CallCancel(ctx, res.CallID, nil, client.OpConfig{})))
	}
	busy := func(t *testing.T, d *device, why string) {
		t.Helper()
		wantCode(t, why+": "+d.user+" starts a call", second(d.CallInvite(ctx, []string{"nobody"}, client.InviteConfig{Timeout: 60})), client.CodeBusy)
	}
	ring := func(t *testing.T, a, b *device, cfg client.InviteConfig) string {
		t.Helper()
		res, err := a.CallInvite(ctx, []string{b.user}, cfg)
		must(t, err)
		b.wait(res.CallID, "received from "+a.user)
		return res.CallID
	}
	answered := func(t *testing.T) (*device, *device, string) {
		t.Helper()
		a, b := pair(t)
		id := ring(t, a, b, advanced)
		must(t, second(b.CallAccept(ctx, id, client.OpConfig{})))
		busy(t, a, "answered")
		busy(t, b, "answered")
		return a, b, id
	}

	t.Run("quit", func(t *testing.T) {
		a, b, id := answered(t)
		must(t, second(b.CallQuit(ctx, id, client.OpConfig{})))
		free(t, b, "after his quit")
		busy(t, a, "after the callee's quit")
		must(t, second(a.CallQuit(ctx, id, client.OpConfig{})))
		free(t, a, "after everyone left")
	})
	t.Run("end", func(t *testing.T) {
		a, b, id := answered(t)
		must(t, second(a.CallEnd(ctx, id, client.OpConfig{})))
		free(t, a, "after callEnd")
		free(t, b, "after callEnd")
	})
	t.Run("rejoin", func(t *testing.T) {
		a, b, id := answered(t)
		must(t, second(b.CallQuit(ctx, id, client.OpConfig{})))
		must(t, second(b.CallJoin(ctx, id, client.OpConfig{})))
		busy(t, b, "after the rejoin")
		must(t, second(a.CallEnd(ctx, id, client.OpConfig{})))
		free(t, b, "after the end")
	})
	t.Run("cancel", func(t *testing.T) {
		a, b := pair(t)
		id := ring(t, a, b, client.InviteConfig{Timeout: 60})
		busy(t, a, "ringing")
		must(t, second(a.CallCancel(ctx, id, nil, client.OpConfig{})))
		free(t, a, "after the cancel")
	})
	t.Run("general answer", func(t *testing.T) {
		a, b := pair(t)
		id := ring(t, a, b, client.InviteConfig{Timeout: 60})
		must(t, second(b.CallAccept(ctx, id, client.OpConfig{})))
		free(t, a, "after the answer ended the call")
		free(t, b, "after the answer ended the call")
	})
	t.Run("general reject", func(t *testing.T) {
		a, b := pair(t)
		id := ring(t, a, b, client.InviteConfig{Timeout: 60})
		must(t, second(b.CallReject(ctx, id, client.OpConfig{})))
		free(t, a, "after the reject ended the call")
	})
	t.Run("timeout", func(t *testing.T) {
		a, b := pair(t)
		id := ring(t, a, b, client.InviteConfig{Timeout: 1})
		a.wait(id, "changed "+b.user+"=Timeout (call ended)")
		free(t, a, "after the ring timed out")
	})
	t.Run("glare", func(t *testing.T) {
		a, b := pair(t)
		toB := ring(t, a, b, advanced)
		toA := ring(t, b, a, advanced)
		must(t, second(b.CallAccept(ctx, toB, client.OpConfig{})))
		a.wait(toA, "cancelled "+a.user+"=BeCancelled")
		busy(t, b, "in the call he accepted")
		must(t, second(a.CallEnd(ctx, toB, client.OpConfig{})))
		free(t, a, "after the end")
		free(t, b, "after the end")
	})
	t.Run("logout", func(t *testing.T) {
		a, b, id := answered(t)
		must(t, b.Logout(ctx))
		a.wait(id, "changed "+b.user+"=Quit")
		free(t, ts.login(t, b.user, "b2"), "after his main device logged out")
		busy(t, a, "after the callee's logout")
		must(t, a.Logout(ctx))
		free(t, ts.login(t, a.user, "a2"), "after both logged out")

		c, d := pair(t)
		ring(t, c, d, client.InviteConfig{Timeout: 60})
		must(t, c.Logout(ctx))
		free(t, ts.login(t, c.user, "a2"), "after the caller's logout cancelled its call")
	})
}

// R3.7 with --join-policy anyone: a user never in the call is refused as any user would be for
// an ended call (6000276), a full call (6000272, even while busy elsewhere) or while busy
// (6000290); once joined, it is busy until it quits.
func TestE2EJoinPolicyAnyoneRefusals(t *testing.T) {
	ts := startServer(t, "--join-policy", "anyone", "--max-call-users", "3", "--max-invites-per-minute", "1000")
	ctx := t.Context()
	alice, bob, zed, yan := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "zed", "z"), ts.login(t, "yan", "y")
	ended, err := alice.CallInvite(ctx, []string{"bob"}, advanced)
	must(t, err)
	must(t, second(alice.CallEnd(ctx, ended.CallID, client.OpConfig{})))
	wantCode(t, "a newcomer's join of an ended call", second(zed.CallJoin(ctx, ended.CallID, client.OpConfig{})), client.CodeCallUnavailable)

	res, err := alice.CallInvite(ctx, []string{"bob"}, advanced)
	must(t, err)
	id := res.CallID
	bob.wait(id, "received from alice")
	must(t, second(zed.CallJoin(ctx, id, client.OpConfig{}))) // 3 active: full
	wantCode(t, "zed starts a call after joining", second(zed.CallInvite(ctx, []string{"nobody"}, advanced)), client.CodeBusy)

	host := ts.login(t, "host", "h")
	other, err := host.CallInvite(ctx, []string{"yan"}, advanced)
	must(t, err)
	yan.wait(other.CallID, "received from host")
	must(t, second(yan.CallAccept(ctx, other.CallID, client.OpConfig{})))
	wantCode(t, "a busy newcomer's join of a full call", second(yan.CallJoin(ctx, id, client.OpConfig{})), client.CodeTooManyUsers)

	must(t, second(zed.CallQuit(ctx, id, client.OpConfig{})))
	wantCode(t, "a busy newcomer's join", second(yan.CallJoin(ctx, id, client.OpConfig{})), client.CodeBusy)
	must(t, second(zed.CallInvite(ctx, []string{"nobody"}, advanced))) // zed is free once he quit
	info, err := alice.QueryCall(ctx, id)
	must(t, err)
	if info.CallUserList[2].UserID != "zed" || info.CallUserList[2].State != client.StateQuit || len(info.CallUserList) != 3 {
		t.Errorf("after the refusals: %s, want alice, bob and zed (Quit) only", userStates(info.CallUserList))
	}
}
