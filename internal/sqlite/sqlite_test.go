package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	driver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

var bg = context.Background()

func testCall(id string, users ...string) call.Call {
	c := call.Call{ID: id, Caller: users[0], CreateTime: 1000, State: call.Started, Version: 1}
	for _, u := range users {
		c.Users = append(c.Users, call.User{ID: u, State: call.Inviting, Deadline: 31000, UpdateTime: 1000})
	}
	return c
}

// logEntry is an entry of user's log named event, whose data is the JSON string of event.
func logEntry(user, event string) switchboard.LogEntry {
	return switchboard.LogEntry{UserID: user, Event: event, Data: jsonText(event), CreatedAt: 1000}
}

// jsonText is the JSON string of s, which holds nothing JSON escapes: what the store reads back
// as an event's data or a reply (checkEntry).
func jsonText(s string) []byte { return []byte(`"` + s + `"`) }

// TestReopen: everything committed before Close is found after Open, and sequences continue.
func TestReopen(t *testing.T) {
	s, path := openTest(t, Options{})
	c := testCall("c1", "alice", "bob")
	change := switchboard.Change{
		Calls:   []switchboard.CallWrite{{Call: c}},
		Members: []switchboard.Member{{UserID: "alice", CallID: "c1"}, {UserID: "bob", CallID: "c1"}},
		Busy:    []switchboard.BusyWrite{{UserID: "alice", CallID: "c1", InCall: true}},
		Log:     []switchboard.LogEntry{logEntry("alice", "a1"), logEntry("bob", "b1")},
		Idem:    &switchboard.IdempotencyRecord{UserID: "alice", Key: "k", Fingerprint: "f", Reply: jsonText("r"), CreatedAt: 1000},
	}
	if _, err := s.Commit(bg, change); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	got, err := s.Call(bg, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(c, got); d != "" {
		t.Fatalf("call after reopen (-want +got):\n%s", d)
	}
	if b, _ := s.BusyCall(bg, "alice"); b != "c1" {
		t.Fatalf("busy after reopen = %q", b)
	}
	if _, ok, _ := s.Idempotency(bg, "alice", "k", 0); !ok {
		t.Fatal("idempotency record lost")
	}
	if calls, _, _ := s.ListCalls(bg, "bob", 0, 10); len(calls) != 1 {
		t.Fatalf("ListCalls(bob) after reopen = %d calls", len(calls))
	}
	if dues, _ := s.DueCalls(bg); len(dues) != 1 || dues[0].At != 31000 {
		t.Fatalf("DueCalls after reopen = %v", dues)
	}
	seqs, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("alice", "a2")}})
	if err != nil || seqs[0] != 2 {
		t.Fatalf("seq after reopen = %v, %v; want 2", seqs, err)
	}
}

// The database holds calls, user IDs and push targets: its files are readable by their owner
// only, also in a data directory the operator made readable by others (a systemd
// StateDirectory is 0755).
func TestDatabaseFilesAreTheOwnersOnly(t *testing.T) {
	s, path := openTest(t, Options{})
	if _, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("alice", "a1")}}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode().Perm(); mode&0o077 != 0 {
			t.Errorf("%s has mode %v; want no access for group and others", filepath.Base(f), mode)
		}
	}
}

