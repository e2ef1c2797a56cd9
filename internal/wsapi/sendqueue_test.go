package wsapi

import (
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/protocol"
)

// The writer ending after a kick or a failed write (markClosed) and the session ending (stop)
// may both find the queue finished at once: done is closed once, without a panic.
func TestSendQueueFinishesOnce(t *testing.T) {
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		q := newSendQueue(nil, 8, 0, func(outFrame) {})
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
	q := newSendQueue(nil, 2, 0, func(outFrame) {})
	q.writing = true // as while the writer runs
	for _, f := range []string{"1", "2"} {
		if !q.push(outFrame{[]byte(f)}) {
			t.Fatalf("frame %s refused with room left", f)
		}
	}
	if q.push(outFrame{[]byte("3")}) {
		t.Fatal("frame 3 queued past the limit")
	}
	q.mu.Lock()
	q.frames = nil // the writer takes what is queued (write)
	q.mu.Unlock()
	if q.push(outFrame{[]byte("4")}) {
		t.Error("frame 4 queued after frame 3 was refused")
	}
}

// A catch-up whose buffered live events overflowed sheds the consumer the same way: push
// refuses the live events, while the catch-up's own, older, frames still queue.
func TestSendQueueShedConsumer(t *testing.T) {
	q := newSendQueue(nil, 2, 0, func(outFrame) {})
	q.writing = true // as while the writer runs
	q.shedConsumer()
	if q.push(outFrame{[]byte("live")}) {
		t.Error("a live frame queued after the consumer was shed")
	}
	if !q.pushWait(t.Context(), outFrame{[]byte("replayed")}) {
		t.Error("a catch-up frame refused with room left")
	}
}

// Server frames may be large (a page of calls, up to protocol.MaxServerFrameBytes), so the
// queue is bounded in bytes as well as in frames: a client that asks for large answers and
// reads none is shed (slowConsumer) once they fill maxQueuedBytes, not after SendQueue of
// them. A frame as large as a client accepts still queues alone.
func TestSendQueueBoundedInBytes(t *testing.T) {
	q := newSendQueue(nil, 512, 0, func(outFrame) {})
	q.writing = true // as while the writer runs
	if !q.push(outFrame{make([]byte, protocol.MaxServerFrameBytes)}) {
		t.Fatal("a frame of the largest size refused by an empty queue")
	}
	q.mu.Lock()
	q.frames, q.bytes = nil, 0 // the writer takes what is queued (write)
	q.mu.Unlock()
	quarter := make([]byte, maxQueuedBytes/4)
	for i := range 4 {
		if !q.push(outFrame{quarter}) {
			t.Fatalf("frame %d of a quarter of maxQueuedBytes refused", i+1)
		}
	}
	if q.push(outFrame{quarter}) {
		t.Errorf("a fifth quarter of maxQueuedBytes queued: %d bytes held for a client that reads nothing", 5*len(quarter))
	}
}
