package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dialtone/dialtone/internal/switchboard"
)

func (e *env) outboxHeads(kind string, after int64, limit int) []switchboard.OutboxRecord {
	e.t.Helper()
	recs, err := e.s.OutboxHeads(ctx, kind, after, limit)
	if err != nil {
		e.t.Fatalf("OutboxHeads(%s): %v", kind, err)
	}
	return recs
}

func outboxRec(kind, callID, body string, ms int64) switchboard.OutboxRecord {
	return switchboard.OutboxRecord{Kind: kind, OrderKey: callID, Body: []byte(body), CreatedAt: ms}
}

// testOutbox: records are written with their change, with increasing IDs in commit order, and
// deleted by ID; OutboxHeads reads, per kind, the oldest record of each call, oldest first,
// paged by afterID, and a call's next record once its head is deleted.
func testOutbox(t *testing.T, e *env) {
	wh, push := switchboard.OutboxWebhook, switchboard.OutboxPush
	ch := create(newCall("c1", 1000, "alice", "bob"))
	ch.Outbox = []switchboard.OutboxRecord{outboxRec(wh, "c1", `{"a":1}`, 1000), outboxRec(push, "c1", `{"p":1}`, 1000),
		outboxRec(wh, "c1", `{"a":2}`, 1000)}
	e.commit(ch)
	e.commit(switchboard.Change{Outbox: []switchboard.OutboxRecord{outboxRec(wh, "c2", `{"b":1}`, 2000)}})
	e.commit(switchboard.Change{Outbox: []switchboard.OutboxRecord{outboxRec(wh, "c3", `{"c":1}`, 3000)}})

	heads := e.outboxHeads(wh, 0, 10)
	want := []switchboard.OutboxRecord{outboxRec(wh, "c1", `{"a":1}`, 1000), outboxRec(wh, "c2", `{"b":1}`, 2000),
		outboxRec(wh, "c3", `{"c":1}`, 3000)}
	if len(heads) != len(want) {
		t.Fatalf("OutboxHeads(webhook) = %v, want one head for each of c1, c2, c3", heads)
	}
	for i := range want {
		want[i].ID = heads[i].ID
		if i > 0 && heads[i].ID <= heads[i-1].ID {
			t.Fatalf("IDs not increasing: %d then %d", heads[i-1].ID, heads[i].ID)
		}
	}
	if diff := cmp.Diff(want, heads, cmpOpts...); diff != "" {
		t.Errorf("OutboxHeads(webhook) (-want +got):\n%s", diff)
	}
	if p := e.outboxHeads(push, 0, 10); len(p) != 1 || string(p[0].Body) != `{"p":1}` {
		t.Errorf("OutboxHeads(push) = %v", p)
	}
	if page := e.outboxHeads(wh, heads[0].ID, 1); len(page) != 1 || page[0].ID != heads[1].ID {
		t.Errorf("OutboxHeads after %d limit 1 = %v, want ID %d", heads[0].ID, page, heads[1].ID)
	}
	if err := e.s.DeleteOutbox(ctx, []int64{heads[0].ID, heads[1].ID, 1 << 40}); err != nil {
		t.Fatalf("DeleteOutbox: %v", err)
	}
	left := e.outboxHeads(wh, 0, 10)
	if len(left) != 2 || string(left[0].Body) != `{"a":2}` || left[1].ID != heads[2].ID {
		t.Errorf("after deleting the heads of c1 and c2: %v, want c1's second record, then c3's", left)
	}
	if err := e.s.DeleteOutbox(ctx, nil); err != nil {
		t.Errorf("DeleteOutbox(nil): %v", err)
	}
	// IDs keep growing after deletes.
	e.commit(switchboard.Change{Outbox: []switchboard.OutboxRecord{outboxRec(wh, "c4", `{}`, 4000)}})
	after := e.outboxHeads(wh, 0, 10)
	if len(after) != 3 || after[2].ID <= heads[2].ID {
		t.Fatalf("new record after deletes: %v", after)
	}
	// Nor is the ID of the newest record reused once it is deleted: the outbox resumes its
	// passes above the last head it saw.
	newest := after[2].ID
	if err := e.s.DeleteOutbox(ctx, []int64{newest}); err != nil {
		t.Fatalf("DeleteOutbox: %v", err)
	}
	e.commit(switchboard.Change{Outbox: []switchboard.OutboxRecord{outboxRec(wh, "c5", `{}`, 5000)}})
	if last := e.outboxHeads(wh, newest-1, 10); len(last) != 1 || last[0].ID <= newest {
		t.Errorf("the record after deleting the newest (ID %d): %v, want a greater ID", newest, last)
	}
}

