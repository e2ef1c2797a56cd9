package wsapi

import (
	"sync"
	"testing"
	"time"
)

// The writer ending after a kick or a failed write (markClosed) and the session ending (stop)
// may both find the queue finished at once: done is closed once, without a panic.
func TestSendQueueFinishesOnce(t *testing.T) {
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		q := newSendQueue(nil, 8, 0, func([]byte) {})
		q.writing = true // as while the writer runs
		var ready, wg sync.WaitGroup
		ready.Add(1)
		wg.Add(2)
		go func() { defer wg.Done(); ready.Wait(); q.markClosed() }()
		go func() { defer wg.Done(); ready.Wait(); q.stop() }()
		ready.Done()
		wg.Wait()
		<-q.done
	}
}

// protocol.md: a slowConsumer kick loses nothing, because the client resumes after the last
// event it received. So once a frame is refused for want of room, no later frame may reach the
// client, even when the writer has made room meanwhile: the client would resume past the
// refused one.
func TestSendQueueRefusesEveryFrameAfterOneItHadNoRoomFor(t *testing.T) {
	q := newSendQueue(nil, 2, 0, func([]byte) {})
	q.writing = true // as while the writer runs
	for _, f := range []string{"1", "2"} {
		if !q.push([]byte(f)) {
			t.Fatalf("frame %s refused with room left", f)
		}
	}
	if q.push([]byte("3")) {
		t.Fatal("frame 3 queued past the limit")
	}
	q.mu.Lock()
	q.frames = nil // the writer takes what is queued (write)
	q.mu.Unlock()
	if q.push([]byte("4")) {
		t.Error("frame 4 queued after frame 3 was refused")
	}
}

// A catch-up whose buffered live events overflowed sheds the consumer the same way: push
// refuses the live events, while the catch-up's own, older, frames still queue.
func TestSendQueueShedConsumer(t *testing.T) {
	q := newSendQueue(nil, 2, 0, func([]byte) {})
	q.writing = true // as while the writer runs
	q.shedConsumer()
	if q.push([]byte("live")) {
		t.Error("a live frame queued after the consumer was shed")
	}
	if !q.pushWait(t.Context(), []byte("replayed")) {
		t.Error("a catch-up frame refused with room left")
	}
}
