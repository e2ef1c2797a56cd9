package sqlite

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// alteredStore returns a store holding one log entry of alice, "callUserStateChanged" with JSON
// data, and one idempotency record of hers with key "k", whose rows then have alter run on them
// by another connection, as another program writing into the file would; and the store's log.
func alteredStore(t *testing.T, alter string) (*Store, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	s, path := openTest(t, Options{Now: time.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	t.Cleanup(func() { s.Close() })
	if _, err := s.Commit(bg, switchboard.Change{
		Log: []switchboard.LogEntry{{UserID: "alice", Target: call.AllDevices, Event: "callUserStateChanged",
			Data: []byte(`{"callID":"c1"}`), CreatedAt: 1000}},
		Idem: &switchboard.IdempotencyRecord{UserID: "alice", Key: "k", Fingerprint: "f", Reply: []byte(`{"n":1}`), CreatedAt: 1000},
	}); err != nil {
		t.Fatal(err)
	}
	raw := rawConn(t, path)
	if _, err := raw.Exec(`PRAGMA busy_timeout = 10000`); err != nil { // the store's writer may hold the lock
		t.Fatal(err)
	}
	if _, err := raw.Exec(alter); err != nil {
		t.Fatal(err)
	}
	return s, &logs
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
		"EventNotAName":      `UPDATE log SET event = 'x"}'`,
		"EventOfAnotherType": `UPDATE log SET event = x'A5'`,
		"UnknownTarget":      `UPDATE log SET target = 7`,
		"TimeNotANumber":     `UPDATE log SET created_at = 'soon'`,
		"SharedDataNotJSON":  `INSERT INTO log_data (id, data) VALUES (1, x'A5'); UPDATE log SET data = x'', data_id = 1`,
	} {
		t.Run(name, func(t *testing.T) {
			s, logs := alteredStore(t, alter)
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
			s, logs := alteredStore(t, alter)
			rec, found, err := s.Idempotency(bg, "alice", "k", 0)
			if err == nil {
				t.Fatalf("Idempotency of an altered row = %+v, %v; want switchboard.ErrStorageUnavailable (6000270)", rec, found)
			}
			wantDamage(t, "Idempotency of an altered row", err, s, logs)
		})
	}
}
