package wsapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/dialtone/dialtone/internal/wsconn"
	"github.com/dialtone/dialtone/protocol"
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

// next reads the server's next frame, of at most protocol.MaxFrameBytes.
func (p *rawPeer) next() ws.Frame {
	p.t.Helper()
	h, err := ws.ReadHeader(p.br)
	if err != nil {
		p.t.Fatalf("reading the server's next frame: %v", err)
	}
	if h.Length > protocol.MaxFrameBytes {
		p.t.Fatalf("the server's next frame declares %d bytes, over the %d of a frame", h.Length, protocol.MaxFrameBytes)
	}
	f := ws.Frame{Header: h, Payload: make([]byte, h.Length)}
	if _, err := io.ReadFull(p.br, f.Payload); err != nil {
		p.t.Fatalf("reading the server's next frame: %v", err)
	}
	return f
}

// protocol.md "Events" and the kick table, R7.2: the events queued before a kick reach the
// client whole and in the order they were queued, however many went out together and in how
// many system calls (the buffers here are small); the kicked event comes after them and the
// close frame with the kick's code after it, and nothing follows the close handshake.
func TestEventsQueuedBeforeAKickArriveInOrderThenTheKickedEventAndTheClose(t *testing.T) {
	bus := newHandBus()
	srv := New(Config{HeartbeatTimeout: time.Minute, SendQueue: 1024}, newPresence(), bus, tokenIsUser{}, nil, nil)
	peer := dialRaw(t, serve(t, srv))
	peer.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	peer.send(`{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1"}}`)
	deliver := bus.deliver(t)
	if f := peer.next(); !bytes.HasPrefix(f.Payload, []byte(`{"id":1,"result":`)) {
		t.Fatalf("first frame %.80q, want the login's reply", f.Payload)
	}
	entries := bigEvents("alice", 1, 64, 3000)
	for i := range entries { // each event's data its own, so that one out of place shows
		entries[i].Data = fmt.Appendf(nil, `"%d%s"`, i, bytes.Repeat([]byte("x"), 100*i))
	}
	deliver(entries)
	go srv.Shutdown(context.Background())
	for i, e := range entries {
		want := eventFrame(e)
		if f := peer.next(); f.Header.OpCode != ws.OpText || !bytes.Equal(f.Payload, bytes.Join(want[:], nil)) {
			t.Fatalf("frame %d: opcode %v, %.80q; want event seq %d", i, f.Header.OpCode, f.Payload, e.Seq)
		}
	}
	if f := peer.next(); !bytes.Contains(f.Payload, []byte(`"event":"kicked"`)) || !bytes.Contains(f.Payload, []byte(protocol.KickShutdown)) {
		t.Fatalf("frame after the events %.80q, want the kicked event (shutdown)", f.Payload)
	}
	k, _ := protocol.KickFor(protocol.KickShutdown)
	f := peer.next()
	if code, _ := ws.ParseCloseFrameData(f.Payload); f.Header.OpCode != ws.OpClose || int(code) != k.CloseCode {
		t.Fatalf("frame after the kicked event: opcode %v, % x; want a close frame with %d", f.Header.OpCode, f.Payload, k.CloseCode)
	}
	if _, err := peer.nc.Write(ws.MustCompileFrame(ws.MaskFrame(ws.NewCloseFrame(f.Payload)))); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(peer.br); err != nil || len(rest) > 0 {
		t.Fatalf("after the close handshake the server sent % x (%v), want the end of the stream", rest, err)
	}
}
