package sqlite

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// TestPruneStepsBoundedByCallMembers: a Prune step runs on the writer, so it deletes at most
// pruneChunk rows of each kind, also when the ended calls it deletes each list many users
// (up to call.MaxListedUsers member rows and push marks per call), and deletes them all
// (R3.10).
func TestPruneStepsBoundedByCallMembers(t *testing.T) {
	s, _ := openTest(t, Options{})
	const calls, listed = 10, 600
	for i := range calls {
		users := make([]string, listed)
		for j := range users {
			users[j] = fmt.Sprintf("u%03d", j)
		}
		c := testCall(fmt.Sprintf("c%02d", i), users...)
		c.State, c.EndTime = call.Ended, 1000
		ch := switchboard.Change{Calls: []switchboard.CallWrite{{Call: c}}}
		for _, u := range users {
			ch.Members = append(ch.Members, switchboard.Member{UserID: u, CallID: c.ID})
		}
		if _, err := s.Commit(bg, ch); err != nil {
			t.Fatal(err)
		}
		for _, u := range users[:listed/2] {
			if err := s.MarkInvitationPushed(bg, c.ID, u, 1000); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := s.Stats()
	if err := s.Prune(bg, 0, 0, 2000); err != nil {
		t.Fatal(err)
	}
	if steps, least := s.Stats().Batches-before.Batches, int64(calls*listed/pruneChunk); steps < least {
		t.Errorf("Prune of %d calls listing %d users each took %d steps, want at least %d (steps of at most %d rows)",
			calls, listed, steps, least, pruneChunk)
	}
	for _, table := range []string{"calls", "members", "push_marks"} {
		if n := countRows(t, s, table); n != 0 {
			t.Errorf("%s rows after Prune = %d, want 0", table, n)
		}
	}
}

// countRows counts the rows of table.
func countRows(t testing.TB, s *Store, table string) int64 {
	t.Helper()
	var n int64
	if err := s.rdb.QueryRowContext(bg, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// TestManyUsersLeaveMemoryAndDatabaseBounded (R7.2, R7.3, R3.10): a long run in which 200,000
// users (5,000 under the race detector) each make one call (its member rows, busy records,
// log entries and an idempotency record) leaves, once retention ran, none of them behind, and
// a heap that did not grow with the users (the head cache is bounded, the memo holds no ended
// call); each user keeps only its head sequence, which survives the deletion of all its
// entries and a reopen.
func TestManyUsersLeaveMemoryAndDatabaseBounded(t *testing.T) {
	users, perChange := 200_000, 1000
	if raceEnabled {
		users = 5_000 // the run takes tens of minutes under the race detector
	}
	s, path := openTest(t, Options{})
	heapBefore := liveHeap()
	for first := 0; first < users; first += perChange {
		ch := switchboard.Change{Idem: &switchboard.IdempotencyRecord{UserID: "u000000",
			Key: fmt.Sprintf("key-%012d", first), CreatedAt: 1000}}
		for i := first; i < first+perChange; i++ {
			caller, callee := fmt.Sprintf("u%06d", i), fmt.Sprintf("v%06d", i)
			c := testCall(fmt.Sprintf("c%06d", i), caller, callee)
			c.State, c.EndTime = call.Ended, 1000
			ch.Calls = append(ch.Calls, switchboard.CallWrite{Call: c})
			ch.Members = append(ch.Members, switchboard.Member{UserID: caller, CallID: c.ID},
				switchboard.Member{UserID: callee, CallID: c.ID})
			ch.Busy = append(ch.Busy, switchboard.BusyWrite{UserID: caller, CallID: c.ID, InCall: true},
				switchboard.BusyWrite{UserID: caller, CallID: c.ID})
			ch.Log = append(ch.Log, logEntry(caller, "invited"), logEntry(callee, "received"), logEntry(caller, "ended"))
		}
		if _, err := s.Commit(bg, ch); err != nil {
			t.Fatal(err)
		}
	}
	_, headBefore, err := s.LogBounds(bg, "u000000")
	if err != nil || headBefore != 2 {
		t.Fatalf("head of u000000 before retention = %d, %v; want 2", headBefore, err)
	}
	if err := s.Prune(bg, 2000, 2000, 2000); err != nil {
		t.Fatal(err)
	}
	if grown := liveHeap() - heapBefore; grown > 32<<20 {
		t.Errorf("live heap grew by %d MiB over %d users; want at most 32 MiB", grown>>20, users)
	}
	for _, table := range []string{"calls", "members", "busy", "log", "log_by_user", "log_data", "idem", "push_marks"} {
		if n := countRows(t, s, table); n != 0 {
			t.Errorf("%s rows after retention = %d, want 0", table, n)
		}
	}
	if n := countRows(t, s, "users"); n != int64(2*users) {
		t.Errorf("users rows after retention = %d, want one per user (%d)", n, 2*users)
	}
	s = reopen(t, s, path)
	if oldest, head, err := s.LogBounds(bg, "u000000"); err != nil || head != headBefore || oldest != head+1 {
		t.Errorf("LogBounds(u000000) after retention and reopen = %d, %d, %v; want %d, %d (head kept, nothing retained)",
			oldest, head, err, headBefore+1, headBefore)
	}
	if seqs, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("u000000", "e")}}); err != nil || seqs[0] != headBefore+1 {
		t.Errorf("next seq of u000000 = %v, %v; want %d", seqs, err, headBefore+1)
	}
}

// liveHeap returns the bytes of the heap still reachable after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
