package sqlite

import (
	"context"
	"math"
	"testing"

	"github.com/dialtone/dialtone/internal/switchboard"
)

// neverCopy keeps every log row in the tail (logindex.go).
var neverCopy = Options{LogIndexRows: math.MaxInt, LogIndexEvery: math.MaxInt64}

// appendLog commits one change with an entry for each user and returns their sequences.
func appendLog(t *testing.T, s *Store, users ...string) []int64 {
	t.Helper()
	var ch switchboard.Change
	for _, u := range users {
		ch.Log = append(ch.Log, logEntry(u, "e"))
	}
	seqs, err := s.Commit(bg, ch)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return seqs
}

// indexState returns how many entries log_by_user holds and the mark.
func indexState(t *testing.T, s *Store) (entries, mark int64) {
	t.Helper()
	if err := s.rdb.QueryRowContext(bg, `SELECT (SELECT COUNT(*) FROM log_by_user), (SELECT upto FROM log_indexed)`).
		Scan(&entries, &mark); err != nil {
		t.Fatal(err)
	}
	return entries, mark
}

// wantLog checks ReadLog(user, after, limit) against the expected sequences.
func wantLog(t *testing.T, s *Store, user string, after int64, limit int, want ...int64) {
	t.Helper()
	got, err := s.ReadLog(bg, user, after, limit)
	if err != nil {
		t.Fatalf("ReadLog(%s, %d): %v", user, after, err)
	}
	var seqs []int64
	for _, e := range got {
		seqs = append(seqs, e.Seq)
	}
	if len(seqs) != len(want) {
		t.Fatalf("ReadLog(%s, %d, %d) = seqs %v, want %v", user, after, limit, seqs, want)
	}
	for i := range want {
		if seqs[i] != want[i] {
			t.Fatalf("ReadLog(%s, %d, %d) = seqs %v, want %v", user, after, limit, seqs, want)
		}
	}
}

// wantBounds checks LogBounds(user).
func wantBounds(t *testing.T, s *Store, user string, oldest, head int64) {
	t.Helper()
	o, h, err := s.LogBounds(bg, user)
	if err != nil || o != oldest || h != head {
		t.Fatalf("LogBounds(%s) = %d, %d, %v; want %d, %d", user, o, h, err, oldest, head)
	}
}

// TestLogIndexCopiesInBulk: the entries wait in the tail until LogIndexRows rows do, then the
// batch that reaches it copies them all; a user's log reads the same across the mark (R7.2).
func TestLogIndexCopiesInBulk(t *testing.T) {
	s, _ := openTest(t, Options{LogIndexRows: 4, LogIndexEvery: math.MaxInt64})
	defer s.Close()
	for range 3 {
		appendLog(t, s, "alice")
	}
	if n, mark := indexState(t, s); n != 0 || mark != 0 {
		t.Fatalf("after 3 rows: %d index entries, mark %d; want none copied yet", n, mark)
	}
	wantLog(t, s, "alice", 0, 10, 1, 2, 3)
	appendLog(t, s, "alice")
	if n, mark := indexState(t, s); n != 4 || mark != 4 {
		t.Fatalf("after 4 rows: %d index entries, mark %d; want 4, 4", n, mark)
	}
	appendLog(t, s, "alice", "bob")
	wantLog(t, s, "alice", 2, 10, 3, 4, 5)
	wantLog(t, s, "alice", 0, 2, 1, 2)
	wantLog(t, s, "bob", 0, 10, 1)
	wantBounds(t, s, "alice", 1, 5)
	wantBounds(t, s, "bob", 1, 1)
}

