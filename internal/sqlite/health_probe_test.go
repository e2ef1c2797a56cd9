package sqlite

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// stallWriter makes the writer goroutine busy with a batch that lasts until the returned
// function is called (as a disk that stops answering would), and returns once it started.
func stallWriter(t *testing.T, s *Store) (resume func()) {
	t.Helper()
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = s.submit(bg, &request{apply: func(*writer) ([]int64, error) {
			close(started)
			<-release
			return nil, nil
		}})
	}()
	<-started
	return func() { close(release); <-done }
}

// /readyz asks Writable with the request's context, which Writable must not block past
// (httpapi.Routes): with the writer stuck on a batch, a probe that cannot get its turn leaves
// /readyz answering "not ready" as soon as the request's context ends, and the next readiness
// checks answer at once without queueing probes of their own behind it. Once the writer is
// back, the queued probe runs and ends the fault.
func TestWritableReturnsWhenItsContextEndsWhileTheWriterIsStuck(t *testing.T) {
	var clock fakeClock
	s, _ := openTest(t, Options{Now: clock.now})
	defer s.Close()
	resume := stallWriter(t, s)
	s.fault.Store(&WriteFault{Reason: "I/O error", Err: errors.New("disk stalled"), at: clock.now()})
	clock.advance(ProbeAfter)

	ctx, cancel := context.WithCancel(bg)
	got := make(chan error, 1)
	go func() { got <- s.Writable(ctx) }()
	for len(s.queue) == 0 { // the probe waits for its turn behind the stuck batch
		runtime.Gosched()
	}
	cancel()
	select {
	case err := <-got:
		var f *WriteFault
		if !errors.As(err, &f) {
			t.Errorf("Writable with its context ended: %v, want the *WriteFault", err)
		}
	case <-time.After(10 * time.Second):
		resume()
		t.Fatalf("Writable did not return within 10 s of its context's end, the writer being stuck")
	}
	for i := range 3 {
		short, stop := context.WithTimeout(bg, time.Millisecond)
		err := s.Writable(short)
		stop()
		if err == nil {
			t.Fatalf("readiness check %d while stuck: nil, want the fault", i)
		}
	}
	if n := len(s.queue); n > 1 {
		t.Errorf("%d requests queued behind the stuck batch, want at most the one probe", n)
	}

	resume()
	// A request queued now runs after the probe, in its batch or a later one.
	if _, err := s.submit(bg, &request{apply: func(*writer) ([]int64, error) { return nil, nil }}); err != nil {
		t.Fatal(err)
	}
	if err := s.Fault(); err != nil {
		t.Errorf("Fault once the writer is back and the probe ran: %v, want nil", err)
	}
}

// TestWritableWhenClosedDuringItsProbe: a store closed while Writable's probe waits for its
// turn is closed when Writable answers, whatever the probe found: Writable says ErrClosed,
// not that the store takes writes.
func TestWritableWhenClosedDuringItsProbe(t *testing.T) {
	var clock fakeClock
	s, _ := openTest(t, Options{Now: clock.now})
	resume := stallWriter(t, s)
	s.fault.Store(&WriteFault{Reason: "I/O error", Err: errors.New("disk stalled"), at: clock.now()})
	clock.advance(ProbeAfter)

	got := make(chan error, 1)
	go func() { got <- s.Writable(bg) }()
	for len(s.queue) == 0 { // the probe waits for its turn behind the stuck batch
		runtime.Gosched()
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for !s.isClosed() {
		runtime.Gosched()
	}
	resume() // the probe runs (it was queued before Close) and commits
	if err := <-got; !errors.Is(err, ErrClosed) {
		t.Errorf("Writable of a store closed during its probe = %v, want ErrClosed", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
}
