package outbox

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// A record waiting for its retry that a later record of its key superseded (deleted in the
// later record's commit, switchboard.OutboxRecord.Supersedes) leaves no retry state behind:
// the next scan over every head forgets it, and keeps the state of the records still there.
func TestScanForgetsTheRetryStateOfSupersededRecords(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rec := func(key, body string, supersedes bool) switchboard.OutboxRecord {
		return switchboard.OutboxRecord{Kind: switchboard.OutboxPush, OrderKey: key, Body: []byte(body),
			CreatedAt: time.Now().UnixMilli(), Supersedes: supersedes}
	}
	if _, err := s.Commit(ctx, switchboard.Change{Outbox: []switchboard.OutboxRecord{
		rec("c1 bob", "invitation", false), rec("c1 carol", "invitation", false)}}); err != nil {
		t.Fatal(err)
	}
	heads, err := s.OutboxHeads(ctx, switchboard.OutboxPush, 0, 10)
	if err != nil || len(heads) != 2 {
		t.Fatalf("heads %v (%v)", heads, err)
	}
	later := time.Now().Add(time.Hour) // both wait for their retry
	retries := map[int64]*retryState{heads[0].ID: {attempts: 1, nextAt: later}, heads[1].ID: {attempts: 1, nextAt: later}}
	if _, err := s.Commit(ctx, switchboard.Change{Outbox: []switchboard.OutboxRecord{rec("c1 bob", "withdrawal", true)}}); err != nil {
		t.Fatal(err)
	}

	w := New(Config{Kind: switchboard.OutboxPush, Deliver: func(context.Context, switchboard.OutboxRecord) error { return nil }},
		s, nil, nil)
	results := make(chan result, 10)
	w.scan(ctx, 0, map[string]bool{}, retries, results)
	if _, kept := retries[heads[0].ID]; kept || retries[heads[1].ID] == nil {
		t.Errorf("retry states after the scan: %v; want bob's superseded invitation (%d) forgotten, carol's (%d) kept",
			retries, heads[0].ID, heads[1].ID)
	}
	if r := <-results; string(r.rec.Body) != "withdrawal" || r.err != nil {
		t.Errorf("the scan delivered %q (%v), want bob's withdrawal at once", r.rec.Body, r.err)
	}
}

// Config.Forget hears of every record the worker is done with without delivering it, so that
// the deliverer can drop what it keeps for the record's retries then, and not before: a record
// given up for a permanent failure, one found expired, and one that a later record superseded
// while it waited for its retry.
func TestWorkerTellsForgetOfEveryRecordDoneWithUndelivered(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rec := func(key, body string, created time.Time, supersedes bool) switchboard.OutboxRecord {
		return switchboard.OutboxRecord{Kind: switchboard.OutboxPush, OrderKey: key, Body: []byte(body),
			CreatedAt: created.UnixMilli(), Supersedes: supersedes}
	}
	now := time.Now()
	if _, err := s.Commit(ctx, switchboard.Change{Outbox: []switchboard.OutboxRecord{
		rec("c1 bob", "invitation", now, false), rec("c2 bob", "stale", now.Add(-2*time.Hour), false),
		rec("c3 bob", "refused", now, false)}}); err != nil {
		t.Fatal(err)
	}
	heads, err := s.OutboxHeads(ctx, switchboard.OutboxPush, 0, 10)
	if err != nil || len(heads) != 3 {
		t.Fatalf("heads %v (%v)", heads, err)
	}
	var forgotten []int64
	w := New(Config{Kind: switchboard.OutboxPush, Expiry: time.Hour,
		Deliver: func(context.Context, switchboard.OutboxRecord) error { return nil },
		Forget:  func(id int64) { forgotten = append(forgotten, id) }}, s, nil, nil)
	later := now.Add(30 * time.Minute) // waiting for their retry
	retries := map[int64]*retryState{heads[0].ID: {attempts: 1, nextAt: later}, heads[1].ID: {attempts: 1, nextAt: later}}

	w.settle(ctx, result{rec: heads[2], err: Permanent(errors.New("refused"))}, retries)
	if !slices.Equal(forgotten, []int64{heads[2].ID}) {
		t.Fatalf("forgotten after a permanent failure: %v; want [%d]", forgotten, heads[2].ID)
	}
	if _, err := s.Commit(ctx, switchboard.Change{Outbox: []switchboard.OutboxRecord{rec("c1 bob", "withdrawal", now, true)}}); err != nil {
		t.Fatal(err)
	}
	results := make(chan result, 10)
	w.scan(ctx, 0, map[string]bool{}, retries, results)
	<-results // the withdrawal
	slices.Sort(forgotten)
	if want := []int64{heads[0].ID, heads[1].ID, heads[2].ID}; !slices.Equal(forgotten, want) {
		t.Errorf("forgotten: %v; want %v (refused, then the superseded invitation and the expired record)", forgotten, want)
	}
}
