package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

func testSequences(t *testing.T, e *env) {
	got := e.commit(switchboard.Change{Log: []switchboard.LogEntry{entry("a", "1", 1), entry("a", "2", 1), entry("b", "3", 1)}})
	if d := diff([]int64{e.seq(1), e.seq(2), e.seq(1)}, got); d != "" {
		t.Fatalf("seqs of the first change (-want +got):\n%s", d)
	}
	got = e.commit(switchboard.Change{Log: []switchboard.LogEntry{entry("b", "4", 2), entry("a", "5", 2), entry("c", "6", 2), entry("b", "7", 2)}})
	if d := diff([]int64{e.seq(2), e.seq(3), e.seq(1), e.seq(3)}, got); d != "" {
		t.Fatalf("seqs of the second change (-want +got):\n%s", d)
	}
	// A change without log entries returns none, and a failed one uses no sequence number.
	if got := e.commit(switchboard.Change{Busy: []switchboard.BusyWrite{setBusy("a", "c1")}}); len(got) != 0 {
		t.Fatalf("seqs of a change without log = %v", got)
	}
	e.conflict(switchboard.Change{Busy: []switchboard.BusyWrite{setBusy("a", "c2")}, Log: []switchboard.LogEntry{entry("a", "x", 3)}})
	got = e.commit(switchboard.Change{Log: []switchboard.LogEntry{entry("a", "8", 3)}})
	if d := diff([]int64{e.seq(4)}, got); d != "" {
		t.Fatalf("seq after a failed change (-want +got):\n%s", d)
	}
	for user, events := range map[string][]string{"a": {"1", "2", "5", "8"}, "b": {"3", "4", "7"}, "c": {"6"}} {
		log := e.readLog(user, 0, 100)
		if d := diff(span(e.seq(1), e.seq(int64(len(events)))), seqsOf(log)); d != "" {
			t.Errorf("seqs of %s's log (-want +got):\n%s", user, d)
		}
		var got []string
		for _, en := range log {
			got = append(got, en.Event)
		}
		if d := diff(events, got); d != "" {
			t.Errorf("events of %s's log (-want +got):\n%s", user, d)
		}
	}
}

// testReadLog: entries read back as committed (R7.2), their data byte for byte. Data is the
// wire's JSON encoding of the event, never empty (switchboard.LogEntry); a store may take other
// bytes read back for damage (the SQLite store does: internal/sqlite checkEntry).
func testReadLog(t *testing.T, e *env) {
	want := []switchboard.LogEntry{
		{UserID: "u", Target: call.AllDevices, Event: "callInvitationReceived", Data: []byte(`{"callID":"c1"}`), CreatedAt: 1_700_000_000_001},
		{UserID: "u", Target: call.OnlyDevice, DeviceID: "phone", Event: "callUserStateChanged", Data: []byte(`["\u0000", 1, "é\n"]`), CreatedAt: 1_700_000_000_002},
		{UserID: "u", Target: call.AllButDevice, DeviceID: "web", Event: "callInvitationEnded", Data: []byte(`{}`), CreatedAt: 1_700_000_000_003},
		{UserID: "u", Target: call.AllDevices, Event: strings.Repeat("x", 300), Data: []byte(`"` + strings.Repeat("y", 5000) + `"`), CreatedAt: 4},
	}
	e.commit(switchboard.Change{Log: slices.Clone(want[:2])})
	e.commit(switchboard.Change{Log: slices.Clone(want[2:])})
	e.commit(switchboard.Change{Log: []switchboard.LogEntry{entry("other", "o", 1)}})
	for i := range want { // each names the seq it follows; the first follows none (0)
		want[i].Seq = e.seq(int64(i + 1))
		if i > 0 {
			want[i].Prev = want[i-1].Seq
		}
	}
	if d := diff(want, e.readLog("u", 0, 100)); d != "" {
		t.Fatalf("ReadLog (-want +got):\n%s", d)
	}
	for _, tc := range []struct {
		after int64
		limit int
		want  []switchboard.LogEntry
	}{
		{0, 1, want[:1]},
		{0, 2, want[:2]},
		{e.seq(0), 2, want[:2]},
		{e.seq(1), 2, want[1:3]},
		{e.seq(2), 10, want[2:]},
		{e.seq(3), 1, want[3:]},
		{e.seq(4), 10, nil},
		{e.seq(99), 10, nil},
	} {
		if d := diff(tc.want, e.readLog("u", tc.after, tc.limit)); d != "" {
			t.Errorf("ReadLog(after %d, limit %d) (-want +got):\n%s", tc.after, tc.limit, d)
		}
	}
	if got := e.readLog("nobody", 0, 10); len(got) != 0 {
		t.Fatalf("ReadLog of a user without log = %v", got)
	}
	if got := e.readLog("u", 0, 0); len(got) != 0 {
		t.Fatalf("ReadLog with limit 0 = %v", got)
	}
}

