package client

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone/dialtone/protocol"
)

type stateChange struct {
	state  ConnectionState
	reason error
}

// recorder is an EventHandler that reports every call on channels and detects concurrent
// calls.
type recorder struct {
	BaseHandler
	events     chan string // "event:callID"
	states     chan stateChange
	kicks      chan Kicked
	inside     atomic.Int32
	overlapped atomic.Bool
	onReceived func(CallInvitationReceived)
}

func newRecorder() *recorder {
	return &recorder{
		events: make(chan string, 256),
		states: make(chan stateChange, 64),
		kicks:  make(chan Kicked, 8),
	}
}

// lastState drains the state changes reported so far and returns the last one (the zero
// stateChange when none was).
func (r *recorder) lastState() stateChange {
	var last stateChange
	for {
		select {
		case last = <-r.states:
		default:
			return last
		}
	}
}

func (r *recorder) enter() func() {
	if r.inside.Add(1) > 1 {
		r.overlapped.Store(true)
	}
	return func() { r.inside.Add(-1) }
}

func (r *recorder) OnCallInvitationCreated(ev CallInvitationCreated) {
	defer r.enter()()
	r.events <- "created:" + ev.CallID
}

func (r *recorder) OnCallInvitationReceived(ev CallInvitationReceived) {
	defer r.enter()()
	if r.onReceived != nil {
		r.onReceived(ev)
	}
	r.events <- "received:" + ev.CallID
}

func (r *recorder) OnCallUserStateChanged(ev CallUserStateChanged) {
	defer r.enter()()
	r.events <- "stateChanged:" + ev.CallID
}

func (r *recorder) OnKicked(ev Kicked) {
	defer r.enter()()
	r.kicks <- ev
}

func (r *recorder) OnConnectionStateChanged(s ConnectionState, reason error) {
	defer r.enter()()
	r.states <- stateChange{s, reason}
}

// waitState waits until the handler reports state s, skipping other states.
func (r *recorder) waitState(t *testing.T, s ConnectionState) stateChange {
	t.Helper()
	for {
		sc := recv(t, r.states, "state "+s.String())
		if sc.state == s {
			return sc
		}
	}
}

func callEvent(callID string) map[string]any {
	return map[string]any{"callID": callID, "version": 1}
}

