package wsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/localbus"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// FuzzSessionFrames sends arbitrary text frames, one at a time, to a real endpoint over a real
// switchboard on a SQLite store: those of before, then a login of a user of its own (unless
// one of before logged in), then those of after; a newline separates frames, and $USER in a
// frame stands for the user, whose token is its name. It checks protocol.md "Transport",
// "Envelopes" and "Login" (fuzzSession.send): every request gets exactly one reply with its
// id, coded (§8) and not as the server's own failure (6000270); a frame that is no request
// gets 6000001 without id; the connection is kicked only for the 5th bad frame (4005), a
// login whose token does not verify (4006) or a logout (4002); a refused request of a
// logged-in user changes nothing of the user's; and the session ends with its connection,
// leaving no goroutine.
func FuzzSessionFrames(f *testing.F) {
	for _, seed := range [][2]string{
		{"", `{"id":2,"op":"heartbeat"}`},
		{`{"id":2,"op":"heartbeat"}` + "\n" + `[]`, `{"id":3,"op":"login","data":{"token":"$USER","deviceID":"d1"}}`},
		{`{"id":2,"op":"login","data":{"token":"$USER","deviceID":"d2","lastSeq":0}}`, `{"id":3,"op":"queryCallInvitationList","data":{"config":{"count":3}}}`},
		{`{"id":2,"op":"login","data":{"token":"nobody","deviceID":"d2"}}`, ""},
		{`{"id":2,"op":"login","data":{"deviceID":"d2"}}` + "\n" + `{"id":2,"op":"login","data":{"token":"$USER","deviceID":""}}`, ""},
		{"not json\n{}\n{\"id\":0}\n{\"op\":\"heartbeat\"}", "null\n\"x\"\n{\"id\":1.5,\"op\":\"heartbeat\"}"},
		{"", `{"id":2,"op":"callInvite","data":{"invitees":["fuzzbob"],"config":{"timeout":30}}}` + "\n" +
			`{"id":3,"op":"callInvite","data":{"invitees":["fuzzbob"]},"idem":"0123456789abcdef"}` + "\n" +
			`{"id":4,"op":"callInvite","data":{"invitees":["$USER"]}}`},
		{"", `{"id":2,"op":"callAccept","data":{"callID":"nosuch"}}` + "\n" + `{"id":3,"op":"callEnd","data":{}}` + "\n" +
			`{"id":4,"op":"callCancel","data":{"callID":"x","invitees":[null]}}` + "\n" + `{"id":5,"op":"queryCall","data":{"callID":"x"}}`},
		{"", `{"id":2,"op":"callJoin","data":{"callID":"x","config":{"extendedData":"e"}}}` + "\n" +
			`{"id":3,"op":"callingInvite","data":{"callID":"x","invitees":["a"]},"idem":"short"}` + "\n" +
			`{"id":4,"op":"callReceived","data":{"callID":"x"}}` + "\n" + `{"id":5,"op":"callQuit","data":{"callID":"x"}}`},
		{"", `{"id":2,"op":"login","data":{"token":"$USER","deviceID":"d1"}}` + "\n" + `{"id":3,"op":"teleport"}` + "\n" +
			`{"id":4,"op":"logout"}` + "\n" + `{"id":5,"op":"heartbeat"}`},
		{"", `{"id":2,"op":"logout","data":[]}` + "\n" + `{"id":3,"op":"pushRegister","data":{"provider":"webhook","token":"t"}}` + "\n" +
			`{"id":4,"op":"pushRegister","data":{"provider":"apns","token":"t","bundleID":"a b"}}` + "\n" +
			`{"id":5,"op":"pushUnregister","data":{"provider":"fcm","token":""}}`},
	} {
		f.Add(seed[0], seed[1])
	}
	env := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, before, after string) {
		s := env.open(t)
		s.sendAll(before)
		if s.open && !s.loggedIn {
			s.send(`{"id":1,"op":"login","data":{"token":"$USER","deviceID":"d1"}}`)
		}
		s.sendAll(after)
		s.finish()
		env.waitSessionsEnded(t)
	})
}

