package main

import (
	"cmp"
	"fmt"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// R4.3: the caller's app dies (its connection drops, no logout) before anyone answers; after
// heartbeatTimeout (3s here) the call is cancelled for everyone.
func TestE2ECallerLostCancels(t *testing.T) {
	_, bob, res := ringThenKillCaller(t)
	got := bob.wait(res.CallID, "cancelled bob=BeCancelled").(client.CallInvitationCancelled)
	if got.Inviter != "alice" {
		t.Errorf("cancelled by %q, want alice", got.Inviter)
	}
	info, err := bob.QueryCall(t.Context(), res.CallID)
	must(t, err)
	if info.State != client.CallEnded || info.CallUserList[0].State != client.StateCancelled {
		t.Errorf("after caller loss: %+v", info)
	}
}

// ringThenKillCaller has alice ring bob until bob's device acknowledged the ring, then kills
// alice's app (its connection drops without logout); it returns bob's device and the call.
func ringThenKillCaller(t *testing.T) (*testServer, *device, client.CallInviteResult) {
	t.Helper()
	ts := startServer(t)
	alice, bob := ts.login(t, "alice", "a"), ts.login(t, "bob", "b")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	alice.wait(res.CallID, "changed bob=Received")
	alice.Close()
	return ts, bob, res
}

// R6.1: a caller that reconnects within heartbeatTimeout loses nothing.
func TestE2EReconnectInTimeIsNotALoss(t *testing.T) {
	ts, bob, res := ringThenKillCaller(t)
	again := ts.login(t, "alice", "a") // the app restarts with the same deviceID
	if _, err := bob.CallAccept(t.Context(), res.CallID, client.OpConfig{}); err != nil {
		t.Fatalf("accept after the caller came back: %v", err)
	}
	again.wait(res.CallID, "changed bob=Accepted (call ended)")
}

// R5.2: with enableNotReceivedCheck, an invitee whose device never acknowledged becomes
// NotYetReceived after the check delay (3s here); R5.3: when it logs in later it receives the
// invitation with the time left, and acknowledges it.
func TestE2ENotReceivedThenLateLogin(t *testing.T) {
	ts := startServer(t, "--not-received-check", "3s")
	alice := ts.login(t, "alice", "a")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 30, EnableNotReceivedCheck: true})
	must(t, err)
	alice.wait(res.CallID, "changed bob=NotYetReceived")

	bob := ts.login(t, "bob", "b")
	ring := bob.wait(res.CallID, "received from alice (synthetic)").(client.CallInvitationReceived)
	if ring.Timeout < 1 || ring.Timeout > 27 {
		t.Errorf("late invitation timeout = %ds, want the time left (≤ 27s)", ring.Timeout)
	}
	if left := bob.RemainingRingTime(ring.Deadline); left <= 0 || left > 27*time.Second {
		t.Errorf("remaining ring time %v", left)
	}
	alice.wait(res.CallID, "changed bob=Received")
}

// R3.1, R3.3, R3.4: a user in a call cannot start another or accept one; busy invitees still
// ring, and a busy invitee's reject carries its extendedData and leaves it in its call.
func TestE2EBusyRule(t *testing.T) {
	ts := startServer(t)
	alice, bob, carol := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c")
	first, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
	must(t, err)
	bob.wait(first.CallID, "received from alice")
	must(t, second(bob.CallAccept(t.Context(), first.CallID, client.OpConfig{})))

	if _, err := alice.CallInvite(t.Context(), []string{"carol"}, advanced); code(err) != client.CodeBusy {
		t.Errorf("invite while in a call: got %v, want 6000290", err)
	}
	other, err := carol.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	bob.wait(other.CallID, "received from carol") // busy users are still rung
	if _, err := bob.CallAccept(t.Context(), other.CallID, client.OpConfig{}); code(err) != client.CodeBusy {
		t.Errorf("accept while in a call: got %v, want 6000290", err)
	}
	must(t, second(bob.CallReject(t.Context(), other.CallID, client.OpConfig{ExtendedData: "in a call"})))
	// The busy user's reject reaches the caller with its extendedData and leaves bob in his call.
	rej := carol.wait(other.CallID, "changed bob=Rejected (call ended)").(client.CallUserStateChanged)
	if rej.CallUserList[0].ExtendedData != "in a call" {
		t.Errorf("the busy user's reject = %+v", rej)
	}
	info, err := alice.QueryCall(t.Context(), first.CallID)
	must(t, err)
	if info.State != client.CallStarted || userIn(t, info.CallUserList, "bob").State != client.StateAccepted {
		t.Errorf("bob's call after he rejected another: %+v", info)
	}
	if _, err := bob.CallInvite(t.Context(), []string{"carol"}, advanced); code(err) != client.CodeBusy {
		t.Errorf("invite after rejecting another call: got %v, want 6000290 (still busy)", err)
	}
}

