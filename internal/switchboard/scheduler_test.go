package switchboard

import (
	"testing"
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
