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

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) switchboard.Store {
		s, _ := openTest(t, Options{})
		return s
	})
}
