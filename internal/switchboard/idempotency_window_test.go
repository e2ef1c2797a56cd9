package switchboard_test

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// R7.3: failures are not remembered. An invite refused because its caller is busy is carried
// out when tried again with its key once the caller is free, and the key, never bound by the
// failure, could as well have carried another request.
func TestIdempotencyFailureIsNotRemembered(t *testing.T) {
	sb, _ := newSwitchboard(t)
	busy := invite(t, sb, "alice", call.General, 60, "bob")
	const key = "failure-key-0123456789"
	in := call.Invite{Actor: actor("alice"), Invitees: []string{"carol"}}
	_, err := sb.Invite(t.Context(), in, key)
	wantCode(t, "R3.1 an invite of a busy caller", err, call.CodeBusy)
	do(t, sb, busy, call.Cancel{Actor: actor("alice")})
	first, err := sb.Invite(t.Context(), in, key)
	if err != nil {
		t.Fatalf("the invite tried again with its key once alice is free: %v, want it carried out", err)
	}
	res, err := sb.Invite(t.Context(), in, key)
	sameReply(t, "its repeat", first, res, err)

	const other = "failure-key-other-0123456789"
	_, err = sb.Invite(t.Context(), call.Invite{Actor: actor("alice"), Invitees: []string{"dave"}}, other)
	wantCode(t, "a second invite of a busy caller", err, call.CodeBusy)
	_, err = sb.Do(t.Context(), first.Call.ID, call.Cancel{Actor: actor("alice")}, other)
	wantCode(t, "the failed invite's key on a cancel", err, 0)
}

// R7.3: keys are per user, and past idempotencyWindow a key is fresh: the same request is
// carried out again and another request may use the key.
func TestIdempotencyKeysPerUserAndWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, _ := startOver(t, switchboard.Config{}, func(s *sqlite.Store) *sqlite.Store { return s }) // the default window: 15 minutes
		const key = "window-key-0123456789"
		in := call.Invite{Actor: actor("alice"), Invitees: []string{"bob"}}
		first, err := sb.Invite(t.Context(), in, key)
		if err != nil {
			t.Fatal(err)
		}
		carol, err := sb.Invite(t.Context(), call.Invite{Actor: actor("carol"), Invitees: []string{"dave"}}, key)
		if err != nil || carol.Call.ID == first.Call.ID {
			t.Errorf("carol's invite under alice's key: call %s, %v; want a call of her own", carol.Call.ID, err)
		}
		do(t, sb, first.Call.ID, call.Cancel{Actor: actor("alice")})
		const key2 = "window-key2-0123456789"
		other, err := sb.Invite(t.Context(), call.Invite{Actor: actor("alice"), Invitees: []string{"erin"}}, key2)
		if err != nil {
			t.Fatal(err)
		}
		do(t, sb, other.Call.ID, call.Cancel{Actor: actor("alice")})
		time.Sleep(15 * time.Minute)
		res, err := sb.Invite(t.Context(), in, key)
		sameReply(t, "a repeat at the window's end", first, res, err)
		time.Sleep(time.Millisecond)
		res, err = sb.Invite(t.Context(), in, key)
		if err != nil || res.Call.ID == first.Call.ID {
			t.Errorf("the invite past the window: call %s, %v; want a new call", res.Call.ID, err)
		}
		_, err = sb.Do(t.Context(), res.Call.ID, call.Cancel{Actor: actor("alice")}, key2)
		wantCode(t, "another invite's key on a cancel past the window", err, 0)
	})
}

// R7.3: the window is the time really passed since the first request. A wall clock stepped
// forward by more than the window while the server runs (an NTP correction, an operator
// setting the date) does not end it: a retry sent a minute after its request, across the step,
// gets the first reply and rings nobody again (the step ends the first ring: deadlines are
// instants of the wall clock, docs/behaviour.md §12). Once the window has really passed, the
// key is fresh again.
func TestIdempotencyWindowAcrossAClockStepForward(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var step atomic.Int64
		clock := func() time.Time { return time.Now().Add(time.Duration(step.Load())) }
		sb, _ := startOverOn(t, switchboard.Config{}, func(s *sqlite.Store) *sqlite.Store { return s }, clock)
		const key = "stepped-key-0123456789"
		in := call.Invite{Actor: actor("alice"), Invitees: []string{"bob"}}
		first, err := sb.Invite(t.Context(), in, key)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		step.Store(int64(2 * time.Hour))
		res, err := sb.Invite(t.Context(), in, key)
		sameReply(t, "a retry a minute later, across a step of the clock 2 h forward", first, res, err)

		time.Sleep(15 * time.Minute)
		res, err = sb.Invite(t.Context(), in, key)
		if err != nil || res.Call.ID == first.Call.ID {
			t.Errorf("the invite once the window really passed: call %s, %v; want a new call", res.Call.ID, err)
		}
	})
}
