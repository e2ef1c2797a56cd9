package main

import (
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// atDeadline blocks until offset past the ring deadline of the call created at createTime
// with a ring of raceRing seconds, on the server's clock as c sees it. It aims an answer at an
// instant; it waits for no event.
func atDeadline(c *device, createTime int64, offset time.Duration) {
	due := time.UnixMilli(createTime + raceRing*1000).Add(offset - c.ServerTimeOffset())
	timer := time.NewTimer(time.Until(due))
	defer timer.Stop()
	<-timer.C
}

// R3.3, R3.4, R3.5, R4.1, §5, §10: bob answers (accept, then in other rounds reject) a
// general-mode ring from his phone right at its deadline, from a little before to a little
// after. Either the answer wins, or the timeout does and the answer gets 6000276; each device
// gets the winner's event exactly once, and the webhooks give the winner's reason.
func TestE2ERaceAnswerAtDeadline(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), raceFlags...)...)
	alice := ts.login(t, "alice", "a")
	phone, laptop := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop")
	for round := range soak(8) {
		accept := round%2 == 0
		id := ringBoth(t, alice, phone, laptop, client.InviteConfig{Timeout: raceRing})
		info, err := alice.QueryCall(t.Context(), id)
		must(t, err)
		atDeadline(alice, info.CreateTime, time.Duration(round%4-2)*5*time.Millisecond)
		answer, state, event, hook, reason := phone.CallAccept, "Accepted", "changed bob=Accepted (call ended)", "call_accept", "answered"
		if !accept {
			answer, state, event, hook, reason = phone.CallReject, "Rejected", "changed bob=Rejected (call ended)", "call_reject", "rejected"
		}
		ring := []string{"received from alice", "changed bob=Received"}
		err = second(answer(t.Context(), id, client.OpConfig{}))
		t.Logf("round %d: %s at the deadline got %v", round, state, err)
		switch code(err) {
		case 0:
			alice.expect(ts, id, "created", "changed bob=Received", "changed bob="+state+" (call ended)")
			phone.expect(ts, id, append(ring, event)...)
			laptop.expect(ts, id, append(ring, event)...)
			wantHooks(t, hooks, id, reason, "call_create", hook, "call_end")
		case client.CodeCallUnavailable:
			alice.expect(ts, id, "created", "changed bob=Received", "changed bob=Timeout (call ended)")
			phone.expect(ts, id, append(ring, "timeout")...)
			laptop.expect(ts, id, append(ring, "timeout")...)
			wantHooks(t, hooks, id, "timeout", "call_create", "call_timeout", "call_end")
		default:
			t.Fatalf("round %d: answer at the deadline got %v", round, err)
		}
		if t.Failed() {
			t.Fatalf("round %d (accept %v) failed", round, accept)
		}
	}
}
