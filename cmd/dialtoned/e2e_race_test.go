package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// raceFlags lift the per-user and per-connection limits, which the races below would exceed.
var raceFlags = []string{"--max-invites-per-minute", "100000", "--max-requests-per-second", "100000"}

// together runs ops at the same moment (as far as goroutines allow) and returns their errors.
func together(ops ...func() error) []error {
	errs := make([]error, len(ops))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Go(func() {
			<-start
			errs[i] = op()
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// checkCallEvents checks, after a barrier, that every device received the events of each call
// in version order and each once (§5 "Order"), and that a device whose last event of a call
// says the call ended finds it Ended when its user queries it.
func checkCallEvents(t *testing.T, ts *testServer, callIDs []string, devs ...*device) {
	t.Helper()
	for _, d := range devs {
		ts.barrier(t, d)
		d.mu.Lock()
		last := map[string]recorded{}
		var bad []string
		for _, e := range d.events {
			if !slices.Contains(callIDs, e.callID) {
				continue
			}
			if p, ok := last[e.callID]; ok && e.version <= p.version {
				bad = append(bad, fmt.Sprintf("%s@%d %s after @%d %s", e.callID, e.version, e.summary, p.version, p.summary))
			}
			last[e.callID] = e
		}
		d.mu.Unlock()
		if len(bad) > 0 {
			t.Errorf("%s@%s: events out of version order or repeated: %q; all: %q", d.user, d.id, bad, d.history())
		}
		for id, e := range last {
			info, err := d.QueryCall(t.Context(), id)
			if err != nil {
				t.Errorf("%s@%s: queryCall %s: %v", d.user, d.id, id, err)
				continue
			}
			if info.Version < e.version {
				t.Errorf("%s@%s: call %s queried at version %d, older than its event @%d %s", d.user, d.id, id, info.Version, e.version, e.summary)
			}
			ended := strings.HasSuffix(e.summary, "(call ended)") ||
				strings.HasPrefix(e.summary, "ended by ")
			if ended && info.State != client.CallEnded {
				t.Errorf("%s@%s: last event of call %s is %q but the call is %v", d.user, d.id, id, e.summary, info.State)
			}
		}
	}
}

// checkNotBusyTwice checks that the user is Accepted in at most one Started call (§1, R3.1,
// R3.3, R3.7), and returns that call's ID ("" for none).
func checkNotBusyTwice(t *testing.T, d *device) string {
	t.Helper()
	res, err := d.QueryCallInvitationList(t.Context(), 100, 0)
	if err != nil {
		t.Fatalf("%s: list calls: %v", d.user, err)
	}
	var in []string
	for _, c := range res.CallList {
		for _, u := range c.CallUserList {
			if u.UserID == d.user && u.State == client.StateAccepted && c.State == client.CallStarted {
				in = append(in, c.CallID)
			}
		}
	}
	if len(in) > 1 {
		t.Errorf("%s is in %d calls at once: %v", d.user, len(in), in)
	}
	if len(in) == 0 {
		return ""
	}
	return in[0]
}

// acceptedAt returns the position among d's events of its user's own change to Accepted in
// callID, or -1.
func acceptedAt(d *device, callID string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, e := range d.events {
		if e.callID == callID && slices.Contains([]string{"changed " + d.user + "=Accepted", "changed " + d.user + "=Accepted (call ended)"}, e.summary) {
			return i
		}
	}
	return -1
}

// R3.3, R3.7, §1: a user's two devices accept, at the same moment, an advanced call (which
// makes the user busy) and a general 1:1 call (which ends on the answer). Either the 1:1
// accept commits first, or it must be refused as busy: an accept that commits after its user
// became busy in another call breaks the busy rule, whichever order the devices see.
func TestE2ERaceAcceptWhileBecomingBusy(t *testing.T) {
	ts := startServer(t, raceFlags...)
	phone, laptop := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop")
	alice, carol := ts.login(t, "alice", "a"), ts.login(t, "carol", "c")
	for round := range soak(40) {
		adv, err := carol.CallInvite(t.Context(), []string{"bob"}, advanced)
		must(t, err)
		gen, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
		must(t, err)
		phone.wait(gen.CallID, "received from alice")
		laptop.wait(gen.CallID, "received from alice")
		errs := together(
			func() error { return second(phone.CallAccept(t.Context(), adv.CallID, client.OpConfig{})) },
			func() error { return second(laptop.CallAccept(t.Context(), gen.CallID, client.OpConfig{})) },
		)
		must(t, errs[0])
		checkCallEvents(t, ts, []string{adv.CallID, gen.CallID}, phone, laptop, alice, carol)
		switch {
		case errs[1] == nil:
			// Both accepts succeeded: the 1:1 accept must have committed before bob became
			// busy, which bob's log (one order for all his devices) shows.
			for _, d := range []*device{phone, laptop} {
				a, g := acceptedAt(d, adv.CallID), acceptedAt(d, gen.CallID)
				if a < 0 || g < 0 {
					t.Fatalf("round %d: %s@%s misses an accept: %q", round, d.user, d.id, d.history())
				}
				if g > a {
					t.Fatalf("round %d: the 1:1 call was accepted after bob became busy in the advanced call (R3.3); %s@%s saw %q",
						round, d.user, d.id, d.history())
				}
			}
		case code(errs[1]) != client.CodeBusy:
			t.Fatalf("round %d: 1:1 accept got %v, want success or 6000290", round, errs[1])
		default:
			must(t, second(alice.CallCancel(t.Context(), gen.CallID, nil, client.OpConfig{})))
		}
		checkNotBusyTwice(t, phone)
		must(t, second(carol.CallEnd(t.Context(), adv.CallID, client.OpConfig{})))
		if t.Failed() {
			return
		}
	}
}

// raceRing is the ring timeout, in seconds, of TestE2ERaceAnswerCancelTimeout's calls: long
// enough for the invitee's devices to receive the ring before its deadline, with six pairs
// ringing at once on a loaded machine.
const raceRing = 3

// R3.3, R3.4, R3.2, R3.5: an invitee's accept and reject (from two devices) and the caller's
// cancel arrive at the ring deadline. Exactly one outcome wins, the ops that lost are refused,
// and every device sees the events in version order and the call as the query shows it.
func TestE2ERaceAnswerCancelTimeout(t *testing.T) {
	ts := startServer(t, raceFlags...)
	ts.barrierDevice = ts.login(t, "zz-barrier", "barrier") // shared by the parallel subtests
	for p := range 6 {
		t.Run(fmt.Sprint("pair", p), func(t *testing.T) {
			t.Parallel()
			alice := ts.login(t, fmt.Sprintf("alice%d", p), "a")
			user := fmt.Sprintf("bob%d", p)
			phone, laptop := ts.login(t, user, "phone"), ts.login(t, user, "laptop")
			for round := range soak(3) {
				res, err := alice.CallInvite(t.Context(), []string{user}, client.InviteConfig{Timeout: raceRing})
				must(t, err)
				// On a loaded machine the ring may time out before the devices' receipt is in:
				// the round then checks that all three ops lose to the timeout.
				alice.until("the ring received or timed out", func() bool {
					got := alice.summaries(res.CallID)
					return slices.Contains(got, "changed "+user+"=Received") || slices.Contains(got, "changed "+user+"=Timeout (call ended)")
				})
				// From 15 ms before to 15 ms after the deadline.
				offset := time.Duration((p*soak(3)+round)%7-3) * 5 * time.Millisecond
				time.Sleep(time.Until(time.UnixMilli(res.CallInfo.CreateTime + raceRing*1000).Add(offset - alice.ServerTimeOffset())))
				errs := together(
					func() error { return second(phone.CallAccept(t.Context(), res.CallID, client.OpConfig{})) },
					func() error { return second(laptop.CallReject(t.Context(), res.CallID, client.OpConfig{})) },
					func() error { return second(alice.CallCancel(t.Context(), res.CallID, nil, client.OpConfig{})) },
				)
				checkCallEvents(t, ts, []string{res.CallID}, alice, phone, laptop)
				info, err := alice.QueryCall(t.Context(), res.CallID)
				must(t, err)
				want := client.StateTimeout
				var won []int
				for i, s := range []client.CallUserState{client.StateAccepted, client.StateRejected, client.StateBeCancelled} {
					if errs[i] == nil {
						won, want = append(won, i), s
					}
				}
				if got := info.CallUserList[1].State; len(won) > 1 || got != want || info.State != client.CallEnded {
					t.Errorf("%s round %d: accept, reject, cancel returned %v; %s is %s in a call %v, want exactly the winner's state",
						user, round, errs, user, stateName(got), info.State)
				}
			}
		})
	}
}

// R3.3b, R3.3: alice and bob call each other at once and each accepts the other's call at
// once. Only one accept wins: its call is answered and the other call is cancelled.
func TestE2ERaceGlareCrossAccept(t *testing.T) {
	ts := startServer(t, raceFlags...)
	alice, bob := ts.login(t, "alice", "a"), ts.login(t, "bob", "b")
	for round := range soak(20) {
		var toBob, toAlice client.CallInviteResult
		errs := together(
			func() (err error) { toBob, err = alice.CallInvite(t.Context(), []string{"bob"}, advanced); return err },
			func() (err error) {
				toAlice, err = bob.CallInvite(t.Context(), []string{"alice"}, advanced)
				return err
			},
		)
		must(t, errs[0])
		must(t, errs[1])
		bob.wait(toBob.CallID, "received from alice")
		alice.wait(toAlice.CallID, "received from bob")
		errs = together(
			func() error { return second(bob.CallAccept(t.Context(), toBob.CallID, client.OpConfig{})) },
			func() error { return second(alice.CallAccept(t.Context(), toAlice.CallID, client.OpConfig{})) },
		)
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: accepts returned %v; exactly one must win", round, errs)
		}
		checkCallEvents(t, ts, []string{toBob.CallID, toAlice.CallID}, alice, bob)
		won, lost := toBob.CallID, toAlice.CallID
		if errs[0] != nil {
			won, lost = lost, won
		}
		for _, d := range []*device{alice, bob} {
			if in := checkNotBusyTwice(t, d); in != won {
				t.Fatalf("round %d: %s is in call %q, want %q", round, d.user, in, won)
			}
			info, err := d.QueryCall(t.Context(), lost)
			must(t, err)
			if info.State != client.CallEnded {
				t.Fatalf("round %d: the glare call is %v", round, info.State)
			}
		}
		must(t, second(alice.CallEnd(t.Context(), won, client.OpConfig{})))
	}
}

// R3.7, R3.9, R3.8, R6.4: on an advanced call, a join races the end, the last two users
// quit at once, and the caller's logout races the invitee's accept. Whatever wins, the call
// ends or goes on consistently, and nobody is left busy in an ended call.
func TestE2ERaceAdvancedEnds(t *testing.T) {
	ts := startServer(t, raceFlags...)
	bob := ts.login(t, "bob", "b")
	for round := range soak(15) {
		alice := ts.login(t, fmt.Sprintf("alice%d", round), "a")
		res, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
		must(t, err)
		bob.wait(res.CallID, "received from "+alice.user)
		must(t, second(bob.CallAccept(t.Context(), res.CallID, client.OpConfig{})))
		must(t, second(bob.CallQuit(t.Context(), res.CallID, client.OpConfig{})))
		errs := together(
			func() error { return second(bob.CallJoin(t.Context(), res.CallID, client.OpConfig{})) },
			func() error { return second(alice.CallEnd(t.Context(), res.CallID, client.OpConfig{})) },
		)
		must(t, errs[1])
		if errs[0] != nil && code(errs[0]) != client.CodeCallUnavailable {
			t.Fatalf("round %d: join racing the end got %v", round, errs[0])
		}
		checkCallEvents(t, ts, []string{res.CallID}, alice, bob)

		two, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
		must(t, err)
		bob.wait(two.CallID, "received from "+alice.user)
		must(t, second(bob.CallAccept(t.Context(), two.CallID, client.OpConfig{})))
		errs = together(
			func() error { return second(bob.CallQuit(t.Context(), two.CallID, client.OpConfig{})) },
			func() error { return second(alice.CallQuit(t.Context(), two.CallID, client.OpConfig{})) },
		)
		must(t, errs[0])
		must(t, errs[1])
		checkCallEvents(t, ts, []string{two.CallID}, alice, bob)
		if info, err := bob.QueryCall(t.Context(), two.CallID); err != nil || info.State != client.CallEnded {
			t.Fatalf("round %d: after both quit the call is %v (%v)", round, info.State, err)
		}

		three, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
		must(t, err)
		bob.wait(three.CallID, "received from "+alice.user)
		errs = together(
			func() error { return second(bob.CallAccept(t.Context(), three.CallID, client.OpConfig{})) },
			func() error { return alice.Logout(t.Context()) },
		)
		must(t, errs[1])
		info, err := bob.QueryCall(t.Context(), three.CallID)
		must(t, err)
		switch {
		case errs[0] == nil: // answered first, then the caller quit by its loss (R6.4)
			if info.State != client.CallStarted || info.CallUserList[0].State != client.StateQuit {
				t.Fatalf("round %d: accept won the logout, but the call is %v, %s", round, info.State, userStates(info.CallUserList))
			}
			must(t, second(bob.CallQuit(t.Context(), three.CallID, client.OpConfig{})))
		case code(errs[0]) != client.CodeCallUnavailable || info.State != client.CallEnded ||
			info.CallUserList[0].State != client.StateCancelled:
			t.Fatalf("round %d: accept racing the caller's logout got %v; call %v, %s", round, errs[0], info.State, userStates(info.CallUserList))
		}
		checkCallEvents(t, ts, []string{three.CallID}, bob)
		if in := checkNotBusyTwice(t, bob); in != "" {
			t.Fatalf("round %d: bob still busy in %s", round, in)
		}
	}
}