// fuzzEnv is the endpoint FuzzSessionFrames sends frames to: a wsapi.Server over a switchboard
// on a SQLite store, which also keeps the push targets. The switchboard's clock stands still, so no deadline fires and no call
// changes but by a request; a device is lost only an hour after its connection ended.
type fuzzEnv struct {
	srv   *Server
	board *switchboard.Switchboard
	store *sqlite.Store
	url   string
	users atomic.Int64 // the users made so far, one per run
	token *currentUser
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	bus := localbus.New()
	store, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "dialtone.db"), sqlite.Options{Publish: bus.Publish})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	frozen := time.Now()
	board := switchboard.New(switchboard.Config{HeartbeatTimeout: time.Hour}, store, func() time.Time { return frozen }, nil)
	if err := board.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(board.Close)
	token := &currentUser{}
	srv := New(Config{HeartbeatTimeout: time.Hour, LoginTimeout: time.Hour, PushTargets: store}, board, bus, token, nil, nil)
	hs := httptest.NewServer(srv)
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
	})
	return &fuzzEnv{srv: srv, board: board, store: store, url: "ws" + strings.TrimPrefix(hs.URL, "http"), token: token}
}

// currentUser verifies one token only: the name of the user of the run.
type currentUser struct{ name atomic.Value }

func (c *currentUser) Verify(token string, _ time.Time) (string, error) {
	if name, _ := c.name.Load().(string); token != "" && token == name {
		return token, nil
	}
	return "", errors.New("not the user of this run")
}

// open makes a user for the run and connects.
func (e *fuzzEnv) open(t *testing.T) *fuzzSession {
	user := fmt.Sprintf("fuzzuser%d", e.users.Add(1))
	e.token.name.Store(user)
	conn := dialWS(t, e.url)
	conn.SetReadLimit(protocol.MaxServerFrameBytes)
	return &fuzzSession{t: t, env: e, conn: conn, user: user, open: true}
}

// waitSessionsEnded waits, up to 10 s, until the endpoint has no session, no goroutine of one
// and no place held among the connections not logged in.
func (e *fuzzEnv) waitSessionsEnded(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.srv.mu.Lock()
		sessions, unauth := len(e.srv.all), len(e.srv.unauth)
		e.srv.mu.Unlock()
		left := sessionGoroutines()
		if sessions+unauth+len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions, %d addresses not logged in and %d goroutines of sessions left after the connection closed:\n%s",
				sessions, unauth, len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
}

// fuzzSession is one connection of FuzzSessionFrames and what the client knows of it.
type fuzzSession struct {
	t        *testing.T
	env      *fuzzEnv
	conn     *websocket.Conn
	user     string
	open     bool // not kicked
	loggedIn bool
	bad      int // bad frames sent
}

// sendAll sends each line of frames (send) while the connection is open.
func (s *fuzzSession) sendAll(frames string) {
	for frame := range strings.SplitSeq(frames, "\n") {
		if !s.open {
			return
		}
		s.send(frame)
	}
}

// send sends one frame, $USER replaced, and checks its answer before returning, so that no
// two requests are in flight and each reply is told by its id. A frame too long or not UTF-8
// is wsconn's to refuse (FuzzRead): it is left out.
func (s *fuzzSession) send(frame string) {
	s.t.Helper()
	frame = strings.ReplaceAll(frame, "$USER", s.user)
	if len(frame) > protocol.MaxFrameBytes || !utf8.ValidString(frame) {
		return
	}
	before := s.userState()
	if err := s.conn.Write(s.t.Context(), websocket.MessageText, []byte(frame)); err != nil {
		s.t.Fatalf("writing %q: %v", frame, err)
	}
	req, err := protocol.DecodeRequest([]byte(frame))
	if errors.Is(err, protocol.ErrBadFrame) {
		s.checkBadFrame(frame)
		return
	}
	code := s.replyTo(frame, req.ID)
	if code != 0 && s.loggedIn && s.userState() != before {
		s.t.Fatalf("%q was refused with %d but changed %s's calls: %s, then %s", frame, code, s.user, before, s.userState())
	}
	switch {
	case !s.loggedIn && req.Op != protocol.OpLogin && code != protocol.CodeNotLoggedIn:
		s.t.Fatalf("%q before login answered %d, want 6000121", frame, code)
	case !s.loggedIn && req.Op == protocol.OpLogin && code == 0:
		s.loggedIn = true
	case !s.loggedIn && req.Op == protocol.OpLogin && code == protocol.CodeAuthFailed:
		s.expectKick(frame, protocol.KickAuthFailed)
	case s.loggedIn && req.Op == protocol.OpLogin && code != protocol.CodeInvalidParameter && code != protocol.CodeRateLimited:
		s.t.Fatalf("a second login %q answered %d, want 6000001", frame, code)
	case s.loggedIn && req.Op == protocol.OpLogout && code == 0:
		s.expectKick(frame, protocol.KickLogout)
	}
}

