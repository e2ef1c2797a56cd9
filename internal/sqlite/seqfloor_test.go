package sqlite

import (
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/switchboard"
)

// openAt opens the store at path with its clock at now.
func openAt(t *testing.T, path string, now time.Time) *Store {
	t.Helper()
	s, err := Open(bg, path, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("Open at %v: %v", now, err)
	}
	return s
}

// commitFor commits one log entry for user and returns its seq.
func commitFor(t *testing.T, s *Store, user string) int64 {
	t.Helper()
	seqs, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry(user, "e")}})
	if err != nil {
		t.Fatal(err)
	}
	return seqs[0]
}

// wantLogLinks checks that user's log holds exactly seqs, each entry naming the one before it
// as its Prev (the first: 0), as a resume reads them (R7.2).
func wantLogLinks(t *testing.T, s *Store, user string, seqs ...int64) {
	t.Helper()
	got, err := s.ReadLog(bg, user, 0, 100)
	if err != nil || len(got) != len(seqs) {
		t.Fatalf("ReadLog(%s) = %+v, %v; want seqs %v", user, got, err, seqs)
	}
	prev := int64(0)
	for i, e := range got {
		if e.Seq != seqs[i] || e.Prev != prev {
			t.Fatalf("ReadLog(%s) entry %d: seq %d after %d, want seq %d after %d", user, i, e.Seq, e.Prev, seqs[i], prev)
		}
		prev = e.Seq
	}
}

// A store's seqs start at its floor, the time of Open in Unix microseconds, and go on by one:
// every seq a start gives is past those of an earlier start, also ones a restored backup lost
// (docs/operations.md), so a device holding one never resumes past events it did not get
// (R7.2). Each entry names the seq it follows, across the jumps.
func TestSeqFloorAtEachStart(t *testing.T) {
	path := t.TempDir() + "/dialtone.db"
	start := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	s := openAt(t, path, start)
	floor := start.UnixMicro()
	if a, b, a2 := commitFor(t, s, "alice"), commitFor(t, s, "bob"), commitFor(t, s, "alice"); a != floor || b != floor || a2 != floor+1 {
		t.Fatalf("seqs of the first run = alice %d, bob %d, alice %d; want %d, %d, %d", a, b, a2, floor, floor, floor+1)
	}
	must(t, s.Close())

	later := start.Add(time.Millisecond)
	s = openAt(t, path, later)
	if a := commitFor(t, s, "alice"); a != later.UnixMicro() {
		t.Fatalf("alice's first seq of the second run = %d, want its floor %d", a, later.UnixMicro())
	}
	if _, head, err := s.LogBounds(bg, "alice"); err != nil || head != later.UnixMicro() {
		t.Fatalf("alice's head = %d, %v; want %d", head, err, later.UnixMicro())
	}
	wantLogLinks(t, s, "alice", floor, floor+1, later.UnixMicro())
	must(t, s.Close())

	// The clock stepped back: the heads win, and seqs still only grow.
	s = openAt(t, path, start.Add(-time.Hour))
	defer s.Close()
	if a, b := commitFor(t, s, "alice"), commitFor(t, s, "bob"); a != later.UnixMicro()+1 || b != floor+1 {
		t.Fatalf("seqs after the clock stepped back = alice %d, bob %d; want %d, %d", a, b, later.UnixMicro()+1, floor+1)
	}
	wantLogLinks(t, s, "bob", floor, floor+1)
	if seq := commitFor(t, s, "carol"); seq != start.Add(-time.Hour).UnixMicro() {
		t.Fatalf("a new user's first seq = %d, want the floor %d", seq, start.Add(-time.Hour).UnixMicro())
	}
}

// A seq given, then rolled back with its change, is given again: the floor does not change
// what a failed change gives back (R7.2: no gap within a run).
func TestSeqFloorGivenBackOnConflict(t *testing.T) {
	s := openAt(t, t.TempDir()+"/dialtone.db", time.UnixMicro(5_000_000))
	defer s.Close()
	if _, err := s.Commit(bg, switchboard.Change{Busy: []switchboard.BusyWrite{{UserID: "x", CallID: "a", InCall: true}}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Commit(bg, switchboard.Change{Busy: []switchboard.BusyWrite{{UserID: "x", CallID: "b", InCall: true}},
		Log: []switchboard.LogEntry{logEntry("u", "lost")}})
	if err == nil {
		t.Fatal("the conflicting change committed")
	}
	if seq := commitFor(t, s, "u"); seq != 5_000_000 {
		t.Fatalf("seq after a rolled-back change = %d, want the floor 5000000", seq)
	}
	wantLogLinks(t, s, "u", 5_000_000)
}

// The floor keeps seqs integers of the wire (protocol.MaxInteger, 2^53 − 1), with 2^40 of them
// to spare, whatever the clock says: it is 0 before 1970 and maxFloor from the year 2255 on.
func TestSeqFloorBounds(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.UnixMicro(1_796_598_000_000_000), 1_796_598_000_000_000},
		{time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()},
		{time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), maxFloor},
	} {
		if got := seqFloor(tc.at); got != tc.want {
			t.Errorf("seqFloor(%v) = %d, want %d", tc.at, got, tc.want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
