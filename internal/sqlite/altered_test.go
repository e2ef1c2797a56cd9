package sqlite

import (
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// alteredStore returns a store holding call c1 of alice and bob, ringing with a deadline, alice
// busy in it, call c0 of dave, which ended at 1000, one log entry of alice, "callUserStateChanged" with JSON data, one idempotency
// record of hers with key "k", a webhook record and a push registration of bob's, whose rows
// then have alter run on them by another connection, as another program writing into the
// file would; and the store's log and path.
func alteredStore(t *testing.T, alter string) (*Store, *syncBuffer, string) {
	t.Helper()
	var logs syncBuffer
	s, path := openTest(t, Options{Now: time.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	t.Cleanup(func() { s.Close() })
	ended := testCall("c0", "dave")
	ended.State, ended.EndTime = call.Ended, 1000
	if _, err := s.Commit(bg, switchboard.Change{
		Calls:   []switchboard.CallWrite{{Call: testCall("c1", "alice", "bob")}, {Call: ended}},
		Members: []switchboard.Member{{UserID: "alice", CallID: "c1"}, {UserID: "bob", CallID: "c1"}, {UserID: "dave", CallID: "c0"}},
		Busy:    []switchboard.BusyWrite{{UserID: "alice", CallID: "c1", InCall: true}},
		Log: []switchboard.LogEntry{{UserID: "alice", Target: call.AllDevices, Event: "callUserStateChanged",
			Data: []byte(`{"callID":"c1"}`), CreatedAt: 1000}},
		Idem:   &switchboard.IdempotencyRecord{UserID: "alice", Key: "k", Fingerprint: "f", Reply: []byte(`{"n":1}`), CreatedAt: 1000},
		Outbox: []switchboard.OutboxRecord{{Kind: switchboard.OutboxWebhook, OrderKey: "c1", Body: []byte(`{}`), CreatedAt: 1000}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPushTarget(bg, switchboard.PushTarget{UserID: "bob", DeviceID: "d", Provider: "fcm", Token: "t"}); err != nil {
		t.Fatal(err)
	}
	raw := rawConn(t, path)
	if _, err := raw.Exec(`PRAGMA busy_timeout = 10000`); err != nil { // the store's writer may hold the lock
		t.Fatal(err)
	}
	if _, err := raw.Exec(alter); err != nil {
		t.Fatal(err)
	}
	return s, &logs, path
}

// wantDamage fails the test unless err, of a read of an altered row, wraps
// switchboard.ErrStorageUnavailable (6000270), and the store is found damaged: Fault says
// "corrupt" (/readyz 503), and an ERROR line of the log names it.
func wantDamage(t *testing.T, what string, err error, s *Store, logs *syncBuffer) {
	t.Helper()
	if !errors.Is(err, switchboard.ErrStorageUnavailable) {
		t.Fatalf("%s: %v, want switchboard.ErrStorageUnavailable (6000270)", what, err)
	}
	var wf *WriteFault
	if !errors.As(s.Fault(), &wf) || wf.Reason != reasonCorrupt {
		t.Errorf("Fault after %s: %v, want the reason corrupt", what, s.Fault())
	}
	if got := logs.lines("reason=corrupt"); len(got) != 1 {
		t.Errorf("logged %q after %s, want one ERROR line with reason=corrupt", got, what)
	}
}

// A log entry whose row was altered behind the store's back (another program writing into the
// file, a disk damaging a row's payload, which carries no checksum) into what the store never
// writes is damage, as a stored call that does not decode is: ReadLog fails with
// switchboard.ErrStorageUnavailable and the store is found damaged, rather than a device
// catching up (R7.2) being sent data that is no JSON, or an event name that breaks its frame
// (docs/operations.md "When the disk fills": damaged pages).
func TestStoredLogEntryThatDoesNotDecodeIsDamage(t *testing.T) {
	for name, alter := range map[string]string{
		"DataNotJSON":        `UPDATE log SET data = x'7BA5A5'`,
		"DataOfAnotherType":  `UPDATE log SET data = 5`,
		"DataEmpty":          `UPDATE log SET data = x''`,
		"SharedDataEmpty":    `INSERT INTO log_data (id, data) VALUES (1, x''); UPDATE log SET data = x'', data_id = 1`,
		"EventNotAName":      `UPDATE log SET event = 'x"}'`,
		"EventOfAnotherType": `UPDATE log SET event = x'A5'`,
		"UnknownTarget":      `UPDATE log SET target = 7`,
		"TimeNotANumber":     `UPDATE log SET created_at = 'soon'`,
		"SharedDataNotJSON":  `INSERT INTO log_data (id, data) VALUES (1, x'A5'); UPDATE log SET data = x'', data_id = 1`,
		"SharedDataMissing":  `UPDATE log SET data = x'', data_id = 99`,
	} {
		t.Run(name, func(t *testing.T) {
			s, logs, _ := alteredStore(t, alter)
			entries, err := s.ReadLog(bg, "alice", 0, 10)
			if err == nil {
				t.Fatalf("ReadLog of an altered row = %+v, want switchboard.ErrStorageUnavailable (6000270)", entries)
			}
			wantDamage(t, "ReadLog of an altered row", err, s, logs)
		})
	}
}

// An idempotency record altered behind the store's back into what the store never writes is
// damage: Idempotency fails with switchboard.ErrStorageUnavailable and the store is found
// damaged, rather than a repeat (R7.3) being answered from bytes that are no reply.
func TestStoredIdempotencyRecordThatDoesNotDecodeIsDamage(t *testing.T) {
	for name, alter := range map[string]string{
		"ReplyNotJSON":             `UPDATE idem SET reply = x'7BA5A5'`,
		"ReplyOfAnotherType":       `UPDATE idem SET reply = 5`,
		"FingerprintOfAnotherType": `UPDATE idem SET fingerprint = x'A5'`,
		"TimeNotANumber":           `UPDATE idem SET created_at = 'soon'`,
	} {
		t.Run(name, func(t *testing.T) {
			s, logs, _ := alteredStore(t, alter)
			rec, found, err := s.Idempotency(bg, "alice", "k", 0)
			if err == nil {
				t.Fatalf("Idempotency of an altered row = %+v, %v; want switchboard.ErrStorageUnavailable (6000270)", rec, found)
			}
			wantDamage(t, "Idempotency of an altered row", err, s, logs)
		})
	}
}

// Any row the store reads back, by a query or by the writer, holding a value of another type
// than its column's (which the store never writes, and database/sql would convert where it
// can) is damage: the read or the change fails with switchboard.ErrStorageUnavailable and the
// store is found damaged (/readyz 503), rather than the read failing with an error that tells
// nothing, the outbox stalling on it with an ERROR a second, or every change failing while the
// store says it is writable (docs/operations.md "When the disk fills": damaged pages).
func TestAlteredRowsOfEveryReadAreDamage(t *testing.T) {
	for name, tc := range map[string]struct {
		alter string
		read  func(s *Store, reopen func() *Store) (*Store, error) // reopen closes s and opens its file again
	}{
		"CallOfAnotherID": {copyOfC1 + `;`, func(s *Store, _ func() *Store) (*Store, error) {
			_, err := s.Call(bg, "c2")
			return s, err
		}},
		"ListedCallOfAnotherID": {copyOfC1 + `; INSERT INTO members (user_id, call_id) VALUES ('carol', 'c2')`,
			func(s *Store, _ func() *Store) (*Store, error) {
				_, _, err := s.ListCalls(bg, "carol", 0, 10)
				return s, err
			}},
		"RingingCallOfAnotherID": {copyOfC1 + `; INSERT INTO members (user_id, call_id) VALUES ('carol', 'c2')`,
			func(s *Store, _ func() *Store) (*Store, error) {
				_, _, err := s.RingingCalls(bg, "carol")
				return s, err
			}},
		// A call's row copies its version, state and end out of its data, for the version
		// check and the indexed queries (DueCalls, RingingCalls, retention): a copy that
		// disagrees with the data would hide a ringing call from them, or a call from retention.
		"CallStateColumn": {`UPDATE calls SET state = 0 WHERE id = 'c1'`, func(_ *Store, reopen func() *Store) (*Store, error) {
			s := reopen() // c1 was written by this store, which remembers it
			_, err := s.Call(bg, "c1")
			return s, err
		}},
		"EndedCallStateColumn": {`UPDATE calls SET state = 1 WHERE id = 'c0'`, func(s *Store, _ func() *Store) (*Store, error) {
			_, err := s.Call(bg, "c0")
			return s, err
		}},
		"ListedCallStateColumn": {`UPDATE calls SET state = 2 WHERE id = 'c1'`, func(s *Store, _ func() *Store) (*Store, error) {
			_, _, err := s.ListCalls(bg, "alice", 0, 10)
			return s, err
		}},
		"ListedCallEndColumn": {`UPDATE calls SET ended_at = 5 WHERE id = 'c0'`, func(s *Store, _ func() *Store) (*Store, error) {
			_, _, err := s.ListCalls(bg, "dave", 0, 10)
			return s, err
		}},
		"RingingCallVersionColumn": {`UPDATE calls SET version = version + 1 WHERE id = 'c1'`, func(s *Store, _ func() *Store) (*Store, error) {
			_, _, err := s.RingingCalls(bg, "bob")
			return s, err
		}},
		"BusyRecords": {`UPDATE busy SET call_id = x'A5'`, func(s *Store, _ func() *Store) (*Store, error) {
			_, err := s.BusyRecords(bg)
			return s, err
		}},
		"DueCalls": {`UPDATE calls SET due_at = 'soon'`, func(s *Store, _ func() *Store) (*Store, error) {
			_, err := s.DueCalls(bg)
			return s, err
		}},
		"LogBounds": {`INSERT INTO users (user_id, head_seq) VALUES ('alice', 'x')`, func(s *Store, _ func() *Store) (*Store, error) {
			_, _, err := s.LogBounds(bg, "alice")
			return s, err
		}},
		"RingingCalls": {`INSERT INTO users (user_id, head_seq) VALUES ('bob', 'x')`, func(s *Store, _ func() *Store) (*Store, error) {
			_, _, err := s.RingingCalls(bg, "bob")
			return s, err
		}},
		"OutboxHeads": {`UPDATE outbox SET created_at = 'soon'`, func(s *Store, _ func() *Store) (*Store, error) {
			_, err := s.OutboxHeads(bg, switchboard.OutboxWebhook, 0, 10)
			return s, err
		}},
		"PushTargets": {`UPDATE push_targets SET voip = 'yes'`, func(s *Store, _ func() *Store) (*Store, error) {
			_, err := s.PushTargets(bg, "bob")
			return s, err
		}},
		"HeadsOfTheLogsTail": {`UPDATE log SET seq = 'x'`, func(_ *Store, reopen func() *Store) (*Store, error) {
			s := reopen() // the writer reads the heads of the log's tail first
			_, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("carol", "e")}})
			return s, err
		}},
	} {
		t.Run(name, func(t *testing.T) {
			s, logs, path := alteredStore(t, tc.alter)
			s, err := tc.read(s, func() *Store {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s, err := Open(bg, path, Options{Now: time.Now, Logger: slog.New(slog.NewTextHandler(logs, nil))})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
			wantDamage(t, "a read of an altered row", err, s, logs)
		})
	}
}

// copyOfC1 stores the data of call c1 (alteredStore's) as that of a call c2.
const copyOfC1 = `INSERT INTO calls (id, version, state, due_at, ended_at, data)
	SELECT 'c2', version, state, due_at, ended_at, data FROM calls WHERE id = 'c1'`

// Retention deletes by age (R3.10, R7.2, R7.3) and SQLite orders a value of another type than
// a number (text, a blob) after every number, as it does a real past the greatest integer: a
// date altered into one is never older than a cutoff. Prune finds such dates where retention
// looks for old rows, a log entry's, an idempotency record's (whose key would stay taken) and
// an ended call's (which no read takes, so the call would be listed for good), and reports
// them as damage, as a read meeting them would (docs/operations.md "When the disk fills").
func TestPruneFindsDatesAlteredOutOfNumbers(t *testing.T) {
	for name, alter := range map[string]string{
		"LogEntryText":     `UPDATE log SET created_at = 'soon'`,
		"LogEntryHugeReal": `UPDATE log SET created_at = 1e300`,
		"IdempotencyText":  `UPDATE idem SET created_at = 'soon'`,
		"IdempotencyBlob":  `UPDATE idem SET created_at = x'A5'`,
		"EndedCallText":    `UPDATE calls SET ended_at = 'soon' WHERE id = 'c0'`,
		"EndedCallBlob":    `UPDATE calls SET ended_at = x'A5' WHERE id = 'c0'`,
	} {
		t.Run(name, func(t *testing.T) {
			s, logs, _ := alteredStore(t, alter)
			err := s.Prune(bg, math.MaxInt64, math.MaxInt64, math.MaxInt64)
			wantDamage(t, "Prune of an altered row", err, s, logs)
			left := countRows(t, s, "log") + countRows(t, s, "idem") + countRows(t, s, "calls")
			if left != 2 {
				t.Errorf("rows left after Prune = %d, want 2: the altered one and the ringing call c1", left)
			}
		})
	}
}

// Prune looks for undated rows on every run (TestPruneFindsDatesAlteredOutOfNumbers): each of
// its queries is one seek through an index, not a scan of a table or of a whole index.
func TestUndatedRowsAreFoundBySeeks(t *testing.T) {
	s, _ := openTest(t, Options{})
	defer s.Close()
	for _, u := range undatedRows {
		rows, err := s.rdb.QueryContext(bg, "EXPLAIN QUERY PLAN "+u.query)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int64
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if len(plan) != 1 || !strings.HasPrefix(plan[0], "SEARCH ") || !strings.Contains(plan[0], "INDEX") {
			t.Errorf("plan of the %s's query = %q, want one SEARCH through an index", u.what, plan)
		}
	}
}