// checkBadFrame checks the answer to a frame that is no request: 6000001 without id, and the
// badFrames kick for the 5th (protocol.md "Transport"; the run is shorter than the minute).
func (s *fuzzSession) checkBadFrame(frame string) {
	s.t.Helper()
	f := s.next(frame)
	if f.ID != 0 || f.Result != nil || f.Error == nil || f.Error.Code != protocol.CodeInvalidParameter {
		s.t.Fatalf("bad frame %q answered %+v, want 6000001 without id", frame, f)
	}
	if s.bad++; s.bad == badFrameLimit {
		s.expectKick(frame, protocol.KickBadFrames)
	}
}

// replyTo reads the reply to the request id that frame made and returns its code, 0 for a
// result; the reply must be one of protocol.md "Envelopes" with a code of §8.
func (s *fuzzSession) replyTo(frame string, id int64) protocol.Code {
	s.t.Helper()
	f := s.next(frame)
	switch {
	case f.ID != id || (f.Result == nil) == (f.Error == nil):
		s.t.Fatalf("%q answered %+v, want one reply with id %d", frame, f, id)
	case f.Error == nil:
		return 0
	case !slices.Contains(requestCodes(), f.Error.Code):
		s.t.Fatalf("%q answered %+v, want a code of behaviour §8 for the request", frame, f.Error)
	}
	return f.Error.Code
}

// requestCodes returns every error code a reply may carry (behaviour §8) but 6000270: the
// store works, so a request refused as the server's own failure found a defect.
func requestCodes() []protocol.Code {
	return append(protocol.Precedence(), protocol.CodeTooManyDevices)
}

// expectKick checks that the next frame is the kicked event of reason and that the connection
// then closes with its code (protocol.md "Events").
func (s *fuzzSession) expectKick(frame, reason string) {
	s.t.Helper()
	s.open = false
	f := s.next(frame)
	var k protocol.Kicked
	if f.Event != protocol.EventKicked || json.Unmarshal(f.Data, &k) != nil || k.Reason != reason {
		s.t.Fatalf("after %q came %+v, want a kicked event %s", frame, f, reason)
	}
	want, _ := protocol.KickFor(reason)
	s.expectClose(frame, websocket.StatusCode(want.CloseCode))
}

// expectClose reads until the connection closes and checks its close code; any frame but an
// event before it is one the server had no request to answer with.
func (s *fuzzSession) expectClose(after string, code websocket.StatusCode) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 10*time.Second)
	defer cancel()
	for {
		_, data, err := s.conn.Read(ctx)
		if err != nil {
			if got := websocket.CloseStatus(err); got != code {
				s.t.Fatalf("after %q the connection ended with %v, want close code %d", after, err, code)
			}
			return
		}
		if f := s.decode(data); f.Event == "" {
			s.t.Fatalf("after %q came %s, which answers no request", after, data)
		}
	}
}

