package push

import (
	"errors"
	"slices"
	"testing"
)

// The bookkeeping of a record lives exactly as long as the record may be retried: a delivered
// record and one no target accepted leave none, a failed one keeps it for its retry, and the
// worker's Forget (the record given up or superseded) drops it.
func TestDispatchKeepsBookkeepingUntilTheRecordIsDoneWith(t *testing.T) {
	e := newDispatchEnv(t)
	tracked := func() int {
		e.d.mu.Lock()
		defer e.d.mu.Unlock()
		return len(e.d.done)
	}
	if err := e.d.Deliver(t.Context(), e.record(KindEnd, "carol", false)); err != nil {
		t.Fatalf("Deliver to carol: %v", err)
	}
	e.fcm.fail["carol-1"] = []error{ErrRejected}
	if err := e.d.Deliver(t.Context(), e.record(KindEnd, "carol", false)); !errors.Is(err, ErrNotAccepted) {
		t.Fatalf("Deliver of a rejected push: %v; want ErrNotAccepted", err)
	}
	if n := tracked(); n != 0 {
		t.Fatalf("%d records tracked after a delivered and a not accepted one; want 0", n)
	}
	e.fcm.fail["bob-2"] = []error{errors.New("unavailable")}
	failed := e.record(KindEnd, "bob", false)
	if err := e.d.Deliver(t.Context(), failed); err == nil {
		t.Fatal("Deliver succeeded while bob-2 failed")
	}
	if n := tracked(); n != 1 {
		t.Fatalf("%d records tracked while one waits for its retry; want 1", n)
	}
	e.d.Forget(failed.ID)
	if n := tracked(); n != 0 {
		t.Errorf("%d records tracked after the failed one was forgotten; want 0", n)
	}
}

// A record being retried keeps its bookkeeping however many other records are being retried
// at the same time: its retry sends only to the target that failed, never again to one that
// accepted it (docs/push.md "Invalid tokens, retries, expiry").
func TestDispatchRetriedRecordKeepsItsBookkeepingAmongManyOthers(t *testing.T) {
	e := newDispatchEnv(t)
	e.fcm.fail["bob-2"] = []error{errors.New("unavailable")}
	first := e.record(KindEnd, "bob", false)
	if err := e.d.Deliver(t.Context(), first); err == nil {
		t.Fatal("the first attempt succeeded while bob-2 failed")
	}
	const others = 5000 // records of other calls, each failing and so being retried
	e.fcm.fail["carol-1"] = make([]error, others)
	for i := range e.fcm.fail["carol-1"] {
		e.fcm.fail["carol-1"][i] = errors.New("unavailable")
	}
	for range others {
		if err := e.d.Deliver(t.Context(), e.record(KindEnd, "carol", false)); err == nil {
			t.Fatal("a push to carol succeeded while carol-1 failed")
		}
	}
	e.fcm.take()
	if err := e.d.Deliver(t.Context(), first); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := e.fcm.take(); !slices.Equal(got, []string{"bob-2 end"}) {
		t.Errorf("the retry sent %v; want only bob-2 (bob-1 accepted the first attempt)", got)
	}
}
