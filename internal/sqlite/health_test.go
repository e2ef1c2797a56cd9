package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	driver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/dialtone/dialtone/internal/switchboard"
)

// syncBuffer is a bytes.Buffer safe for the writer goroutine's logging and the test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the logged lines that contain msg.
func (b *syncBuffer) lines(msg string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(l, msg) {
			out = append(out, l)
		}
	}
	return out
}

// execIdle runs q on the writing connection outside the writer's transactions (which
// execOnWriter cannot do once the connection is read-only: BEGIN IMMEDIATE fails). Only while
// no request is queued: the writer is then idle, and database/sql serialises the uses of conn.
func execIdle(t *testing.T, s *Store, q string) {
	t.Helper()
	if _, err := s.w.conn.ExecContext(bg, q); err != nil {
		t.Fatal(err)
	}
}

// fileSize returns the size of the file at path.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// wantCode fails the test unless err carries an SQLite error of the primary result code.
func wantCode(t *testing.T, what string, err error, code int) {
	t.Helper()
	var se *driver.Error
	if !errors.As(err, &se) || se.Code()&0xff != code {
		t.Fatalf("%s: %v, want an SQLite error with code %d", what, err, code)
	}
}

// fillPages caps the database at its current size (SQLITE_FULL past it, for real: SQLite's
// max_page_count on the writing connection) or, with pages 0, lifts the cap.
func fillPages(t *testing.T, s *Store, full bool) {
	t.Helper()
	max := 1073741823
	if full {
		if err := s.rdb.QueryRowContext(bg, "PRAGMA page_count").Scan(&max); err != nil {
			t.Fatal(err)
		}
	}
	execOnWriter(t, s, fmt.Sprintf("PRAGMA max_page_count = %d", max))
}

// bigChange is a change that needs new pages of the database.
func bigChange(user string) switchboard.Change {
	return switchboard.Change{Log: []switchboard.LogEntry{{UserID: user, Event: "big", Data: jsonText(strings.Repeat("x", 1<<20)), CreatedAt: 1000}}}
}

// TestNotWritableWhileTheDiskIsFull: a commit that fails because the database cannot grow
// (SQLITE_FULL, as on a full disk) makes Writable report the fault until a change commits
// again, logged once when it starts (ERROR) and once when it ends (INFO). A failure that is
// the change's own (a version conflict) is no fault of the store. The client's side of it is
// R7.1: the failed change is not applied, and the next one commits.
func TestNotWritableWhileTheDiskIsFull(t *testing.T) {
	var logs syncBuffer
	s, _ := openTest(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer s.Close()
	appendLog(t, s, "alice")
	if err := s.Writable(bg); err != nil {
		t.Fatalf("Writable after a commit: %v", err)
	}

	fillPages(t, s, true)
	for i := range 2 {
		_, err := s.Commit(bg, bigChange("alice"))
		wantCode(t, fmt.Sprint("commit ", i, " on a full database"), err, sqlite3.SQLITE_FULL)
		wantCode(t, fmt.Sprint("Writable after failed commit ", i), s.Writable(bg), sqlite3.SQLITE_FULL)
	}
	_, err := s.Commit(bg, switchboard.Change{Calls: []switchboard.CallWrite{{Call: testCall("c9", "x"), PrevVersion: 7}}})
	if !errors.Is(err, switchboard.ErrConflict) {
		t.Fatalf("conflicting commit: %v, want ErrConflict", err)
	}
	wantCode(t, "Writable after a conflict on a full database", s.Writable(bg), sqlite3.SQLITE_FULL)
	if got := logs.lines("database cannot be written"); len(got) != 1 || !strings.Contains(got[0], "level=ERROR") {
		t.Errorf("logged %q, want one ERROR line", got)
	}

	fillPages(t, s, false)
	if _, err := s.Commit(bg, bigChange("alice")); err != nil {
		t.Fatalf("commit once space is back: %v", err)
	}
	if err := s.Writable(bg); err != nil {
		t.Fatalf("Writable once a change committed: %v", err)
	}
	if got := logs.lines("database is writable again"); len(got) != 1 || !strings.Contains(got[0], "level=INFO") {
		t.Errorf("logged %q, want one INFO line", got)
	}
	wantLog(t, s, "alice", 0, 10, 1, 2)
}

// TestProbeFindsTheStoreWritableAgain: with no commits to tell, Writable itself tries a small
// write once the last failure is ProbeAfter old, so a server that its load balancer stopped
// sending requests to comes back once its database can be written again. The read-only
// database here is real SQLite behaviour (query_only on the writing connection: every write
// fails with SQLITE_READONLY, as on a file system remounted read-only).
func TestProbeFindsTheStoreWritableAgain(t *testing.T) {
	var clock fakeClock
	var logs syncBuffer
	s, path := openTest(t, Options{Now: clock.now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer s.Close()
	appendLog(t, s, "alice")

	execIdle(t, s, "PRAGMA query_only = 1")
	_, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("alice", "a2")}})
	wantCode(t, "commit on a read-only database", err, sqlite3.SQLITE_READONLY)
	batches := s.Stats().Batches
	clock.advance(ProbeAfter - time.Millisecond)
	wantCode(t, "Writable before ProbeAfter", s.Writable(bg), sqlite3.SQLITE_READONLY)
	clock.advance(time.Millisecond)
	wantCode(t, "Writable probing a read-only database", s.Writable(bg), sqlite3.SQLITE_READONLY)
	if got := s.Stats().Batches; got != batches {
		t.Fatalf("the failed probe committed: %d batches, want %d", got, batches)
	}

	execIdle(t, s, "PRAGMA query_only = 0")
	wantCode(t, "Writable right after the failed probe", s.Writable(bg), sqlite3.SQLITE_READONLY)
	batches = s.Stats().Batches
	walBefore := fileSize(t, path+"-wal")
	clock.advance(ProbeAfter)
	if err := s.Writable(bg); err != nil {
		t.Fatalf("Writable probing a writable database: %v", err)
	}
	if got := s.Stats().Batches; got != batches+1 {
		t.Errorf("%d batches, want %d: the probe commits", got, batches+1)
	}
	if got := fileSize(t, path+"-wal"); got <= walBefore {
		t.Errorf("WAL of %d bytes after the probe, %d before: the probe wrote nothing", got, walBefore)
	}
	if got := logs.lines("database is writable again"); len(got) != 1 {
		t.Errorf("logged %q, want one line", got)
	}
	wantLog(t, s, "alice", 0, 10, 1)
}

// TestWritableAfterClose: a closed store takes no writes, so Writable says so with ErrClosed,
// like every other method after Close, whether or not a fault was seen before; readiness
// checks never take a closed store for a writable one.
func TestWritableAfterClose(t *testing.T) {
	var clock fakeClock
	s, _ := openTest(t, Options{Now: clock.now})
	s.Close()
	if err := s.Writable(bg); !errors.Is(err, ErrClosed) {
		t.Errorf("Writable after Close = %v, want ErrClosed", err)
	}

	s, _ = openTest(t, Options{Now: clock.now})
	execIdle(t, s, "PRAGMA query_only = 1")
	_, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("alice", "a1")}})
	wantCode(t, "commit on a read-only database", err, sqlite3.SQLITE_READONLY)
	s.Close()
	clock.advance(ProbeAfter)
	if err := s.Writable(bg); !errors.Is(err, ErrClosed) {
		t.Errorf("Writable after Close of a store with a fault = %v, want ErrClosed", err)
	}
}