// TestMigrations: reopening applies nothing twice; a newer schema is refused.
func TestMigrations(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	s, path := openTest(t, Options{})
	userVersion := func(s *Store) int {
		t.Helper()
		var v int
		if err := s.rdb.QueryRowContext(bg, "PRAGMA user_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := userVersion(s); v != len(ms) {
		t.Fatalf("user_version = %d, want %d", v, len(ms))
	}
	s.Close()
	for range 2 {
		s, err := Open(bg, path, Options{})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if v := userVersion(s); v != len(ms) {
			t.Fatalf("user_version after reopen = %d, want %d", v, len(ms))
		}
		s.Close()
	}

	s, err = Open(bg, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.submit(bg, &request{apply: func(w *writer) ([]int64, error) {
		_, err := w.conn.ExecContext(bg, fmt.Sprintf("PRAGMA user_version = %d", len(ms)+1))
		return nil, err
	}})
	s.Close()
	if s, err := Open(bg, path, Options{}); err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
}

// TestPragmas: the writer runs WAL with synchronous=FULL (R7.1); readers cannot write.
func TestPragmas(t *testing.T) {
	s, _ := openTest(t, Options{BusyTimeoutMs: 1234})
	defer s.Close()
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"busy_timeout", "1234"},
	} {
		var got string
		if err := s.w.conn.QueryRowContext(bg, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("writer PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
	if _, err := s.rdb.ExecContext(bg, "DELETE FROM busy"); err == nil {
		t.Error("a read connection could write")
	}
}

// TestPublish: committed entries reach Publish with their seqs, in each user's seq order,
// before Commit returns; failed changes publish nothing.
func TestPublish(t *testing.T) {
	var (
		mu        sync.Mutex
		published []switchboard.LogEntry
	)
	s, _ := openTest(t, Options{Publish: func(entries []switchboard.LogEntry) {
		mu.Lock()
		published = append(published, entries...)
		mu.Unlock()
	}})
	defer s.Close()
	const workers, each = 8, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				ch := switchboard.Change{Log: []switchboard.LogEntry{logEntry("shared", fmt.Sprint(w)), logEntry(fmt.Sprint("u", w), "x")}}
				seqs, err := s.Commit(bg, ch)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				found := slices.ContainsFunc(published, func(e switchboard.LogEntry) bool {
					return e.UserID == "shared" && e.Seq == seqs[0]
				})
				mu.Unlock()
				if !found {
					t.Errorf("worker %d commit %d: seq %d not published before Commit returned", w, i, seqs[0])
				}
			}
		})
	}
	wg.Wait()
	if _, err := s.Commit(bg, switchboard.Change{
		Busy: []switchboard.BusyWrite{{UserID: "x", CallID: "a", InCall: true}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(bg, switchboard.Change{
		Busy: []switchboard.BusyWrite{{UserID: "x", CallID: "b", InCall: true}},
		Log:  []switchboard.LogEntry{logEntry("shared", "conflict")},
	}); !errors.Is(err, switchboard.ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	last := map[string]int64{}
	n := 0
	for _, e := range published {
		if e.Seq != last[e.UserID]+1 {
			t.Fatalf("%s: published seq %d after %d", e.UserID, e.Seq, last[e.UserID])
		}
		last[e.UserID] = e.Seq
		if e.UserID == "shared" {
			n++
		}
	}
	if n != workers*each {
		t.Fatalf("published %d shared entries, want %d", n, workers*each)
	}
}

// TestCancelWhileQueued: a change whose context ends while it waits behind a batch is skipped
// by the writer, applied nowhere, and its Commit returns the context's error.
func TestCancelWhileQueued(t *testing.T) {
	s, hold, release := openHeld(t)
	defer s.Close()
	first := make(chan error, 1)
	go func() {
		_, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("u", "hold")}})
		first <- err
	}()
	<-hold // the writer is inside the first batch
	ctx, cancel := context.WithCancel(bg)
	second := make(chan error, 1)
	go func() {
		_, err := s.Commit(ctx, switchboard.Change{Log: []switchboard.LogEntry{logEntry("u", "cancelled")}})
		second <- err
	}()
	for len(s.queue) == 0 { // wait until the second change is queued
		runtime.Gosched()
	}
	cancel()
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Commit: err = %v, want context.Canceled", err)
	}
	if _, head, _ := s.LogBounds(bg, "u"); head != 1 {
		t.Fatalf("head = %d, want 1: the cancelled change was applied", head)
	}
}

// TestStats: every committed change is counted, in no more batches than changes.
func TestStats(t *testing.T) {
	s, _ := openTest(t, Options{MaxBatch: 4})
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if _, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry(fmt.Sprint(i), "e")}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if st.Changes != 40 || st.Batches < 10 || st.Batches > 40 {
		t.Fatalf("Stats = %+v, want 40 changes in 10..40 batches of at most 4", st)
	}
}

