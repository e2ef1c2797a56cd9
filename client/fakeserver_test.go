package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/protocol"
)

// fakeServer is a scripted Dialtone server speaking the protocol minimally: it answers login
// (resuming from lastSeq out of its event log), answers ops through respond, records what it
// received on channels, and lets a test push events, drop or kick connections.
type fakeServer struct {
	t  *testing.T
	hs *httptest.Server

	mu         sync.Mutex
	hbInterval int64 // login result heartbeatIntervalMs
	hbTimeout  int64
	replayAll  bool             // replay the whole log at resume, duplicates included
	pruned     bool             // every login is caughtUp false: retention deleted what it missed
	afterLogin []protocol.Event // sent right after every login reply (e.g. synthesized)
	onLogin    []protocol.Event // sent as every login is read, before its answer (out of protocol)
	log        []protocol.Event // the user's event log, seqs increasing
	respond    func(*fakeConn, protocol.Request) (result any, perr *protocol.Error, reply bool)
	loginErr   func(protocol.LoginData) *protocol.Error
	loginReply string              // when set, the text of every login's result instead of the login
	loginKick  string              // kick sent after a loginErr refusal, as the server does for 6000291
	kickLost   bool                // the loginKick's close is lost: the connection stays open, silent
	kickFirst  string              // kick sent on the next connection before its login, its close lost
	kickLogins string              // kick sent instead of any login reply (a server shutting down meanwhile)
	kickGate   chan struct{}       // when set, a loginKick waits for it to close
	handshake  func(*http.Request) // runs before the WebSocket handshake is answered

	logins     chan protocol.LoginData // every login received
	conns      chan *fakeConn          // every logged-in connection
	requests   chan protocol.Request   // every op received after login, except heartbeats
	heartbeats chan protocol.Request
	closes     chan websocket.StatusCode // how each logged-in connection's reading ended: its close code, or -1
}

type fakeConn struct {
	fs *fakeServer
	ws *websocket.Conn
}

func newFakeServer(t *testing.T) *fakeServer {
	fs := &fakeServer{
		t:          t,
		hbInterval: 60_000,
		hbTimeout:  180_000,
		logins:     make(chan protocol.LoginData, 16),
		conns:      make(chan *fakeConn, 16),
		requests:   make(chan protocol.Request, 256),
		heartbeats: make(chan protocol.Request, 256),
		closes:     make(chan websocket.StatusCode, 16),
	}
	fs.hs = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(fs.hs.Close)
	return fs
}

// url returns the server's ws:// URL without a path, so Dial must add /v1/ws.
func (fs *fakeServer) url() string { return "ws" + strings.TrimPrefix(fs.hs.URL, "http") }