func testLogBounds(t *testing.T, e *env) {
	check := func(user string, wantOldest, wantHead int64) {
		t.Helper()
		if oldest, head := e.bounds(user); oldest != wantOldest || head != wantHead {
			t.Fatalf("LogBounds(%s) = (%d, %d), want (%d, %d)", user, oldest, head, wantOldest, wantHead)
		}
	}
	check("u", 1, 0)
	e.commit(switchboard.Change{Log: []switchboard.LogEntry{entry("u", "1", 100), entry("u", "2", 200)}})
	e.commit(switchboard.Change{Log: []switchboard.LogEntry{entry("u", "3", 300), entry("v", "1", 100)}})
	check("u", 1, e.seq(3)) // nothing deleted: every entry is retained
	check("v", 1, e.seq(1))

	e.prune(250, 0, 0)
	check("u", e.seq(3), e.seq(3))
	check("v", e.seq(2), e.seq(1)) // nothing retained: oldest = head + 1
	if d := diff([]int64{e.seq(3)}, seqsOf(e.readLog("u", 0, 10))); d != "" {
		t.Fatalf("log after prune (-want +got):\n%s", d)
	}

	e.prune(1000, 0, 0)
	check("u", e.seq(4), e.seq(3)) // the head is kept
	if got := e.commit(switchboard.Change{Log: []switchboard.LogEntry{entry("u", "4", 2000)}}); got[0] != e.seq(4) {
		t.Fatalf("seq after pruning everything = %d, want %d", got[0], e.seq(4))
	}
	check("u", e.seq(4), e.seq(4))
}

// testLogBoundsAfterPruneOutOfSeqOrder: entries are pruned by creation time, which concurrent
// decisions may commit out of seq order, so retention may delete a user's newer entry and keep
// an older one. LogBounds must still describe what a resume can read (R7.2): for every lastSeq
// from oldest - 1 to head, ReadLog returns exactly lastSeq+1 … head, with no gap.
func testLogBoundsAfterPruneOutOfSeqOrder(t *testing.T, e *env) {
	e.commit(switchboard.Change{Log: []switchboard.LogEntry{entry("u", "1", 2000)}})
	e.commit(switchboard.Change{Log: []switchboard.LogEntry{entry("u", "2", 1000)}}) // decided earlier, committed later
	e.commit(switchboard.Change{Log: []switchboard.LogEntry{entry("u", "3", 3000)}})
	e.prune(1500, 0, 0) // deletes seq 2
	oldest, head := e.bounds("u")
	if head != e.seq(3) {
		t.Fatalf("head = %d, want %d", head, e.seq(3))
	}
	for last := oldest - 1; last <= head; last++ {
		if d := diff(span(last+1, head), seqsOf(e.readLog("u", last, 10))); d != "" {
			t.Errorf("LogBounds = (%d, %d); ReadLog after %d (-want +got):\n%s", oldest, head, last, d)
		}
	}
}

