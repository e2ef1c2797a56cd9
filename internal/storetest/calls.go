package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// fullCall sets every field of call.Call and call.User to a non-zero value, one user with an
// InvitePush and one without, and text that needs escaping in any encoding.
func fullCall() call.Call {
	return call.Call{
		ID: "call-full", Mode: call.Advanced, Caller: "alice", ExtendedData: "{\"x\":\"é\\n\x00\"}",
		CreateTime: 1_700_000_000_123, EndTime: 1_700_000_100_456, State: call.Ended, Version: 7,
		EnableNotReceivedCheck: true, Answered: true,
		Users: []call.User{{
			ID: "alice", State: call.Quit, ExtendedData: "bye", AcceptTime: 1_700_000_000_123,
			UpdateTime: 1_700_000_100_456, MainDevice: "phone-1", InviteTimeout: -1,
		}, {
			ID: "bob", State: call.Received, Inviter: "alice", ExtendedData: "", InviteData: "ring ☎",
			InvitePush:    &call.PushConfig{Title: "t", Content: "c", Payload: "p", ResourcesID: "r"},
			InviteTimeout: 60, Deadline: 1_700_000_060_000, CheckAt: 1_700_000_005_000,
			UpdateTime: 1_700_000_001_000, MainDevice: "",
		}, {
			ID: "carol", State: call.BeCancelled, Inviter: "bob", InviteData: "x",
			InvitePush: &call.PushConfig{}, InviteTimeout: 1, UpdateTime: 5,
		}},
	}
}

func testCallRoundTrip(t *testing.T, e *env) {
	c := fullCall()
	e.commit(create(c))
	if d := diff(c, e.call(c.ID)); d != "" {
		t.Fatalf("Call after create (-want +got):\n%s", d)
	}

	next := c.Clone()
	next.Version++
	next.Users[1].InvitePush = nil
	next.Users[2].InvitePush.Title = "changed"
	next.Users = append(next.Users, call.User{ID: "dave", State: call.NotYetReceived})
	next.ExtendedData = ""
	next.EnableNotReceivedCheck = false
	e.commit(switchboard.Change{Calls: []switchboard.CallWrite{{Call: next, PrevVersion: c.Version}}})
	if d := diff(next, e.call(c.ID)); d != "" {
		t.Fatalf("Call after update (-want +got):\n%s", d)
	}

	empty := call.Call{ID: "call-empty", State: call.Started, Version: 1}
	e.commit(create(empty))
	if d := diff(empty, e.call(empty.ID)); d != "" {
		t.Fatalf("Call with no users (-want +got):\n%s", d)
	}
}

func testCallNotFound(t *testing.T, e *env) {
	if _, err := e.s.Call(ctx, "nope"); !errors.Is(err, switchboard.ErrNotFound) {
		t.Fatalf("Call(nope): err = %v, want ErrNotFound", err)
	}
}

// everything returns a change that writes to every table, so a test can check that a failed
// change wrote none of it.
func everything(c call.Call, prevVersion int64) switchboard.Change {
	ch := switchboard.Change{
		Calls:   []switchboard.CallWrite{{Call: c, PrevVersion: prevVersion}},
		Members: []switchboard.Member{{UserID: "zed", CallID: c.ID}},
		Busy:    []switchboard.BusyWrite{setBusy("zed", c.ID)},
		Log:     []switchboard.LogEntry{entry("zed", "e", 10), entry("alice", "e", 10)},
		Idem:    &switchboard.IdempotencyRecord{UserID: "zed", Key: "k", Fingerprint: "f", Reply: []byte(`"r"`), CreatedAt: 10},
		Outbox:  []switchboard.OutboxRecord{{Kind: switchboard.OutboxWebhook, OrderKey: c.ID, Body: []byte("{}"), CreatedAt: 10}},
	}
	return ch
}

// checkNothingOf checks that no part of everything(c, …) was applied: zed's busy record is
// still zedBusy.
func checkNothingOf(t *testing.T, e *env, zedBusy string) {
	t.Helper()
	if b := e.busy("zed"); b != zedBusy {
		t.Errorf("busy record of zed = %q after a failed change, want %q", b, zedBusy)
	}
	for _, u := range []string{"zed", "alice"} {
		if _, head := e.bounds(u); head != 0 {
			t.Errorf("head of %s = %d after a failed change", u, head)
		}
	}
	if _, ok, err := e.s.Idempotency(ctx, "zed", "k", 0); err != nil || ok {
		t.Errorf("Idempotency after a failed change: ok %v err %v", ok, err)
	}
	if calls, _ := e.list("zed", 0, 10); len(calls) != 0 {
		t.Errorf("ListCalls(zed) = %v after a failed change", ids(calls))
	}
	if recs := e.outboxHeads(switchboard.OutboxWebhook, 0, 10); len(recs) != 0 {
		t.Errorf("outbox = %v after a failed change", recs)
	}
}

func testVersionConflict(t *testing.T, e *env) {
	c := newCall("c1", 1000, "alice", "bob")
	e.commit(create(c))
	stale := c.Clone()
	stale.Version = 3
	stale.ExtendedData = "stale"
	e.conflict(everything(stale, 2))
	checkNothingOf(t, e, "")
	if d := diff(c, e.call(c.ID)); d != "" {
		t.Fatalf("call changed by a conflicting write (-want +got):\n%s", d)
	}
	// The right version applies, and a second writer of the same version then conflicts.
	e.commit(update(c))
	e.conflict(update(c))
	if v := e.call(c.ID).Version; v != 2 {
		t.Fatalf("version = %d, want 2", v)
	}
	// Updating a call that does not exist conflicts too.
	e.conflict(update(newCall("ghost", 1, "x")))
}

