package sqlite

import (
	"context"
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

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) switchboard.Store {
		s, _ := openTest(t, Options{})
		return s
	})
}
