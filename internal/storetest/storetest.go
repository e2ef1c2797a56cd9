// Package storetest is the conformance suite of switchboard.Store: every implementation runs
// Run against a real database: the contract every Store implementation passes (SQLite is the
// only one so far).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// Run runs the whole suite. open returns a fresh, empty store for one subtest; the suite closes
// it (some subtests close it early and check what happens next), so open must not.
func Run(t *testing.T, open func(t *testing.T) switchboard.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"CallRoundTrip", testCallRoundTrip},
		{"CallNotFound", testCallNotFound},
		{"VersionConflict", testVersionConflict},
		{"NewCallExists", testNewCallExists},
		{"CancelledContext", testCancelledContext},
		{"Busy", testBusy},
		{"BusyConflictAppliesNothing", testBusyConflictAppliesNothing},
		{"Claims", testClaims},
		{"BusyRecords", testBusyRecords},
		{"Sequences", testSequences},
		{"ReadLog", testReadLog},
		{"LogBounds", testLogBounds},
		{"LogBoundsAfterPruneOutOfSeqOrder", testLogBoundsAfterPruneOutOfSeqOrder},
		{"Idempotency", testIdempotency},
		{"IdempotencyKeyTaken", testIdempotencyKeyTaken},
		{"ListCallsPaging", testListCallsPaging},
		{"ListCallsEntryOrder", testListCallsEntryOrder},
		{"ListCallsEmpty", testListCallsEmpty},
		{"ListCallsAcrossPrune", testListCallsAcrossPrune},
		{"RingingCalls", testRingingCalls},
		{"DueCalls", testDueCalls},
		{"PruneCalls", testPruneCalls},
		{"ConcurrentCommits", testConcurrentCommits},
		{"ConcurrentBusy", testConcurrentBusy},
		{"ConcurrentVersion", testConcurrentVersion},
		{"ConcurrentIdempotencyKey", testConcurrentIdempotencyKey},
		{"Outbox", testOutbox},
		{"OutboxSupersedes", testOutboxSupersedes},
		{"PushTargets", testPushTargets},
		{"PushMarks", testPushMarks},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{t: t, s: open(t)}
			t.Cleanup(func() {
				if !e.closed {
					if err := e.s.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				}
			})
			e.base = e.commit(switchboard.Change{Log: []switchboard.LogEntry{{UserID: "seq-probe", Event: "probe"}}})[0] - 1
			tc.fn(t, e)
		})
	}
}

// env is one subtest's store with checked helpers.
type env struct {
	t      *testing.T
	s      switchboard.Store
	closed bool
	// base is the seq before a new user's first one. A store may start each user's seqs past
	// any value (at a start of the store they jump past every seq an earlier start gave), the
	// same for every new user while it stays open, and numbers the user's later entries on
	// from there: a new user's nth entry gets base + n. It is learnt from a probe user.
	base int64
}

// seq is the seq of a new user's nth entry (see env.base).
func (e *env) seq(n int64) int64 { return e.base + n }

var ctx = context.Background()

// cmpOpts compares stored values: an empty and a nil slice are the same.
var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

func (e *env) commit(ch switchboard.Change) []int64 {
	e.t.Helper()
	seqs, err := e.s.Commit(ctx, ch)
	if err != nil {
		e.t.Fatalf("Commit: %v", err)
	}
	if len(seqs) != len(ch.Log) {
		e.t.Fatalf("Commit returned %d seqs for %d log entries", len(seqs), len(ch.Log))
	}
	return seqs
}

func (e *env) conflict(ch switchboard.Change) {
	e.t.Helper()
	if _, err := e.s.Commit(ctx, ch); !errors.Is(err, switchboard.ErrConflict) {
		e.t.Fatalf("Commit: err = %v, want ErrConflict", err)
	}
}

func (e *env) call(id string) call.Call {
	e.t.Helper()
	c, err := e.s.Call(ctx, id)
	if err != nil {
		e.t.Fatalf("Call(%s): %v", id, err)
	}
	return c
}

