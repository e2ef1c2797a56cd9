package wsapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/wsconn"
)

// upgradedPair returns the server end of a WebSocket connection, with a small send buffer
// (smallSendBuffers), and its peer, a rawPeer that reads nothing unless told to.
func upgradedPair(t *testing.T) (*wsconn.Conn, *rawPeer) {
	t.Helper()
	conns := make(chan *wsconn.Conn, 1)
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := wsconn.Upgrade(w, r, 1<<20); err == nil {
			conns <- c
		}
	}))
	hs.Listener = smallSendBuffers{hs.Listener}
	hs.Start()
	t.Cleanup(hs.Close)
	peer := dialRaw(t, hs.Listener.Addr().String())
	conn := <-conns
	t.Cleanup(func() { conn.CloseNow() })
	return conn, peer
}

// queueTogether queues frames on q as one batch: the writer, started by the first, takes them
// all at once.
func queueTogether(q *sendQueue, frames []outFrame) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, f := range frames {
		q.appendLocked(f)
	}
}

// The delivered-events metric counts the call events written to a connection
// (docs/operations.md, dialtone_events_delivered_total). Events that went out in the same
// system call as a frame the peer never took were written all the same: a write that fails
// part of the way through a batch still counts those before it.
func TestEventsWrittenBeforeAFailedWriteAreCounted(t *testing.T) {
	conn, _ := upgradedPair(t)
	var mu sync.Mutex
	var delivered []string
	q := newSendQueue(conn, 64, 200*time.Millisecond, func(f outFrame) {
		if isEvent(f) {
			mu.Lock()
			delivered = append(delivered, string(bytes.Join(f[:], nil)))
			mu.Unlock()
		}
	})
	var frames []outFrame
	for _, e := range bigEvents("alice", 1, 3, 10) {
		frames = append(frames, eventFrame(e))
	}
	// More than the peer's and the server's buffers hold: its write times out.
	frames = append(frames, eventFrame(bigEvents("alice", 4, 1, 4<<20)[0]))
	queueTogether(q, frames)
	<-q.done
	mu.Lock()
	defer mu.Unlock()
	if len(delivered) != 3 {
		t.Fatalf("events counted as delivered: %d, want the 3 written before the write failed", len(delivered))
	}
}
