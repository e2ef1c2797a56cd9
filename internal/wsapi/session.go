package wsapi

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/internal/wire"
	"github.com/dialtone/dialtone/internal/wsconn"
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
// ops; the send queue writes frames; bus deliveries and op replies only queue.
type session struct {
	srv      *Server
	conn     *wsconn.Conn
	ip       string // the client's address (Config.TrustedProxies), which the limit of connections not logged in counts by
	accepted uint64 // the connection's place in the order the server accepted connections

	out  *sendQueue    // frames to write, bounded: a full queue sheds the consumer
	ops  chan struct{} // op slots
	wg   sync.WaitGroup
	reqs *bucket

	mu          sync.Mutex
	userID      string
	deviceID    string
	loggedIn    bool
	holdsUnauth bool // counted in Server.unauth; changed with Server.mu and s.mu held (giveBackUnauth)
	ended       bool
	kicked      bool
	draining    bool // the server shuts down: the session takes no request any more (shutDown)
	catchingUp  bool
	buffered    []switchboard.LogEntry
	lastSeq     int64 // highest seq of the user's log handled by this session
	// replaced holds the earlier connections of the device that this one replaced (R6.2), and
	// those they had replaced, that had not ended when it logged in: their ops in flight are the
	// device's too (waitDeviceOps). Set once, by register; the login kicks them once it is sure
	// to succeed, or gives the device back to one of them (reinstate).
	replaced    []*session
	badFrames   []time.Time
	idle        *time.Timer
	unsubscribe func()
}

func newSession(srv *Server, conn *wsconn.Conn, ip string, accepted uint64) *session {
	// A peer that takes no frame for heartbeatTimeout is as dead as a silent one; a merely
	// slow one overflows the queue first and is kicked with slowConsumer.
	out := newSendQueue(conn, srv.cfg.SendQueue, srv.cfg.HeartbeatTimeout, func(frame outFrame) {
		if isEvent(frame) {
			srv.cfg.Observer.EventsDelivered(1)
		}
	})
	return &session{srv: srv, conn: conn, ip: ip, accepted: accepted, holdsUnauth: true, out: out,
		ops:  make(chan struct{}, maxConcurrentOps),
		reqs: newBucket(srv.cfg.MaxRequestsPerSecond, time.Second, srv.now())}
}

func (s *session) run(ctx context.Context) {
	loginTimer := time.AfterFunc(s.srv.cfg.LoginTimeout, func() { s.kick(protocol.KickLoginTimeout) })
	s.mu.Lock()
	s.idle = time.AfterFunc(s.srv.cfg.HeartbeatTimeout, func() { s.kick(protocol.KickHeartbeat) })
	s.mu.Unlock()

	// This goroutine lives as long as the connection, so it only waits: the frames that arrive
	// are read and handled on a goroutine of the server's pool (with a pooled buffer), and the
	// waiting stack stays small however deep handling goes. Frames are still handled one after
	// another.
	read := make(chan error, 1)
	readArrived := func() { read <- s.conn.Read(func(m wsconn.Message) { s.receive(ctx, m) }) } // made once, not per wake-up
	for s.conn.Wait() == nil {
		s.srv.tasks.Go(readArrived)
		if err := <-read; err != nil {
			break
		}
	}

	loginTimer.Stop()
	s.idle.Stop()
	s.wg.Wait() // ops in flight finish (their commits are durable) before the session ends
	s.end()
	<-s.out.done
}

// receive handles one message from the client.
func (s *session) receive(ctx context.Context, m wsconn.Message) {
	s.idle.Reset(s.srv.cfg.HeartbeatTimeout)
	if m.Binary {
		s.badFrame("binary frames are not allowed")
		return
	}
	s.handle(ctx, m.Data)
}

// end releases everything the session holds. The connection is already closed or closing.
func (s *session) end() {
	s.mu.Lock()
	s.ended = true
	unsub, loggedIn, user, device := s.unsubscribe, s.loggedIn, s.userID, s.deviceID
	s.mu.Unlock()
	if unsub != nil {
		unsub()
	}
	s.giveBackUnauth()
	if loggedIn {
		s.srv.unregister(s)
		s.srv.backend.DeviceDisconnected(user, device)
	}
	s.out.stop()
	s.conn.CloseNow()
}