func testNewCallExists(t *testing.T, e *env) {
	c := newCall("c1", 1000, "alice", "bob")
	e.commit(create(c))
	again := newCall("c1", 2000, "alice", "carol")
	again.ExtendedData = "second"
	e.conflict(everything(again, 0))
	checkNothingOf(t, e, "")
	if d := diff(c, e.call(c.ID)); d != "" {
		t.Fatalf("call replaced by a second create (-want +got):\n%s", d)
	}
}

func testCancelledContext(t *testing.T, e *env) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.s.Commit(cctx, everything(newCall("c1", 1, "alice"), 0)); err == nil {
		t.Fatal("Commit with a cancelled context succeeded")
	}
	if _, err := e.s.Call(ctx, "c1"); !errors.Is(err, switchboard.ErrNotFound) {
		t.Fatalf("Call after a cancelled Commit: err = %v, want ErrNotFound", err)
	}
	checkNothingOf(t, e, "")
}

func testBusy(t *testing.T, e *env) {
	steps := []struct {
		why      string
		writes   []switchboard.BusyWrite
		conflict bool
		want     string // alice's busy call afterwards
	}{
		{"enter", []switchboard.BusyWrite{setBusy("alice", "c1")}, false, "c1"},
		{"enter the same call again", []switchboard.BusyWrite{setBusy("alice", "c1")}, false, "c1"},
		{"enter another call", []switchboard.BusyWrite{setBusy("alice", "c2")}, true, "c1"},
		{"clear records one does not have", []switchboard.BusyWrite{clearBusy("alice", "c2"), clearBusy("bob", "c1")}, false, "c1"},
		{"leave", []switchboard.BusyWrite{clearBusy("alice", "c1")}, false, ""},
		{"enter another call after leaving", []switchboard.BusyWrite{setBusy("alice", "c2")}, false, "c2"},
		// Glare (R3.3b): one change leaves a call and enters another, in that order.
		{"leave and enter", []switchboard.BusyWrite{clearBusy("alice", "c2"), setBusy("alice", "c3")}, false, "c3"},
		// Writes apply in the order given, so entering before leaving conflicts.
		{"enter and leave", []switchboard.BusyWrite{setBusy("alice", "c4"), clearBusy("alice", "c3")}, true, "c3"},
	}
	if b := e.busy("alice"); b != "" {
		t.Fatalf("busy of a new user = %q", b)
	}
	for _, st := range steps {
		ch := switchboard.Change{Busy: st.writes}
		if st.conflict {
			e.conflict(ch)
		} else {
			e.commit(ch)
		}
		if b := e.busy("alice"); b != st.want {
			t.Fatalf("%s: busy = %q, want %q", st.why, b, st.want)
		}
	}
}

// testClaims checks that a change decided on a user being free of other calls conflicts when
// the user has a record for another call once the change's busy writes are applied.
func testClaims(t *testing.T, e *env) {
	e.commit(switchboard.Change{Busy: []switchboard.BusyWrite{setBusy("alice", "c1")}})
	e.commit(switchboard.Change{Claims: []switchboard.Claim{{UserID: "alice", CallID: "c1"}, {UserID: "bob", CallID: "c2"}}})
	ch := everything(newCall("c2", 1000, "alice", "bob"), 0)
	ch.Claims = []switchboard.Claim{{UserID: "alice", CallID: "c2"}}
	e.conflict(ch)
	if _, err := e.s.Call(ctx, "c2"); !errors.Is(err, switchboard.ErrNotFound) {
		t.Fatalf("Call after a claim conflict: err = %v, want ErrNotFound", err)
	}
	checkNothingOf(t, e, "")
	// Glare (R3.3b): the change leaves c1 before its claim is checked.
	e.commit(switchboard.Change{Busy: []switchboard.BusyWrite{clearBusy("alice", "c1")},
		Claims: []switchboard.Claim{{UserID: "alice", CallID: "c2"}}})
	if b := e.busy("alice"); b != "" {
		t.Fatalf("busy of alice after a claim = %q, want none (a claim writes nothing)", b)
	}
}

func testBusyConflictAppliesNothing(t *testing.T, e *env) {
	e.commit(switchboard.Change{Busy: []switchboard.BusyWrite{setBusy("zed", "other")}})
	e.conflict(everything(newCall("c1", 1000, "alice", "bob"), 0))
	if _, err := e.s.Call(ctx, "c1"); !errors.Is(err, switchboard.ErrNotFound) {
		t.Fatalf("Call after a busy conflict: err = %v, want ErrNotFound", err)
	}
	checkNothingOf(t, e, "other")
}

func testBusyRecords(t *testing.T, e *env) {
	recs, err := e.s.BusyRecords(ctx)
	if err != nil || len(recs) != 0 {
		t.Fatalf("BusyRecords of an empty store = %v, %v", recs, err)
	}
	e.commit(switchboard.Change{Busy: []switchboard.BusyWrite{
		setBusy("alice", "c1"), setBusy("bob", "c1"), setBusy("carol", "c2"), setBusy("dave", "c3"),
	}})
	e.commit(switchboard.Change{Busy: []switchboard.BusyWrite{clearBusy("dave", "c3")}})
	recs, err = e.s.BusyRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []switchboard.BusyWrite{setBusy("alice", "c1"), setBusy("bob", "c1"), setBusy("carol", "c2")}
	slicesSortBusy(recs)
	if d := diff(want, recs); d != "" {
		t.Fatalf("BusyRecords (-want +got):\n%s", d)
	}
}
