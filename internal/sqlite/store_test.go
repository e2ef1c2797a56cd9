package sqlite

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/dialtone/dialtone/internal/storetest"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// openTest opens a store on a new file in t's temporary directory.
func openTest(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dialtone.db")
	s, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, path
}

// reopen closes s and opens its file again; the new store is closed when the test ends.
func reopen(t testing.TB, s *Store, path string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the store suite with the log's index copied at the default points, after
// every batch, and never (every read then scans the whole log past the mark; logindex.go).
func TestConformance(t *testing.T) {
	for name, opts := range map[string]Options{
		"Default":        {},
		"IndexEachBatch": {LogIndexRows: 1},
		"IndexNever":     {LogIndexRows: math.MaxInt, LogIndexEvery: math.MaxInt64},
	} {
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) switchboard.Store {
				s, _ := openTest(t, opts)
				return s
			})
		})
	}
}