// TestLogIndexTailSurvivesReopen: rows left in the tail by a process that stopped before
// copying them are read after Open, sequences continue after them, and the next copy takes
// them (R7.1, R7.2).
func TestLogIndexTailSurvivesReopen(t *testing.T) {
	s, path := openTest(t, neverCopy)
	appendLog(t, s, "alice", "bob")
	appendLog(t, s, "alice")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(bg, path, Options{LogIndexRows: 1, Now: atEpoch})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantBounds(t, s, "alice", 1, 2)
	wantLog(t, s, "alice", 1, 10, 2)
	if seqs := appendLog(t, s, "alice", "bob"); seqs[0] != 3 || seqs[1] != 2 {
		t.Fatalf("sequences after reopen = %v, want [3 2]", seqs)
	}
	if n, _ := indexState(t, s); n != 5 {
		t.Fatalf("%d index entries after the first batch, want all 5 rows", n)
	}
	wantLog(t, s, "alice", 0, 10, 1, 2, 3)
	wantLog(t, s, "bob", 0, 10, 1, 2)
}

// TestLogIndexHeadsAfterAFailedTransaction: a failed transaction leaves the head cache in
// doubt; the next batch loads the heads of the tail again, so numbering continues (R7.2).
func TestLogIndexHeadsAfterAFailedTransaction(t *testing.T) {
	s, _ := openTest(t, neverCopy)
	defer s.Close()
	appendLog(t, s, "alice")
	appendLog(t, s, "alice")
	_, err := s.submit(bg, &request{apply: func(w *writer) ([]int64, error) {
		_, err := w.conn.ExecContext(bg, `COMMIT`) // ends the transaction behind the writer's back
		return nil, err
	}})
	if err == nil {
		t.Fatal("the batch that lost its transaction reported success")
	}
	if seqs := appendLog(t, s, "alice"); seqs[0] != 3 {
		t.Fatalf("sequence after a failed transaction = %d, want 3", seqs[0])
	}
	wantLog(t, s, "alice", 0, 10, 1, 2, 3)
}

// TestLogIndexPruneOfNewestRows: when retention deletes every row, new rows (which SQLite
// numbers from the highest id left) are still past the mark, so they are read and copied
// (R7.2: retention, then resume).
func TestLogIndexPruneOfNewestRows(t *testing.T) {
	for name, opts := range map[string]Options{"IndexEachBatch": {LogIndexRows: 1}, "IndexNever": neverCopy} {
		t.Run(name, func(t *testing.T) {
			s, _ := openTest(t, opts)
			defer s.Close()
			for range 3 {
				appendLog(t, s, "alice")
			}
			if err := s.Prune(bg, 2000, 0, 0); err != nil { // the entries were created at 1000
				t.Fatal(err)
			}
			wantBounds(t, s, "alice", 4, 3)
			e := logEntry("alice", "recent")
			e.CreatedAt = 5000
			if seqs, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{e}}); err != nil || seqs[0] != 4 {
				t.Fatalf("Commit after prune = %v, %v; want seq 4", seqs, err)
			}
			wantLog(t, s, "alice", 0, 10, 4)
			wantBounds(t, s, "alice", 4, 4)
		})
	}
}

