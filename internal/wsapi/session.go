package wsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// Bad frames: the 5th within a minute closes the connection (protocol.md "Transport").
const (
	badFrameLimit  = 5
	badFrameWindow = time.Minute
	// maxConcurrentOps bounds the ops of one connection being carried out at once; the reader
	// waits for a slot, so a client cannot make the server hold unbounded work.
	maxConcurrentOps = 32
	// refusalTimeout bounds writing the one frame that refuses a connection.
	refusalTimeout = 5 * time.Second
	catchUpPage    = 256
)

// session is one WebSocket connection. The reader goroutine (run) decodes frames and starts
// ops; one writer goroutine sends the queued frames; bus deliveries and op replies only queue.
type session struct {
	srv  *Server
	conn *websocket.Conn
	ip   string

	out     chan []byte   // frames to write, bounded: a full queue sheds the consumer
	closing atomic.Bool   // set by kick: later frames are dropped so the kicked frame fits
	stop    chan struct{} // closed when the session ends: enqueuers stop waiting
	ops     chan struct{} // op slots
	wg      sync.WaitGroup
	reqs    *bucket

	mu          sync.Mutex
	userID      string
	deviceID    string
	loggedIn    bool
	holdsUnauth bool
	ended       bool
	kicked      bool
	catchingUp  bool
	buffered    []switchboard.LogEntry
	lastSeq     int64 // highest seq of the user's log handled by this session
	badFrames   []time.Time
	idle        *time.Timer
	unsubscribe func()
	closeWith   websocket.StatusCode
}

func newSession(srv *Server, conn *websocket.Conn, ip string) *session {
	return &session{srv: srv, conn: conn, ip: ip, holdsUnauth: true,
		out: make(chan []byte, srv.cfg.SendQueue), stop: make(chan struct{}),
		ops:  make(chan struct{}, maxConcurrentOps),
		reqs: newBucket(srv.cfg.MaxRequestsPerSecond, time.Second, srv.now())}
}

func (s *session) run(ctx context.Context) {
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); s.write(ctx) }()

	loginTimer := time.AfterFunc(s.srv.cfg.LoginTimeout, func() {
		if !s.isLoggedIn() {
			s.kick(protocol.KickLoginTimeout)
		}
	})
	s.mu.Lock()
	s.idle = time.AfterFunc(s.srv.cfg.HeartbeatTimeout, func() { s.kick(protocol.KickHeartbeat) })
	s.mu.Unlock()

	for {
		typ, frame, err := s.conn.Read(ctx)
		if err != nil {
			break
		}
		s.idle.Reset(s.srv.cfg.HeartbeatTimeout)
		if typ != websocket.MessageText {
			s.badFrame("binary frames are not allowed")
			continue
		}
		s.handle(ctx, frame)
	}

	loginTimer.Stop()
	s.idle.Stop()
	s.wg.Wait() // ops in flight finish (their commits are durable) before the session ends
	s.end()
	<-writerDone
}

// end releases everything the session holds. The connection is already closed or closing.
func (s *session) end() {
	s.mu.Lock()
	s.ended = true
	close(s.stop)
	unsub, loggedIn, user, device := s.unsubscribe, s.loggedIn, s.userID, s.deviceID
	holdsUnauth := s.holdsUnauth
	s.holdsUnauth = false
	s.mu.Unlock()
	if unsub != nil {
		unsub()
	}
	if holdsUnauth {
		s.srv.releaseUnauth(s.ip)
	}
	if loggedIn {
		s.srv.unregister(s)
		s.srv.backend.DeviceDisconnected(user, device)
	}
	s.conn.CloseNow()
}

// write sends queued frames until the session ends; a nil frame closes the connection with
// the kick's code after the frames before it were sent.
func (s *session) write(ctx context.Context) {
	for {
		select {
		case <-s.stop:
			return
		case frame := <-s.out:
			if frame == nil {
				s.mu.Lock()
				code := s.closeWith
				s.mu.Unlock()
				s.conn.Close(code, "")
				return
			}
			// A peer that takes no frame for heartbeatTimeout is as dead as a silent one; a
			// merely slow one overflows the queue first and is kicked with slowConsumer.
			wctx, cancel := context.WithTimeout(ctx, s.srv.cfg.HeartbeatTimeout)
			err := s.conn.Write(wctx, websocket.MessageText, frame)
			cancel()
			if err != nil {
				s.conn.CloseNow()
				return
			}
			if bytes.HasPrefix(frame, eventPrefix) {
				s.srv.cfg.Observer.EventsDelivered(1)
			}
		}
	}
}

