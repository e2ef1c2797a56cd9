package switchboard

import (
	"strconv"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/call"
)

// listing returns an advanced call of alice listing n users: alice, users u2… who were invited
// and cancelled, and "last", still ringing.
func listing(t *testing.T, n int) call.Call {
	t.Helper()
	cfg := call.Config{MaxCallUsers: 20}
	out, err := call.Create(call.Invite{Actor: call.Actor{UserID: "alice", DeviceID: "a1"}, CallID: "c",
		Invitees: []string{"last"}, Timeout: 600, Mode: call.Advanced}, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := out.Call
	alice := call.Actor{UserID: "alice", DeviceID: "a1"}
	for len(c.Users) < n {
		var ids []string
		for len(ids) < min(9, n-len(c.Users)) {
			ids = append(ids, "u"+strconv.Itoa(len(c.Users)+len(ids)))
		}
		for _, in := range []call.Input{call.CallingInvite{Actor: alice, Invitees: ids}, call.Cancel{Actor: alice, Invitees: ids}} {
			out, err := call.Apply(c, in, cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			c = out.Call
		}
	}
	return c
}

// TestChangeTimeLinearInListedUsers (docs/behaviour.md §12 "A call lists at most 1,000
// users"): the store change of an op on a call takes time linear in the users the call lists,
// so that a commit on the largest call holds it no longer than its size requires.
func TestChangeTimeLinearInListedUsers(t *testing.T) {
	took := func(c call.Call) time.Duration {
		out, err := call.Apply(c, call.Receipt{Actor: call.Actor{UserID: "last", DeviceID: "l1"}}, call.Config{}, 2)
		if err != nil {
			t.Fatal(err)
		}
		best := time.Duration(1 << 62)
		for range 7 {
			d := newDecision(2)
			d.add(c, out)
			start := time.Now()
			if _, err := d.change(true, true); err != nil {
				t.Fatal(err)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	s, l := took(listing(t, 100)), took(listing(t, call.MaxListedUsers))
	// Ten times the users: linear time is about ten times as long, square time a hundred.
	if l > 30*s {
		t.Errorf("a receipt's change: %v on a call listing %d users, %v on one listing 100: %.0f times as long",
			l, call.MaxListedUsers, s, float64(l)/float64(s))
	}
}