// execOnWriter runs statements in one transaction of s's writer, to put the file in a state
// an older build left.
func execOnWriter(t *testing.T, s *Store, statements ...string) {
	t.Helper()
	_, err := s.submit(bg, &request{apply: func(w *writer) ([]int64, error) {
		for _, q := range statements {
			if _, err := w.conn.ExecContext(context.Background(), q); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLogIndexMigration: migration 0006 indexes the rows of a log written before it (R7.2).
func TestLogIndexMigration(t *testing.T) {
	s, path := openTest(t, Options{})
	// Put the file back to version 5: the log with its per-user SQL index, two users' rows.
	// Migrations 0007 to 0010 run again too.
	execOnWriter(t, s,
		`ALTER TABLE log DROP COLUMN prev_seq`, `DROP INDEX outbox_call`,
		`DROP INDEX log_data_ref`, `ALTER TABLE log DROP COLUMN data_id`, `DROP TABLE log_data`,
		`DROP TABLE log_by_user`, `DROP TABLE log_indexed`,
		`CREATE UNIQUE INDEX log_user_seq ON log (user_id, seq)`,
		`INSERT INTO log (user_id, seq, target, device_id, event, data, created_at) VALUES
				('alice', 1, 0, '', 'e', x'30', 1000), ('bob', 1, 0, '', 'e', x'30', 1000), ('alice', 2, 0, '', 'e', x'30', 1000)`, // data: JSON 0
		`PRAGMA user_version = 5`)
	s = reopen(t, s, path)
	if n, mark := indexState(t, s); n != 3 || mark != 3 {
		t.Fatalf("after migration: %d index entries, mark %d; want 3, 3", n, mark)
	}
	wantLog(t, s, "alice", 0, 10, 1, 2)
	if seqs := appendLog(t, s, "alice", "bob"); seqs[0] != 3 || seqs[1] != 2 {
		t.Fatalf("sequences after migration = %v, want [3 2]", seqs)
	}
}

// R7.2: a head deleted by Prune while an older entry of the same user stays in the tail (rows
// are pruned by creation time, which may disagree with seq order) is not given out again after
// the head cache is reloaded (at Open, or after a failed transaction).
func TestHeadSurvivesPruneOfTheNewestEntry(t *testing.T) {
	s, path := openTest(t, Options{})
	for _, at := range []int64{2000, 1000} { // seq 1 created at 2000, seq 2 at 1000
		e := logEntry("u", "e")
		e.CreatedAt = at
		if _, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{e}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Prune(bg, 1500, 0, 0); err != nil { // deletes seq 2, keeps seq 1
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	seqs, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("u", "new")}})
	if err != nil || len(seqs) != 1 || seqs[0] != 3 {
		t.Fatalf("seq after the prune and a reopen = %v, %v; want [3]", seqs, err)
	}
	if _, head, err := s.LogBounds(bg, "u"); err != nil || head != 3 {
		t.Errorf("head = %d, %v; want 3", head, err)
	}
}

// TestMigrationOfHeadsWrittenAtEveryCommit: a database from before Prune alone wrote users
// holds each user's head there, for entries that are still in the log. After migrations 0009
// and 0010 those entries count as retained again, and what retention deleted before them does
// not (R7.2: oldest − 1 is the greatest seq deleted), whether Prune recorded it or not.
func TestMigrationOfHeadsWrittenAtEveryCommit(t *testing.T) {
	for name, opts := range map[string]Options{"IndexEachBatch": {LogIndexRows: 1}, "IndexNever": neverCopy} {
		t.Run(name, func(t *testing.T) {
			s, path := openTest(t, opts)
			appendLog(t, s, "alice", "bob", "dave")
			appendLog(t, s, "alice", "carol")
			e := logEntry("carol", "new")
			e.CreatedAt = 5000
			if _, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{e}}); err != nil {
				t.Fatal(err)
			}
			if err := s.Prune(bg, 2000, 0, 0); err != nil { // leaves carol's seq 2 only
				t.Fatal(err)
			}
			appendLog(t, s, "alice", "bob")
			// What commits wrote there before: each recipient's head.
			execOnWriter(t, s, `INSERT OR REPLACE INTO users (user_id, head_seq) VALUES ('alice', 3), ('bob', 2), ('carol', 2)`,
				`ALTER TABLE log DROP COLUMN prev_seq`, `PRAGMA user_version = 8`)
			s = reopen(t, s, path)
			wantBounds(t, s, "alice", 3, 3)
			wantBounds(t, s, "bob", 2, 2)
			wantBounds(t, s, "carol", 2, 2)
			wantBounds(t, s, "dave", 2, 1) // recorded by Prune
			if seqs := appendLog(t, s, "alice", "bob", "carol"); seqs[0] != 4 || seqs[1] != 3 || seqs[2] != 3 {
				t.Fatalf("sequences after migration = %v, want [4 3 3]", seqs)
			}
		})
	}
}
