package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// damagedStore returns a store with 300 calls, of users a0…a299 with b0…b299, whose
// database then has one page in four (past the schema) overwritten on disk behind its back,
// as a failing disk or another program writing into the file would, and the log it writes;
// now is its clock.
// Its connections no longer hold those pages cached: their next reads meet the damage.
func damagedStore(t *testing.T, now func() time.Time) (*Store, *switchboard.Switchboard, *bytes.Buffer) {
	t.Helper()
	s, path, logs := openLoggedTest(t, now)
	sb := startedSwitchboard(t, s)
	for i := range 300 {
		if _, err := sb.Invite(bg, call.Invite{Actor: phoneOf(fmt.Sprint("a", i)), Invitees: []string{fmt.Sprint("b", i)},
			Timeout: 600, ExtendedData: largeExtendedData}, ""); err != nil {
			t.Fatal(err)
		}
	}
	raw := rawConn(t, path)
	if _, err := raw.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(2 * 4096); off < info.Size(); off += 4 * 4096 { // one page in four, past the schema
		if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 4096), off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// A commit of another connection makes the store's connections drop the pages they
	// cached: from now on they read the damaged ones.
	if _, err := raw.Exec(`PRAGMA user_version = ` + fmt.Sprint(len(mustMigrations(t)))); err != nil {
		t.Fatal(err)
	}
	return s, sb, logs
}

// largeExtendedData fills a call's record past a page, so that 300 calls span many pages.
var largeExtendedData = strings.Repeat("x", 1024)

// Pages of the database damaged on disk while the store serves (a failing disk, another
// program writing into the file): a change that meets them fails with
// switchboard.ErrStorageUnavailable (6000270), never with a domain error, a panic or a hang;
// Fault says "corrupt" (/readyz 503), and the ERROR log names it (docs/operations.md
// "Start-up, probes and shutdown": readiness).
func TestChangesMeetingDamagedPagesFailAsStorageFaults(t *testing.T) {
	s, sb, logs := damagedStore(t, time.Now)
	failed := 0
	for i := range 50 {
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		_, err := sb.Invite(ctx, call.Invite{Actor: phoneOf(fmt.Sprint("c", i)), Invitees: []string{fmt.Sprint("d", i)},
			Timeout: 600, ExtendedData: largeExtendedData}, "")
		cancel()
		if err == nil {
			continue
		}
		failed++
		var ce *call.Error
		if errors.As(err, &ce) || errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, switchboard.ErrStorageUnavailable) {
			t.Fatalf("invite %d on damaged pages: %v, want switchboard.ErrStorageUnavailable (6000270)", i, err)
		}
	}
	if failed == 0 {
		t.Fatal("no invite met a damaged page: the test damages too little")
	}
	t.Logf("%d of 50 invites met damaged pages", failed)
	wantCorrupt(t, s, logs)
}

// Damaged pages that a read meets before any change does (a client that only queries its
// calls, a device logging in and catching up): the read fails with
// switchboard.ErrStorageUnavailable (6000270, "storage unavailable, retry later"), never with
// a hang or a panic, and the store is found damaged at once, as when a change meets them
// (docs/operations.md "When the disk fills": damaged pages).
func TestReadsMeetingDamagedPagesFailAsStorageFaults(t *testing.T) {
	s, _, logs := damagedStore(t, time.Now)
	t.Logf("%d of 300 reads met damaged pages", listCalls(t, s))
	wantCorrupt(t, s, logs)
}

// listCalls reads the calls of b0…b299 and returns how many reads met damaged pages, failing
// the test when none did, or one failed otherwise than with switchboard.ErrStorageUnavailable.
func listCalls(t *testing.T, s *Store) int {
	t.Helper()
	failed := 0
	for i := range 300 {
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		_, _, err := s.ListCalls(ctx, fmt.Sprint("b", i), 0, 10)
		cancel()
		if err == nil {
			continue
		}
		failed++
		if errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, switchboard.ErrStorageUnavailable) {
			t.Fatalf("list of b%d on damaged pages: %v, want switchboard.ErrStorageUnavailable (6000270)", i, err)
		}
	}
	if failed == 0 {
		t.Fatal("no read met a damaged page: the test damages too little")
	}
	return failed
}

// Damaged pages do not mend: once the store met them, it stays not ready, also after a write
// of its own commits on pages left whole (Writable's probe, once the failure is ProbeAfter
// old). Ready again, it would draw clients back to a database whose damage the next read
// meets; the damage is repaired by a restore, and the restart checks the file whole
// (docs/operations.md "When the disk fills": damaged pages).
func TestDamagedPagesKeepTheStoreNotReady(t *testing.T) {
	var later atomic.Bool
	now := func() time.Time {
		if later.Load() {
			return time.Now().Add(ProbeAfter)
		}
		return time.Now()
	}
	s, _, logs := damagedStore(t, now)
	listCalls(t, s)
	later.Store(true)
	var wf *WriteFault
	if err := s.Writable(bg); !errors.As(err, &wf) || wf.Reason != "corrupt" {
		t.Errorf("Writable after damaged pages, once a probe is due: %v, want the reason corrupt", err)
	}
	wantCorrupt(t, s, logs)
	if strings.Contains(logs.String(), "writable again") {
		t.Errorf("the log says the damaged database is writable again:\n%s", logs.String())
	}
}

// wantCorrupt fails the test unless s's Fault says "corrupt" and its log an ERROR naming it.
func wantCorrupt(t *testing.T, s *Store, logs *bytes.Buffer) {
	t.Helper()
	var wf *WriteFault
	if !errors.As(s.Fault(), &wf) || wf.Reason != "corrupt" {
		t.Errorf("Fault after the damaged pages: %v, want the reason corrupt", s.Fault())
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "reason=corrupt") {
		t.Errorf("log after the damaged pages, want an ERROR with reason=corrupt:\n%s", logs.String())
	}
}

func mustMigrations(t *testing.T) []migration {
	t.Helper()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// A stored call whose bytes were damaged where SQLite cannot tell (a row's payload carries no
// checksum; here another program rewrote it) is damage too: a read of it fails with
// switchboard.ErrStorageUnavailable, and the store is found damaged, as when SQLite itself
// finds damaged pages (docs/operations.md "When the disk fills": damaged pages).
func TestStoredCallThatDoesNotDecodeIsDamage(t *testing.T) {
	s, path, logs := openLoggedTest(t, time.Now)
	sb := startedSwitchboard(t, s)
	if _, err := sb.Invite(bg, call.Invite{Actor: phoneOf("a"), Invitees: []string{"b"}, Timeout: 600}, ""); err != nil {
		t.Fatal(err)
	}
	raw := rawConn(t, path)
	if _, err := raw.Exec(`PRAGMA busy_timeout = 10000`); err != nil { // the store's writer may hold the lock
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE calls SET data = x'01A5A5A5'`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ListCalls(bg, "b", 0, 10); !errors.Is(err, switchboard.ErrStorageUnavailable) {
		t.Fatalf("list of a call damaged on disk: %v, want switchboard.ErrStorageUnavailable (6000270)", err)
	}
	wantCorrupt(t, s, logs)
}

// openLoggedTest opens a test store on the clock now whose log is kept in the buffer returned.
func openLoggedTest(t *testing.T, now func() time.Time) (*Store, string, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	s, path := openTest(t, Options{Now: now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	return s, path, &logs
}

// rawConn opens the database at path a second time, on one connection of its own beside the
// store's, closed after the test.
func rawConn(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	raw.SetMaxOpenConns(1)
	return raw
}
