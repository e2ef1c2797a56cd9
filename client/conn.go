package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/protocol"
)

// conn is one WebSocket connection. Its reader goroutine hands replies to the callback of the
// matching request and events to onEvent, in arrival order; it never blocks on the handler.
// The connection is dead once done is closed, and then never used again.
type conn struct {
	ws      *websocket.Conn
	log     *slog.Logger
	onEvent func(cn *conn, f protocol.Frame, queued func()) // queued: nil, or run as f is queued
	onDead  func(*conn)
	start   func(func()) bool // runs a goroutine the client waits for; false once it is finished

	nextID   atomic.Int64 // the last request id used; ids are positive and increasing
	lastRecv atomic.Int64 // the mono() reading, in nanoseconds, of the last frame received
	// loggedIn is set by the reply of a successful login, on the reader goroutine: the call
	// events that follow it are the session's, those before it are dropped (Client.onEvent).
	loggedIn atomic.Bool

	// raw is the upgraded connection under ws: closing it ends the connection at once, even
	// while the WebSocket library waits in a close handshake.
	raw io.Closer

	mu        sync.Mutex
	pending   map[int64]replyFunc
	kick      *protocol.Kicked // the kicked event received, if any
	cause     error            // why the connection died; set once
	writing   chan struct{}    // holds a token while a request's frame is written
	done      chan struct{}
	abandoned chan struct{} // closed when the client gives the connection up: no reply is awaited
	abandon   sync.Once
}

// closeGrace bounds the close handshake of a graceful close: a server that does not answer
// within it (busy, or a network gone without a close) has its connection closed at once.
const closeGrace = time.Second

// dialConn opens a WebSocket to u and starts its reader with start, which refuses once the
// client is finished: dialConn then closes the WebSocket and returns ErrClosed. Its other
// errors name u without its password, a credential the handshake sends, since apps log them.
func dialConn(ctx context.Context, u *url.URL, o *Options, start func(func()) bool,
	onEvent func(*conn, protocol.Frame, func()), onDead func(*conn)) (*conn, error) {
	hc := o.HTTPClient
	if hc == nil {
		hc = newHandshakeClient(o.DialContext, o.TLSConfig)
	}
	upgrade := &upgradeRecorder{next: hc.Transport}
	recording := *hc
	recording.Transport = upgrade
	ws, _, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient: &recording,
		HTTPHeader: o.HTTPHeader,
	})
	if err != nil {
		return nil, fmt.Errorf("dialtone: dial %s: %w", u.Redacted(), err)
	}
	ws.SetReadLimit(protocol.MaxServerFrameBytes)
	cn := &conn{
		ws:        ws,
		raw:       upgrade.conn,
		log:       o.Logger,
		onEvent:   onEvent,
		onDead:    onDead,
		start:     start,
		pending:   make(map[int64]replyFunc),
		done:      make(chan struct{}),
		abandoned: make(chan struct{}),
		writing:   make(chan struct{}, 1),
	}
	cn.lastRecv.Store(int64(mono()))
	if !start(cn.readLoop) {
		ws.CloseNow()
		return nil, ErrClosed
	}
	return cn, nil
}

func (cn *conn) readLoop() {
	var buf bytes.Buffer
	for {
		typ, data, err := cn.read(&buf)
		if err != nil {
			cn.die(err)
			return
		}
		cn.lastRecv.Store(int64(mono()))
		if typ != websocket.MessageText {
			cn.log.Warn("dialtone: ignoring a binary frame")
			continue
		}
		if !cn.receive(data) {
			return
		}
	}
}

// keptReadBuffer is the largest read buffer a connection keeps from one message to the next.
const keptReadBuffer = 64 << 10

// read reads the next message, as websocket.Conn.Read does, through buf, which it reuses from
// one message to the next, into a slice of exactly its length: one allocation per message,
// where Read's growing slices take several.
func (cn *conn) read(buf *bytes.Buffer) (websocket.MessageType, []byte, error) {
	typ, r, err := cn.ws.Reader(context.Background()) // a context with no Done costs nothing per read
	if err != nil {
		return 0, nil, err
	}
	if buf.Cap() > keptReadBuffer {
		*buf = bytes.Buffer{}
	}
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return 0, nil, err
	}
	return typ, bytes.Clone(buf.Bytes()), nil
}

