package switchboard

import (
	"strconv"
	"testing"

	"github.com/dialtone/dialtone/internal/call"
)

// listing returns an advanced call of alice listing n users: alice, users u2… who were invited
// and cancelled, and "last", still ringing.
func listing(tb testing.TB, n int) call.Call {
	tb.Helper()
	cfg := call.Config{MaxCallUsers: 20}
	out, err := call.Create(call.Invite{Actor: call.Actor{UserID: "alice", DeviceID: "a1"}, CallID: "c",
		Invitees: []string{"last"}, Timeout: 600, Mode: call.Advanced}, cfg, 0)
	if err != nil {
		tb.Fatal(err)
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
				tb.Fatal(err)
			}
			c = out.Call
		}
	}
	return c
}

// BenchmarkChangeOnListedUsers (docs/behaviour.md §12 "A call lists at most 1,000 users")
// measures the store change of a receipt on calls listing 100 and call.MaxListedUsers users:
// linear in the users listed, so ten times the users cost about ten times as much.
func BenchmarkChangeOnListedUsers(b *testing.B) {
	for _, n := range []int{100, call.MaxListedUsers} {
		c := listing(b, n)
		out, err := call.Apply(c, call.Receipt{Actor: call.Actor{UserID: "last", DeviceID: "l1"}}, call.Config{}, 2)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("users_"+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d := newDecision(2, 0)
				d.add(c, out)
				if _, err := d.change(true, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
