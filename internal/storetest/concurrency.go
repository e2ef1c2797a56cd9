package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/dialtone/dialtone/internal/switchboard"
)

// testConcurrentCommits: many goroutines commit changes to different calls at once; every
// change succeeds and each user's sequence numbers stay gapless, also for a user that every
// change writes to.
func testConcurrentCommits(t *testing.T, e *env) {
	const workers, perWorker = 32, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	seqs := make([][]int64, workers) // the shared user's seqs seen by each worker
	for w := range workers {
		wg.Go(func() {
			user := fmt.Sprintf("user-%d", w)
			c := newCall(fmt.Sprintf("call-w%d", w), 1000, user, "peer-"+user)
			ch := create(c)
			for i := range perWorker {
				ch.Busy = []switchboard.BusyWrite{setBusy(user, c.ID)}
				ch.Log = []switchboard.LogEntry{entry(user, "e", int64(i)), entry("shared", user, int64(i))}
				got, err := e.s.Commit(ctx, ch)
				if err != nil {
					errs <- fmt.Errorf("worker %d commit %d: %w", w, i, err)
					return
				}
				if want := e.seq(int64(i + 1)); got[0] != want {
					errs <- fmt.Errorf("worker %d commit %d: own seq %d, want %d", w, i, got[0], want)
					return
				}
				seqs[w] = append(seqs[w], got[1])
				ch = update(c)
				c.Version++
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for w := range workers {
		for i, s := range seqs[w] {
			if seen[s] {
				t.Fatalf("shared seq %d given twice", s)
			}
			seen[s] = true
			if i > 0 && s <= seqs[w][i-1] {
				t.Fatalf("worker %d: shared seqs not increasing: %v", w, seqs[w])
			}
		}
	}
	log := e.readLog("shared", 0, workers*perWorker+1)
	if d := diff(span(e.seq(1), e.seq(workers*perWorker)), seqsOf(log)); d != "" {
		t.Fatalf("shared log seqs (-want +got):\n%s", d)
	}
	// Each entry is the one its commit was told about.
	for w := range workers {
		for _, s := range seqs[w] {
			if ev := log[s-e.seq(1)].Event; ev != fmt.Sprintf("user-%d", w) {
				t.Fatalf("shared seq %d holds %s's event, want user-%d's", s, ev, w)
			}
		}
	}
	for w := range workers {
		if _, head := e.bounds(fmt.Sprintf("user-%d", w)); head != e.seq(perWorker) {
			t.Fatalf("head of user-%d = %d, want %d", w, head, e.seq(perWorker))
		}
		if e.call(fmt.Sprintf("call-w%d", w)).Version != perWorker {
			t.Fatalf("call-w%d not at version %d", w, perWorker)
		}
	}
}

// testConcurrentBusy: two commits that set the same user busy in two calls at once; exactly
// one succeeds. This is what makes the busy rule (R3.1) atomic across calls.
func testConcurrentBusy(t *testing.T, e *env) {
	for round := range 20 {
		user := fmt.Sprintf("u%d", round)
		var wg sync.WaitGroup
		results := make([]error, 2)
		for i := range 2 {
			wg.Go(func() {
				c := newCall(fmt.Sprintf("r%d-c%d", round, i), 1, user)
				ch := create(c)
				ch.Busy = []switchboard.BusyWrite{setBusy(user, c.ID)}
				ch.Log = []switchboard.LogEntry{entry(user, c.ID, 1)}
				_, results[i] = e.s.Commit(ctx, ch)
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range results {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, switchboard.ErrConflict):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of 2 commits succeeded, want exactly 1", round, ok)
		}
		if _, head := e.bounds(user); head != e.seq(1) {
			t.Fatalf("round %d: head = %d, want %d (only the winner's entry)", round, head, e.seq(1))
		}
		winner := e.readLog(user, 0, 10)[0].Event
		if b := e.busy(user); b != winner {
			t.Fatalf("round %d: busy in %q, but the log is of %q", round, b, winner)
		}
		// The loser's call, written before its busy record failed, is not there either.
		if calls, _ := e.list(user, 0, 10); len(calls) != 1 || calls[0].ID != winner {
			t.Fatalf("round %d: ListCalls = %v, want only the winner %s", round, ids(calls), winner)
		}
		for i := range 2 {
			id := fmt.Sprintf("r%d-c%d", round, i)
			if _, err := e.s.Call(ctx, id); (err == nil) != (id == winner) {
				t.Fatalf("round %d: Call(%s): err = %v", round, id, err)
			}
		}
	}
}

// testConcurrentIdempotencyKey (R7.3): changes that carry the same user's key at once, likely
// in one transaction: exactly one commits and the others fail with ErrKeyTaken, applying
// nothing (no call, no log entry, no sequence number used).
func testConcurrentIdempotencyKey(t *testing.T, e *env) {
	const writers = 8
	var wg sync.WaitGroup
	results := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			c := newCall(fmt.Sprintf("c%d", i), 1, "zed")
			ch := create(c)
			ch.Log = []switchboard.LogEntry{entry("zed", c.ID, 1)}
			ch.Idem = &switchboard.IdempotencyRecord{UserID: "zed", Key: "k", Fingerprint: "f", Reply: []byte(`"` + c.ID + `"`), CreatedAt: 10}
			ch.IdemSince = 5
			_, results[i] = e.s.Commit(ctx, ch)
		})
	}
	wg.Wait()
	winner := ""
	for i, err := range results {
		switch {
		case err == nil && winner == "":
			winner = fmt.Sprintf("c%d", i)
		case err == nil:
			t.Fatalf("two changes with one key committed: %s and c%d", winner, i)
		case !errors.Is(err, switchboard.ErrKeyTaken):
			t.Fatalf("change c%d: %v, want nil or ErrKeyTaken", i, err)
		}
	}
	if winner == "" {
		t.Fatal("no change with the key committed")
	}
	if d := diff([]string{winner}, e.pages("zed", 0, writers)); d != "" {
		t.Fatalf("calls of zed (-want +got):\n%s", d)
	}
	log := e.readLog("zed", 0, writers)
	if len(log) != 1 || log[0].Seq != e.seq(1) || log[0].Event != winner {
		t.Fatalf("log of zed = %+v, want the winner's entry at seq %d", log, e.seq(1))
	}
	if rec, ok, err := e.s.Idempotency(ctx, "zed", "k", 0); err != nil || !ok || string(rec.Reply) != `"`+winner+`"` {
		t.Fatalf("record of the key: %+v, %v, %v; want the winner's", rec, ok, err)
	}
}

// testConcurrentVersion: many writers of the same version; exactly one succeeds.
func testConcurrentVersion(t *testing.T, e *env) {
	c := newCall("c1", 1, "alice", "bob")
	e.commit(create(c))
	const writers = 16
	var wg sync.WaitGroup
	results := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			ch := update(c)
			ch.Log = []switchboard.LogEntry{entry("alice", fmt.Sprint(i), 1)}
			_, results[i] = e.s.Commit(ctx, ch)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range results {
		if err == nil {
			ok++
		} else if !errors.Is(err, switchboard.ErrConflict) {
			t.Fatal(err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d writers of version 1 succeeded, want 1", ok, writers)
	}
	if _, head := e.bounds("alice"); head != e.seq(1) {
		t.Fatalf("head = %d, want %d", head, e.seq(1))
	}
}

// testClose: Close waits for commits in flight (each returns, none hangs); afterwards every
// method returns an error.
func testClose(t *testing.T, e *env) {
	const n = 64
	var wg sync.WaitGroup
	started := make(chan struct{}, n)
	for i := range n {
		wg.Go(func() {
			started <- struct{}{}
			ch := create(newCall(fmt.Sprintf("c%d", i), 1, "alice"))
			ch.Log = []switchboard.LogEntry{entry("alice", "e", 1)}
			e.s.Commit(ctx, ch) // succeeds or fails; must return
		})
	}
	for range n {
		<-started
	}
	e.closed = true
	if err := e.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()

	if _, err := e.s.Commit(ctx, create(newCall("after", 1, "alice"))); err == nil {
		t.Error("Commit after Close succeeded")
	}
	if _, err := e.s.Call(ctx, "c0"); err == nil {
		t.Error("Call after Close succeeded")
	}
	if _, err := e.s.BusyCall(ctx, "alice"); err == nil {
		t.Error("BusyCall after Close succeeded")
	}
	if _, _, err := e.s.Idempotency(ctx, "alice", "k", 0); err == nil {
		t.Error("Idempotency after Close succeeded")
	}
	if _, err := e.s.ReadLog(ctx, "alice", 0, 10); err == nil {
		t.Error("ReadLog after Close succeeded")
	}
	if _, _, err := e.s.LogBounds(ctx, "alice"); err == nil {
		t.Error("LogBounds after Close succeeded")
	}
	if _, _, err := e.s.ListCalls(ctx, "alice", 0, 10); err == nil {
		t.Error("ListCalls after Close succeeded")
	}
	if _, _, err := e.s.RingingCalls(ctx, "alice"); err == nil {
		t.Error("RingingCalls after Close succeeded")
	}
	if _, err := e.s.DueCalls(ctx); err == nil {
		t.Error("DueCalls after Close succeeded")
	}
	if _, err := e.s.BusyRecords(ctx); err == nil {
		t.Error("BusyRecords after Close succeeded")
	}
	if err := e.s.Prune(ctx, 0, 0, 0); err == nil {
		t.Error("Prune after Close succeeded")
	}
	for name, err := range map[string]error{
		"OutboxHeads":           second(e.s.OutboxHeads(ctx, switchboard.OutboxWebhook, 0, 10)),
		"DeleteOutbox(nothing)": e.s.DeleteOutbox(ctx, nil),
		"PutPushTarget":         e.s.PutPushTarget(ctx, switchboard.PushTarget{UserID: "alice", Provider: "fcm", Token: "t"}),
		"DeletePushTarget":      e.s.DeletePushTarget(ctx, "alice", "fcm", "t"),
		"DeletePushTargets":     e.s.DeletePushTargets(ctx, "alice", ""),
		"PushTargets":           second(e.s.PushTargets(ctx, "alice")),
		"MarkInvitationPushed":  e.s.MarkInvitationPushed(ctx, "c0", "alice", 1),
		"InvitationPushed":      second(e.s.InvitationPushed(ctx, "c0", "alice")),
		"ClearInvitationPushed": e.s.ClearInvitationPushed(ctx, "c0", "alice"),
	} {
		if err == nil {
			t.Errorf("%s after Close succeeded", name)
		}
	}
}

// second returns the error of a two-value result.
func second[T any](_ T, err error) error { return err }
