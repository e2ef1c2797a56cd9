package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// pages reads all of user's calls count at a time, starting at before, checking the cursors.
func (e *env) pages(user string, before int64, count int) []string {
	e.t.Helper()
	var got []string
	for range 10_000 {
		calls, next := e.list(user, before, count)
		if len(calls) > count {
			e.t.Fatalf("ListCalls returned %d calls for count %d", len(calls), count)
		}
		if next != 0 && len(calls) != count {
			e.t.Fatalf("ListCalls returned a short page (%d of %d) with next %d", len(calls), count, next)
		}
		got = append(got, ids(calls)...)
		if next == 0 {
			return got
		}
		before = next
	}
	e.t.Fatal("ListCalls never returned next = 0")
	return nil
}

func testListCallsPaging(t *testing.T, e *env) {
	const n = 250
	var want []string // newest first
	for i := range n {
		c := newCall(callID(i), int64(1000+i), "caller", "u")
		e.commit(create(c))
		want = append([]string{c.ID}, want...)
	}
	for _, count := range []int{1, 7, 20, 100, 250, 1000} {
		if d := diff(want, e.pages("u", 0, count)); d != "" {
			t.Fatalf("pages of %d (-want +got):\n%s", count, d)
		}
	}
	// Calls that arrive between pages do not move the following pages.
	first, next := e.list("u", 0, 20)
	if d := diff(want[:20], ids(first)); d != "" {
		t.Fatalf("first page (-want +got):\n%s", d)
	}
	for i := n; i < n+5; i++ {
		e.commit(create(newCall(callID(i), int64(1000+i), "caller", "u")))
	}
	if d := diff(want[20:], e.pages("u", next, 20)); d != "" {
		t.Fatalf("pages after new calls (-want +got):\n%s", d)
	}
	// A page of exactly the remaining calls ends the listing.
	last, next := e.list("u", 0, n+5)
	if len(last) != n+5 || next != 0 {
		t.Fatalf("ListCalls of everything: %d calls, next %d", len(last), next)
	}
	// The stored calls come back whole.
	if d := diff(newCall(callID(0), 1000, "caller", "u"), last[len(last)-1]); d != "" {
		t.Fatalf("listed call (-want +got):\n%s", d)
	}
}

// testListCallsEntryOrder: calls are ordered by when the user entered them, not by creation.
func testListCallsEntryOrder(t *testing.T, e *env) {
	old := newCall("old", 1000, "alice", "bob")
	e.commit(create(old))
	e.commit(create(newCall("new", 2000, "alice", "carol")))
	// carol joins the older call afterwards.
	joined := old.Clone()
	joined.Version++
	joined.Users = append(joined.Users, call.User{ID: "carol", State: call.Inviting, Inviter: "alice"})
	e.commit(switchboard.Change{
		Calls:   []switchboard.CallWrite{{Call: joined, PrevVersion: 1}},
		Members: []switchboard.Member{{UserID: "carol", CallID: "old"}},
	})
	calls, next := e.list("carol", 0, 10)
	if d := diff([]string{"old", "new"}, ids(calls)); d != "" || next != 0 {
		t.Fatalf("ListCalls(carol) next %d (-want +got):\n%s", next, d)
	}
	if calls[0].Version != 2 {
		t.Fatalf("listed call at version %d, want the latest (2)", calls[0].Version)
	}
	if d := diff([]string{"new", "old"}, e.pages("alice", 0, 1)); d != "" {
		t.Fatalf("ListCalls(alice) (-want +got):\n%s", d)
	}
}

func testListCallsEmpty(t *testing.T, e *env) {
	if calls, next := e.list("nobody", 0, 20); len(calls) != 0 || next != 0 {
		t.Fatalf("ListCalls of a user without calls = %v, %d", ids(calls), next)
	}
}