// finish asks a last question, which the server answers once it has answered every request
// before it, and hangs up: logged in, a logout (which waits for the device's requests in
// flight), before login a heartbeat (refused at once: requests before login are answered in
// order). A reply that was not asked for comes before its answer, and fails the run.
func (s *fuzzSession) finish() {
	s.t.Helper()
	switch {
	case !s.open:
		return
	case s.loggedIn:
		s.send(`{"id":1,"op":"logout"}`)
	default:
		s.send(`{"id":1,"op":"heartbeat"}`)
	}
	s.conn.CloseNow()
}

// next returns the next frame that is not an event other than kicked, within 10 s.
func (s *fuzzSession) next(after string) protocol.Frame {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 10*time.Second)
	defer cancel()
	for {
		_, data, err := s.conn.Read(ctx)
		if err != nil {
			s.t.Fatalf("waiting for the answer to %q: %v", after, err)
		}
		if f := s.decode(data); f.Event == "" || f.Event == protocol.EventKicked {
			return f
		}
	}
}

// decode decodes a frame of the server, failing the run when it is not one.
func (s *fuzzSession) decode(data []byte) protocol.Frame {
	s.t.Helper()
	var f protocol.Frame
	if err := json.Unmarshal(data, &f); err != nil {
		s.t.Fatalf("the server sent %q: %v", data, err)
	}
	return f
}

// userState returns the head of the user's log, the user's calls and its push targets, as
// stored.
func (s *fuzzSession) userState() string {
	s.t.Helper()
	ctx := s.t.Context()
	_, head, err := s.env.board.LogBounds(ctx, s.user)
	if err != nil {
		s.t.Fatal(err)
	}
	calls, _, err := s.env.board.ListCalls(ctx, s.user, 100, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	targets, err := s.env.store.PushTargets(ctx, s.user)
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := json.Marshal(struct {
		Head    int64
		Calls   any
		Targets any
	}{head, calls, targets})
	return string(b)
}

// FuzzPipelinedRequests sends the login of a user of its own, arbitrary text frames (a
// newline separates them, $USER stands for the user) and a logout, all at once, as a client
// may, and reads everything until the connection closes. Ops run concurrently, so
// replies come in any order; it checks that no request gets two replies and, unless a frame
// logged out first or the 5th bad frame kicked the connection (the only kicks it may see),
// that every request gets exactly one and every frame that is no request 6000001 without id
// (protocol.md "Envelopes", "Transport"). At most maxPipelined frames are sent, so that the
// limit of requests per second refuses none of them (the rate is the sequential fuzzer's).
func FuzzPipelinedRequests(f *testing.F) {
	for _, seed := range []string{
		`{"id":2,"op":"heartbeat"}` + "\n" + `{"id":2,"op":"heartbeat"}`,
		`{"id":2,"op":"callInvite","data":{"invitees":["fuzzbob"]}}` + "\n" + `{"id":3,"op":"queryCallInvitationList"}` + "\n" +
			`{"id":4,"op":"callEnd","data":{"callID":"x"}}` + "\n" + `{"id":5,"op":"login"}` + "\n" + `[]`,
		"x\ny\nz\n{}\n{\"id\":9,\"op\":\"heartbeat\"}\n[]",
		`{"id":2,"op":"logout"}` + "\n" + `{"id":3,"op":"heartbeat"}`,
		`{"id":2,"op":"pushRegister","data":{"provider":"webhook","token":"t"}}` + "\n" + `{"id":3,"op":"teleport","idem":"x"}`,
	} {
		f.Add(seed)
	}
	env := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, frames string) {
		s := env.open(t)
		sent := s.pipeline(`{"id":1,"op":"login","data":{"token":"$USER","deviceID":"d1"}}` + "\n" + frames)
		got := s.readToClose()
		sent.check(t, got)
		env.waitSessionsEnded(t)
	})
}

// maxPipelined bounds the frames FuzzPipelinedRequests sends, its login and logout included:
// fewer than the connection's requests per second.
const maxPipelined = 45

// pipelined is what a connection was sent: requests by id, frames that are no request, and
// whether a request other than the last one was a logout.
type pipelined struct {
	requests     map[int64]int
	badFrames    int
	logsOutEarly bool
}

