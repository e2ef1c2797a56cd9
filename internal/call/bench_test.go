package call

import (
	"fmt"
	"testing"
)

// BenchmarkApply measures Apply on two typical inputs: an accept in a 2-user general call
// (which ends it, R4.1) and a callingInvite of 4 more users into an advanced call of 6 active
// users (10 afterwards, the default maximum).
func BenchmarkApply(b *testing.B) {
	cfg := DefaultConfig()
	twoUser, err := Create(Invite{Actor: Actor{UserID: "alice", DeviceID: "a1"}, CallID: "c", Invitees: []string{"bob"}}, cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	big, err := Create(Invite{Actor: Actor{UserID: "alice", DeviceID: "a1"}, CallID: "c", Mode: Advanced,
		Invitees: []string{"u1", "u2", "u3", "u4", "u5"}, EnableNotReceivedCheck: true, Push: &PushConfig{Title: "t"}}, cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		out, err := Apply(big.Call, Accept{Actor: Actor{UserID: fmt.Sprintf("u%d", i), DeviceID: "d"}}, cfg, 2)
		if err != nil {
			b.Fatal(err)
		}
		big = out
	}
	cases := []struct {
		name string
		call Call
		in   Input
	}{
		{"accept_2_users", twoUser.Call, Accept{Actor: Actor{UserID: "bob", DeviceID: "b1"}}},
		{"callingInvite_10_users", big.Call, CallingInvite{Actor: Actor{UserID: "alice", DeviceID: "a1"},
			Invitees: []string{"v1", "v2", "v3", "v4"}, Push: &PushConfig{Title: "t"}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Apply(c.call, c.in, cfg, 3); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
