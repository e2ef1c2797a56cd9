package switchboard_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// slowStore takes commitTime for each Commit, as a disk's flush does.
type slowStore struct {
	switchboard.Store
}

const commitTime = 300 * time.Microsecond

func (s slowStore) Commit(ctx context.Context, ch switchboard.Change) ([]int64, error) {
	time.Sleep(commitTime)
	return s.Store.Commit(ctx, ch)
}

// A fired deadline's lateness (dialtone_deadline_lateness_seconds) runs from the deadline to
// its change being durable: it holds the commit's time, to the microsecond, not rounded down
// to the millisecond, which would show every deadline applied within a millisecond as on time.
func TestDeadlineLatenessHoldsItsCommitTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var observed []time.Duration
		cfg := switchboard.Config{ObserveDeadline: func(d time.Duration) {
			mu.Lock()
			observed = append(observed, d)
			mu.Unlock()
		}}
		sb, _ := startOver(t, cfg, func(s *sqlite.Store) slowStore { return slowStore{s} })
		invite(t, sb, "alice", call.General, 10, "bob")
		time.Sleep(11 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(observed) != 1 || observed[0] < commitTime {
			t.Errorf("lateness observed %v, want one of at least the commit's %v", observed, commitTime)
		}
	})
}
