// Package wsapi is Dialtone's WebSocket endpoint (protocol.md): connections, login, heartbeat,
// the transport limits, kicks, resume and catch-up (R7.2), and the mapping of each op's data to
// a switchboard input and of its result back to the wire. It holds no call rule.
package wsapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/clientip"
	"github.com/dialtone/dialtone/internal/gopool"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/internal/wsconn"
	"github.com/dialtone/dialtone/protocol"
)

// Backend carries out ops and answers the reads that login and resume need; the switchboard
// implements it.
type Backend interface {
	Invite(ctx context.Context, in call.Invite, idemKey string) (switchboard.Result, error)
	Do(ctx context.Context, callID string, in call.Input, idemKey string) (switchboard.Result, error)
	Repeat(ctx context.Context, userID, callID string, in any, idemKey string) (res switchboard.Result, found bool, err error)
	QueryCall(ctx context.Context, userID, callID string) (call.Call, error)
	ListCalls(ctx context.Context, userID string, count int, next int64) ([]call.Call, int64, error)
	RingingCalls(ctx context.Context, userID string) (calls []call.Call, head int64, err error)
	ReadLog(ctx context.Context, userID string, afterSeq int64, limit int) ([]switchboard.LogEntry, error)
	LogBounds(ctx context.Context, userID string) (oldest, head int64, err error)
	DeviceConnected(userID, deviceID string)
	DeviceDisconnected(userID, deviceID string)
	Logout(ctx context.Context, userID, deviceID string)
}

// Bus delivers committed log entries of a user, in order; deliver must not block.
type Bus interface {
	Subscribe(userID string, deliver func([]switchboard.LogEntry)) (cancel func())
}

// Verifier checks a login token and returns its user.
type Verifier interface {
	Verify(token string, now time.Time) (userID string, err error)
}

// Config holds the endpoint's settings; zero values take the documented defaults.
type Config struct {
	HeartbeatInterval       time.Duration     // told to clients (default 10s)
	HeartbeatTimeout        time.Duration     // a connection silent this long is closed (default 35s)
	LoginTimeout            time.Duration     // protocol: 10s
	MaxDevicesPerUser       int               // R6.2 (default 10)
	MaxRequestsPerSecond    int               // per connection (default 50)
	MaxInvitesPerMinute     int               // per user, callInvite and callingInvite (default 60)
	MaxUnauthenticatedPerIP int               // connections not yet logged in, per client address (default 100)
	TrustedProxies          clientip.Trusted  // whose X-Forwarded-For names the client (default: none)
	SendQueue               int               // frames queued per connection before slowConsumer (default 512)
	ValidDeviceID           func(string) bool // behaviour §1 (default: only 1–64 bytes is checked)
	Observer                Observer          // metrics (default: none)
	PushTargets             PushTargets       // push registration ops (push.go); nil: none
	// RememberUsers keeps the users who log in (the maxSeenUsers most recent), for Users (the
	// --dev demo page). Off, the server holds nothing for a user who is gone.
	RememberUsers bool
}

// Observer is told about answered ops, delivered events and kicks (for metrics).
type Observer interface {
	// Serves is told once, by New, of the ops the server answers (before any Op).
	Serves(ops []string)
	Op(op string, code int, d time.Duration)
	EventsDelivered(n int)
	// Kicked is told of each connection kicked, once, with the kick's reason (protocol's Kick*).
	Kicked(reason string)
}

type noObserver struct{}

func (noObserver) Serves([]string)               {}
func (noObserver) Op(string, int, time.Duration) {}
func (noObserver) EventsDelivered(int)           {}
func (noObserver) Kicked(string)                 {}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&c.HeartbeatInterval, 10*time.Second)
	def(&c.HeartbeatTimeout, 35*time.Second)
	def(&c.LoginTimeout, 10*time.Second)
	defInt(&c.MaxDevicesPerUser, 10)
	defInt(&c.MaxRequestsPerSecond, 50)
	defInt(&c.MaxInvitesPerMinute, 60)
	defInt(&c.MaxUnauthenticatedPerIP, 100)
	defInt(&c.SendQueue, 512)
	if c.Observer == nil {
		c.Observer = noObserver{}
	}
	if c.ValidDeviceID == nil {
		c.ValidDeviceID = func(id string) bool { return len(id) >= 1 && len(id) <= 64 }
	}
}

// Server serves /v1/ws. Create it with New; it is an http.Handler.
type Server struct {
	cfg      Config
	backend  Backend
	bus      Bus
	verifier Verifier
	now      func() time.Time
	log      *slog.Logger

	mu       sync.Mutex
	users    map[string]*userSessions // by user: its logged-in sessions, or invites it spent lately
	swept    time.Time                // when users was last rid of entries with neither
	unauth   map[string]int           // connections not logged in, by clientip.LimitKey of the client's address
	all      map[*session]struct{}
	draining bool
	wg       sync.WaitGroup
	handlers map[string]opFunc
	accepts  atomic.Uint64 // connections accepted so far
	seen     seenUsers     // users.go
	tasks    *gopool.Pool  // runs the reading and handling of frames (session.go, login.go)
}

// taskLinger is how long a goroutine of Server.tasks waits for the next frame to handle, with
// the stack it grew handling the last, before it ends.
const taskLinger = 2 * time.Second

