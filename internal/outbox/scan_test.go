package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/outbox"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// readCounter counts the records the worker reads from the store.
type readCounter struct {
	*sqlite.Store
	rows atomic.Int64
}

func (r *readCounter) OutboxHeads(ctx context.Context, kind string, afterID int64, limit int) ([]switchboard.OutboxRecord, error) {
	recs, err := r.Store.OutboxHeads(ctx, kind, afterID, limit)
	r.rows.Add(int64(len(recs)))
	return recs, err
}

// A receiver that is down (every attempt fails at once, a refused connection) while many calls
// wait for their callbacks: the worker attempts each call's callback reading a bounded number of
// records per attempt from the store, not every head before it again after each failure, which
// made the reads grow with the square of the backlog and kept a core busy for the outage.
func TestAFailingReceiverCostsBoundedReadsPerAttempt(t *testing.T) {
	const calls = 1000
	s := openStore(t)
	var recs [][2]string
	for i := range calls {
		recs = append(recs, [2]string{fmt.Sprint("call", i), "{}"})
	}
	put(t, s, time.Now(), recs...)
	store := &readCounter{Store: s}
	var (
		mu        sync.Mutex
		attempted = map[string]int{}
		all       = make(chan struct{})
	)
	w := outbox.New(outbox.Config{Kind: switchboard.OutboxWebhook, MinBackoff: time.Hour, Poll: time.Hour,
		Deliver: func(_ context.Context, rec switchboard.OutboxRecord) error {
			mu.Lock()
			defer mu.Unlock()
			attempted[rec.OrderKey]++
			if len(attempted) == calls {
				select {
				case <-all:
				default:
					close(all)
				}
			}
			return errors.New("connect: connection refused")
		}}, store, nil, nil)
	run(t, w)
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		t.Fatalf("%d of %d calls' callbacks attempted after %d records read", len(attempted), calls, store.rows.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	for key, n := range attempted {
		if n != 1 {
			t.Errorf("%s attempted %d times before its backoff of an hour", key, n)
		}
	}
	t.Logf("%d records read", store.rows.Load())
	if rows, bound := store.rows.Load(), int64(100*calls); rows > bound {
		t.Errorf("the worker read %d records to attempt %d callbacks once each, want at most %d", rows, calls, bound)
	}
}
