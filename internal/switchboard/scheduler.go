package switchboard

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// scheduler fires each call's next deadline (R3.5, R5.2) from one timer and a min-heap, with
// no goroutine per deadline. Deadlines are data in the store; the heap is only an index of
// them, rebuilt from Store.DueCalls at start-up and fed by every commit.
type scheduler struct {
	mu      sync.Mutex
	due     dueHeap
	at      map[string]int64 // call → the deadline its live heap entry stands for
	wake    chan struct{}
	fire    func(callID string)
	workers int
	now     Clock
}

func newScheduler(fire func(string), workers int, now Clock) *scheduler {
	return &scheduler{at: map[string]int64{}, wake: make(chan struct{}, 1), fire: fire, workers: workers, now: now}
}

// Schedule sets callID's next deadline to at (Unix ms); 0 removes it. Heap entries made stale
// by a later Schedule are skipped when they come up. Only the holder of the call's lock may
// call it: a schedule made without the lock may come after a newer one (see ScheduleEarlier).
func (s *scheduler) Schedule(callID string, at int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at == 0 {
		delete(s.at, callID)
		return
	}
	s.setLocked(callID, at)
}

// ScheduleEarlier makes callID's next deadline at (Unix ms) if that is earlier than the one
// scheduled, or there is none; it never removes or postpones one. It is for a commit made
// without the call's lock, whose schedule may arrive after a newer commit's: a deadline too
// early costs a tick that finds nothing due and schedules from the stored call, while one
// too late or removed would leave a user ringing.
func (s *scheduler) ScheduleEarlier(callID string, at int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.at[callID]; at == 0 || ok && cur <= at {
		return
	}
	s.setLocked(callID, at)
}

func (s *scheduler) setLocked(callID string, at int64) {
	if cur, ok := s.at[callID]; ok && cur == at {
		return
	}
	s.at[callID] = at
	heap.Push(&s.due, dueEntry{callID: callID, at: at})
	if s.due[0].callID == callID && s.due[0].at == at {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Pending returns how many calls have a deadline scheduled.
func (s *scheduler) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.at)
}

// Run fires due deadlines on a pool of workers until ctx is done.
func (s *scheduler) Run(ctx context.Context) {
	work := make(chan string, s.workers)
	var wg sync.WaitGroup
	for range s.workers {
		wg.Go(func() {
			for id := range work {
				s.fire(id)
			}
		})
	}
	defer wg.Wait()
	defer close(work)

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		ready, wait := s.popDue()
		for _, id := range ready {
			select {
			case work <- id:
			case <-ctx.Done():
				return
			}
		}
		if len(ready) > 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// popDue removes and returns the calls due now (at most one batch), or how long to wait for
// the next.
func (s *scheduler) popDue() (ready []string, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UnixMilli()
	for len(s.due) > 0 && len(ready) < 1024 {
		top := s.due[0]
		if s.at[top.callID] != top.at {
			heap.Pop(&s.due) // stale: rescheduled or removed since
			continue
		}
		if top.at > now {
			return ready, time.Duration(top.at-now) * time.Millisecond
		}
		heap.Pop(&s.due)
		delete(s.at, top.callID)
		ready = append(ready, top.callID)
	}
	return ready, time.Hour
}

type dueEntry struct {
	callID string
	at     int64
}

type dueHeap []dueEntry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueEntry)) }
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