// pipeline writes up to maxPipelined-1 lines of frames, $USER replaced, then the logout, without
// waiting for any answer, and returns what it sent. A frame too long or not UTF-8 is left out
// (send).
func (s *fuzzSession) pipeline(frames string) pipelined {
	s.t.Helper()
	sent := pipelined{requests: map[int64]int{}}
	lines := strings.Split(frames, "\n")
	lines = append(lines[:min(len(lines), maxPipelined-1)], `{"id":9007199254740991,"op":"logout"}`)
	for i, frame := range lines {
		frame = strings.ReplaceAll(frame, "$USER", s.user)
		if len(frame) > protocol.MaxFrameBytes || !utf8.ValidString(frame) {
			continue
		}
		if err := s.conn.Write(s.t.Context(), websocket.MessageText, []byte(frame)); err != nil {
			return sent // the connection was kicked meanwhile
		}
		switch req, err := protocol.DecodeRequest([]byte(frame)); {
		case errors.Is(err, protocol.ErrBadFrame):
			sent.badFrames++
		default:
			sent.requests[req.ID]++
			sent.logsOutEarly = sent.logsOutEarly || req.Op == protocol.OpLogout && i < len(lines)-1
		}
	}
	return sent
}

// received is what a connection answered until it closed.
type received struct {
	replies   map[int64]int
	badFrames int // errors without id
	kicked    string
	closeCode websocket.StatusCode
}

// readToClose reads every frame until the connection closes, within 10 s of each; events other
// than kicked are skipped, and an error must carry a code of §8.
func (s *fuzzSession) readToClose() received {
	s.t.Helper()
	got := received{replies: map[int64]int{}}
	for {
		ctx, cancel := context.WithTimeout(s.t.Context(), 10*time.Second)
		_, data, err := s.conn.Read(ctx)
		cancel()
		if err != nil {
			if got.closeCode = websocket.CloseStatus(err); got.closeCode == -1 {
				s.t.Fatalf("the connection ended without a close: %v", err)
			}
			return got
		}
		f := s.decode(data)
		switch {
		case f.Event == protocol.EventKicked:
			var k protocol.Kicked
			json.Unmarshal(f.Data, &k)
			got.kicked = k.Reason
		case f.Event != "":
		case f.Error != nil && !slices.Contains(requestCodes(), f.Error.Code):
			s.t.Fatalf("%s carries no code of behaviour §8 for the request", data)
		case f.ID == 0 && f.Error != nil && f.Error.Code == protocol.CodeInvalidParameter:
			got.badFrames++
		default:
			got.replies[f.ID]++
		}
	}
}

// check compares what was answered with what was sent.
func (sent pipelined) check(t *testing.T, got received) {
	t.Helper()
	kick, _ := protocol.KickFor(got.kicked)
	switch {
	case got.kicked != protocol.KickLogout && got.kicked != protocol.KickBadFrames:
		t.Fatalf("the connection was kicked %q, want logout or badFrames", got.kicked)
	case int(got.closeCode) != kick.CloseCode:
		t.Fatalf("kicked %s, the connection closed with %d, want %d", got.kicked, got.closeCode, kick.CloseCode)
	case got.kicked == protocol.KickBadFrames && sent.badFrames < badFrameLimit:
		t.Fatalf("kicked for bad frames after %d of them, want the %dth", sent.badFrames, badFrameLimit)
	case got.badFrames > sent.badFrames:
		t.Fatalf("%d errors without id to %d frames that are no request", got.badFrames, sent.badFrames)
	}
	for id, n := range got.replies {
		if n > sent.requests[id] {
			t.Fatalf("%d replies with id %d to %d requests", n, id, sent.requests[id])
		}
	}
	if sent.badFrames >= badFrameLimit || sent.logsOutEarly {
		return
	}
	if !maps.Equal(got.replies, sent.requests) || got.badFrames != sent.badFrames {
		t.Fatalf("replies by id %v and %d errors without id to requests by id %v and %d frames that are no request",
			got.replies, got.badFrames, sent.requests, sent.badFrames)
	}
}
