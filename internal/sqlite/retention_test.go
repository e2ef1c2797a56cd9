package sqlite

import (
	"fmt"
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
