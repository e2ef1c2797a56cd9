package switchboard_test

import (
	"context"
	"sync"
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
		want := func(at time.Time) [3]int64 {
			return [3]int64{at.Add(-cfg.LogRetention).UnixMilli(), at.Add(-cfg.IdempotencyWindow).UnixMilli(),
				at.Add(-cfg.CallRetention).UnixMilli()}
		}
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