// TestStatsCountOnlyChanges: the store's own writes (an outbox record's deletion, a push
// mark) commit on the writer like changes, in the same transactions, but are not changes:
// Stats and ObserveBatch count the transactions they are in, and no change for them.
func TestStatsCountOnlyChanges(t *testing.T) {
	s, hold, release := openHeld(t)
	defer s.Close()
	go s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("u", "hold")}})
	<-hold
	before := s.Stats()
	var observed []int // ObserveBatch's calls; the writer is held until release
	s.observe = func(n int) { observed = append(observed, n) }
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.ClearInvitationPushed(bg, "c", "u"); err != nil {
			t.Error(err)
		}
	})
	for len(s.queue) != 1 {
		runtime.Gosched()
	}
	wg.Go(func() {
		if _, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("u", "e")}}); err != nil {
			t.Error(err)
		}
	})
	for len(s.queue) != 2 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if err := s.ClearInvitationPushed(bg, "c", "u"); err != nil { // alone in its transaction
		t.Fatal(err)
	}
	if st := s.Stats(); st.Batches-before.Batches != 2 || st.Changes-before.Changes != 1 {
		t.Fatalf("stats went from %+v to %+v, want 1 change in 2 more batches", before, st)
	}
	if !slices.Equal(observed, []int{1, 0}) {
		t.Fatalf("ObserveBatch was told %v, want [1 0]", observed)
	}
}

func TestOpenRejectsNonFiles(t *testing.T) {
	for _, path := range []string{"", ":memory:", "a?mode=memory"} {
		if s, err := Open(bg, path, Options{}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

// TestBatchIsolation: changes queued behind a busy writer share one transaction; the one that
// conflicts is rolled back alone, including what it wrote before the conflict, and the others
// commit.
func TestBatchIsolation(t *testing.T) {
	s, hold, release := openHeld(t)
	defer s.Close()
	if _, err := s.Commit(bg, switchboard.Change{Busy: []switchboard.BusyWrite{{UserID: "x", CallID: "busy", InCall: true}}}); err != nil {
		t.Fatal(err)
	}
	go s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("u", "hold")}})
	<-hold
	before := s.Stats()
	var observed []int // ObserveBatch's calls; the writer is held until release
	s.observe = func(n int) { observed = append(observed, n) }
	results := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		c := testCall(fmt.Sprint("c", i), "x")
		ch := switchboard.Change{
			Calls:   []switchboard.CallWrite{{Call: c}},
			Members: []switchboard.Member{{UserID: "x", CallID: c.ID}},
			Log:     []switchboard.LogEntry{logEntry("u", c.ID)},
		}
		if i == 1 { // conflicts after writing its call and member row
			ch.Busy = []switchboard.BusyWrite{{UserID: "x", CallID: c.ID, InCall: true}}
		}
		wg.Go(func() { _, results[i] = s.Commit(bg, ch) })
		for len(s.queue) != i+1 { // queue them in order
			runtime.Gosched()
		}
	}
	close(release)
	wg.Wait()
	if results[0] != nil || results[2] != nil || !errors.Is(results[1], switchboard.ErrConflict) {
		t.Fatalf("results = %v, want nil, ErrConflict, nil", results)
	}
	if st := s.Stats(); st.Batches-before.Batches != 1 || st.Changes-before.Changes != 2 {
		t.Fatalf("stats went from %+v to %+v, want 2 changes in one more batch", before, st)
	}
	if !slices.Equal(observed, []int{2}) {
		t.Fatalf("ObserveBatch was told %v, want [2]", observed)
	}
	if _, err := s.Call(bg, "c1"); !errors.Is(err, switchboard.ErrNotFound) {
		t.Fatalf("conflicting change's call: err = %v, want ErrNotFound", err)
	}
	calls, _, err := s.ListCalls(bg, "x", 0, 10)
	if err != nil || len(calls) != 2 || calls[0].ID != "c2" || calls[1].ID != "c0" {
		t.Fatalf("ListCalls(x) = %v, %v; want c2, c0", calls, err)
	}
	log, _ := s.ReadLog(bg, "u", 0, 10)
	if len(log) != 3 || log[1].Event != "c0" || log[2].Event != "c2" || log[2].Seq != 3 {
		t.Fatalf("log of u = %+v, want hold, c0, c2 at seqs 1..3", log)
	}
}

// openHeld opens a store whose writer, once it has committed a change with a log entry named
// "hold", closes hold and waits for release before finishing that batch: changes committed
// meanwhile queue up and form the next batch.
func openHeld(t *testing.T) (s *Store, hold, release chan struct{}) {
	hold, release = make(chan struct{}), make(chan struct{})
	s, _ = openTest(t, Options{Publish: func(entries []switchboard.LogEntry) {
		if entries[0].Event == "hold" {
			close(hold)
			<-release
		}
	}})
	return s, hold, release
}