// testIdempotencyKeyTaken: a change whose record meets a live record of its key (created at or
// after IdemSince) fails with ErrKeyTaken and applies nothing (R7.3: a repeat changes
// nothing); an expired record is replaced.
func testIdempotencyKeyTaken(t *testing.T, e *env) {
	first := switchboard.IdempotencyRecord{UserID: "zed", Key: "k", Fingerprint: "f", Reply: []byte(`"first"`), CreatedAt: 10}
	e.commit(switchboard.Change{Idem: &first})

	c := newCall("c1", 1, "zed")
	repeat := everything(c, 0)
	repeat.Idem.CreatedAt, repeat.IdemSince = 20, 10
	if _, err := e.s.Commit(ctx, repeat); !errors.Is(err, switchboard.ErrKeyTaken) {
		t.Fatalf("Commit with a live record of the key: err = %v, want ErrKeyTaken", err)
	}
	if b := e.busy("zed"); b != "" {
		t.Errorf("busy record of zed = %q after a repeat, want none", b)
	}
	if _, head := e.bounds("alice"); head != 0 {
		t.Errorf("head of alice = %d after a repeat, want 0", head)
	}
	if _, err := e.s.Call(ctx, "c1"); !errors.Is(err, switchboard.ErrNotFound) {
		t.Errorf("Call(c1) after a repeat: err = %v, want ErrNotFound", err)
	}
	if got, ok, err := e.s.Idempotency(ctx, "zed", "k", 0); err != nil || !ok || string(got.Reply) != `"first"` {
		t.Errorf("record after a repeat: %+v, %v, %v; want the first", got, ok, err)
	}

	// Once the first record expired (created before IdemSince) the key is free again.
	repeat.IdemSince = 11
	e.commit(repeat)
	got, ok, err := e.s.Idempotency(ctx, "zed", "k", 0)
	if err != nil || !ok || got.CreatedAt != 20 || string(got.Reply) != `"r"` {
		t.Errorf("record after reusing an expired key: %+v, %v, %v; want the new one", got, ok, err)
	}
	if b := e.busy("zed"); b != "c1" {
		t.Errorf("busy record of zed = %q after the change, want c1", b)
	}
}

func testIdempotency(t *testing.T, e *env) {
	rec := switchboard.IdempotencyRecord{UserID: "u", Key: "key-1", Fingerprint: "callInvite:bob", Reply: []byte(`{"callID":"c1"}`), CreatedAt: 1000}
	e.commit(switchboard.Change{Idem: &rec})
	e.commit(switchboard.Change{Idem: &switchboard.IdempotencyRecord{UserID: "u", Key: "key-2", Fingerprint: "f2", CreatedAt: 2000}})
	for _, tc := range []struct {
		user, key string
		since     int64
		want      bool
	}{
		{"u", "key-1", 0, true},
		{"u", "key-1", 1000, true},
		{"u", "key-1", 1001, false},
		{"u", "key-3", 0, false},
		{"v", "key-1", 0, false},
	} {
		got, ok, err := e.s.Idempotency(ctx, tc.user, tc.key, tc.since)
		if err != nil {
			t.Fatalf("Idempotency: %v", err)
		}
		if ok != tc.want {
			t.Fatalf("Idempotency(%s, %s, %d) found = %v, want %v", tc.user, tc.key, tc.since, ok, tc.want)
		}
		if ok {
			if d := diff(rec, got); d != "" {
				t.Fatalf("Idempotency record (-want +got):\n%s", d)
			}
		}
	}
	e.prune(0, 1500, 0)
	if _, ok, _ := e.s.Idempotency(ctx, "u", "key-1", 0); ok {
		t.Fatal("record found after pruning it")
	}
	if _, ok, _ := e.s.Idempotency(ctx, "u", "key-2", 0); !ok {
		t.Fatal("newer record pruned")
	}
}