// giveBackUnauth gives back the session's place among its address's connections not logged
// in, if it still holds one; it may be called any number of times. It takes Server.mu before
// s.mu, as register does.
func (s *session) giveBackUnauth() {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.mu.Lock()
	holds := s.holdsUnauth
	s.holdsUnauth = false
	s.mu.Unlock()
	if holds {
		s.srv.releaseUnauthLocked(s.ip)
	}
}

// send queues a frame without blocking; a full queue kicks the session (slowConsumer) and
// takes no frame after the one it refused: the client resumes from its lastSeq and loses
// nothing (R7.2).
func (s *session) send(frame []byte) {
	s.sendFrame(outFrame{frame})
}

// sendFrame is send for a frame in parts.
func (s *session) sendFrame(frame outFrame) {
	if !s.out.push(frame) {
		go s.kick(protocol.KickSlowConsumer) // a no-op when the queue is closing anyway
	}
}

// sendWait queues a frame, waiting for room while the session lives (catch-up pages).
func (s *session) sendWait(ctx context.Context, frame outFrame) bool {
	return s.out.pushWait(ctx, frame)
}

// kick sends the kicked event, then closes with the reason's code. For slowConsumer the frames
// still queued are dropped first: the client resumes from its lastSeq and loses nothing. For
// heartbeatTimeout the socket is closed right after the close frame: a peer silent that long is
// gone and will not answer it, and waiting would keep its device connected past the moment
// the connection was closed, delaying the device's loss (R6.1). Nor does it wait for the
// socket to take those frames: a peer that stopped reading before it vanished leaves a write
// blocked on a full buffer, which would hold the close for up to the write timeout. The socket
// is closed hangUpGrace after the kick at the latest, which ends such a write, also when the
// session was kicked before for another reason and is still closing. loginTimeout kicks only a
// session not logged in: a login that registered its device in time completes, and one that
// had not yet registered it when the kick came changes nothing (register).
func (s *session) kick(reason string) {
	k, _ := protocol.KickFor(reason)
	s.mu.Lock()
	if s.ended || reason == protocol.KickLoginTimeout && s.loggedIn {
		s.mu.Unlock()
		return
	}
	if reason == protocol.KickHeartbeat {
		time.AfterFunc(hangUpGrace(s.srv.cfg.HeartbeatTimeout), func() { s.conn.CloseNow() })
	}
	if s.kicked {
		s.mu.Unlock()
		return
	}
	s.kicked = true
	loggedIn := s.loggedIn
	s.mu.Unlock()
	// A connection kicked before it logged in carries out nothing more: its place among its
	// address's connections not logged in is free now, not once its close handshake ends, so
	// the client's next connection is not refused for it. Likewise a device logged out is lost
	// at once (R6.1): it stops counting among its user's connected devices (R6.2, §9) now.
	s.giveBackUnauth()
	if loggedIn && reason == protocol.KickLogout {
		s.srv.unregister(s)
	}
	s.srv.cfg.Observer.Kicked(reason)
	data, _ := json.Marshal(protocol.Kicked{Reason: k.Reason, Retry: k.Retry})
	frame, _ := json.Marshal(protocol.Event{Event: protocol.EventKicked, Data: data})
	s.out.closeWith(outFrame{frame}, k.CloseCode, reason == protocol.KickSlowConsumer, reason == protocol.KickHeartbeat)
}

// hangUpGrace is how long a heartbeatTimeout kick leaves the socket to take the kicked event
// and the close frame: a second, or a tenth of the timeout when that is shorter.
func hangUpGrace(heartbeatTimeout time.Duration) time.Duration {
	return min(time.Second, heartbeatTimeout/10)
}

func (s *session) reply(id int64, result any) {
	raw, err := json.Marshal(result)
	if err != nil {
		s.sendError(id, protocol.CodeInternal, wire.MsgInternal)
		return
	}
	s.send(replyFrame(id, raw))
}

// replyFrame builds the frame of protocol.Reply{ID: id, Result: result} from result as
// json.Marshal encodes it (compact, with HTML escaped), byte for byte as json.Marshal would
// encode the reply, without encoding result a second time.
func replyFrame(id int64, result []byte) []byte {
	b := make([]byte, 0, len(result)+40)
	b = append(b, '{')
	if id != 0 {
		b = append(b, `"id":`...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, ',')
	}
	b = append(b, `"result":`...)
	b = append(b, result...)
	return append(b, '}')
}