// R3.3b: alice and bob call each other at once; bob accepting alice's call cancels his own.
func TestE2EGlare(t *testing.T) {
	ts := startServer(t)
	alice, bob := ts.login(t, "alice", "a"), ts.login(t, "bob", "b")
	toBob, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	toAlice, err := bob.CallInvite(t.Context(), []string{"alice"}, client.InviteConfig{Timeout: 60})
	must(t, err) // bob is only rung, not in a call, so he may call

	bob.wait(toBob.CallID, "received from alice")
	alice.wait(toAlice.CallID, "received from bob")
	must(t, second(bob.CallAccept(t.Context(), toBob.CallID, client.OpConfig{})))
	alice.wait(toAlice.CallID, "cancelled alice=BeCancelled")
	bob.wait(toAlice.CallID, "cancelled alice=BeCancelled") // all the caller's devices (§5)
	alice.wait(toBob.CallID, "changed bob=Accepted (call ended)")
}

// R3.10: paging through 250 calls with no repeat and no gap, newest first; a count above 100
// gives pages of 100, none gives 20.
func TestE2EQueryPagination(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "1000", "--max-requests-per-second", "1000")
	alice := ts.login(t, "alice", "a")
	var ids []string
	for range 250 {
		res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
		must(t, err)
		must(t, second(alice.CallCancel(t.Context(), res.CallID, nil, client.OpConfig{})))
		ids = append(ids, res.CallID)
	}
	for _, count := range []int{100, 7} {
		var got []string
		var next int64
		for page := 0; ; page++ {
			res, err := alice.QueryCallInvitationList(t.Context(), count, next)
			must(t, err)
			if len(res.CallList) > count {
				t.Fatalf("page of %d calls for count %d", len(res.CallList), count)
			}
			for _, c := range res.CallList {
				got = append(got, c.CallID)
			}
			if res.NextFlag == 0 {
				break
			}
			if page > 100 {
				t.Fatal("paging does not end")
			}
			next = res.NextFlag
		}
		if len(got) != len(ids) {
			t.Fatalf("count %d: %d calls listed, want %d", count, len(got), len(ids))
		}
		for i := range got {
			if got[i] != ids[len(ids)-1-i] {
				t.Fatalf("count %d: position %d is %s, want %s (newest first, no repeat or gap)", count, i, got[i], ids[len(ids)-1-i])
			}
		}
	}
	if res, err := alice.QueryCallInvitationList(t.Context(), 1000, 0); err != nil || len(res.CallList) != 100 ||
		res.CallList[0].CallID != ids[len(ids)-1] || res.NextFlag == 0 {
		t.Errorf("count 1000: %d calls, nextFlag %d, %v; want a page of 100 (larger = 100)", len(res.CallList), res.NextFlag, err)
	}
	bob := ts.login(t, "bob", "b")
	res, err := bob.QueryCallInvitationList(t.Context(), 0, 0)
	if err != nil || len(res.CallList) != 20 {
		t.Errorf("default page: %d calls, %v; want 20", len(res.CallList), err)
	}
	if _, err := ts.login(t, "mallory", "m").QueryCall(t.Context(), ids[0]); code(err) != client.CodeCallUnavailable {
		t.Errorf("queryCall by a stranger: got %v, want 6000276", err)
	}
}

// R3.3: two devices of one user accepting two different calls at the same moment cannot both
// win: the busy record is unique per user and written in the accept's commit.
func TestE2EConcurrentAcceptsOfTwoCalls(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "1000")
	phone, laptop := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop")
	for round := range 15 {
		alice := ts.login(t, fmt.Sprintf("alice%d", round), "a")
		carol := ts.login(t, fmt.Sprintf("carol%d", round), "c")
		one, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
		must(t, err)
		two, err := carol.CallInvite(t.Context(), []string{"bob"}, advanced)
		must(t, err)
		phone.wait(two.CallID, "received from "+carol.user)
		errs := make(chan error, 2)
		go func() { errs <- second(phone.CallAccept(t.Context(), one.CallID, client.OpConfig{})) }()
		go func() { errs <- second(laptop.CallAccept(t.Context(), two.CallID, client.OpConfig{})) }()
		a, b := <-errs, <-errs
		if (a == nil) == (b == nil) {
			t.Fatalf("round %d: accepts returned %v and %v; exactly one must win", round, a, b)
		}
		if lost := cmp.Or(a, b); code(lost) != client.CodeBusy {
			t.Fatalf("round %d: the losing accept got %v, want 6000290", round, lost)
		}
		// Free bob for the next round: both callers end their calls.
		for _, c := range []struct {
			d  *device
			id string
		}{{alice, one.CallID}, {carol, two.CallID}} {
			must(t, second(c.d.CallEnd(t.Context(), c.id, client.OpConfig{})))
		}
	}
}
