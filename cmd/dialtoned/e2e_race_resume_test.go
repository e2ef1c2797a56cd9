package main

import (
	"testing"

	"github.com/dialtone/dialtone/client"
)

// R7.2, R5.3, §5: bob's phone, rung by alice, closes and logs in again (resuming from its saved
// seq) just as alice cancels. Whether the cancel commits before the login reads the log, while
// it catches up, or after, the phone gets the cancellation exactly once, after nothing else:
// the ring it was showing stops, and no invitation rings it again.
func TestE2ERaceResumeWhileCancelled(t *testing.T) {
	ts := startServer(t, raceFlags...)
	alice := ts.login(t, "alice", "a")
	store := &memorySeqs{}
	for round := range soak(15) {
		phone := ts.dial(t, "bob", "phone", client.Options{SeqStore: store})
		must(t, second(phone.Login(t.Context(), token(t, "bob"), "phone")))
		res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
		must(t, err)
		phone.wait(res.CallID, "changed bob=Received")
		alice.wait(res.CallID, "changed bob=Received")
		closeSaved(phone)
		again := ts.dial(t, "bob", "phone", client.Options{SeqStore: store})
		var login client.LoginResult
		errs := together(
			func() (err error) { login, err = again.Login(t.Context(), token(t, "bob"), "phone"); return err },
			func() error { return second(alice.CallCancel(t.Context(), res.CallID, nil, client.OpConfig{})) },
		)
		must(t, errs[0])
		must(t, errs[1])
		if !login.CaughtUp {
			t.Fatalf("round %d: resume within retention got caughtUp false", round)
		}
		again.expect(ts, res.CallID, "cancelled bob=BeCancelled")
		if t.Failed() {
			return
		}
		again.Close()
	}
}

// R7.2, R3.9, §5: bob's phone, Accepted in an advanced call, closes and logs in again within
// the loss grace (R6.1) just as alice ends the call: it gets the end exactly once.
func TestE2ERaceResumeWhileEnded(t *testing.T) {
	ts := startServer(t, raceFlags...)
	alice := ts.login(t, "alice", "a")
	store := &memorySeqs{}
	for round := range soak(15) {
		phone := ts.dial(t, "bob", "phone", client.Options{SeqStore: store})
		must(t, second(phone.Login(t.Context(), token(t, "bob"), "phone")))
		id := answeredAdvancedCall(t, alice, phone)
		phone.wait(id, "changed bob=Accepted")
		closeSaved(phone)
		again := ts.dial(t, "bob", "phone", client.Options{SeqStore: store})
		errs := together(
			func() error { return second(again.Login(t.Context(), token(t, "bob"), "phone")) },
			func() error { return second(alice.CallEnd(t.Context(), id, client.OpConfig{})) },
		)
		must(t, errs[0])
		must(t, errs[1])
		again.expect(ts, id, "ended by alice")
		if info, err := again.QueryCall(t.Context(), id); err != nil || info.State != client.CallEnded {
			t.Fatalf("round %d: call %v (%v)", round, info.State, err)
		}
		if t.Failed() {
			return
		}
		again.Close()
	}
}

// closeSaved closes d and waits until its handler has been told (its last delivery), so the
// seq of every event it handled is saved: Close does not wait for the handler's goroutine.
func closeSaved(d *device) {
	d.Close()
	d.until("the close handled", func() bool {
		return len(d.states) > 0 && d.states[len(d.states)-1] == client.Disconnected
	})
}
