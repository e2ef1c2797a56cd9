package switchboard

import (
	"context"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialtone/dialtone/internal/call"
)

// heapSize returns how many entries the scheduler's heap holds.
func heapSize(s *scheduler) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.due.Len()
}

// A call's deadline, moved or removed, leaves one heap entry or none: the heap holds one entry
// per call with a deadline, not one per deadline ever set until its time comes.
func TestSchedulerHeapHoldsOnlyLiveDeadlines(t *testing.T) {
	s := newScheduler(func(string) {}, 1, time.Now)
	far := time.Now().Add(time.Hour).UnixMilli()
	for i := range 100 {
		s.Schedule("moved", far+int64(i))
		s.ScheduleEarlier("earlier", far-int64(i))
	}
	if n := heapSize(s); n != 2 {
		t.Errorf("after 100 moves of two calls' deadlines the heap holds %d entries, want 2", n)
	}
	s.Schedule("moved", 0)
	s.Schedule("earlier", 0)
	if n, p := heapSize(s), s.Pending(); n != 0 || p != 0 {
		t.Errorf("after both deadlines were removed the heap holds %d entries (%d pending), want none", n, p)
	}
}

// The deadline heap and the call locks hold nothing of a call once it ended (R4.4), however it
// ended: cancelled (R3.2), answered (R4.1), timed out (R3.5), by the loss of the caller's
// device (R4.3) or by glare (R3.3b). Its deadline would otherwise stay in the heap until the
// time it was set for, up to the longest ring timeout later.
func TestEndedCallsLeaveNothingScheduled(t *testing.T) {
	clock := time.UnixMilli(1_700_000_000_000)
	sb := New(Config{}, newMemStore(), func() time.Time { return clock }, nil)
	defer sb.Close()
	ctx := context.Background()
	actor := func(u string) call.Actor { return call.Actor{UserID: u, DeviceID: u + "-phone"} }
	invite := func(caller, invitee string, timeout int) string {
		t.Helper()
		res, err := sb.Invite(ctx, call.Invite{Actor: actor(caller), Invitees: []string{invitee}, Timeout: timeout}, "")
		if err != nil {
			t.Fatalf("%s invites %s: %v", caller, invitee, err)
		}
		return res.Call.ID
	}
	do := func(callID string, in call.Input) { // with an idempotency key (R7.3)
		t.Helper()
		if _, err := sb.Do(ctx, callID, in, "key-"+callID); err != nil {
			t.Fatalf("%T on %s: %v", in, callID, err)
		}
	}
	ended := func(cause string, ids ...string) {
		t.Helper()
		for _, id := range ids {
			c, err := sb.store.Call(ctx, id)
			if err != nil || c.State != call.Ended {
				t.Fatalf("%s: call %s is %v (%v), want Ended", cause, id, c.State, err)
			}
		}
		if n, p := heapSize(sb.timers), sb.PendingDeadlines(); n != 0 || p != 0 {
			t.Errorf("%s: the deadline heap holds %d entries (%d pending) of ended calls, want none", cause, n, p)
		}
		for name, k := range map[string]*keyedMutex{"call": sb.calls, "idempotency key": sb.idem} {
			k.mu.Lock()
			locks := len(k.locks)
			k.mu.Unlock()
			if locks != 0 {
				t.Errorf("%s: %d %s locks left, want none", cause, locks, name)
			}
		}
	}

	c := invite("a1", "b1", 60)
	do(c, call.Cancel{Actor: actor("a1")})
	ended("cancel", c)

	c = invite("a2", "b2", 60)
	do(c, call.Accept{Actor: actor("b2")})
	ended("answered", c)

	c = invite("a3", "b3", 1)
	clock = clock.Add(2 * time.Second)
	ready, _ := sb.timers.popDue()
	for _, id := range ready {
		sb.tick(id)
	}
	ended("timeout", c)

	c = invite("a4", "b4", 60)
	if err := sb.loseDevice("a4", "a4-phone"); err != nil {
		t.Fatalf("loss of a4's device: %v", err)
	}
	ended("caller's device lost", c)

	own := invite("a5", "b5", 60)
	other := invite("b5", "a5", 60)
	do(other, call.Accept{Actor: actor("a5")})
	ended("glare", own, other)
}

// A device's presence entry and its loss timer (R6.1) are gone once the device was lost,
// whether it merely disconnected or logged out, and a device that reconnects keeps one entry.
func TestPresenceForgetsLostDevices(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb := New(Config{HeartbeatTimeout: time.Second}, newMemStore(), time.Now, nil)
		defer sb.Close()
		for i := range 20 {
			user := "u" + strconv.Itoa(i)
			sb.DeviceConnected(user, "phone")
			if i%2 == 0 {
				sb.Logout(t.Context(), user, "phone")
			}
			sb.DeviceDisconnected(user, "phone")
		}
		sb.DeviceConnected("back", "phone")
		sb.DeviceDisconnected("back", "phone")
		sb.DeviceConnected("back", "phone")
		time.Sleep(2 * time.Second) // fake time: every grace ends
		synctest.Wait()
		sb.presence.mu.Lock()
		n := len(sb.presence.devices)
		sb.presence.mu.Unlock()
		if n != 1 {
			t.Errorf("%d devices in presence after every grace ended, want 1 (the one connected)", n)
		}
	})
}
