package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// The data directory removed under a running store: its files are gone from the disk, so a
// change committed now would be lost with the process although its reply said it was stored
// (R7.1). Every change fails with switchboard.ErrStorageUnavailable (6000270) instead, and
// Fault says the database cannot be written (/readyz 503; docs/operations.md "When the disk
// fills").
func TestChangesRefusedOnceTheDataDirectoryIsRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), filepath.Join(dir, "dialtone.db"), Options{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	sb := startedSwitchboard(t, s)
	if _, err := sb.Invite(bg, call.Invite{Actor: phoneOf("alice"), Invitees: []string{"bob"}, Timeout: 600}, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	_, err = sb.Invite(bg, call.Invite{Actor: phoneOf("carol"), Invitees: []string{"dave"}, Timeout: 600}, "")
	var ce *call.Error
	if err == nil || errors.As(err, &ce) || !errors.Is(err, switchboard.ErrStorageUnavailable) {
		t.Fatalf("invite once the data directory is removed: %v, want switchboard.ErrStorageUnavailable (6000270)", err)
	}
	var f *WriteFault
	if !errors.As(s.Fault(), &f) {
		t.Fatalf("Fault once the data directory is removed: %v, want a *WriteFault", s.Fault())
	}
	t.Logf("fault: %v (%v)", f, f.Err)
}