// receive decodes one text frame from the server and dispatches it, and reports false when
// the reader must stop (see dispatch). A frame that is not JSON, or whose envelope fields do
// not have their types (decodeFrame), is logged; when it still reads as the reply to a request
// (replyID), that request fails with ErrProtocol, since it was its one reply, and otherwise
// the frame is ignored. The frame's result or data is a slice of data, which must not change
// afterwards.
func (cn *conn) receive(data []byte) bool {
	f, err := decodeFrame(data)
	if err == nil {
		return cn.dispatch(f)
	}
	if id := replyID(data); id > 0 {
		cn.log.Warn("dialtone: a reply that does not decode", "id", id, "err", err)
		cn.answer(id, protocol.Frame{ID: id}, fmt.Errorf("%w: the reply does not decode: %w", ErrProtocol, err))
		return true
	}
	cn.log.Warn("dialtone: ignoring an undecodable frame", "err", err)
	return true
}

// dispatch routes one frame: an event to onEvent, a reply to its request's callback. It
// reports false when the frame was a kick, which ended the connection (endForKick): the reader
// stops.
func (cn *conn) dispatch(f protocol.Frame) bool {
	if f.Event == protocol.EventKicked {
		kick := cn.kickOf(f.Data)
		f.Data, _ = json.Marshal(kick) // the handler hears the kick the connection ends for
		// Recorded as the kick is queued for the handler, at once for both: whoever acts on the
		// kick (reason), and may finish the client, does so once OnKicked is queued, and the
		// handler's OnKicked sees the connection ended for it (kicked).
		cn.onEvent(cn, f, func() { cn.hearKick(kick) })
		cn.endForKick()
		return false
	}
	if f.Event != "" {
		cn.onEvent(cn, f, nil)
		return true
	}
	if f.ID == 0 {
		switch {
		case f.Error != nil && f.Error.Code == protocol.CodeRateLimited:
			// The server refuses a connection with this frame, then closes it (too many
			// connections not logged in from this address): it is why the connection dies.
			cn.setCause(f.Error)
		case f.Error != nil:
			cn.log.Warn("dialtone: the server refused a frame", "err", f.Error)
		}
		return true
	}
	cn.answer(f.ID, f, nil)
	return true
}

// replyFunc runs, on the reader goroutine, with the reply to a request: f, or the ErrProtocol
// of a reply that could not be read (bad), its id being all f then holds.
type replyFunc func(f protocol.Frame, bad error)

// answer runs the callback of request id with its reply (see replyFunc), unless the request
// no longer awaits one.
func (cn *conn) answer(id int64, f protocol.Frame, bad error) {
	cn.mu.Lock()
	cb := cn.pending[id]
	delete(cn.pending, id)
	cn.mu.Unlock()
	if cb != nil {
		cb(f, bad)
	}
}

// kickOf returns the kick that a kicked event's data tells. Data that tells no reason (none, of
// another shape, or without a reason) is still a kick, which the close that follows it names
// by its code (awaitKickClose).
func (cn *conn) kickOf(data json.RawMessage) protocol.Kicked {
	var k protocol.Kicked
	if json.Unmarshal(data, &k) != nil {
		return cn.awaitKickClose(protocol.Kicked{})
	}
	if k.Reason == "" {
		return cn.awaitKickClose(k)
	}
	return k
}

// awaitKickClose reads the connection until the server's close, which follows a kicked event
// at once, for at most closeGrace, and returns the kick of the table whose close code it has.
// A close that does not come in time, or with another code, names no kick: it returns
// unnamed, the event's own, of no reason.
func (cn *conn) awaitKickClose(unnamed protocol.Kicked) protocol.Kicked {
	ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
	defer cancel()
	for {
		_, _, err := cn.ws.Read(ctx) // a read cut short by ctx closes the connection
		if err == nil {
			continue // nothing is carried out after a kick
		}
		if k, ok := protocol.KickByCloseCode(int(websocket.CloseStatus(err))); ok {
			return protocol.Kicked{Reason: k.Reason, Retry: k.Retry}
		}
		return unnamed
	}
}

// hearKick records the kicked event k. From then on nothing more is sent on the connection:
// the server no longer reads it.
func (cn *conn) hearKick(k protocol.Kicked) {
	cn.mu.Lock()
	cn.kick = &k
	cn.mu.Unlock()
}

// endForKick ends, on the reader goroutine, a connection that heard a kicked event, without
// waiting for the server's close, which a network dying at that moment or a proxy holding it
// may lose (docs/behaviour.md §12, "A kick whose close is lost"). The connection is dead at
// once, with the kick as the reason (reason), so the client reconnects or ends as for the
// server's close; its socket gets a normal close on a goroutine of its own, which waits for
// the server's answer at most closeGrace.
func (cn *conn) endForKick() {
	if !cn.start(func() { cn.closeGracefully(errConnLost) }) {
		cn.ws.CloseNow() // the client is finished: its goroutines are all started
	}
	cn.end(errConnLost)
}

// die closes the socket and ends the connection with err (see end): its reader failed.
func (cn *conn) die(err error) {
	cn.ws.CloseNow()
	cn.end(err)
}

