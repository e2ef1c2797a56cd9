package call

import (
	"strconv"
	"testing"
	"time"
)

// listing returns an advanced call of alice (main device a1) listing n users: alice, then
// users u1… who were invited and cancelled, and one, "last", still ringing.
func listing(t *testing.T, n int) Call {
	t.Helper()
	h := newHarness(t)
	h.cfg.MaxCallUsers = 20
	runLine(t, h, "create", "t=0 alice@a1 invite last timeout=600 mode=advanced")
	alice := Actor{UserID: "alice", DeviceID: "a1"}
	for len(h.call.Users) < n {
		var ids []string
		for len(ids) < min(9, n-len(h.call.Users)) {
			ids = append(ids, "u"+strconv.Itoa(len(h.call.Users)+len(ids)))
		}
		h.do(CallingInvite{Actor: alice, Invitees: ids}, 1)
		h.do(Cancel{Actor: alice, Invitees: ids}, 1)
		if h.err != nil {
			t.Fatal(h.err)
		}
	}
	return h.call
}

// fastest returns the shortest of several runs of f, the least disturbed by other work.
func fastest(f func()) time.Duration {
	best := time.Duration(1 << 62)
	for range 7 {
		start := time.Now()
		f()
		best = min(best, time.Since(start))
	}
	return best
}

// TestOpTimeLinearInListedUsers (docs/behaviour.md §12 "A call lists at most 1,000 users"):
// an op on a call takes time linear in the users the call lists, so that the largest call is
// not held for long by every op on it.
func TestOpTimeLinearInListedUsers(t *testing.T) {
	small, large := listing(t, 100), listing(t, MaxListedUsers)
	alice := Actor{UserID: "alice", DeviceID: "a1"}
	for _, op := range []struct {
		name string
		in   Input
	}{
		{"receipt", Receipt{Actor: Actor{UserID: "last", DeviceID: "l1"}}},
		{"callingInvite", CallingInvite{Actor: alice, Invitees: []string{"u2", "u3"}}},
	} {
		s, l := fastest(applying(t, small, op.in)), fastest(applying(t, large, op.in))
		// Ten times the users: linear time is about ten times as long, square time a hundred.
		if l > 30*s {
			t.Errorf("%s: %v on a call listing %d users, %v on one listing 100: %.0f times as long",
				op.name, l, MaxListedUsers, s, float64(l)/float64(s))
		}
	}
}

// TestCancelTimeLinearInTargets (R3.2, docs/behaviour.md §12 "A call lists at most 1,000
// users"): callCancel sets no bound on its targets, so one naming as many as a frame holds
// takes time linear in them plus the users listed, never their product: it costs about the
// same on the largest call as on a small one.
func TestCancelTimeLinearInTargets(t *testing.T) {
	targets := make([]string, 16000) // about what a 64 KiB frame holds
	for i := range targets {
		targets[i] = "x" + strconv.Itoa(i)
	}
	in := Cancel{Actor: Actor{UserID: "alice", DeviceID: "a1"}, Invitees: targets}
	s, l := fastest(applying(t, listing(t, 10), in)), fastest(applying(t, listing(t, MaxListedUsers), in))
	if l > 5*s {
		t.Errorf("a cancel of %d targets: %v on a call listing %d users, %v on one listing 10: %.0f times as long",
			len(targets), l, MaxListedUsers, s, float64(l)/float64(s))
	}
}

// applying returns a function that applies in to c and fails the test on an error.
func applying(t *testing.T, c Call, in Input) func() {
	return func() {
		if _, err := Apply(c, in, Config{MaxCallUsers: 20}, 2); err != nil {
			t.Fatalf("%T: %v", in, err)
		}
	}
}