// send queues a frame without blocking; a full queue kicks the session (slowConsumer): the
// client resumes from its lastSeq and loses nothing (R7.2).
func (s *session) send(frame []byte) {
	if s.closing.Load() {
		return
	}
	select {
	case s.out <- frame:
	default:
		go s.kick(protocol.KickSlowConsumer)
	}
}

// sendWait queues a frame, waiting for room while the session lives (catch-up pages).
func (s *session) sendWait(ctx context.Context, frame []byte) bool {
	select {
	case s.out <- frame:
		return true
	case <-s.stop:
		return false
	case <-ctx.Done():
		return false
	}
}

// kick sends the kicked event (when the queue has room), then closes with the reason's code.
func (s *session) kick(reason string) {
	k, _ := protocol.KickFor(reason)
	s.mu.Lock()
	if s.kicked || s.ended {
		s.mu.Unlock()
		return
	}
	s.kicked = true
	s.closeWith = websocket.StatusCode(k.CloseCode)
	s.mu.Unlock()
	s.closing.Store(true)
	if reason == protocol.KickSlowConsumer {
		s.discardQueue() // the client resumes from its lastSeq: what is queued is not lost
	}
	data, _ := json.Marshal(protocol.Kicked{Reason: k.Reason, Retry: k.Retry})
	frame, _ := json.Marshal(protocol.Event{Event: protocol.EventKicked, Data: data})
	select {
	case s.out <- frame:
	default:
		s.conn.Close(websocket.StatusCode(k.CloseCode), reason)
		return
	}
	select {
	case s.out <- nil:
	default:
		s.conn.Close(websocket.StatusCode(k.CloseCode), reason)
	}
}

// discardQueue drops the frames not yet handed to the writer.
func (s *session) discardQueue() {
	for {
		select {
		case <-s.out:
		default:
			return
		}
	}
}

func (s *session) reply(id int64, result any) {
	raw, err := json.Marshal(result)
	if err != nil {
		s.sendError(id, protocol.CodeInternal, "internal error")
		return
	}
	frame, _ := json.Marshal(protocol.Reply{ID: id, Result: raw})
	s.send(frame)
}

func (s *session) sendError(id int64, code protocol.Code, message string) {
	frame, _ := json.Marshal(protocol.Reply{ID: id, Error: &protocol.Error{Code: code, Message: message}})
	s.send(frame)
}

// badFrame answers a frame that is not a request and counts it (protocol.md "Transport").
func (s *session) badFrame(message string) {
	s.sendError(0, protocol.CodeInvalidParameter, message)
	now := s.srv.now()
	s.mu.Lock()
	kept := s.badFrames[:0]
	for _, t := range s.badFrames {
		if now.Sub(t) < badFrameWindow {
			kept = append(kept, t)
		}
	}
	s.badFrames = append(kept, now)
	tooMany := len(s.badFrames) >= badFrameLimit
	s.mu.Unlock()
	if tooMany {
		s.kick(protocol.KickBadFrames)
	}
}

func (s *session) isLoggedIn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loggedIn
}

// deliver receives committed entries of the session's user from the bus, in order.
func (s *session) deliver(entries []switchboard.LogEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if s.catchingUp {
		s.buffered = append(s.buffered, entries...)
		if len(s.buffered) > s.srv.cfg.SendQueue {
			s.buffered = nil
			go s.kick(protocol.KickSlowConsumer)
		}
		return
	}
	s.forwardLocked(entries)
}

// forwardLocked queues the entries after lastSeq that target this device. s.mu is held.
func (s *session) forwardLocked(entries []switchboard.LogEntry) {
	for _, e := range entries {
		if e.Seq <= s.lastSeq {
			continue
		}
		s.lastSeq = e.Seq
		if e.Includes(s.deviceID) {
			s.send(eventFrame(e))
		}
	}
}

var eventPrefix = []byte(`{"event":"call`) // call events; not kicked

// eventFrame builds {"event":…,"seq":…,"data":…} from the stored, already encoded data.
func eventFrame(e switchboard.LogEntry) []byte {
	b := make([]byte, 0, len(e.Data)+len(e.Event)+40)
	b = append(b, `{"event":"`...)
	b = append(b, e.Event...)
	b = append(b, `","seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"data":`...)
	b = append(b, e.Data...)
	return append(b, '}')
}

var errSessionEnded = errors.New("session ended")