// userSessions is a user's entry: its logged-in sessions by deviceID, and its invites per
// minute. The entry outlives the user's last session until its invites are refilled, so that
// logging in again does not reset the limit.
type userSessions struct {
	devices map[string]*session
	invites *bucket
}

// unused reports whether the entry holds nothing any more at now: no session, and the invites
// refilled.
func (us *userSessions) unused(now time.Time) bool {
	return len(us.devices) == 0 && us.invites.full(now)
}

// New returns the endpoint. now is the server clock (time.Now when nil).
func New(cfg Config, backend Backend, bus Bus, verifier Verifier, now func() time.Time, log *slog.Logger) *Server {
	cfg.setDefaults()
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := &Server{cfg: cfg, backend: backend, bus: bus, verifier: verifier, now: now, log: log,
		users: map[string]*userSessions{}, unauth: map[string]int{}, all: map[*session]struct{}{},
		tasks: gopool.New(taskLinger)}
	srv.handlers = srv.opHandlers()
	cfg.Observer.Serves(slices.Sorted(maps.Keys(srv.handlers)))
	return srv
}

// ServeHTTP upgrades the request to a WebSocket and runs the session until it closes. The
// client's address, which the log names, is the TCP peer's or, from a trusted proxy, the one
// X-Forwarded-For gives (clientip); the limit of connections not logged in counts it by
// clientip.LimitKey: an IPv6 client by its /64.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip := s.cfg.TrustedProxies.ClientIP(r)
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	key := clientip.LimitKey(ip)
	s.unauth[key]++
	tooMany := s.unauth[key] > s.cfg.MaxUnauthenticatedPerIP
	s.wg.Add(1)
	s.mu.Unlock()

	// The number is taken before the handshake is answered: a client that opens another
	// connection after this one's answer gets a greater number (R6.2, login.go).
	accepted := s.accepts.Add(1)
	conn, err := wsconn.Upgrade(w, r, protocol.MaxFrameBytes)
	if err != nil {
		s.releaseUnauth(ip)
		s.wg.Done()
		return
	}
	if tooMany {
		defer s.wg.Done()
		s.releaseUnauth(ip)
		frame, _ := json.Marshal(protocol.Reply{Error: &protocol.Error{Code: protocol.CodeRateLimited,
			Message: "too many connections not logged in from this address"}})
		_ = conn.WriteText(refusalTimeout, frame)
		conn.Close(statusPolicyViolation)
		conn.Linger()
		return
	}
	sess := newSession(s, conn, ip, accepted)
	s.mu.Lock()
	s.all[sess] = struct{}{}
	// A Shutdown that began during the handshake did not find this session to kick.
	late := s.draining
	s.mu.Unlock()
	if late {
		sess.kick(protocol.KickShutdown)
	}
	// The session runs on a goroutine of its own, so the HTTP server's goroutine, whose stack
	// grew while it parsed the request, ends here. The request's context ends with it; the
	// session keeps only its values.
	ctx := context.WithoutCancel(r.Context())
	go func() {
		defer s.wg.Done()
		sess.run(ctx)
		s.mu.Lock()
		delete(s.all, sess)
		s.mu.Unlock()
	}()
}

// statusPolicyViolation closes a refused connection (RFC 6455 section 7.4.1).
const statusPolicyViolation = 1008

// Shutdown refuses new connections, makes every session take no more requests, and kicks
// each with shutdown (retry: true) once its requests in flight are answered, so that what the
// server carried out is also answered; then it waits for the sessions to finish or ctx to
// end. When ctx ends first, the connections still open are
// closed at once, without their close handshake: a peer that stopped reading holds its
// session's close on a blocked write, and the session would otherwise run on past the
// shutdown until that write timed out; a warning says how many were. Shutdown returns once
// every session has ended, those it cut included (they end as soon as their ops in flight
// are answered), so that nothing of a session runs on after it: the caller closes the backend
// next. The goroutines kept for handling frames (gopool) end with it.
func (s *Server) Shutdown(ctx context.Context) {
	s.mu.Lock()
	s.draining = true
	sessions := make([]*session, 0, len(s.all))
	for sess := range s.all {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.stopTaking()
	}
	for _, sess := range sessions {
		go sess.shutDown(ctx)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	defer s.tasks.Close() // once the sessions ended: none of their goroutines waits for more
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for sess := range s.all {
			sess.conn.CloseNow()
		}
		cut := len(s.all)
		s.mu.Unlock()
		if cut > 0 {
			s.log.Warn("drain time ran out: the connections still open were closed at once; their devices reconnect and resume",
				"connections", cut)
		}
		<-done
	}
}

// Sessions returns the number of open connections.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.all)
}

// releaseUnauth gives back a place of ip's connections not logged in, counted by
// clientip.LimitKey (an IPv6 client by its /64).
func (s *Server) releaseUnauth(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseUnauthLocked(ip)
}

// releaseUnauthLocked is releaseUnauth with s.mu held.
func (s *Server) releaseUnauthLocked(ip string) {
	key := clientip.LimitKey(ip)
	if s.unauth[key]--; s.unauth[key] <= 0 {
		delete(s.unauth, key)
	}
}