// testOutboxSupersedes: a record with Supersedes deletes, in its commit, the records of its kind
// and key not yet deleted, and no other; it is itself kept.
func testOutboxSupersedes(t *testing.T, e *env) {
	wh, push := switchboard.OutboxWebhook, switchboard.OutboxPush
	e.commit(switchboard.Change{Outbox: []switchboard.OutboxRecord{outboxRec(push, "c1 bob", "inv1", 1000),
		outboxRec(push, "c1 bob", "inv2", 1000), outboxRec(push, "c1 carol", "inv", 1000), outboxRec(wh, "c1 bob", "hook", 1000)}})
	withdrawal := outboxRec(push, "c1 bob", "withdrawal", 2000)
	withdrawal.Supersedes = true
	e.commit(switchboard.Change{Outbox: []switchboard.OutboxRecord{withdrawal}})
	var got []string
	for _, kind := range []string{push, wh} {
		for _, r := range e.outboxHeads(kind, 0, 10) {
			got = append(got, r.Kind+" "+r.OrderKey+" "+string(r.Body))
		}
	}
	want := []string{"push c1 carol inv", "push c1 bob withdrawal", "webhook c1 bob hook"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("heads after a superseding record (-want +got):\n%s", diff)
	}
}

// testPushTargets: a (provider, token) has one owner, the last to register it; deletion by
// token (optionally checking the owner), by device and by user.
func testPushTargets(t *testing.T, e *env) {
	put := func(pt switchboard.PushTarget) {
		t.Helper()
		if err := e.s.PutPushTarget(ctx, pt); err != nil {
			t.Fatalf("PutPushTarget: %v", err)
		}
	}
	targets := func(user string) []switchboard.PushTarget {
		t.Helper()
		ts, err := e.s.PushTargets(ctx, user)
		if err != nil {
			t.Fatalf("PushTargets(%s): %v", user, err)
		}
		return ts
	}
	a1 := switchboard.PushTarget{UserID: "alice", DeviceID: "phone", Provider: "apns", Token: "t1", VoIP: true, BundleID: "com.x"}
	a2 := switchboard.PushTarget{UserID: "alice", DeviceID: "tablet", Provider: "fcm", Token: "t2"}
	put(a1)
	put(a2)
	if diff := cmp.Diff([]switchboard.PushTarget{a1, a2}, targets("alice"), cmpOpts...); diff != "" {
		t.Errorf("PushTargets(alice) (-want +got):\n%s", diff)
	}
	// bob registers alice's fcm token: it moves.
	b2 := a2
	b2.UserID, b2.DeviceID = "bob", "bphone"
	put(b2)
	if diff := cmp.Diff([]switchboard.PushTarget{a1}, targets("alice"), cmpOpts...); diff != "" {
		t.Errorf("after the move, alice (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]switchboard.PushTarget{b2}, targets("bob"), cmpOpts...); diff != "" {
		t.Errorf("after the move, bob (-want +got):\n%s", diff)
	}
	// Unregistering someone else's token does nothing.
	if err := e.s.DeletePushTarget(ctx, "alice", "fcm", "t2"); err != nil {
		t.Fatal(err)
	}
	if len(targets("bob")) != 1 {
		t.Errorf("alice removed bob's target")
	}
	if err := e.s.DeletePushTarget(ctx, "", "fcm", "t2"); err != nil {
		t.Fatal(err)
	}
	if len(targets("bob")) != 0 {
		t.Errorf("DeletePushTarget without a user left bob's target")
	}
	put(a2)
	if err := e.s.DeletePushTargets(ctx, "alice", "tablet"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]switchboard.PushTarget{a1}, targets("alice"), cmpOpts...); diff != "" {
		t.Errorf("after deleting the tablet's (-want +got):\n%s", diff)
	}
	put(a2)
	if err := e.s.DeletePushTargets(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	if ts := targets("alice"); len(ts) != 0 {
		t.Errorf("after deleting all of alice's: %v", ts)
	}
}

// testPushMarks: a mark is per (call, user); reading it leaves it; marking twice is one mark;
// clearing removes it (clearing a missing one is no error); marking again after a clear works.
func testPushMarks(t *testing.T, e *env) {
	marked := func(callID, userID string) bool {
		t.Helper()
		ok, err := e.s.InvitationPushed(ctx, callID, userID)
		if err != nil {
			t.Fatalf("InvitationPushed(%s, %s): %v", callID, userID, err)
		}
		return ok
	}
	mark := func(callID, userID string) {
		t.Helper()
		if err := e.s.MarkInvitationPushed(ctx, callID, userID, 1000); err != nil {
			t.Fatalf("MarkInvitationPushed(%s, %s): %v", callID, userID, err)
		}
	}
	unmark := func(callID, userID string) {
		t.Helper()
		if err := e.s.ClearInvitationPushed(ctx, callID, userID); err != nil {
			t.Fatalf("ClearInvitationPushed(%s, %s): %v", callID, userID, err)
		}
	}
	if marked("c1", "bob") {
		t.Error("marked before any mark")
	}
	unmark("c1", "bob")
	mark("c1", "bob")
	mark("c1", "bob")
	mark("c2", "carol")
	if marked("c1", "carol") || marked("c2", "bob") {
		t.Error("a mark of another (call, user) was found")
	}
	for range 2 { // reading a mark leaves it
		if !marked("c1", "bob") {
			t.Error("mark of (c1, bob) not found")
		}
	}
	unmark("c1", "bob")
	if marked("c1", "bob") || !marked("c2", "carol") {
		t.Error("clearing (c1, bob) did not remove exactly that mark")
	}
	mark("c1", "bob")
	if !marked("c1", "bob") {
		t.Error("mark not found after re-marking")
	}
}