func (e *env) busy(user string) string {
	e.t.Helper()
	id, err := e.s.BusyCall(ctx, user)
	if err != nil {
		e.t.Fatalf("BusyCall(%s): %v", user, err)
	}
	return id
}

func (e *env) bounds(user string) (oldest, head int64) {
	e.t.Helper()
	oldest, head, err := e.s.LogBounds(ctx, user)
	if err != nil {
		e.t.Fatalf("LogBounds(%s): %v", user, err)
	}
	return oldest, head
}

func (e *env) readLog(user string, after int64, limit int) []switchboard.LogEntry {
	e.t.Helper()
	entries, err := e.s.ReadLog(ctx, user, after, limit)
	if err != nil {
		e.t.Fatalf("ReadLog(%s): %v", user, err)
	}
	return entries
}

func (e *env) list(user string, before int64, count int) ([]call.Call, int64) {
	e.t.Helper()
	calls, next, err := e.s.ListCalls(ctx, user, before, count)
	if err != nil {
		e.t.Fatalf("ListCalls(%s, %d, %d): %v", user, before, count, err)
	}
	if next < 0 || next >= 1<<53 {
		e.t.Fatalf("ListCalls next = %d, want 0 ≤ next < 2^53", next)
	}
	return calls, next
}

func (e *env) prune(logBefore, idemBefore, endedBefore int64) {
	e.t.Helper()
	if err := e.s.Prune(ctx, logBefore, idemBefore, endedBefore); err != nil {
		e.t.Fatalf("Prune: %v", err)
	}
}

// newCall returns a Started call at version 1: users[0] the Accepted caller, the others
// Inviting with a ring deadline of 30 s after created.
func newCall(id string, created int64, users ...string) call.Call {
	c := call.Call{ID: id, Mode: call.General, Caller: users[0], CreateTime: created, State: call.Started, Version: 1}
	for i, u := range users {
		cu := call.User{ID: u, State: call.Accepted, AcceptTime: created, UpdateTime: created, MainDevice: "d-" + u}
		if i > 0 {
			cu = call.User{ID: u, State: call.Inviting, Inviter: users[0], InviteTimeout: 30, Deadline: created + 30000, UpdateTime: created}
		}
		c.Users = append(c.Users, cu)
	}
	return c
}

// create is the change that stores c as new, with every user a member.
func create(c call.Call) switchboard.Change {
	ch := switchboard.Change{Calls: []switchboard.CallWrite{{Call: c}}}
	for _, u := range c.Users {
		ch.Members = append(ch.Members, switchboard.Member{UserID: u.ID, CallID: c.ID})
	}
	return ch
}

// update is the change that stores the next version of c.
func update(c call.Call) switchboard.Change {
	prev := c.Version
	c.Version++
	return switchboard.Change{Calls: []switchboard.CallWrite{{Call: c, PrevVersion: prev}}}
}

// entry is a log entry for user created at ms.
func entry(user, event string, ms int64) switchboard.LogEntry {
	return switchboard.LogEntry{UserID: user, Target: call.AllDevices, Event: event, Data: []byte(`{"e":"` + event + `"}`), CreatedAt: ms}
}

func setBusy(user, callID string) switchboard.BusyWrite {
	return switchboard.BusyWrite{UserID: user, CallID: callID, InCall: true}
}

func clearBusy(user, callID string) switchboard.BusyWrite {
	return switchboard.BusyWrite{UserID: user, CallID: callID}
}

func ids(calls []call.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.ID
	}
	return out
}

func seqsOf(entries []switchboard.LogEntry) []int64 {
	out := make([]int64, len(entries))
	for i, e := range entries {
		out[i] = e.Seq
	}
	return out
}

// span returns from, from+1, …, to.
func span(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func callID(i int) string { return fmt.Sprintf("call-%04d", i) }

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func diff(want, got any) string { return cmp.Diff(want, got, cmpOpts...) }
