package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/dialtone/dialtone/internal/switchboard"
)

// TestCancelWhileApplied: a change whose context ends once the writer has started applying it
// is committed, and its Commit reports that outcome, not the context's error, so a caller is
// never told that a change it made durable failed (R7.1).
func TestCancelWhileApplied(t *testing.T) {
	s, hold, release := openHeld(t)
	defer s.Close()
	ctx, cancel := context.WithCancel(bg)
	result := make(chan error, 1)
	go func() {
		_, err := s.Commit(ctx, switchboard.Change{Log: []switchboard.LogEntry{logEntry("u", "hold")}})
		result <- err
	}()
	<-hold // the change is committed; its waiter is not woken yet
	cancel()
	close(release)
	if err := <-result; err != nil {
		t.Fatalf("Commit whose context ended while it was applied: %v, want nil", err)
	}
	wantLog(t, s, "u", 0, 10, 1)
}

// TestCloseFinishesQueuedCommits: Close lets the writer commit every change queued before it,
// and each of their Commits reports success; a Commit after Close is refused with ErrClosed
// and applies nothing (R7.1).
func TestCloseFinishesQueuedCommits(t *testing.T) {
	s, hold, release := openHeld(t)
	var seqno int
	var name, path string
	if err := s.rdb.QueryRowContext(bg, "PRAGMA database_list").Scan(&seqno, &name, &path); err != nil {
		t.Fatal(err)
	}
	go s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("u", "hold")}})
	<-hold
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("u", fmt.Sprint("q", i))}})
		})
	}
	for len(s.queue) != n {
		runtime.Gosched()
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for !s.isClosed() {
		runtime.Gosched()
	}
	if _, err := s.Commit(bg, switchboard.Change{Log: []switchboard.LogEntry{logEntry("u", "late")}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit during Close: %v, want ErrClosed", err)
	}
	close(release)
	wg.Wait()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("change %d queued before Close: %v, want nil", i, err)
		}
	}
	s, err := Open(bg, path, Options{Now: atEpoch})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantLog(t, s, "u", 0, 100, span(1, n+1)...)
}

// span returns from, from+1, …, to.
func span(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}