// TestHeadSurvivesPruneAndReopen: when Prune deletes every log row of a user, its head
// sequence is kept, so after a reopen (no cached heads) numbering continues and LogBounds
// reports nothing retained (R7.2).
func TestHeadSurvivesPruneAndReopen(t *testing.T) {
	s, path := openTest(t, Options{})
	for range 3 {
		if _, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("alice", "e")}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Prune(bg, 2000, 0, 0); err != nil { // every entry was created at 1000
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	if oldest, head, err := s.LogBounds(bg, "alice"); err != nil || oldest != 4 || head != 3 {
		t.Fatalf("LogBounds after prune and reopen = %d, %d, %v; want 4, 3", oldest, head, err)
	}
	seqs, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("alice", "e")}})
	if err != nil || seqs[0] != 4 {
		t.Fatalf("seq after prune and reopen = %v, %v; want 4", seqs, err)
	}
}

// TestPruneInChunks: retention (log R7.2, idempotency records R7.3, ended calls R3.10) deletes
// everything past its cutoffs even when that is several steps of pruneChunk rows, keeps what
// is newer, and keeps each user's head.
func TestPruneInChunks(t *testing.T) {
	s, _ := openTest(t, Options{})
	const old = 2*pruneChunk + 10
	for i := range old {
		c := testCall(fmt.Sprintf("c%05d", i), "alice", fmt.Sprintf("u%d", i%3))
		c.State, c.EndTime = call.Ended, 1000
		e := logEntry(fmt.Sprintf("u%d", i%3), "old")
		idem := &switchboard.IdempotencyRecord{UserID: "alice", Key: fmt.Sprintf("key-%05d", i), CreatedAt: 1000}
		if _, err := s.Commit(bg, switchboard.Change{Calls: []switchboard.CallWrite{{Call: c}}, Log: []switchboard.LogEntry{e},
			Members: []switchboard.Member{{UserID: "alice", CallID: c.ID}}, Idem: idem}); err != nil {
			t.Fatal(err)
		}
	}
	recent := logEntry("u0", "recent")
	recent.CreatedAt = 5000
	if _, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{recent}}); err != nil {
		t.Fatal(err)
	}
	before := s.Stats()
	if err := s.Prune(bg, 2000, 2000, 2000); err != nil {
		t.Fatal(err)
	}
	if steps := s.Stats().Batches - before.Batches; steps != 3 { // nothing else commits meanwhile
		t.Errorf("Prune of %d rows took %d steps, want 3 (steps of %d)", old, steps, pruneChunk)
	}
	for u, want := range map[string][2]int64{"u0": {old/3 + 1, old/3 + 1}, "u1": {old/3 + 1, old / 3}, "u2": {old/3 + 1, old / 3}} {
		if oldest, head, err := s.LogBounds(bg, u); err != nil || oldest != want[0] || head != want[1] {
			t.Errorf("LogBounds(%s) = %d, %d, %v; want %d, %d", u, oldest, head, err, want[0], want[1])
		}
	}
	if calls, _, err := s.ListCalls(bg, "alice", 0, 10); err != nil || len(calls) != 0 {
		t.Errorf("ListCalls(alice) after prune = %d calls, %v; want none", len(calls), err)
	}
	if _, found, err := s.Idempotency(bg, "alice", "key-00000", 0); err != nil || found {
		t.Errorf("idempotency record after prune: found %v, %v; want none", found, err)
	}
}