func testRingingCalls(t *testing.T, e *env) {
	withState := func(id string, callState call.State, s call.UserState) call.Call {
		c := newCall(id, 1000, "alice", "u")
		c.State = callState
		c.Users[1].State = s
		if callState == call.Ended {
			c.EndTime = 2000
		}
		return c
	}
	for _, c := range []call.Call{
		withState("inviting", call.Started, call.Inviting),
		withState("accepted", call.Started, call.Accepted),
		withState("notyet", call.Started, call.NotYetReceived),
		withState("ended", call.Ended, call.Received),
		withState("received", call.Started, call.Received),
		withState("rejected", call.Started, call.Rejected),
		newCall("other", 1000, "alice", "bob"),
	} {
		ch := create(c)
		ch.Log = []switchboard.LogEntry{entry("u", "callInvitationReceived", 1000)}
		e.commit(ch)
	}
	got, head, err := e.s.RingingCalls(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	if d := diff([]string{"inviting", "notyet", "received"}, sorted(ids(got))); d != "" {
		t.Fatalf("RingingCalls (-want +got):\n%s", d)
	}
	if head != e.seq(7) {
		t.Fatalf("RingingCalls head = %d, want %d (one event per call committed)", head, e.seq(7))
	}
	for _, c := range got {
		if d := diff(withState(c.ID, call.Started, c.Users[1].State), c); d != "" {
			t.Fatalf("pending call (-want +got):\n%s", d)
		}
	}
	if got, _, err := e.s.RingingCalls(ctx, "alice"); err != nil || len(got) != 0 {
		t.Fatalf("RingingCalls(alice) = %v, %v; the caller is Accepted", ids(got), err)
	}
}

func testDueCalls(t *testing.T, e *env) {
	check := func(want []switchboard.Due) {
		t.Helper()
		got, err := e.s.DueCalls(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(a, b switchboard.Due) int { return strings.Compare(a.CallID, b.CallID) })
		if d := diff(want, got); d != "" {
			t.Fatalf("DueCalls (-want +got):\n%s", d)
		}
	}
	check(nil)
	ringing := newCall("ringing", 1000, "alice", "bob", "carol") // deadlines 31000
	ringing.Users[2].Deadline = 20000
	ringing.Users[2].CheckAt = 6000
	e.commit(create(ringing))
	talking := newCall("talking", 1000, "alice") // no deadline
	e.commit(create(talking))
	ended := newCall("ended", 1000, "alice", "bob")
	ended.State, ended.EndTime = call.Ended, 5000
	e.commit(create(ended))
	check([]switchboard.Due{{CallID: "ringing", At: 6000}})

	next := ringing.Clone()
	next.Version++
	next.Users[2].CheckAt = 0
	e.commit(switchboard.Change{Calls: []switchboard.CallWrite{{Call: next, PrevVersion: 1}}})
	check([]switchboard.Due{{CallID: "ringing", At: 20000}})

	over := next.Clone()
	over.Version++
	over.State, over.EndTime = call.Ended, 7000
	for i := range over.Users {
		over.Users[i].Deadline = 0
	}
	e.commit(switchboard.Change{Calls: []switchboard.CallWrite{{Call: over, PrevVersion: 2}}})
	check(nil)
}

func testPruneCalls(t *testing.T, e *env) {
	endedAt := func(id string, end int64) call.Call {
		c := newCall(id, 10, "alice", "bob")
		c.State, c.EndTime = call.Ended, end
		c.Users[1].State, c.Users[1].Deadline = call.Rejected, 0
		return c
	}
	e.commit(create(endedAt("old", 100)))
	e.commit(create(endedAt("recent", 500)))
	e.commit(create(newCall("live", 10, "alice", "bob")))
	e.prune(0, 0, 300)
	if _, err := e.s.Call(ctx, "old"); !errors.Is(err, switchboard.ErrNotFound) {
		t.Fatalf("Call(old) after prune: err = %v, want ErrNotFound", err)
	}
	for _, u := range []string{"alice", "bob"} {
		if d := diff([]string{"live", "recent"}, e.pages(u, 0, 1)); d != "" {
			t.Fatalf("ListCalls(%s) after prune (-want +got):\n%s", u, d)
		}
	}
	// A Started call is never pruned, whatever the cutoff.
	e.prune(0, 0, 1<<62)
	e.call("live")
	if _, err := e.s.Call(ctx, "recent"); !errors.Is(err, switchboard.ErrNotFound) {
		t.Fatalf("Call(recent) after prune: err = %v, want ErrNotFound", err)
	}
	if d := diff([]string{"live"}, e.pages("bob", 0, 10)); d != "" {
		t.Fatalf("ListCalls(bob) after the second prune (-want +got):\n%s", d)
	}
}

func slicesSortBusy(recs []switchboard.BusyWrite) {
	slices.SortFunc(recs, func(a, b switchboard.BusyWrite) int { return strings.Compare(a.UserID, b.UserID) })
}

// testListCallsAcrossPrune (R3.10): pages stay stable when retention deletes calls between
// them: the next page goes on where the last one ended, with no call twice and none left out
// but the deleted ones. Calls created at the same instant, also committed at once, are listed
// in one order, the same on every page size.
func testListCallsAcrossPrune(t *testing.T, e *env) {
	const n = 30
	ended := func(i int) bool { return i%3 == 0 }
	var wg sync.WaitGroup
	for i := range n {
		c := newCall(callID(i), 1000, "caller", "u") // every call created at the same instant
		if ended(i) {
			c.State, c.EndTime = call.Ended, 100
			c.Users[1].State, c.Users[1].Deadline = call.Rejected, 0
		}
		if i < n/2 {
			e.commit(create(c))
			continue
		}
		wg.Go(func() { // committed together, likely in one transaction
			if _, err := e.s.Commit(ctx, create(c)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	all := e.pages("u", 0, n)
	var every []string
	for i := range n {
		every = append(every, callID(i))
	}
	if d := diff(sorted(every), sorted(all)); d != "" {
		t.Fatalf("calls of u (-want +got):\n%s", d)
	}
	for _, count := range []int{1, 4, 7} {
		if d := diff(all, e.pages("u", 0, count)); d != "" {
			t.Fatalf("pages of %d differ from one page of all (-all +pages):\n%s", count, d)
		}
	}
	first, next := e.list("u", 0, 10)
	if d := diff(all[:10], ids(first)); d != "" {
		t.Fatalf("first page (-want +got):\n%s", d)
	}
	e.prune(0, 0, 300) // deletes the ended calls
	var want []string
	for _, id := range all[10:] {
		var i int
		fmt.Sscanf(id, "call-%d", &i)
		if !ended(i) {
			want = append(want, id)
		}
	}
	if d := diff(want, e.pages("u", next, 4)); d != "" {
		t.Fatalf("pages after the prune (-want +got):\n%s", d)
	}
}
