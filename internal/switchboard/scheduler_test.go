package switchboard

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// ScheduleEarlier, for commits made without the call's lock, only ever brings a deadline
// forward; Schedule, under the lock, sets it whatever it was.
func TestScheduleEarlierNeverPostpones(t *testing.T) {
	s := newScheduler(func(string) {}, 1, time.Now)
	next := func() int64 { return s.at["c"] }
	s.ScheduleEarlier("c", 5000)
	if next() != 5000 {
		t.Fatalf("first deadline: %d, want 5000", next())
	}
	for _, at := range []int64{9000, 0, 5000} {
		s.ScheduleEarlier("c", at)
		if next() != 5000 {
			t.Errorf("ScheduleEarlier(%d) moved the deadline to %d", at, next())
		}
	}
	s.ScheduleEarlier("c", 3000)
	if next() != 3000 {
		t.Errorf("ScheduleEarlier(3000): %d, want 3000", next())
	}
	s.Schedule("c", 8000)
	if next() != 8000 {
		t.Errorf("Schedule(8000): %d, want 8000", next())
	}
	s.Schedule("c", 0)
	if _, ok := s.at["c"]; ok || s.Pending() != 0 {
		t.Errorf("Schedule(0) left %v", s.at)
	}
}

// R3.5: deadlines are instants of the server's wall clock, which an NTP correction may step
// while the scheduler waits on the monotonic clock. A deadline never fires before the wall
// clock reaches it, and a step delays it by at most the step (docs/behaviour.md §12).
func TestSchedulerAcrossAWallClockStep(t *testing.T) {
	for _, step := range []time.Duration{10 * time.Second, -10 * time.Second, 5 * time.Minute, -5 * time.Minute} {
		synctest.Test(t, func(t *testing.T) {
			var stepped atomic.Int64
			wall := func() time.Time { return time.Now().Add(time.Duration(stepped.Load())) }
			fired := make(chan time.Time, 1)
			s := newScheduler(func(string) { fired <- time.Now() }, 1, wall)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { s.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()

			start := time.Now()
			s.Schedule("c", wall().Add(30*time.Second).UnixMilli())
			time.Sleep(time.Second)
			stepped.Store(int64(step))
			elapsed := (<-fired).Sub(start)
			reached := max(30*time.Second-step, time.Second) // when the wall clock reached the deadline
			if elapsed < reached || elapsed > reached+max(step, 0) {
				t.Errorf("step %v at 1s: fired at %v, want from %v to %v", step, elapsed, reached, reached+max(step, 0))
			}
		})
	}
}
