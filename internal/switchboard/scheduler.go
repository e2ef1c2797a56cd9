package switchboard

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// scheduler fires each call's next deadline (R3.5, R5.2) from one timer and a min-heap, with
// no goroutine per deadline. Deadlines are data in the store; the heap is only an index of
// them, rebuilt from Store.DueCalls at start-up and fed by every commit. The heap holds one
// entry per call with a deadline: a deadline moved moves its entry, and one removed (the call
// ended, R4.4) removes it, so ended calls leave nothing behind.
type scheduler struct {
	mu      sync.Mutex
	due     dueHeap
	at      map[string]int64 // call → its deadline, which its heap entry holds
	wake    chan struct{}
	fire    func(callID string)
	workers int
	now     Clock
}

func newScheduler(fire func(string), workers int, now Clock) *scheduler {
	return &scheduler{due: dueHeap{pos: map[string]int{}}, at: map[string]int64{}, wake: make(chan struct{}, 1),
		fire: fire, workers: workers, now: now}
}

// Schedule sets callID's next deadline to at (Unix ms); 0 removes it. Only the holder of the
// call's lock may call it: a schedule made without the lock may come after a newer one (see
// ScheduleEarlier).
func (s *scheduler) Schedule(callID string, at int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at == 0 {
		s.removeLocked(callID)
		return
	}
	s.setLocked(callID, at)
}

// removeLocked drops callID's deadline and its heap entry, if it has one. s.mu is held.
func (s *scheduler) removeLocked(callID string) {
	delete(s.at, callID)
	if i, ok := s.due.pos[callID]; ok {
		heap.Remove(&s.due, i)
	}
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
	if i, ok := s.due.pos[callID]; ok {
		s.due.entries[i].at = at
		heap.Fix(&s.due, i)
	} else {
		heap.Push(&s.due, dueEntry{callID: callID, at: at})
	}
	if s.due.entries[0].callID == callID {
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
	for s.due.Len() > 0 && len(ready) < 1024 {
		top := s.due.entries[0]
		if top.at > now {
			return ready, time.Duration(top.at-now) * time.Millisecond
		}
		s.removeLocked(top.callID)
		ready = append(ready, top.callID)
	}
	return ready, time.Hour
}

type dueEntry struct {
	callID string
	at     int64
}

// dueHeap is a min-heap of deadlines (container/heap) that knows where each call's entry is,
// so that an entry can be moved or removed when its call's deadline changes.
type dueHeap struct {
	entries []dueEntry
	pos     map[string]int // call → index of its entry in entries
}

func (h *dueHeap) Len() int           { return len(h.entries) }
func (h *dueHeap) Less(i, j int) bool { return h.entries[i].at < h.entries[j].at }
func (h *dueHeap) Swap(i, j int) {
	h.entries[i], h.entries[j] = h.entries[j], h.entries[i]
	h.pos[h.entries[i].callID] = i
	h.pos[h.entries[j].callID] = j
}

func (h *dueHeap) Push(x any) {
	e := x.(dueEntry)
	h.pos[e.callID] = len(h.entries)
	h.entries = append(h.entries, e)
}

func (h *dueHeap) Pop() any {
	e := h.entries[len(h.entries)-1]
	h.entries = h.entries[:len(h.entries)-1]
	delete(h.pos, e.callID)
	return e
}