func (fs *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != protocol.Path {
		http.NotFound(w, r)
		return
	}
	fs.mu.Lock()
	handshake := fs.handshake
	fs.mu.Unlock()
	if handshake != nil {
		handshake(r)
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	fc := &fakeConn{fs: fs, ws: ws}
	fs.mu.Lock()
	kickFirst := fs.kickFirst
	fs.kickFirst = ""
	fs.mu.Unlock()
	if kickFirst != "" {
		fc.kickEvent(kickFirst)
		for { // a kicked connection carries out nothing more it reads
			if _, _, err := ws.Read(r.Context()); err != nil {
				return
			}
		}
	}
	if !fc.handleLogin(r.Context()) {
		return
	}
	for {
		_, data, err := ws.Read(r.Context())
		if err != nil {
			select {
			case fs.closes <- websocket.CloseStatus(err):
			default:
			}
			return
		}
		req, err := protocol.DecodeRequest(data)
		if err != nil {
			fs.t.Errorf("fake server: bad frame %s: %v", data, err)
			return
		}
		fc.handle(req)
	}
}

// handleLogin answers logins until one succeeds, then replays the log and announces fc.
func (fc *fakeConn) handleLogin(ctx context.Context) bool {
	fs := fc.fs
	for {
		_, data, err := fc.ws.Read(ctx)
		if err != nil {
			return false
		}
		req, err := protocol.DecodeRequest(data)
		if err != nil || req.Op != protocol.OpLogin {
			fs.t.Errorf("fake server: expected login, got %s", data)
			return false
		}
		var ld protocol.LoginData
		if err := json.Unmarshal(req.Data, &ld); err != nil {
			fs.t.Errorf("fake server: bad login data: %v", err)
			return false
		}
		fs.mu.Lock()
		for _, ev := range fs.onLogin {
			fc.write(ev)
		}
		fs.mu.Unlock()
		fs.logins <- ld
		fs.mu.Lock()
		loginErr, loginKick, kickLogins, kickGate, kickLost := fs.loginErr, fs.loginKick, fs.kickLogins, fs.kickGate, fs.kickLost
		loginReply := fs.loginReply
		fs.mu.Unlock()
		if loginReply != "" {
			fc.writeText(fmt.Appendf(nil, `{"id":%d,"result":%s}`, req.ID, loginReply))
			continue
		}
		if kickLogins != "" {
			fc.kick(kickLogins)
			return false
		}
		if loginErr != nil {
			if perr := loginErr(ld); perr != nil {
				fc.write(protocol.Reply{ID: req.ID, Error: perr})
				if loginKick != "" {
					if kickGate != nil {
						select {
						case <-kickGate:
						case <-ctx.Done():
							return false
						}
					}
					if kickLost {
						fc.kickEvent(loginKick)
						_, _, _ = fc.ws.Read(ctx) // nothing more is sent; returns once the client closes it
						return false
					}
					fc.kick(loginKick)
					return false
				}
				continue
			}
		}
		fc.acceptLogin(req.ID, ld)
		fs.conns <- fc
		return true
	}
}

func (fc *fakeConn) acceptLogin(id int64, ld protocol.LoginData) {
	fs := fc.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var head int64
	if n := len(fs.log); n > 0 {
		head = fs.log[n-1].Seq
	}
	caughtUp := ld.LastSeq != nil && *ld.LastSeq <= head && !fs.pruned
	fc.write(protocol.Reply{ID: id, Result: mustJSON(protocol.LoginResult{
		UserID: "alice", DeviceID: ld.DeviceID, HeadSeq: head, CaughtUp: caughtUp,
		HeartbeatIntervalMs: fs.hbInterval, HeartbeatTimeoutMs: fs.hbTimeout,
		ServerTime: time.Now().Add(time.Hour).UnixMilli(),
	})})
	for _, ev := range fs.afterLogin {
		fc.write(ev)
	}
	if !caughtUp {
		return
	}
	for _, ev := range fs.log {
		if ev.Seq > *ld.LastSeq || fs.replayAll {
			fc.write(ev)
		}
	}
}

func (fc *fakeConn) handle(req protocol.Request) {
	fs := fc.fs
	if req.Op == protocol.OpHeartbeat {
		fs.heartbeats <- req
	} else {
		fs.requests <- req
	}
	fs.mu.Lock()
	respond := fs.respond
	fs.mu.Unlock()
	if respond == nil {
		respond = defaultRespond
	}
	result, perr, reply := respond(fc, req)
	if !reply {
		return
	}
	if perr != nil {
		fc.write(protocol.Reply{ID: req.ID, Error: perr})
		return
	}
	fc.write(protocol.Reply{ID: req.ID, Result: mustJSON(result)})
	if req.Op == protocol.OpLogout {
		fc.kick(protocol.KickLogout)
	}
}

// defaultRespond answers every op successfully: heartbeat with serverTime, callInvite with
// callID "c1", other ops with their callID echoed.
func defaultRespond(_ *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
	switch req.Op {
	case protocol.OpHeartbeat:
		return protocol.HeartbeatResult{ServerTime: time.Now().Add(time.Hour).UnixMilli()}, nil, true
	case protocol.OpCallInvite:
		return protocol.CallInviteResult{CallID: "c1", Timeout: 30, ErrorUserList: []protocol.ErrorUserInfo{}}, nil, true
	}
	var d protocol.CallIDData
	_ = json.Unmarshal(req.Data, &d)
	if d.CallID == "" {
		return struct{}{}, nil, true
	}
	return d, nil, true
}

func (fc *fakeConn) write(v any) { fc.writeText(mustJSON(v)) }

// writeText sends text as it is, in one text frame: a frame that need not be JSON.
func (fc *fakeConn) writeText(text []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = fc.ws.Write(ctx, websocket.MessageText, text)
}

// emit appends an event to the user's log with the next seq and sends it on fc.
func (fc *fakeConn) emit(event string, data any) int64 {
	fs := fc.fs
	fs.mu.Lock()
	seq := int64(len(fs.log)*2 + 1) // not contiguous, as in R7.2
	ev := protocol.Event{Event: event, Seq: seq, Data: mustJSON(data)}
	fs.log = append(fs.log, ev)
	fs.mu.Unlock()
	fc.write(ev)
	return seq
}

// sendUnlogged sends an event outside the log (no seq), like a synthesized invitation.
func (fc *fakeConn) sendUnlogged(event string, data any) {
	fc.write(protocol.Event{Event: event, Data: mustJSON(data)})
}

// drop closes the connection abruptly, without a kick.
func (fc *fakeConn) drop() { fc.ws.CloseNow() }

// kick sends kicked with the reason's retry flag and closes with its close code.
func (fc *fakeConn) kick(reason string) {
	fc.kickEvent(reason)
	k, _ := protocol.KickFor(reason)
	_ = fc.ws.Close(websocket.StatusCode(k.CloseCode), reason)
}

// kickEvent sends the kicked event of reason, with its retry flag, without the close that
// should follow it: a test of a close lost on the network.
func (fc *fakeConn) kickEvent(reason string) {
	k, _ := protocol.KickFor(reason)
	fc.write(protocol.Event{Event: protocol.EventKicked, Data: mustJSON(protocol.Kicked{Reason: reason, Retry: k.Retry})})
}

// setLoginErr makes f decide every login from now on (nil: accepted).
func (fs *fakeServer) setLoginErr(f func(protocol.LoginData) *protocol.Error) {
	fs.mu.Lock()
	fs.loginErr = f
	fs.mu.Unlock()
}

// neverAnswerLogins makes the server receive logins without answering them, until the test ends.
func (fs *fakeServer) neverAnswerLogins(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the fake server's own cleanup
	fs.setLoginErr(func(protocol.LoginData) *protocol.Error { <-release; return nil })
}

func (fs *fakeServer) setRespond(f func(*fakeConn, protocol.Request) (any, *protocol.Error, bool)) {
	fs.mu.Lock()
	fs.respond = f
	fs.mu.Unlock()
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// recv waits for a value on ch, failing the test after a generous timeout.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// loginAsync starts c.Login(ctx, "token", "dev1") and returns the channel its error arrives on.
func loginAsync(ctx context.Context, c *Client) <-chan error {
	loginErr := make(chan error, 1)
	go func() {
		_, err := c.Login(ctx, "token", "dev1")
		loginErr <- err
	}()
	return loginErr
}

// nextOp returns the next recorded request with op, skipping others.
func nextOp(t *testing.T, fs *fakeServer, op string) protocol.Request {
	t.Helper()
	for {
		req := recv(t, fs.requests, op)
		if req.Op == op {
			return req
		}
	}
}

// messageSignal is a slog.Handler that sends on ch, without blocking, each record whose
// message is msg.
type messageSignal struct {
	msg string
	ch  chan struct{}
}

func (h messageSignal) Enabled(context.Context, slog.Level) bool { return true }

func (h messageSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}

func (h messageSignal) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h messageSignal) WithGroup(string) slog.Handler      { return h }

// assertNoReconnection closes c, which waits for the client's goroutines, so any reconnection
// would have logged in by then, and checks that none did.
func assertNoReconnection(t *testing.T, fs *fakeServer, c *Client) {
	t.Helper()
	c.Close()
	select {
	case ld := <-fs.logins:
		t.Fatalf("the client reconnected: %+v", ld)
	default:
	}
}

// jwtWithSub returns an unsigned JWT-shaped token with the given subject.
func jwtWithSub(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256"}`)) + "." + enc([]byte(`{"sub":"`+sub+`"}`)) + ".sig"
}
