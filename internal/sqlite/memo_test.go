package sqlite

import (
	"database/sql"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// storedCall reads a call from the database itself, past the memo.
func storedCall(t *testing.T, s *Store, id string) (call.Call, bool) {
	t.Helper()
	var data []byte
	err := s.rdb.QueryRowContext(bg, `SELECT data FROM calls WHERE id = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return call.Call{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var c call.Call
	if err := c.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	return c, true
}

// storedBusy reads a busy record from the database itself, past the memo.
func storedBusy(t *testing.T, s *Store, user string) string {
	t.Helper()
	var id string
	err := s.rdb.QueryRowContext(bg, `SELECT call_id FROM busy WHERE user_id = ?`, user).Scan(&id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	return id
}

// agree checks that Call and BusyCall answer what the database holds.
func agree(t *testing.T, s *Store, callID string, users ...string) {
	t.Helper()
	want, found := storedCall(t, s, callID)
	got, err := s.Call(bg, callID)
	switch {
	case !found && !errors.Is(err, switchboard.ErrNotFound):
		t.Errorf("Call(%s) = %v, want ErrNotFound", callID, err)
	case found && err != nil:
		t.Errorf("Call(%s): %v", callID, err)
	case found:
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Call(%s) differs from the database (-db +got):\n%s", callID, d)
		}
	}
	for _, u := range users {
		got, err := s.BusyCall(bg, u)
		if err != nil {
			t.Fatalf("BusyCall(%s): %v", u, err)
		}
		if want := storedBusy(t, s, u); got != want {
			t.Errorf("BusyCall(%s) = %q, database %q", u, got, want)
		}
	}
}

// TestMemoFollowsCommits: a Started call committed by the store is answered from memory at
// its committed version, an ended one from the database; busy records, which the busy rule
// (R3.1) reads before every invite and accept, follow every commit; and a change that failed
// leaves both as they were.
func TestMemoFollowsCommits(t *testing.T) {
	s, _ := openTest(t, Options{})
	defer s.Close()
	c := testCall("c1", "alice", "bob")
	commit := func(ch switchboard.Change) error { _, err := s.Commit(bg, ch); return err }

	if err := commit(switchboard.Change{Calls: []switchboard.CallWrite{{Call: c}},
		Busy: []switchboard.BusyWrite{{UserID: "alice", CallID: "c1", InCall: true}}}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.memo.call("c1"); !ok {
		t.Error("a Started call just committed is not in memory")
	}
	agree(t, s, "c1", "alice", "bob")

	// A change that conflicts (stale version) changes nothing, in memory either.
	stale := c
	stale.Version = 5
	stale.Users = append([]call.User(nil), c.Users...)
	stale.Users[1].State = call.Accepted
	err := commit(switchboard.Change{Calls: []switchboard.CallWrite{{Call: stale, PrevVersion: 4}},
		Busy: []switchboard.BusyWrite{{UserID: "bob", CallID: "c1", InCall: true}}})
	if !errors.Is(err, switchboard.ErrConflict) {
		t.Fatalf("stale change: err = %v, want ErrConflict", err)
	}
	agree(t, s, "c1", "alice", "bob")

	next := c
	next.Version = 2
	next.Users = append([]call.User(nil), c.Users...)
	next.Users[1].State = call.Accepted
	if err := commit(switchboard.Change{Calls: []switchboard.CallWrite{{Call: next, PrevVersion: 1}},
		Busy: []switchboard.BusyWrite{{UserID: "bob", CallID: "c1", InCall: true}}}); err != nil {
		t.Fatal(err)
	}
	agree(t, s, "c1", "alice", "bob")

	ended := next
	ended.Version, ended.State, ended.EndTime = 3, call.Ended, 2000
	if err := commit(switchboard.Change{Calls: []switchboard.CallWrite{{Call: ended, PrevVersion: 2}},
		Busy: []switchboard.BusyWrite{{UserID: "alice", CallID: "c1"}, {UserID: "bob", CallID: "c1"}}}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.memo.call("c1"); ok {
		t.Error("an ended call is still in memory")
	}
	agree(t, s, "c1", "alice", "bob")
}

// TestMemoAfterReopen: a reopened store knows the busy records, and reads calls written
// before it opened from the database.
func TestMemoAfterReopen(t *testing.T) {
	s, path := openTest(t, Options{})
	c := testCall("c1", "alice", "bob")
	if _, err := s.Commit(bg, switchboard.Change{Calls: []switchboard.CallWrite{{Call: c}},
		Busy: []switchboard.BusyWrite{{UserID: "alice", CallID: "c1", InCall: true}}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err := Open(bg, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if id, known := s.memo.busyCall("alice"); !known || id != "c1" {
		t.Errorf("busy record of alice after reopening: %q, known %v; want c1", id, known)
	}
	if _, ok, _ := s.memo.call("c1"); ok {
		t.Error("a call written before Open is in memory")
	}
	agree(t, s, "c1", "alice", "bob")
}

// TestMemoForgetsAfterAFailedTransaction: when a transaction ends in an error, what it wrote
// is in doubt; the memo forgets, BusyCall reads the database, and the next batch loads the busy
// records again. Here a change commits behind the writer's back (it deletes a busy record and
// ends the transaction itself), so the writer's own COMMIT path fails.
func TestMemoForgetsAfterAFailedTransaction(t *testing.T) {
	s, _ := openTest(t, Options{})
	defer s.Close()
	if _, err := s.Commit(bg, switchboard.Change{Busy: []switchboard.BusyWrite{{UserID: "zed", CallID: "c1", InCall: true}}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.submit(bg, &request{apply: func(w *writer) ([]int64, error) {
		_, err := w.conn.ExecContext(bg, `DELETE FROM busy WHERE user_id = 'zed'`)
		if err == nil {
			_, err = w.conn.ExecContext(bg, `COMMIT`)
		}
		return nil, err
	}})
	if err == nil {
		t.Fatal("the batch that lost its transaction reported success")
	}
	if s.memo.busyKnown() {
		t.Error("busy records still taken from memory after a failed transaction")
	}
	agree(t, s, "c1", "zed")

	if _, err := s.Commit(bg, switchboard.Change{Busy: []switchboard.BusyWrite{{UserID: "amy", CallID: "c2", InCall: true}}}); err != nil {
		t.Fatal(err)
	}
	if !s.memo.busyKnown() {
		t.Error("busy records not loaded again by the next batch")
	}
	agree(t, s, "c1", "zed", "amy")
}
