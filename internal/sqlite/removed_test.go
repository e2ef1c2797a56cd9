package sqlite

import (
	"bytes"
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

// The database file replaced while the store runs (another file renamed onto its path, the
// data directory removed), with no change coming: Writable, /readyz's check, finds it at
// once, not only once a change fails, and the fault stays (docs/operations.md "When the disk
// fills": the data directory removed).
func TestWritableFindsTheDatabaseReplaced(t *testing.T) {
	s, path := openTest(t, Options{Now: time.Now})
	t.Cleanup(func() { s.Close() })
	if err := s.Writable(bg); err != nil {
		t.Fatalf("Writable of a new store: %v", err)
	}
	if err := os.WriteFile(path+".new", []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	var f *WriteFault
	if err := s.Writable(bg); !errors.As(err, &f) || f.Reason != "removed" {
		t.Errorf("Writable once another file is at the database's path: %v, want the reason removed", err)
	}
	if err := s.Fault(); !errors.As(err, &f) || f.Reason != "removed" {
		t.Errorf("Fault afterwards (dialtone_store_writable): %v, want the reason removed", err)
	}
}

// overwrittenStore returns a store with calls of a and c whose database file was then
// overwritten in place (the same file, new bytes) with a backup taken between them, as an
// operator restoring a backup over the file of a running server does, and its log. SQLite
// would go on reading and writing through its WAL and its cache as if nothing happened,
// mixing the backup's pages with the ones it holds.
func overwrittenStore(t *testing.T) (*Store, *switchboard.Switchboard, *bytes.Buffer) {
	t.Helper()
	s, path, logs := openLoggedTest(t, time.Now)
	t.Cleanup(func() { s.Close() })
	sb := startedSwitchboard(t, s)
	if _, err := sb.Invite(bg, call.Invite{Actor: phoneOf("a"), Invitees: []string{"b"}, Timeout: 600}, ""); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	raw := rawConn(t, path)
	if _, err := raw.Exec(`VACUUM INTO ?`, backup); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Invite(bg, call.Invite{Actor: phoneOf("c"), Invitees: []string{"d"}, Timeout: 600}, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Writable(bg); err != nil {
		t.Fatalf("Writable after a backup was taken: %v", err)
	}
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return s, sb, logs
}

// A backup restored over the database file of a running server (or anything else written into
// it): Writable, /readyz's check, finds it without waiting for a change, as damage that lasts
// (docs/operations.md "When the disk fills": the database file written while in use).
func TestWritableFindsTheDatabaseOverwritten(t *testing.T) {
	s, _, logs := overwrittenStore(t)
	var f *WriteFault
	if err := s.Writable(bg); !errors.As(err, &f) || f.Reason != reasonCorrupt {
		t.Fatalf("Writable once the database file was overwritten in place: %v, want the reason corrupt", err)
	}
	wantCorrupt(t, s, logs)
}

// A change after a backup was restored over the database file of a running server fails with
// switchboard.ErrStorageUnavailable (6000270) instead of being committed into a mix of the
// backup's pages and the store's (R7.1: a reply saying it was stored would not hold).
func TestChangesRefusedOnceTheDatabaseIsOverwritten(t *testing.T) {
	s, sb, logs := overwrittenStore(t)
	_, err := sb.Invite(bg, call.Invite{Actor: phoneOf("e"), Invitees: []string{"f"}, Timeout: 600}, "")
	var ce *call.Error
	if err == nil || errors.As(err, &ce) || !errors.Is(err, switchboard.ErrStorageUnavailable) {
		t.Fatalf("invite once the database file was overwritten in place: %v, want switchboard.ErrStorageUnavailable (6000270)", err)
	}
	wantCorrupt(t, s, logs)
}
