package call

import (
	"strconv"
	"testing"
)

// listing returns an advanced call of alice (main device a1) listing n users: alice, then
// users u1… who were invited and cancelled, and one, "last", still ringing.
func listing(tb testing.TB, n int) Call {
	tb.Helper()
	cfg := Config{MaxCallUsers: 20}
	alice := Actor{UserID: "alice", DeviceID: "a1"}
	out, err := Create(Invite{Actor: alice, CallID: "c", Invitees: []string{"last"}, Timeout: 600, Mode: Advanced}, cfg, 0)
	if err != nil {
		tb.Fatal(err)
	}
	c := out.Call
	for len(c.Users) < n {
		var ids []string
		for len(ids) < min(9, n-len(c.Users)) {
			ids = append(ids, "u"+strconv.Itoa(len(c.Users)+len(ids)))
		}
		for _, in := range []Input{CallingInvite{Actor: alice, Invitees: ids}, Cancel{Actor: alice, Invitees: ids}} {
			if out, err = Apply(c, in, cfg, 1); err != nil {
				tb.Fatal(err)
			}
			c = out.Call
		}
	}
	return c
}

// BenchmarkApplyOnListedUsers (docs/behaviour.md §12 "A call lists at most 1,000 users")
// measures ops on calls listing 100 and MaxListedUsers users, and a cancel naming 16,000
// targets (about what a 64 KiB frame holds; R3.2 sets no bound) on calls listing 10 and
// MaxListedUsers: an op takes time linear in the users listed, and a cancel linear in its
// targets plus them, so ten times the users cost about ten times as much, not a hundred.
func BenchmarkApplyOnListedUsers(b *testing.B) {
	alice := Actor{UserID: "alice", DeviceID: "a1"}
	targets := make([]string, 16000)
	for i := range targets {
		targets[i] = "x" + strconv.Itoa(i)
	}
	for _, op := range []struct {
		name  string
		in    Input
		sizes []int
	}{
		{"receipt", Receipt{Actor: Actor{UserID: "last", DeviceID: "l1"}}, []int{100, MaxListedUsers}},
		{"callingInvite", CallingInvite{Actor: alice, Invitees: []string{"u2", "u3"}}, []int{100, MaxListedUsers}},
		{"cancel_16000_targets", Cancel{Actor: alice, Invitees: targets}, []int{10, MaxListedUsers}},
	} {
		for _, n := range op.sizes {
			c := listing(b, n)
			b.Run(op.name+"/users_"+strconv.Itoa(n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Apply(c, op.in, Config{MaxCallUsers: 20}, 2); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
