package switchboard_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialtone/dialtone/internal/switchboard"
)

// pruneRecorder is a store with nothing to load at Start that records each Prune's cutoffs.
// Any other method panics (the embedded Store is nil): the prune loop must call none.
type pruneRecorder struct {
	switchboard.Store
	mu      sync.Mutex
	cutoffs [][3]int64
}

func (p *pruneRecorder) DueCalls(context.Context) ([]switchboard.Due, error) { return nil, nil }

func (p *pruneRecorder) BusyRecords(context.Context) ([]switchboard.BusyWrite, error) {
	return nil, nil
}

func (p *pruneRecorder) Prune(_ context.Context, logBefore, idemBefore, endedBefore int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutoffs = append(p.cutoffs, [3]int64{logBefore, idemBefore, endedBefore})
	return nil
}

func (p *pruneRecorder) recorded() [][3]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][3]int64(nil), p.cutoffs...)
}

// The switchboard's retention runs when it starts and then every PruneEvery (by default a
// quarter of LogRetention, at most a minute), and asks the store to delete exactly what each
// window lets go at that time: log entries older than LogRetention (R7.2), idempotency records
// older than IdempotencyWindow (R7.3) and calls that ended longer than CallRetention ago
// (R3.10); nothing younger. A server restarted more often than every minute still prunes.
func TestPruneLoopCutoffs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &pruneRecorder{}
		cfg := switchboard.Config{LogRetention: 4 * time.Minute, IdempotencyWindow: 5 * time.Minute, CallRetention: time.Hour}
		sb := switchboard.New(cfg, store, time.Now, nil)
		if err := sb.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer sb.Close()
		start := time.Now()
		want := func(at time.Time) [3]int64 { return retentionCutoffs(cfg, at) }
		synctest.Wait()
		if got := store.recorded(); len(got) != 1 || got[0] != want(start) {
			t.Fatalf("cutoffs of the run at the start = %v, want %v", got, want(start))
		}
		time.Sleep(time.Minute - time.Millisecond)
		synctest.Wait()
		if got := store.recorded(); len(got) != 1 {
			t.Fatalf("retention ran again before its period: %v", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		time.Sleep(time.Minute)
		synctest.Wait()
		got := store.recorded()
		if len(got) != 3 || got[1] != want(start.Add(time.Minute)) || got[2] != want(start.Add(2*time.Minute)) {
			t.Errorf("cutoffs of the next two runs = %v, want %v and %v",
				got, want(start.Add(time.Minute)), want(start.Add(2*time.Minute)))
		}
	})
}

// retentionCutoffs returns the cutoffs that cfg's windows give at the time at: (log entries,
// idempotency records, ended calls).
func retentionCutoffs(cfg switchboard.Config, at time.Time) [3]int64 {
	return [3]int64{at.Add(-cfg.LogRetention).UnixMilli(), at.Add(-cfg.IdempotencyWindow).UnixMilli(),
		at.Add(-cfg.CallRetention).UnixMilli()}
}

// R7.2, R3.10: retention deletes nothing before its window has passed, also when the server's
// wall clock steps forward while it runs (an NTP correction, an operator setting the date): a
// device that was away for less than LogRetention still resumes from its lastSeq, and a call
// that ended a minute ago can still be read. Once a window has really passed since the step,
// its cutoff follows the stepped clock again, so nothing is kept longer than needed either. A
// clock stepped back moves every cutoff back with it.
func TestPruneAfterTheClockSteppedForward(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &pruneRecorder{}
		cfg := switchboard.Config{LogRetention: 4 * time.Minute, IdempotencyWindow: 5 * time.Minute, CallRetention: time.Hour}
		var step atomic.Int64
		const ahead = 2 * time.Hour
		clock := func() time.Time { return time.Now().Add(time.Duration(step.Load())) }
		sb := switchboard.New(cfg, store, clock, nil)
		if err := sb.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer sb.Close()
		start := time.Now()
		time.Sleep(30 * time.Second)
		step.Store(int64(ahead))

		time.Sleep(30 * time.Second)
		synctest.Wait()
		if got := store.recorded(); len(got) != 2 || got[1] != retentionCutoffs(cfg, start.Add(time.Minute)) {
			t.Fatalf("cutoffs of the run a minute after the start, 30 s after the clock stepped %v forward = %v, "+
				"want %v (what each window lets go of by the time really passed)",
				ahead, got, retentionCutoffs(cfg, start.Add(time.Minute)))
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		stepped, real := retentionCutoffs(cfg, clock()), retentionCutoffs(cfg, time.Now())
		want := [3]int64{stepped[0], stepped[1], real[2]}
		if got := store.recorded(); len(got) != 7 || got[6] != want {
			t.Errorf("cutoffs of the run 6 min after the start = %v, want %v: the log and idempotency windows "+
				"have passed since the step, the call window has not", got, want)
		}

		step.Store(int64(-time.Hour)) // stepped back past where it started: every cutoff follows it back
		time.Sleep(time.Minute)
		synctest.Wait()
		if got, want := store.recorded(), retentionCutoffs(cfg, clock()); len(got) != 8 || got[7] != want {
			t.Errorf("cutoffs of the run after the clock stepped back = %v, want %v", got, want)
		}
	})
}