// A store keeps the calls, the busy table and each user's head sequence in memory (memo.go,
// writer.go), so a second store on the same file, in this process or another, would decide on
// stale copies: Open refuses a file that an open store holds, and Close lets it go.
func TestOpenRefusesAFileInUse(t *testing.T) {
	s, path := openTest(t, Options{})
	second, err := Open(bg, path, Options{})
	if err == nil {
		second.Close()
		s.Close()
		t.Fatal("a second Open of a file in use succeeded")
	}
	if !errors.Is(err, ErrInUse) {
		t.Errorf("second Open: %v, want ErrInUse", err)
	}
	appendLog(t, s, "alice") // the first store still commits
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(bg, path, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	again.Close()
}

// TestMigrateRefusesAReadOnlyFile: a database this process may only read (a file owned by
// another user, a read-only mount) is refused when the store opens (migrate runs in Open),
// not found out by every commit failing while the server accepts connections.
func TestMigrateRefusesAReadOnlyFile(t *testing.T) {
	s, path := openTest(t, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := migrate(bg, conn); err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Fatalf("migrate of a read-only database = %v, want a read-only error", err)
	}
}

// TestBatchBrokenByAFullDatabase: a change that meets a full database (SQLITE_FULL, here from
// max_page_count) makes SQLite roll back the whole transaction, so the changes batched with it
// fail too: each is told the cause, nothing of the batch is applied or published, and the
// memo, the busy records and the sequence numbers go on from what was committed before (R7.1,
// R7.2).
func TestBatchBrokenByAFullDatabase(t *testing.T) {
	var mu sync.Mutex
	var published []string
	hold, release := make(chan struct{}), make(chan struct{})
	s, _ := openTest(t, Options{Publish: func(entries []switchboard.LogEntry) {
		mu.Lock()
		for _, e := range entries {
			published = append(published, fmt.Sprint(e.UserID, e.Seq, e.Event))
		}
		mu.Unlock()
		if entries[0].Event == "hold" {
			close(hold)
			<-release
		}
	}})
	defer s.Close()
	c1 := testCall("c1", "alice", "bob")
	if _, err := s.Commit(bg, switchboard.Change{Calls: []switchboard.CallWrite{{Call: c1}},
		Busy: []switchboard.BusyWrite{{UserID: "alice", CallID: "c1", InCall: true}},
		Log:  []switchboard.LogEntry{logEntry("alice", "a1")}}); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := s.rdb.QueryRowContext(bg, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	execOnWriter(t, s, fmt.Sprintf("PRAGMA max_page_count = %d", pages+8))
	go s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("u", "hold")}})
	<-hold

	ended := c1
	ended.Version, ended.State = 2, call.Ended
	changes := []switchboard.Change{
		{Calls: []switchboard.CallWrite{{Call: ended, PrevVersion: 1}},
			Busy: []switchboard.BusyWrite{{UserID: "alice", CallID: "c1"}},
			Log:  []switchboard.LogEntry{logEntry("alice", "a2"), logEntry("bob", "b1")}},
		{Calls: []switchboard.CallWrite{{Call: testCall("c2", "carol", "dave")}},
			Busy: []switchboard.BusyWrite{{UserID: "carol", CallID: "c2", InCall: true}},
			Log:  []switchboard.LogEntry{{UserID: "alice", Event: "big", Data: jsonText(strings.Repeat("x", 1<<20)), CreatedAt: 1000}}},
		{Log: []switchboard.LogEntry{logEntry("alice", "a3")}},
	}
	errs := make([]error, len(changes))
	var wg sync.WaitGroup
	for i, ch := range changes {
		wg.Go(func() { _, errs[i] = s.Commit(bg, ch) })
		for len(s.queue) != i+1 { // queue them in order
			runtime.Gosched()
		}
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		var se *driver.Error
		if !errors.As(err, &se) || se.Code() != sqlite3.SQLITE_FULL {
			t.Errorf("change %d of the batch: %v, want an error with SQLITE_FULL", i, err)
		}
	}
	mu.Lock()
	if want := []string{"alice1a1", "u1hold"}; !slices.Equal(published, want) {
		t.Errorf("published %v, want %v", published, want)
	}
	mu.Unlock()
	agree(t, s, "c1", "alice", "bob", "carol")
	agree(t, s, "c2", "carol")
	if got, _ := s.Call(bg, "c1"); got.Version != 1 || got.State != call.Started {
		t.Errorf("c1 after the failed batch: version %d, state %v; want 1, Started", got.Version, got.State)
	}
	if busy, _ := s.BusyCall(bg, "alice"); busy != "c1" {
		t.Errorf("alice busy in %q after the failed batch, want c1", busy)
	}

	execOnWriter(t, s, "PRAGMA max_page_count = 1073741823")
	seqs, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("alice", "a2"), logEntry("bob", "b1")}})
	if err != nil || !slices.Equal(seqs, []int64{2, 1}) {
		t.Fatalf("commit after the failed batch = %v, %v; want sequences [2 1]", seqs, err)
	}
	wantLog(t, s, "alice", 0, 10, 1, 2)
}
