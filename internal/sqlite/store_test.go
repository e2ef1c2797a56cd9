package sqlite

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/storetest"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// openTest opens a store on a new file in t's temporary directory.
func openTest(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dialtone.db")
	if opts.Now == nil {
		opts.Now = atEpoch
	}
	s, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, path
}

// atEpoch is the clock of the stores openTest and reopen open unless told otherwise: at the
// Unix epoch, their seq floor is 0, so a user's seqs count from 1 and the tests of the log's
// mechanics (index, retention, migrations) can name them. The floor has tests of its own
// (seqfloor_test.go), and the conformance suite runs with the real clock.
func atEpoch() time.Time { return time.Unix(0, 0) }

// reopen closes s and opens its file again; the new store is closed when the test ends.
func reopen(t testing.TB, s *Store, path string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err := Open(context.Background(), path, Options{Now: atEpoch})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the store suite with the log's index copied at the default points, after
// every batch, and never (every read then scans the whole log past the mark; logindex.go), on
// the real clock: each user's seqs start at the store's floor.
func TestConformance(t *testing.T) {
	for name, opts := range map[string]Options{
		"Default":        {},
		"IndexEachBatch": {LogIndexRows: 1},
		"IndexNever":     {LogIndexRows: math.MaxInt, LogIndexEvery: math.MaxInt64},
	} {
		t.Run(name, func(t *testing.T) {
			opts.Now = time.Now
			storetest.Run(t, func(t *testing.T) switchboard.Store {
				s, _ := openTest(t, opts)
				return s
			})
		})
	}
}