func (s *session) sendError(id int64, code protocol.Code, message string) {
	frame, _ := json.Marshal(protocol.Reply{ID: id, Error: &protocol.Error{Code: code, Message: message}})
	s.send(frame)
}

// badFrame answers a frame that is not a request, counts it among the session's bad frames
// (protocol.md "Transport") and, as a request it has no op of, under unknownOp for metrics.
func (s *session) badFrame(message string) {
	start := time.Now()
	s.sendError(0, protocol.CodeInvalidParameter, message)
	s.srv.cfg.Observer.Op(unknownOp, int(protocol.CodeInvalidParameter), time.Since(start))
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

// waitDeviceOps waits until every op in flight of s's device has been carried out, whatever
// connection of the device it came on: those of s, then those of the earlier connections of
// the device that s replaced (R6.2). Each of those is kicked first, if it is not already (it
// is, once s's login has replied): a kicked session starts no op (startOp), so none of the
// device's ops commits after the wait but those s itself starts afterwards. The caller is s's
// reader, or s is kicked. A logout loses the device only after it, so no op of the device
// commits after the device's loss (R6.1, R4.3, R6.4).
func (s *session) waitDeviceOps() {
	s.wg.Wait()
	for _, r := range s.replacedSessions() {
		r.kick(protocol.KickReplaced)
		r.wg.Wait()
	}
}

// stillRunning returns s and the sessions it replaced that have not ended: those that may
// still have ops in flight (waitDeviceOps). An ended session has carried out all of its ops.
func (s *session) stillRunning() []*session {
	var running []*session
	for _, r := range append([]*session{s}, s.replacedSessions()...) {
		r.mu.Lock()
		if !r.ended {
			running = append(running, r)
		}
		r.mu.Unlock()
	}
	return running
}

// replacedSessions returns the sessions s replaced (register).
func (s *session) replacedSessions() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replaced
}

// takesRequests reports whether a frame read now is handled: not once the session was kicked
// or began to shut down.
func (s *session) takesRequests() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.kicked && !s.draining
}

// stopTaking makes the session take no request from now on (takesRequests, startOp): a frame
// read afterwards gets no reply, and its client sends it again once reconnected. Once it
// returns, s.wg counts every op the session will ever carry out.
func (s *session) stopTaking() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
}

// shutDown kicks s with shutdown once its ops in flight are answered (stopTaking was called),
// or once ctx ends: a request the server carries out gets its reply before the kick.
func (s *session) shutDown(ctx context.Context) {
	answered := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(answered)
	}()
	select {
	case <-answered:
	case <-ctx.Done():
	}
	s.kick(protocol.KickShutdown)
}

// live reports whether the session takes requests and has not ended.
func (s *session) live() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.kicked && !s.draining && !s.ended
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
		for _, e := range entries {
			if e.Seq > s.lastSeq { // not sent by the catch-up already
				s.buffered = append(s.buffered, e)
			}
		}
		if len(s.buffered) > s.srv.cfg.SendQueue {
			s.buffered = nil
			s.out.shedConsumer() // what the catch-up buffers from now on is not sent either
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
			s.sendFrame(eventFrame(e))
		}
	}
}

// eventFrame builds {"event":…,"seq":…,"data":…} around the stored, already encoded data,
// which it shares with the log entry instead of copying it. Its envelope is allocated once, at
// the size of the longest seq. It checks nothing: e's name needs no escape and its data is
// JSON, never empty, as the switchboard encodes them; an entry read back from the store that
// is not is damage, found where it is read (the store's own reads, Switchboard.ReadLog).
func eventFrame(e switchboard.LogEntry) outFrame {
	const envelope, maxSeqDigits = len(`{"event":"` + `","seq":` + `,"data":`), len("-9223372036854775808")
	head := make([]byte, 0, envelope+len(e.Event)+maxSeqDigits)
	head = append(head, `{"event":"`...)
	head = append(head, e.Event...)
	head = append(head, `","seq":`...)
	head = strconv.AppendInt(head, e.Seq, 10)
	head = append(head, `,"data":`...)
	return outFrame{head, e.Data, closingBrace}
}

// closingBrace ends an event's frame (eventFrame).
var closingBrace = []byte("}")

var errSessionEnded = errors.New("session ended")