// end records why the connection ended (the first cause wins), closes done and tells onDead.
func (cn *conn) end(err error) {
	cn.mu.Lock()
	if cn.cause == nil {
		cn.cause = err
	}
	cn.pending = nil
	cn.mu.Unlock()
	close(cn.done)
	cn.onDead(cn)
}

// close ends the connection at once with cause as the reason of its death, unless it already
// had one. It does not wait for the peer: the connection may be dead or silent. A connection
// that heard a kick is left to the normal close endForKick began.
func (cn *conn) close(cause error) {
	cn.setCause(cause)
	if !cn.kicked() {
		cn.ws.CloseNow()
	}
}

// closeGracefully ends the connection with a normal closure handshake, which waits for the
// peer at most closeGrace. The requests waiting for a reply give up at once: the client no
// longer wants one.
func (cn *conn) closeGracefully(cause error) {
	cn.setCause(cause)
	cn.abandon.Do(func() { close(cn.abandoned) })
	t := time.AfterFunc(closeGrace, func() { cn.raw.Close() })
	defer t.Stop()
	cn.ws.Close(websocket.StatusNormalClosure, "")
}

func (cn *conn) setCause(cause error) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.cause == nil {
		cn.cause = cause
	}
}

func (cn *conn) isDead() bool {
	select {
	case <-cn.done:
		return true
	default:
		return false
	}
}

// kicked reports whether the connection heard a kicked event: it is ended for that kick, even
// while its close has not come (docs/behaviour.md §12, "A kick whose close is lost").
func (cn *conn) kicked() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.kick != nil
}

// reason tells, once the connection is dead, why: a *KickError when the server kicked it (by a
// kicked event or a close code of the kick table), else the recorded cause.
func (cn *conn) reason() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.kick != nil {
		k := byKickTable(*cn.kick)
		return &KickError{Reason: k.Reason, Retry: k.Retry}
	}
	if k, ok := protocol.KickByCloseCode(int(websocket.CloseStatus(cn.cause))); ok {
		return &KickError{Reason: k.Reason, Retry: k.Retry}
	}
	return cn.cause
}

// send writes a request, whose size checkFrameSize has accepted and whose data is
// json.Marshal's output or nil (appendRequest carries it as it is), and registers cb to run, on
// the reader goroutine, with its reply. It returns errConnLost when the connection is (or
// becomes) dead or heard a kick, and ctx's error when ctx ends before the frame was written.
func (cn *conn) send(ctx context.Context, op string, data json.RawMessage, idem string,
	cb replyFunc) (int64, error) {
	return cn.sendWithin(ctx, 0, nil, op, data, idem, cb)
}

// sendWithin is send with a write budget, when d > 0: a frame still not written d after its
// write began means the peer stopped reading (its receive window and this socket's send
// buffer are full), and the connection is closed with stalled as the reason of its death,
// which sendWithin then returns; a frame that waited d for an earlier one is not sent
// (errWriteBusy).
func (cn *conn) sendWithin(ctx context.Context, d time.Duration, stalled error, op string,
	data json.RawMessage, idem string, cb replyFunc) (int64, error) {
	id := cn.nextID.Add(1)
	frame := appendRequest(make([]byte, 0, len(op)+len(data)+len(idem)+maxEnvelopeBytes), id, op, data, idem)
	cn.mu.Lock()
	if cn.pending == nil || cn.kick != nil {
		cn.mu.Unlock()
		return 0, errConnLost
	}
	cn.pending[id] = cb
	cn.mu.Unlock()
	if err := ctx.Err(); err != nil {
		cn.forget(id)
		return 0, err
	}
	if err := cn.write(ctx, op, frame, d, stalled); err != nil {
		cn.forget(id)
		return 0, err
	}
	return id, nil
}

// write writes the frame of a request for op, one frame at a time. Waiting for an earlier
// frame ends with ctx's error when ctx ends, or with errWriteBusy once budget (when > 0) has
// passed, and the connection stays. The write itself is cut short when ctx ends, or once
// budget has passed again, by closing the connection under it (a frame cut short cannot be
// finished), so write records the reason of the connection's death first,
// lest the reader's error on the closed connection become it: stalled after the budget, else
// one naming op and wrapping ctx's error. A write that ended just as it was cut short took as
// long, and closes the connection all the same. write returns nil once the frame is written,
// stalled or ctx's error when cut short, and errConnLost when the connection failed.
func (cn *conn) write(ctx context.Context, op string, frame []byte, budget time.Duration, stalled error) error {
	if err := cn.waitTurn(ctx, budget); err != nil {
		return err
	}
	defer func() { <-cn.writing }()
	w := &writeCut{cn: cn}
	if budget > 0 {
		t := time.AfterFunc(budget, func() { w.cutShort(stalled, stalled) })
		defer t.Stop()
	}
	stop := context.AfterFunc(ctx, func() {
		w.cutShort(fmt.Errorf("dialtone: %s: the request's context ended while its frame was being written, "+
			"which ends the connection: %w", op, ctx.Err()), ctx.Err())
	})
	defer stop()
	// The write's own context never ends, which costs the websocket library nothing: the write
	// is cut short by closing its connection.
	return w.end(cn.ws.Write(context.Background(), websocket.MessageText, frame))
}

