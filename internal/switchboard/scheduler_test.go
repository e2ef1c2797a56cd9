package switchboard

import (
	"context"
	"fmt"
	"sync"
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

// R3.5: many deadlines due at one instant, more than one batch of the scheduler, each fire
// once, none before its instant, and a deadline due later is not taken along with them.
func TestSchedulerFiresEachOfManySameInstantDeadlinesOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const many = 2500 // over two of popDue's batches
		var mu sync.Mutex
		fired := map[string][]time.Time{}
		s := newScheduler(func(id string) {
			mu.Lock()
			defer mu.Unlock()
			fired[id] = append(fired[id], time.Now())
		}, 4, time.Now)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()

		due := time.Now().Add(10 * time.Second)
		for i := range many {
			s.Schedule(fmt.Sprint("c", i), due.UnixMilli())
		}
		s.Schedule("later", due.Add(time.Millisecond).UnixMilli())
		time.Sleep(10 * time.Second)
		synctest.Wait()

		mu.Lock()
		defer mu.Unlock()
		if len(fired) != many {
			t.Errorf("%d calls fired at the instant, want %d", len(fired), many)
		}
		for id, at := range fired {
			if len(at) != 1 || at[0].Before(due) {
				t.Fatalf("call %s fired at %v, want once, not before %v", id, at, due)
			}
		}
		if s.Pending() != 1 {
			t.Errorf("%d deadlines pending after the instant, want 1 (the later one)", s.Pending())
		}
	})
}
