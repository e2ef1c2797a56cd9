package sqlite

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/internal/switchboard"
)

// fanOut is one change's entries: event data sent to each of users.
func fanOut(data []byte, createdAt int64, users ...string) []switchboard.LogEntry {
	var out []switchboard.LogEntry
	for _, u := range users {
		out = append(out, switchboard.LogEntry{UserID: u, Event: "callUserStateChanged", Data: data, CreatedAt: createdAt})
	}
	return out
}

// sharedRows returns how many log_data rows there are and how many log rows name one.
func sharedRows(t *testing.T, s *Store) (data, naming int64) {
	t.Helper()
	if err := s.rdb.QueryRowContext(bg, `SELECT (SELECT COUNT(*) FROM log_data), (SELECT COUNT(*) FROM log WHERE data_id > 0)`).
		Scan(&data, &naming); err != nil {
		t.Fatal(err)
	}
	return data, naming
}

// wantData checks that user's entry seq carries data (R7.2: the event as it was sent).
func wantData(t *testing.T, s *Store, user string, seq int64, data []byte) {
	t.Helper()
	got, err := s.ReadLog(bg, user, seq-1, 1)
	if err != nil || len(got) != 1 || got[0].Seq != seq || !bytes.Equal(got[0].Data, data) {
		t.Fatalf("ReadLog(%s) entry %d = %v, %v; want %d bytes", user, seq, got, err, len(data))
	}
}

// TestLogDataStoredOnce: data that three or more recipients of one change share is stored
// once and read back whole by each; two recipients, or small data, keep their own copies
// (R7.2).
func TestLogDataStoredOnce(t *testing.T) {
	for name, opts := range map[string]Options{"IndexEachBatch": {LogIndexRows: 1}, "IndexNever": neverCopy} {
		t.Run(name, func(t *testing.T) {
			s, _ := openTest(t, opts)
			defer s.Close()
			big, other, small := jsonText(strings.Repeat("a", 1000)), jsonText(strings.Repeat("b", 1000)), jsonText("small")
			var ch switchboard.Change
			ch.Log = append(ch.Log, fanOut(big, 1000, "u1", "u2", "u3", "u4")...) // shared
			ch.Log = append(ch.Log, fanOut(other, 1000, "u1", "u2")...)           // two copies
			ch.Log = append(ch.Log, fanOut(small, 1000, "u1", "u2", "u3")...)     // small: copies
			if _, err := s.Commit(bg, ch); err != nil {
				t.Fatal(err)
			}
			if data, naming := sharedRows(t, s); data != 1 || naming != 4 {
				t.Fatalf("%d shared data rows named by %d log rows, want 1 named by 4", data, naming)
			}
			for _, u := range []string{"u1", "u2", "u3", "u4"} {
				wantData(t, s, u, 1, big)
			}
			wantData(t, s, "u2", 2, other)
			wantData(t, s, "u3", 2, small)
		})
	}
}

// TestLogDataPruned: retention deletes shared data once no retained entry names it, and keeps
// the data of the entries it keeps (R7.2).
func TestLogDataPruned(t *testing.T) {
	s, _ := openTest(t, Options{})
	defer s.Close()
	users := []string{"u1", "u2", "u3"}
	for i, at := range []int64{1000, 1000, 5000} {
		data := jsonText(strings.Repeat(fmt.Sprint(i), 500))
		if _, err := s.Commit(bg, switchboard.Change{Log: fanOut(data, at, users...)}); err != nil {
			t.Fatal(err)
		}
	}
	if data, _ := sharedRows(t, s); data != 3 {
		t.Fatalf("%d shared data rows before prune, want 3", data)
	}
	if err := s.Prune(bg, 2000, 0, 0); err != nil {
		t.Fatal(err)
	}
	if data, naming := sharedRows(t, s); data != 1 || naming != 3 {
		t.Fatalf("after prune: %d shared data rows named by %d log rows, want 1 named by 3", data, naming)
	}
	for _, u := range users {
		wantData(t, s, u, 3, jsonText(strings.Repeat("2", 500)))
	}
	if err := s.Prune(bg, 6000, 0, 0); err != nil {
		t.Fatal(err)
	}
	if data, _ := sharedRows(t, s); data != 0 {
		t.Fatalf("%d shared data rows once every entry is pruned, want 0", data)
	}
}
