package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dialtone/dialtone/internal/switchboard"
)

// olderDatabase makes a database file as a binary with the first version migrations left it,
// holding what such a binary wrote: a Started call with its members and a busy record, an
// idempotency record, two users' logs, and (from version 2) an outbox record and a push
// target. Before migration 0009 every commit also wrote each recipient's head to users.
func olderDatabase(t *testing.T, version int) string {
	t.Helper()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dialtone.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := testCall("c1", "alice", "bob")
	data, _ := c.AppendBinary(nil)
	statements := []string{}
	for _, m := range ms[:version] {
		statements = append(statements, m.sql)
	}
	statements = append(statements,
		`INSERT INTO members (user_id, call_id) VALUES ('alice', 'c1'), ('bob', 'c1')`,
		`INSERT INTO busy (user_id, call_id) VALUES ('alice', 'c1')`,
		`INSERT INTO idem (user_id, key, fingerprint, reply, created_at) VALUES ('alice', 'k', 'f', CAST('"r"' AS BLOB), 1000)`,
		`INSERT INTO log (user_id, seq, target, device_id, event, data, created_at) VALUES
			('alice', 1, 0, '', 'a1', CAST('"a"' AS BLOB), 1000), ('bob', 1, 0, '', 'b1', CAST('"b"' AS BLOB), 1000),
			('alice', 2, 0, '', 'a2', CAST('"c"' AS BLOB), 1000)`)
	if version < 9 {
		statements = append(statements, `INSERT INTO users (user_id, head_seq) VALUES ('alice', 2), ('bob', 1)`)
	}
	if version >= 2 {
		statements = append(statements,
			`INSERT INTO outbox (kind, call_id, body, created_at) VALUES ('webhook', 'c1', x'7b7d', 1000)`,
			`INSERT INTO push_targets (provider, token, user_id, device_id, voip, bundle_id) VALUES ('fcm', 't', 'bob', 'd', 0, '')`)
	}
	statements = append(statements, fmt.Sprintf("PRAGMA user_version = %d", version))
	for _, q := range statements {
		if _, err := db.ExecContext(bg, q); err != nil {
			t.Fatalf("version %d: %s: %v", version, q, err)
		}
	}
	if _, err := db.ExecContext(bg, `INSERT INTO calls (id, version, state, due_at, ended_at, data) VALUES ('c1', 1, 1, 31000, 0, ?)`, data); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMigrationFromEachOlderVersion: a database any earlier release made opens, and what it
// held reads as before: the call, its members and busy record, the idempotency record (R7.3),
// each user's log and bounds, and the sequences go on from each head (R7.2).
func TestMigrationFromEachOlderVersion(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for version := 1; version < len(ms); version++ {
		t.Run(ms[version-1].name, func(t *testing.T) {
			s, err := Open(bg, olderDatabase(t, version), Options{Now: atEpoch})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			agree(t, s, "c1", "alice", "bob")
			if got, err := s.Call(bg, "c1"); err != nil || got.Version != 1 {
				t.Errorf("Call(c1) = version %d, %v; want version 1", got.Version, err)
			}
			if busy, _ := s.BusyCall(bg, "alice"); busy != "c1" {
				t.Errorf("alice busy in %q, want c1", busy)
			}
			if calls, next, err := s.ListCalls(bg, "bob", 0, 10); err != nil || len(calls) != 1 || next != 0 {
				t.Errorf("ListCalls(bob) = %d calls, next %d, %v; want the one call", len(calls), next, err)
			}
			if rec, ok, err := s.Idempotency(bg, "alice", "k", 1000); err != nil || !ok || string(rec.Reply) != `"r"` {
				t.Errorf("idempotency record = %+v, %v, %v; want the stored one", rec, ok, err)
			}
			log, err := s.ReadLog(bg, "alice", 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			want := []switchboard.LogEntry{
				{UserID: "alice", Seq: 1, Event: "a1", Data: jsonText("a"), CreatedAt: 1000},
				{UserID: "alice", Seq: 2, Prev: 1, Event: "a2", Data: jsonText("c"), CreatedAt: 1000},
			}
			if d := cmp.Diff(want, log); d != "" {
				t.Errorf("alice's log (-want +got):\n%s", d)
			}
			wantBounds(t, s, "alice", 1, 2)
			wantBounds(t, s, "bob", 1, 1)
			if seqs := appendLog(t, s, "alice", "bob", "carol"); seqs[0] != 3 || seqs[1] != 2 || seqs[2] != 1 {
				t.Errorf("sequences after the migration = %v, want [3 2 1]", seqs)
			}
			if version >= 2 {
				if recs, err := s.OutboxHeads(bg, switchboard.OutboxWebhook, 0, 10); err != nil || len(recs) != 1 {
					t.Errorf("outbox = %v, %v; want the stored record", recs, err)
				}
				if ts, err := s.PushTargets(bg, "bob"); err != nil || len(ts) != 1 {
					t.Errorf("push targets of bob = %v, %v; want the stored one", ts, err)
				}
			}
		})
	}
}