// waitTurn takes the connection's write token, waiting for the frame being written; see write
// for its errors. The caller gives the token back by receiving from cn.writing.
func (cn *conn) waitTurn(ctx context.Context, budget time.Duration) error {
	var expired <-chan time.Time
	if budget > 0 {
		t := time.NewTimer(budget)
		defer t.Stop()
		expired = t.C
	}
	select {
	case cn.writing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-expired:
		return errWriteBusy
	}
	if err := ctx.Err(); err != nil {
		<-cn.writing
		return err
	}
	return nil
}

// writeCut cuts a write short at most once, and only before it ended.
type writeCut struct {
	cn    *conn
	mu    sync.Mutex
	ended bool
	cut   error // what the write returns once cut short; nil while it is not
}

// cutShort records reason as the connection's, then closes the socket under the write, which
// is to return ret; it does nothing once the write ended or was cut short. It runs on a
// goroutine of its own (a timer's or context.AfterFunc's), and closes the socket outside the
// lock: the close of a TLS connection whose write has just ended may wait for its peer.
func (w *writeCut) cutShort(reason, ret error) {
	if w.markCut(reason, ret) {
		w.cn.raw.Close()
	}
}

// markCut records the write as cut short, to return ret, and reason as the connection's; it
// reports false, and records nothing, once the write ended or was cut short.
func (w *writeCut) markCut(reason, ret error) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended || w.cut != nil {
		return false
	}
	w.cut = ret
	w.cn.setCause(reason)
	return true
}

// end marks the write ended with err and returns write's result (see conn.write), closing the
// connection when the write was cut short or failed.
func (w *writeCut) end(err error) error {
	w.mu.Lock()
	w.ended = true
	cut := w.cut
	w.mu.Unlock()
	switch {
	case cut != nil:
		w.cn.close(cut) // the reason of its death is already recorded
		return cut
	case err != nil:
		w.cn.close(err)
		return errConnLost
	}
	return nil
}

// forget drops the callback of request id, and reports false when there was none: the reader
// has taken it to run with the reply, or the connection died.
func (cn *conn) forget(id int64) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	_, ok := cn.pending[id]
	delete(cn.pending, id)
	return ok
}

// reply is a request's reply as its callback got it (see replyFunc).
type reply struct {
	f   protocol.Frame
	bad error
}

// roundTrip sends a request and waits for its reply. hook, when not nil, runs on the reader
// goroutine with the reply before any later frame is handled, unless the reply could not be
// read: roundTrip then returns its ErrProtocol. A reply taken by the reader before ctx ended
// is returned even when ctx ends meanwhile, so that a hook's effect is never followed by a
// failure. It returns errConnLost when the connection dies, or is abandoned by a graceful
// close, before the reply.
func (cn *conn) roundTrip(ctx context.Context, op string, data json.RawMessage, idem string,
	hook func(protocol.Frame)) (protocol.Frame, error) {
	ch := make(chan reply, 1)
	id, err := cn.send(ctx, op, data, idem, func(f protocol.Frame, bad error) {
		if hook != nil && bad == nil {
			hook(f)
		}
		ch <- reply{f, bad}
	})
	if err != nil {
		return protocol.Frame{}, err
	}
	var giveUp error
	select {
	case r := <-ch:
		return r.f, r.bad
	case <-cn.done:
		select {
		case r := <-ch: // the reply won the race with the close
			return r.f, r.bad
		default:
			return protocol.Frame{}, errConnLost
		}
	case <-cn.abandoned:
		giveUp = errConnLost
	case <-ctx.Done():
		giveUp = ctx.Err()
	}
	if cn.forget(id) {
		return protocol.Frame{}, giveUp
	}
	// The reader took the reply before, and has run or is running hook with it: the reply is
	// the answer. The reader closes done only after the callback returned.
	select {
	case r := <-ch:
		return r.f, r.bad
	case <-cn.done:
		select {
		case r := <-ch:
			return r.f, r.bad
		default:
			return protocol.Frame{}, giveUp
		}
	}
}

// silentFor returns how long ago the last frame arrived, on the monotonic clock: a step of the
// wall clock neither drops a healthy connection nor hides a silent one.
func (cn *conn) silentFor() time.Duration {
	return mono() - time.Duration(cn.lastRecv.Load())
}
