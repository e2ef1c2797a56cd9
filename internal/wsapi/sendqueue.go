package wsapi

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/dialtone/dialtone/internal/wsconn"
	"github.com/dialtone/dialtone/protocol"
)

// outFrame is a frame to write: the concatenation of its parts, which are written as they are
// (wsconn.Conn.WriteTexts). An event's frame is made of its envelope, the data as the log entry
// holds it, shared by every delivery of the entry, and the closing brace (eventFrame), so that
// no delivery copies the data. The parts are not modified once queued.
type outFrame = wsconn.Text

// sendQueue holds the frames waiting to be written to one connection. It costs nothing while
// idle: the frames live in a slice that grows only while frames wait, and the goroutine that
// writes them runs only while there are some. Frames are written in the order they were queued;
// the frames queued while the writer wrote the last ones go out together, several to a system
// call (wsconn.Conn.WriteTexts). The write timeout is the time the peer has to take each
// frame, from the end of the one before, as when each frame had a system call of its own: a
// peer that takes no frame for that long is cut off (the socket is closed at once: the kicked
// event and close frame could not reach a peer that takes nothing), and a merely slow one
// fills the queue first and is kicked with slowConsumer.
type sendQueue struct {
	conn    *wsconn.Conn
	limit   int                  // frames queued at most; beyond, push fails (the consumer is shed)
	timeout time.Duration        // a write blocked this long closes the connection
	written func(frame outFrame) // told of each frame written whole, once the system call that wrote it returned

	mu        sync.Mutex
	frames    []outFrame
	bytes     int  // the size of frames
	writing   bool // the writer goroutine runs
	closed    bool // no frame is accepted any more
	shed      bool // a frame was refused for want of room: push refuses every later one
	closeCode int
	closing   bool          // after the queued frames, close with closeCode
	hangUp    bool          // and close the socket at once, without waiting for the peer's answer
	room      chan struct{} // signalled when the writer took frames (pushWait waits on it)
	done      chan struct{} // closed when the queue is closed and the writer has stopped
	doneOnce  sync.Once     // the writer and stop may both find the queue finished
}

// maxQueuedBytes bounds the bytes of the frames queued on one connection: beyond, push fails as
// beyond limit frames. Server frames may be as large as a client accepts, and a page of calls
// can be; a frame that large still queues alone.
const maxQueuedBytes = protocol.MaxServerFrameBytes

func newSendQueue(conn *wsconn.Conn, limit int, timeout time.Duration, written func(outFrame)) *sendQueue {
	return &sendQueue{conn: conn, limit: limit, timeout: timeout, written: written,
		room: make(chan struct{}, 1), done: make(chan struct{})}
}

// push queues frame; it returns false when the queue is full (limit frames, or maxQueuedBytes
// with this one) or closed. A frame refused for want of room sheds the consumer: push refuses
// every later frame too, even once the writer has made room, so that nothing reaches the
// client after a frame it never got (it resumes after the last event it received, and would
// skip the refused one).
func (q *sendQueue) push(frame outFrame) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.roomLocked(frame) {
		q.shed = true
	}
	if q.closed || q.closing || q.shed {
		return false
	}
	q.appendLocked(frame)
	return true
}

// roomLocked reports whether frame fits in the queue; an empty queue takes any frame.
func (q *sendQueue) roomLocked(frame outFrame) bool {
	return len(q.frames) == 0 || len(q.frames) < q.limit && q.bytes+frame.Len() <= maxQueuedBytes
}

// appendLocked queues frame and starts the writer.
func (q *sendQueue) appendLocked(frame outFrame) {
	q.frames = append(q.frames, frame)
	q.bytes += frame.Len()
	q.startLocked()
}

// shedConsumer makes push refuse every frame from now on, as after a frame it had no room for.
func (q *sendQueue) shedConsumer() {
	q.mu.Lock()
	q.shed = true
	q.mu.Unlock()
}

// pushWait queues frame, waiting for room; it returns false when the queue closes or ctx ends.
// It is for the catch-up, whose frames come before every frame push may have refused.
func (q *sendQueue) pushWait(ctx context.Context, frame outFrame) bool {
	for {
		q.mu.Lock()
		if q.closed || q.closing {
			q.mu.Unlock()
			return false
		}
		if q.roomLocked(frame) {
			q.appendLocked(frame)
			q.mu.Unlock()
			return true
		}
		q.mu.Unlock()
		select {
		case <-q.room:
		case <-q.done:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// closeWith queues last (the kicked frame) and then a close with code; with discard, the
// frames still queued are dropped first; with hangUp, the socket is closed as soon as the close
// frame is written, instead of giving the peer wsconn.CloseTimeout to answer. Later frames are
// refused. It returns false when the queue was already closing.
func (q *sendQueue) closeWith(last outFrame, code int, discard, hangUp bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.closing {
		return false
	}
	if discard {
		q.frames, q.bytes = nil, 0
	}
	q.closing, q.closeCode, q.hangUp = true, code, hangUp
	q.appendLocked(last)
	return true
}

// stop refuses further frames and ends the writer; the connection is being closed.
func (q *sendQueue) stop() {
	q.mu.Lock()
	q.closed = true
	q.frames, q.bytes = nil, 0
	running := q.writing
	q.mu.Unlock()
	if !running {
		q.finish()
	}
}

// finish closes done, once.
func (q *sendQueue) finish() {
	q.doneOnce.Do(func() { close(q.done) })
}

func (q *sendQueue) startLocked() {
	if !q.writing {
		q.writing = true
		go q.write()
	}
}

// write sends queued frames until none is left, then exits; it closes the connection after a
// kick's frames, or at once when a write fails.
func (q *sendQueue) write() {
	for {
		q.mu.Lock()
		frames, closing, code, hangUp, closed := q.frames, q.closing, q.closeCode, q.hangUp, q.closed
		q.frames, q.bytes = nil, 0
		if len(frames) == 0 {
			q.writing = false
			q.mu.Unlock()
			if closed {
				q.finish()
			}
			return
		}
		q.mu.Unlock()
		select {
		case q.room <- struct{}{}:
		default:
		}
		n, err := q.conn.WriteTexts(q.timeout, frames)
		for _, f := range frames[:n] {
			q.written(f)
		}
		if err != nil {
			q.conn.CloseNow()
			q.markClosed()
			return
		}
		if closing { // the kicked frame was the last one: nothing is queued after it
			q.conn.Close(code)
			if hangUp {
				q.conn.CloseNow()
			}
			q.markClosed()
			return
		}
	}
}

func (q *sendQueue) markClosed() {
	q.mu.Lock()
	q.closed, q.writing, q.frames, q.bytes = true, false, nil, 0
	q.mu.Unlock()
	q.finish()
}

// isEvent reports whether frame is a call event (for the delivered-events metric).
func isEvent(frame outFrame) bool { return bytes.HasPrefix(frame[0], eventPrefix) }

var eventPrefix = []byte(`{"event":"call`) // call events; not kicked