// connect dials fs and logs in, returning the client and the server side of the connection.
func connect(t *testing.T, fs *fakeServer, opts Options) (*Client, *fakeConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, fs.url(), opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Login(ctx, "token", "dev1"); err != nil {
		t.Fatalf("Login: %v", err)
	}
	return c, recv(t, fs.conns, "connection")
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLoginAndCallInviteRoundTrip(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	ctx := testCtx(t)
	c, err := Dial(ctx, fs.url(), Options{EventHandler: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := recv(t, rec.states, "Connecting"); got.state != Connecting {
		t.Fatalf("first state = %v, want Connecting", got.state)
	}
	lr, err := c.Login(ctx, "token", "dev1")
	if err != nil {
		t.Fatal(err)
	}
	if lr.UserID != "alice" || lr.DeviceID != "dev1" {
		t.Fatalf("login result = %+v", lr)
	}
	if ld := recv(t, fs.logins, "login"); ld.LastSeq != nil || ld.Token != "token" {
		t.Fatalf("first login = %+v, want no lastSeq", ld)
	}
	rec.waitState(t, Connected)

	res, err := c.CallInvite(ctx, []string{"bob"}, InviteConfig{Timeout: 30, Mode: ModeAdvanced})
	if err != nil {
		t.Fatal(err)
	}
	if res.CallID != "c1" || res.Timeout != 30 {
		t.Fatalf("CallInvite result = %+v", res)
	}
	req := nextOp(t, fs, protocol.OpCallInvite)
	if req.ID <= 1 {
		t.Fatalf("request id %d, want > the login's", req.ID)
	}
	if n := len(req.Idem); n < 22 || n > 64 {
		t.Fatalf("idem key %q: length %d, want 22..64", req.Idem, n)
	}
	var data protocol.CallInviteData
	if err := protocol.DecodeData(req.Data, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Invitees) != 1 || data.Invitees[0] != "bob" || data.Config.Mode != ModeAdvanced {
		t.Fatalf("callInvite data = %+v", data)
	}

	if _, err := c.QueryCall(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	q := nextOp(t, fs, protocol.OpQueryCall)
	if q.ID <= req.ID || q.Idem != "" {
		t.Fatalf("queryCall id %d idem %q; want id > %d and no idem", q.ID, q.Idem, req.ID)
	}
	if off := c.ServerTimeOffset(); off < 59*time.Minute || off > 61*time.Minute {
		t.Fatalf("ServerTimeOffset = %v, want about 1h", off)
	}
}

func TestReplyErrorExposesCode(t *testing.T) {
	fs := newFakeServer(t)
	fs.setRespond(func(_ *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		return nil, &protocol.Error{Code: protocol.CodeBusy, Message: "busy"}, true
	})
	c, _ := connect(t, fs, Options{})
	_, err := c.CallAccept(testCtx(t), "c1", OpConfig{})
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != CodeBusy {
		t.Fatalf("err = %v, want a *protocol.Error with CodeBusy", err)
	}
	if Code(err) != CodeBusy {
		t.Fatalf("Code(err) = %d", Code(err))
	}
	if Code(nil) != 0 || Code(errors.New("x")) != 0 {
		t.Fatal("Code of a non-reply error must be 0")
	}
}

func TestLoginRefused(t *testing.T) {
	fs := newFakeServer(t)
	fs.setLoginErr(func(ld protocol.LoginData) *protocol.Error {
		if ld.Token == "bad" {
			return &protocol.Error{Code: protocol.CodeInvalidParameter, Message: "bad"}
		}
		return nil
	})
	ctx := testCtx(t)
	c, err := Dial(ctx, fs.url(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CallQuit(ctx, "c1", OpConfig{}); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("op before login: %v, want ErrNotLoggedIn", err)
	}
	if _, err := c.Login(ctx, "bad", "dev1"); Code(err) != CodeInvalidParameter {
		t.Fatalf("Login: %v, want code %d", err, CodeInvalidParameter)
	}
	if _, err := c.Login(ctx, "good", "dev1"); err != nil {
		t.Fatalf("second Login on the same connection: %v", err)
	}
	if _, err := c.Login(ctx, "good", "dev1"); !errors.Is(err, ErrAlreadyLoggedIn) {
		t.Fatalf("third Login: %v, want ErrAlreadyLoggedIn", err)
	}
}

// A first Login whose connection the server kicks before any reply (protocol kick table: a
// server shutting down while the login waits) returns the *KickError, which tells why and
// whether to try again, as the browser SDK's login() rejects with the kick; the client makes no
// reconnection of its own and runs on, so that a Login may follow.
func TestLoginKickedBeforeItsReply(t *testing.T) {
	fs := newFakeServer(t)
	fs.mu.Lock()
	fs.kickLogins = protocol.KickShutdown
	fs.mu.Unlock()
	ctx := testCtx(t)
	c, err := Dial(ctx, fs.url(), Options{MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Login(ctx, "token", "dev1")
	var kick *KickError
	if !errors.As(err, &kick) || kick.Reason != protocol.KickShutdown || !kick.Retry {
		t.Fatalf("Login: %v, want the *KickError of %s", err, protocol.KickShutdown)
	}
	recv(t, fs.logins, "login")
	if err := c.Err(); err != nil {
		t.Fatalf("Err after the kicked Login: %v, want nil (the client runs)", err)
	}
	fs.mu.Lock()
	fs.kickLogins = ""
	fs.mu.Unlock()
	if _, err := c.Login(ctx, "token", "dev1"); err != nil {
		t.Fatalf("Login after the kicked one: %v", err)
	}
	recv(t, fs.logins, "the second login")
	select {
	case ld := <-fs.logins:
		t.Fatalf("a login the client made by itself: %+v", ld)
	default:
	}
}

// A connection that heard a kicked event before any Login (loginTimeout: the app waited too
// long after Dial), its close lost on the network, is ended by that kick (docs/behaviour.md
// §12, "A kick whose close is lost"): Login dials a new connection and logs in on it, rather
// than send its login on the kicked one, which the server no longer reads.
func TestLoginAfterAKickWhoseCloseIsLostDialsAgain(t *testing.T) {
	fs := newFakeServer(t)
	fs.kickFirst = protocol.KickLoginTimeout
	rec := newRecorder()
	ctx := testCtx(t)
	c, err := Dial(ctx, fs.url(), Options{EventHandler: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if k := recv(t, rec.kicks, "the kick"); k.Reason != protocol.KickLoginTimeout {
		t.Fatalf("OnKicked(%+v), want %s", k, protocol.KickLoginTimeout)
	}
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := c.Login(lctx, "token", "dev1"); err != nil {
		t.Fatalf("Login after the %s kick without its close: %v; want a login on a new connection",
			protocol.KickLoginTimeout, err)
	}
	recv(t, fs.logins, "the login on the new connection")
}

// Close during a first Login that is waiting for its reply returns at once, and so does the
// Login, with ErrClosed.
func TestCloseDuringLogin(t *testing.T) {
	fs := newFakeServer(t)
	fs.neverAnswerLogins(t)
	c, err := Dial(testCtx(t), fs.url(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	loginErr := loginAsync(context.Background(), c)
	recv(t, fs.logins, "login")
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	recv(t, closed, "Close to return")
	if err := recv(t, loginErr, "Login to return"); !errors.Is(err, ErrClosed) {
		t.Errorf("Login: %v, want ErrClosed", err)
	}
}

// A Login whose context has no deadline is bounded by RequestTimeout, as every operation is
// (and as the browser SDK's login is by requestTimeoutMs): a server that never answers it does
// not hold it for good.
func TestLoginBoundedByRequestTimeout(t *testing.T) {
	fs := newFakeServer(t)
	fs.neverAnswerLogins(t)
	c, err := Dial(testCtx(t), fs.url(), Options{RequestTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	loginErr := loginAsync(context.Background(), c)
	if err := recv(t, loginErr, "Login to return"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Login: %v, want context.DeadlineExceeded", err)
	}
}

// A request too big for one frame (protocol: 64 KiB) is refused by the client with 6000001,
// without sending it: the server would close the connection, and every resend would again.
func TestOversizeRequestRefused(t *testing.T) {
	fs := newFakeServer(t)
	c, _ := connect(t, fs, Options{})
	_, err := c.CallInvite(testCtx(t), []string{"bob"}, InviteConfig{ExtendedData: strings.Repeat("x", protocol.MaxFrameBytes)})
	if Code(err) != CodeInvalidParameter {
		t.Fatalf("CallInvite of a frame over 64 KiB: %v, want code %d", err, CodeInvalidParameter)
	}
	if s := c.State(); s != Connected {
		t.Errorf("state after the refusal: %v, want Connected", s)
	}
	select {
	case req := <-fs.requests:
		t.Errorf("the server got %s", req.Op)
	default:
	}

	recv(t, fs.logins, "the first client's login")
	other, err := Dial(testCtx(t), fs.url(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Login(testCtx(t), strings.Repeat("t", protocol.MaxFrameBytes), "dev2"); Code(err) != CodeInvalidParameter {
		t.Fatalf("Login with a token over 64 KiB: %v, want code %d", err, CodeInvalidParameter)
	}
	select {
	case ld := <-fs.logins:
		t.Errorf("the server got a login of device %s", ld.DeviceID)
	default:
	}
}

// The refusal of a request too big for one frame does not depend on the connection: it comes
// at once while the client is reconnecting, and it does not depend on the id a send gives the
// request, so a request sent once is never refused when it is sent again after a reconnection
// with a longer id (R7.3), as with the browser SDK.
func TestOversizeRequestRefusedWhateverTheConnection(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	c, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()

	// Fits with the id this connection gives it (a few digits), not with the longest id.
	cfg := OpConfig{ExtendedData: "x"}
	data, _ := json.Marshal(protocol.CallOpData{CallID: "c1", Config: cfg})
	frame, _ := json.Marshal(protocol.Request{ID: 1, Op: protocol.OpCallAccept, Data: data, Idem: NewIdempotencyKey()})
	cfg.ExtendedData += strings.Repeat("x", protocol.MaxFrameBytes-len(frame)-5) // room for 5 more digits of id
	_, err := c.CallAccept(ctx, "c1", cfg)
	if Code(err) != CodeInvalidParameter {
		t.Fatalf("CallAccept of a frame that fits only with a short id: %v, want code %d", err, CodeInvalidParameter)
	}

	fc.drop()
	rec.waitState(t, Reconnecting) // the next attempt waits at least MinBackoff/2: no connection
	_, err = c.CallInvite(ctx, []string{"bob"}, InviteConfig{ExtendedData: strings.Repeat("x", protocol.MaxFrameBytes)})
	if Code(err) != CodeInvalidParameter {
		t.Fatalf("CallInvite of a frame over 64 KiB while reconnecting: %v, want code %d", err, CodeInvalidParameter)
	}
	select {
	case req := <-fs.requests:
		t.Errorf("the server got %s", req.Op)
	default:
	}
}

// A request whose frame is over 64 KiB only once its idempotency key is written as JSON (each
// '<' of an application's key as \u003c) is refused as well, without being sent: the server
// would close the connection (1009) at every send.
func TestOversizeRequestRefusedWithItsKeyEscaped(t *testing.T) {
	fs := newFakeServer(t)
	c, _ := connect(t, fs, Options{})
	idem := strings.Repeat("<", protocol.MaxIdemBytes)
	cfg := OpConfig{ExtendedData: "x"}
	data, _ := json.Marshal(protocol.CallOpData{CallID: "c1", Config: cfg})
	// The data, the op and the key as they are, with maxEnvelopeBytes, fill a frame exactly.
	cfg.ExtendedData += strings.Repeat("x", protocol.MaxFrameBytes-len(protocol.OpCallAccept)-len(idem)-maxEnvelopeBytes-len(data))
	_, err := c.CallAccept(WithIdempotencyKey(testCtx(t), idem), "c1", cfg)
	if Code(err) != CodeInvalidParameter {
		t.Fatalf("CallAccept of a frame over 64 KiB with its key escaped: %v, want code %d", err, CodeInvalidParameter)
	}
	select {
	case req := <-fs.requests:
		t.Errorf("the server got %s", req.Op)
	default:
	}
}

// A Login waiting for another Login in flight ends with its own ctx, as every operation does:
// its deadline is not stretched to the other's.
func TestLoginWaitingForAnotherEndsWithItsContext(t *testing.T) {
	fs := newFakeServer(t)
	fs.neverAnswerLogins(t)
	c, err := Dial(testCtx(t), fs.url(), Options{RequestTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() { _, _ = c.Login(context.Background(), "token", "dev1") }() // held by the server
	recv(t, fs.logins, "the first login")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	loginErr := loginAsync(ctx, c)
	select {
	case err := <-loginErr:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("second Login: %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the second Login still waits 2s after its ctx ended")
	}
}

// The events of a connection reach the handler only once its login succeeded (Client.Login):
// a Login whose ctx ends as its reply arrives fails, and the invitations that follow the reply
// on its connection, already read before the connection is closed, must not ring a client the
// application takes for not logged in, nor be acknowledged, nor count as processed (R7.2). The
// server here sends them before any answer, so that they come, deterministically, on a
// connection whose login does not succeed.
func TestNoEventOfAConnectionWhoseLoginFailed(t *testing.T) {
	fs := newFakeServer(t)
	fs.onLogin = []protocol.Event{
		{Event: protocol.EventCallInvitationReceived, Seq: 1, Data: mustJSON(callEvent("logged"))},
		{Event: protocol.EventCallInvitationReceived, Data: mustJSON(map[string]any{"callID": "synth", "version": 1, "synthetic": true})},
	}
	fs.neverAnswerLogins(t)
	rec := newRecorder()
	store := &MemorySeqStore{}
	c, err := Dial(testCtx(t), fs.url(), Options{EventHandler: rec, SeqStore: store})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Login(ctx, "token", "dev1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Login: %v, want context.DeadlineExceeded", err)
	}
	c.Close() // waits for the handler: every event queued was handled
	select {
	case got := <-rec.events:
		t.Errorf("the handler got %q from a connection whose login failed", got)
	default:
	}
	if seq, ok, _ := store.Load(testCtx(t), SeqKey{DeviceID: "dev1"}); ok {
		t.Errorf("the SeqStore holds %d after a failed login, want no position", seq)
	}
}
