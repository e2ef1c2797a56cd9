package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/protocol"
)

func TestEventsInOrderNeverConcurrent(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	_, fc := connect(t, fs, Options{EventHandler: rec})
	const n = 60
	kinds := []string{protocol.EventCallInvitationCreated, protocol.EventCallUserStateChanged}
	names := []string{"created", "stateChanged"}
	for i := range n {
		fc.emit(kinds[i%2], callEvent(fmt.Sprint("c", i)))
	}
	for i := range n {
		want := fmt.Sprintf("%s:c%d", names[i%2], i)
		if got := recv(t, rec.events, want); got != want {
			t.Fatalf("event %d = %q, want %q", i, got, want)
		}
		runtime.Gosched() // give a concurrent delivery the chance to overlap
	}
	if rec.overlapped.Load() {
		t.Fatal("handler methods ran concurrently")
	}
}

func TestAutomaticCallReceivedWhileHandlerBlocks(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	release := make(chan struct{})
	rec.onReceived = func(CallInvitationReceived) { <-release }
	c, fc := connect(t, fs, Options{EventHandler: rec})
	defer close(release)

	fc.emit(protocol.EventCallInvitationReceived, callEvent("live"))
	fc.sendUnlogged(protocol.EventCallInvitationReceived,
		map[string]any{"callID": "synth", "version": 1, "synthetic": true})
	// The acks are sent concurrently, so in either order, while the handler still blocks on
	// the first invitation.
	acked := map[string]bool{}
	for range 2 {
		req := nextOp(t, fs, protocol.OpCallReceived)
		var d protocol.CallIDData
		if err := protocol.DecodeData(req.Data, &d); err != nil {
			t.Fatal(err)
		}
		if req.Idem != "" {
			t.Fatalf("callReceived carries an idem key %q", req.Idem)
		}
		acked[d.CallID] = true
	}
	if !acked["live"] || !acked["synth"] {
		t.Fatalf("acknowledged %v, want live and synth", acked)
	}
	if _, err := c.QueryCall(testCtx(t), "c1"); err != nil {
		t.Fatalf("a reply while the handler blocks: %v", err)
	}
}

func TestInvitationRightAfterLoginIsAcknowledged(t *testing.T) {
	fs := newFakeServer(t)
	fs.afterLogin = []protocol.Event{{
		Event: protocol.EventCallInvitationReceived,
		Data:  mustJSON(map[string]any{"callID": "pending", "version": 3, "synthetic": true}),
	}}
	rec := newRecorder()
	connect(t, fs, Options{EventHandler: rec})
	req := nextOp(t, fs, protocol.OpCallReceived)
	var d protocol.CallIDData
	if err := protocol.DecodeData(req.Data, &d); err != nil || d.CallID != "pending" {
		t.Fatalf("callReceived data %s, %v", req.Data, err)
	}
	if got := recv(t, rec.events, "synthetic invitation"); got != "received:pending" {
		t.Fatalf("got %q", got)
	}
}

func TestHeartbeatAtInterval(t *testing.T) {
	fs := newFakeServer(t)
	fs.hbInterval, fs.hbTimeout = 20, 2000
	// The SDK starts its heartbeat interval once logged in, so the third heartbeat cannot come
	// sooner than three intervals after the login began, however late this goroutine runs.
	start := time.Now()
	c, _ := connect(t, fs, Options{})
	for range 3 {
		recv(t, fs.heartbeats, "heartbeat")
	}
	if el := time.Since(start); el < 60*time.Millisecond {
		t.Fatalf("3 heartbeats %v after the login began, want at least 3 intervals (60ms)", el)
	}
	if c.State() != Connected {
		t.Fatalf("state %v", c.State())
	}
}

func TestSilentConnectionIsDropped(t *testing.T) {
	fs := newFakeServer(t)
	fs.hbInterval, fs.hbTimeout = 10, 60
	fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		return nil, nil, req.Op != protocol.OpHeartbeat // heartbeats get no reply
	})
	rec := newRecorder()
	_, _ = connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
	recv(t, fs.logins, "first login")
	sc := rec.waitState(t, Reconnecting)
	if !errors.Is(sc.reason, ErrHeartbeatTimeout) {
		t.Fatalf("Reconnecting reason %v, want ErrHeartbeatTimeout", sc.reason)
	}
	recv(t, fs.logins, "second login")
}

func TestReconnectResumesAndDropsDuplicates(t *testing.T) {
	fs := newFakeServer(t)
	fs.replayAll = true
	rec := newRecorder()
	_, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
	recv(t, fs.logins, "first login")
	var last int64
	for i := range 3 {
		last = fc.emit(protocol.EventCallInvitationCreated, callEvent(fmt.Sprint("c", i)))
		recv(t, rec.events, "event")
	}
	rec.waitState(t, Connected)
	fc.drop()
	rec.waitState(t, Reconnecting)
	ld := recv(t, fs.logins, "resume login")
	if ld.LastSeq == nil || *ld.LastSeq != last {
		t.Fatalf("resume lastSeq = %v, want %d", ld.LastSeq, last)
	}
	fc2 := recv(t, fs.conns, "new connection")
	rec.waitState(t, Connected)
	fc2.emit(protocol.EventCallInvitationCreated, callEvent("after"))
	// The server replayed c0..c2 again; only "after" may reach the handler.
	if got := recv(t, rec.events, "event after resume"); got != "created:after" {
		t.Fatalf("after resume got %q, want created:after (duplicates must be dropped)", got)
	}
}

func TestMutatingRequestRetriedWithSameIdemKey(t *testing.T) {
	fs := newFakeServer(t)
	var dropped atomic.Bool
	fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		if req.Op == protocol.OpCallAccept && dropped.CompareAndSwap(false, true) {
			fc.drop() // the connection dies before the reply
			return nil, nil, false
		}
		return defaultRespond(fc, req)
	})
	c, _ := connect(t, fs, Options{MinBackoff: time.Millisecond})
	res, err := c.CallAccept(testCtx(t), "c7", OpConfig{ExtendedData: "x"})
	if err != nil || res.CallID != "c7" {
		t.Fatalf("CallAccept = %+v, %v", res, err)
	}
	a := nextOp(t, fs, protocol.OpCallAccept)
	b := nextOp(t, fs, protocol.OpCallAccept)
	if a.Idem == "" || a.Idem != b.Idem {
		t.Fatalf("idem keys %q and %q, want the same non-empty key", a.Idem, b.Idem)
	}
	if string(a.Data) != string(b.Data) {
		t.Fatalf("retry data %s differs from %s", b.Data, a.Data)
	}
}

// TestKick covers the kick table: retry false ends the client with Disconnected and a
// *KickError; retry true reconnects.
func TestKick(t *testing.T) {
	for _, reason := range []string{
		KickReplaced, KickLogout, KickShutdown, KickSlowConsumer, KickBadFrames,
		KickAuthFailed, KickLoginTimeout, KickTooManyDevices, KickHeartbeat,
	} {
		t.Run(reason, func(t *testing.T) {
			want, _ := protocol.KickFor(reason)
			fs := newFakeServer(t)
			rec := newRecorder()
			c, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
			recv(t, fs.logins, "login")
			fc.kick(reason)
			if k := recv(t, rec.kicks, "kicked"); k.Reason != reason || k.Retry != want.Retry {
				t.Fatalf("kicked = %+v", k)
			}
			next := Disconnected
			if want.Retry {
				next = Reconnecting
			}
			sc := rec.waitState(t, next)
			var ke *KickError
			if !errors.As(sc.reason, &ke) || ke.Reason != reason || ke.Retry != want.Retry {
				t.Fatalf("%v reason %v, want a *KickError %s", next, sc.reason, reason)
			}
			if want.Retry {
				recv(t, fs.logins, "login after the kick")
				rec.waitState(t, Connected)
				return
			}
			recv(t, c.Done(), "Done")
			if _, err := c.QueryCall(testCtx(t), "c1"); !errors.As(err, &ke) {
				t.Fatalf("op after the kick: %v, want the kick", err)
			}
			assertNoReconnection(t, fs, c)
		})
	}
}

// The handler's Kicked follows the kick table for a known reason, whatever retry flag the event
// carries, as the state change after it and the browser SDK's kicked listeners do.
func TestKickedFollowsTheKickTable(t *testing.T) {
	for _, tt := range []struct {
		reason string
		flag   bool
	}{{KickReplaced, true}, {KickShutdown, false}} {
		t.Run(tt.reason, func(t *testing.T) {
			want, _ := protocol.KickFor(tt.reason)
			fs := newFakeServer(t)
			rec := newRecorder()
			_, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
			fc.write(protocol.Event{Event: protocol.EventKicked,
				Data: mustJSON(protocol.Kicked{Reason: tt.reason, Retry: tt.flag})})
			_ = fc.ws.Close(websocket.StatusCode(want.CloseCode), tt.reason)
			if k := recv(t, rec.kicks, "kicked"); k.Reason != tt.reason || k.Retry != want.Retry {
				t.Fatalf("OnKicked(%+v), want retry %t as in the kick table", k, want.Retry)
			}
			next := Disconnected
			if want.Retry {
				next = Reconnecting
			}
			var ke *KickError
			if sc := rec.waitState(t, next); !errors.As(sc.reason, &ke) || ke.Retry != want.Retry {
				t.Fatalf("%v reason %v", next, sc.reason)
			}
		})
	}
}

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

func TestHandlerMayCallMethods(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	accepted := make(chan error, 1)
	var c *Client
	ready := make(chan struct{})
	rec.onReceived = func(ev CallInvitationReceived) {
		<-ready
		_, err := c.CallAccept(context.Background(), ev.CallID, OpConfig{})
		accepted <- err
	}
	c, fc := connect(t, fs, Options{EventHandler: rec})
	close(ready)
	fc.emit(protocol.EventCallInvitationReceived, callEvent("c1"))
	if err := recv(t, accepted, "CallAccept from the handler"); err != nil {
		t.Fatal(err)
	}
	recv(t, rec.events, "received")
}

func TestSeqStoreUsedAtNextLogin(t *testing.T) {
	fs := newFakeServer(t)
	store := &MemorySeqStore{}
	rec := newRecorder()
	token := jwtWithSub("alice")
	ctx := testCtx(t)
	c, err := Dial(ctx, fs.url(), Options{EventHandler: rec, SeqStore: store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, token, "dev1"); err != nil {
		t.Fatal(err)
	}
	fc := recv(t, fs.conns, "connection")
	fc.emit(protocol.EventCallInvitationCreated, callEvent("a"))
	fc.emit("someFutureEvent", map[string]any{"x": 1}) // ignored, but its seq counts
	last := fc.emit(protocol.EventCallUserStateChanged, callEvent("b"))
	recv(t, rec.events, "a")
	if got := recv(t, rec.events, "b"); got != "stateChanged:b" {
		t.Fatalf("got %q; the unknown event must be skipped", got)
	}
	c.Close()
	rec.waitState(t, Disconnected)
	if seq, ok, _ := store.Load(ctx, SeqKey{UserID: "alice", DeviceID: "dev1"}); !ok || seq != last {
		t.Fatalf("stored seq %d %v, want %d", seq, ok, last)
	}

	c2, err := Dial(ctx, fs.url(), Options{SeqStore: store})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Login(ctx, token, "dev1"); err != nil {
		t.Fatal(err)
	}
	recv(t, fs.logins, "first login")
	if ld := recv(t, fs.logins, "second login"); ld.LastSeq == nil || *ld.LastSeq != last {
		t.Fatalf("second client's lastSeq = %v, want %d", ld.LastSeq, last)
	}
}

func TestLogoutStopsTheClient(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	c, _ := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
	recv(t, fs.logins, "login")
	if err := c.Logout(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	nextOp(t, fs, protocol.OpLogout)
	if sc := rec.waitState(t, Disconnected); !errors.Is(sc.reason, ErrLoggedOut) {
		t.Fatalf("Disconnected reason %v, want ErrLoggedOut", sc.reason)
	}
	if !errors.Is(c.Err(), ErrLoggedOut) {
		t.Fatalf("Err() = %v", c.Err())
	}
	if _, err := c.QueryCallInvitationList(testCtx(t), 10, 0); !errors.Is(err, ErrLoggedOut) {
		t.Fatalf("op after logout: %v", err)
	}
	assertNoReconnection(t, fs, c)
}

func TestRequestWaitsForReconnection(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	c, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: 20 * time.Millisecond})
	fc.drop()
	rec.waitState(t, Reconnecting)
	if _, err := c.QueryCall(testCtx(t), "c1"); err != nil {
		t.Fatalf("QueryCall during reconnection: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.QueryCall(ctx, "c1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("QueryCall with a cancelled ctx: %v", err)
	}
}

func TestRemainingRingTime(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	tests := []struct {
		deadline int64
		offset   time.Duration
		want     time.Duration
	}{
		{1_030_000, 0, 30 * time.Second},
		{1_030_000, 10 * time.Second, 20 * time.Second}, // server clock ahead
		{1_030_000, -5 * time.Second, 35 * time.Second},
		{1_030_000, time.Minute, 0}, // already due on the server
		{999_000, 0, 0},
	}
	for _, tt := range tests {
		if got := RemainingRingTime(tt.deadline, tt.offset, now); got != tt.want {
			t.Errorf("RemainingRingTime(%d, %v) = %v, want %v", tt.deadline, tt.offset, got, tt.want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	minD, maxD := 100*time.Millisecond, time.Second
	for n := range 70 {
		bound := min(maxD, minD<<min(n, 20))
		for range 20 {
			if d := backoff(minD, maxD, n); d < bound/2 || d > bound {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, bound/2, bound)
			}
		}
	}
	// With bounds this far apart, min·2ⁿ passes int64's range before it reaches max: the wait
	// still never falls below half the minimum.
	minD, maxD = 13*time.Hour+7*time.Minute+59*time.Second, 1<<62
	for n := range 70 {
		if d := backoff(minD, maxD, n); d < minD/2 || d > maxD {
			t.Fatalf("backoff(%v, %v, %d) = %v, want in [%v, %v]", minD, maxD, n, d, minD/2, maxD)
		}
	}
}

func TestTokenSubject(t *testing.T) {
	if got := tokenSubject(jwtWithSub("bob")); got != "bob" {
		t.Fatalf("tokenSubject = %q", got)
	}
	for _, tok := range []string{"", "opaque", "a.b.c", "a.!!.c"} {
		if got := tokenSubject(tok); got != "" {
			t.Fatalf("tokenSubject(%q) = %q, want empty", tok, got)
		}
	}
}

// jwtWithSub returns an unsigned JWT-shaped token with the given subject.
func jwtWithSub(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256"}`)) + "." + enc([]byte(`{"sub":"`+sub+`"}`)) + ".sig"
}

func TestReconnectUsesTokenSource(t *testing.T) {
	fs := newFakeServer(t)
	var calls atomic.Int32
	src := func(context.Context) (string, error) {
		return fmt.Sprint("fresh", calls.Add(1)), nil
	}
	_, fc := connect(t, fs, Options{TokenSource: src, MinBackoff: time.Millisecond})
	if ld := recv(t, fs.logins, "login"); ld.Token != "token" {
		t.Fatalf("first login token %q, want the one given to Login", ld.Token)
	}
	fc.drop()
	if ld := recv(t, fs.logins, "relogin"); ld.Token != "fresh1" || ld.DeviceID != "dev1" {
		t.Fatalf("relogin = %+v, want token fresh1 on dev1", ld)
	}
}

// A TokenSource that fails, or that waits for longer than RequestTimeout, is asked again at
// the next attempt, with backoff (Options.TokenSource): the client stays Reconnecting, then
// logs in with the token it eventually gets.
func TestReconnectRetriesAFailingOrSlowTokenSource(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	var calls atomic.Int32
	src := func(ctx context.Context) (string, error) {
		switch calls.Add(1) {
		case 1:
			return "", errors.New("token service unavailable")
		case 2:
			<-ctx.Done() // bounded by RequestTimeout
			return "", ctx.Err()
		}
		return "fresh", nil
	}
	c, fc := connect(t, fs, Options{EventHandler: rec, TokenSource: src, MinBackoff: time.Millisecond,
		RequestTimeout: 100 * time.Millisecond})
	recv(t, fs.logins, "login")
	fc.drop()
	rec.waitState(t, Reconnecting)
	if ld := recv(t, fs.logins, "relogin"); ld.Token != "fresh" || calls.Load() != 3 {
		t.Fatalf("relogin with token %q after %d calls of the TokenSource, want fresh after 3", ld.Token, calls.Load())
	}
	if sc := rec.waitState(t, Connected); sc.reason != nil || c.Err() != nil {
		t.Fatalf("Connected with %v, Err %v", sc.reason, c.Err())
	}
}

// A token that expired during the session is refused at the reconnection's login (6000291),
// and the server may kick the connection (authFailed, close 4006) right after its reply: the
// client ends with the refused login's error (Err and the Disconnected reason carry
// CodeAuthFailed), whichever of the reply and the kick the client reads first.
func TestReconnectRefusedAuthDisconnects(t *testing.T) {
	for _, kick := range []string{"", protocol.KickAuthFailed} {
		t.Run("kick "+kick, func(t *testing.T) {
			fs := newFakeServer(t)
			rec := newRecorder()
			c, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
			fs.setLoginErr(func(protocol.LoginData) *protocol.Error {
				return &protocol.Error{Code: protocol.CodeAuthFailed, Message: "authentication failed"}
			})
			fs.mu.Lock()
			fs.loginKick = kick
			fs.mu.Unlock()
			fc.drop()
			sc := rec.waitState(t, Disconnected)
			if Code(sc.reason) != CodeAuthFailed || Code(c.Err()) != CodeAuthFailed {
				t.Fatalf("Disconnected reason %v, Err %v; want code %d", sc.reason, c.Err(), CodeAuthFailed)
			}
		})
	}
}

// A reconnection's login refused because a newer connection of the device logged in
// (6000001, then the replaced kick, close 4001) ends the client with the kick, whose retry is
// false in the protocol's kick table, instead of trying again and taking the device back from
// the newer connection; as the browser SDK does. The kick comes only once the client has taken
// the refusal: the client keeps a refused connection open through its backoff to hear it.
func TestReconnectRefusedAsReplacedDisconnects(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	failed := make(chan struct{}, 16)
	logger := slog.New(messageSignal{msg: "dialtone: reconnection failed", ch: failed})
	c, fc := connect(t, fs, Options{EventHandler: rec, Logger: logger,
		MinBackoff: 200 * time.Millisecond, MaxBackoff: 400 * time.Millisecond})
	recv(t, fs.logins, "the first login")
	fs.setLoginErr(func(protocol.LoginData) *protocol.Error {
		return &protocol.Error{Code: protocol.CodeInvalidParameter, Message: "a newer connection of this device is logged in"}
	})
	gate := make(chan struct{})
	fs.mu.Lock()
	fs.loginKick, fs.kickGate = protocol.KickReplaced, gate
	fs.mu.Unlock()
	fc.drop()
	recv(t, fs.logins, "the refused login")
	recv(t, failed, "the refusal taken by the client")
	close(gate)
	sc := rec.waitState(t, Disconnected)
	var kick *KickError
	if !errors.As(sc.reason, &kick) || kick.Reason != protocol.KickReplaced || !errors.As(c.Err(), &kick) {
		t.Fatalf("Disconnected reason %v, Err %v; want the replaced kick", sc.reason, c.Err())
	}
	select {
	case ld := <-fs.logins:
		t.Fatalf("a login after the replaced kick: %+v", ld)
	default:
	}
}

func TestCloseFromHandler(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	var c *Client
	ready := make(chan struct{})
	closed := make(chan struct{})
	rec.onReceived = func(CallInvitationReceived) {
		<-ready
		c.Close()
		close(closed)
	}
	c, fc := connect(t, fs, Options{EventHandler: rec})
	close(ready)
	fc.emit(protocol.EventCallInvitationReceived, callEvent("c1"))
	recv(t, closed, "Close from the handler")
	if sc := rec.waitState(t, Disconnected); !errors.Is(sc.reason, ErrClosed) {
		t.Fatalf("Disconnected reason %v, want ErrClosed", sc.reason)
	}
}

// closeWhileHandling closes c while its handler is held in the first event, then releases the
// handler and checks that it handles first and nothing more, and ends Disconnected.
func closeWhileHandling(t *testing.T, c *Client, rec *recorder, release chan struct{}, first string) {
	t.Helper()
	c.Close()
	close(release)
	if got := recv(t, rec.events, "the first event"); got != first {
		t.Fatalf("handled %q first", got)
	}
	for s := recv(t, rec.states, "a state"); s.state != Disconnected; s = recv(t, rec.states, "Disconnected") {
	}
	select {
	case got := <-rec.events:
		t.Errorf("after Close the handler got %q", got)
	default:
	}
}

func TestSeqTrackerStartsOverWhenServerLogIsBehind(t *testing.T) {
	store := &MemorySeqStore{}
	key := SeqKey{UserID: "u", DeviceID: "d"}
	_ = store.Save(context.Background(), key, 50)
	tr := seqTracker{store: store, log: slog.New(slog.DiscardHandler)}
	tr.load(context.Background(), key)
	if p := tr.resumeFrom(); p == nil || *p != 50 {
		t.Fatalf("resumeFrom = %v, want 50", p)
	}
	if tr.admit(50) {
		t.Fatal("seq 50 admitted again")
	}
	tr.loggedIn(10, true) // the server's log restarted
	if !tr.admit(11) {
		t.Fatal("seq 11 after a log reset must be new")
	}
	tr.handled(11)
	if p := tr.resumeFrom(); *p != 11 {
		t.Fatalf("resumeFrom = %d, want 11", *p)
	}
	if seq, _, _ := store.Load(context.Background(), key); seq != 11 {
		t.Fatalf("saved %d, want 11", seq)
	}
}

// R7.2, R5.3: a login that could not catch up (caughtUp false) moves the device to the reply's
// headSeq, past the events the synthesized invitations that follow reflect, so that the next
// login resumes from there instead of receiving those invitations again.
func TestSeqTrackerMovesToHeadWhenNotCaughtUp(t *testing.T) {
	tr := seqTracker{log: slog.New(slog.DiscardHandler)}
	tr.load(context.Background(), SeqKey{UserID: "u", DeviceID: "d"})
	tr.loggedIn(5, true)
	tr.loggedIn(40, false) // away for longer than the server keeps events
	if p := tr.resumeFrom(); p == nil || *p != 40 {
		t.Fatalf("resumeFrom = %v, want 40", p)
	}
	if tr.admit(40) || !tr.admit(41) {
		t.Fatal("want seq 40 old and 41 new")
	}
}

// The clock estimate keeps the sample with the shortest round trip, until it is a minute old or
// a new session starts.
func TestClockEstimateKeepsTheShortestRoundTrip(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	var e clockEstimate
	// The local wall clock reads t0 at monotonic reading 0.
	sample := func(at time.Duration, rtt time.Duration, serverAhead time.Duration, fresh bool) {
		server := t0.Add(at + rtt/2 + serverAhead)
		e.record(server.UnixMilli(), at, at+rtt, fresh)
	}
	offset := func() time.Duration { return time.Duration(e.base.Load() - t0.UnixNano()) }
	near := func(what string, want time.Duration) {
		t.Helper()
		if d := offset() - want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("%s: offset %v, want %v ± 1ms", what, offset(), want)
		}
	}
	sample(0, 20*time.Millisecond, 40*time.Millisecond, true)
	near("first sample", 40*time.Millisecond)
	sample(time.Second, time.Millisecond, 10*time.Millisecond, false)
	near("a shorter round trip", 10*time.Millisecond)
	// The server read its clock 1 ms into a trip of 8 ms: the sample alone says 7 ms.
	sample(2*time.Second, 8*time.Millisecond, 7*time.Millisecond, false)
	near("a longer round trip within the minute", 10*time.Millisecond)
	sample(62*time.Second, 8*time.Millisecond, 12*time.Millisecond, false)
	near("a longer round trip once the best is a minute old", 12*time.Millisecond)
	// The server's reading is 13 ms past the latest the estimate allows: the local monotonic
	// clock stopped meanwhile (a machine asleep), or the server's clock was stepped.
	sample(63*time.Second, 20*time.Millisecond, 40*time.Millisecond, false)
	near("a longer round trip the estimate cannot explain", 40*time.Millisecond)
	// The latest reading it allows: the reply's arrival (30 ms) at the estimate's 40 ms, plus its
	// error of 10 ms (half its round trip) and 1 ms; the sample alone would say 81 − 15 = 66 ms.
	sample(63500*time.Millisecond, 30*time.Millisecond, 66*time.Millisecond, false)
	near("a longer round trip the estimate explains, just", 40*time.Millisecond)
	sample(64*time.Second, 50*time.Millisecond, -5*time.Second, true)
	near("a new session", -5*time.Second)
}

// R7.2 across clients: the logged events a closed client had received but not yet handed to
// the handler are dropped, not delivered after Close, so the seq saved is the last one handled
// and a new client of the device gets the rest, each once.
func TestCloseDropsEventsNotYetHandled(t *testing.T) {
	fs := newFakeServer(t)
	store := &MemorySeqStore{}
	rec := newRecorder()
	release, entered := make(chan struct{}), make(chan struct{}, 8)
	rec.onReceived = func(CallInvitationReceived) { // the handler is busy with the first
		entered <- struct{}{}
		<-release
	}
	ctx := testCtx(t)
	c, err := Dial(ctx, fs.url(), Options{EventHandler: rec, SeqStore: store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, jwtWithSub("alice"), "dev1"); err != nil {
		t.Fatal(err)
	}
	fc := recv(t, fs.conns, "connection")
	first := fc.emit(protocol.EventCallInvitationReceived, callEvent("c1"))
	fc.emit(protocol.EventCallInvitationReceived, callEvent("c2"))
	fc.emit(protocol.EventCallInvitationReceived, callEvent("c3"))
	for range 3 { // each invitation is acknowledged once queued for the handler
		nextOp(t, fs, protocol.OpCallReceived)
	}
	recv(t, entered, "the handler to begin the first event")
	closeWhileHandling(t, c, rec, release, "received:c1")
	if seq, ok, _ := store.Load(ctx, SeqKey{UserID: "alice", DeviceID: "dev1"}); !ok || seq != first {
		t.Errorf("saved seq %d (%v), want %d, the last one handled", seq, ok, first)
	}
}

// Protocol "Ring time": an invitation that follows the login reply rings for the time left on
// the server's clock, measured by that login, even when the handler gets it at once. The fake
// server's clock is an hour ahead.
func TestInvitationAfterLoginRingsByTheServerClock(t *testing.T) {
	for i := range 20 {
		fs := newFakeServer(t)
		deadline := time.Now().Add(time.Hour + 30*time.Second).UnixMilli()
		fs.afterLogin = []protocol.Event{{Event: protocol.EventCallInvitationReceived,
			Data: mustJSON(map[string]any{"callID": "c1", "version": 1, "deadline": deadline, "synthetic": true})}}
		rec := newRecorder()
		var c atomic.Pointer[Client]
		left := make(chan time.Duration, 1)
		rec.onReceived = func(ev CallInvitationReceived) { left <- c.Load().RemainingRingTime(ev.Deadline) }
		ctx := testCtx(t)
		cl, err := Dial(ctx, fs.url(), Options{EventHandler: rec})
		if err != nil {
			t.Fatal(err)
		}
		c.Store(cl)
		if _, err := cl.Login(ctx, "token", "dev1"); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, left, "the invitation"); got > 30*time.Second || got < 25*time.Second {
			t.Fatalf("login %d: the invitation rings for %v, want about 30s", i, got)
		}
		cl.Close()
	}
}

// Protocol "Ring time": the server clock estimate follows the local clock's passing time, not
// its wall time, so a step of the local wall clock after the login (an NTP correction) moves
// ServerTimeOffset by the step at once and leaves the ring time of an invitation as it was. The
// fake server's clock is an hour ahead.
func TestLocalClockStepKeepsTheRingTime(t *testing.T) {
	for _, step := range []time.Duration{5 * time.Minute, -5 * time.Minute} {
		fs := newFakeServer(t)
		ctx := testCtx(t)
		c, err := Dial(ctx, fs.url(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var stepped atomic.Int64
		c.clock.wall = func() time.Time { return time.Now().Add(time.Duration(stepped.Load())).Round(0) }
		if _, err := c.Login(ctx, "token", "dev1"); err != nil {
			t.Fatal(err)
		}
		stepped.Store(int64(step))
		deadline := time.Now().Add(time.Hour + 30*time.Second).UnixMilli()
		if got := c.RemainingRingTime(deadline); got > 31*time.Second || got < 29*time.Second {
			t.Errorf("step %v: the invitation rings for %v, want about 30s", step, got)
		}
		if off := c.ServerTimeOffset() - (time.Hour - step); off < -time.Second || off > time.Second {
			t.Errorf("step %v: ServerTimeOffset %v, want about %v", step, c.ServerTimeOffset(), time.Hour-step)
		}
		c.Close()
	}
}

// orderHandler reports invitations and connection states on one channel, in handler order.
type orderHandler struct {
	BaseHandler
	seen chan string
}

func (h *orderHandler) OnCallInvitationReceived(ev CallInvitationReceived) {
	h.seen <- "received:" + ev.CallID
}

func (h *orderHandler) OnConnectionStateChanged(s ConnectionState, _ error) {
	h.seen <- s.String()
}

// The handler gets events in the order they arrived, state changes included: a connection is
// Connected from its login reply on, so the events that follow the reply come after Connected,
// at the first login as after a reconnection.
func TestConnectedComesBeforeTheEventsAfterTheLogin(t *testing.T) {
	want := func(h *orderHandler, names ...string) {
		t.Helper()
		for _, n := range names {
			if got := recv(t, h.seen, n); got != n {
				t.Fatalf("the handler got %q, want %q", got, n)
			}
		}
	}
	for range 10 {
		fs := newFakeServer(t)
		fs.afterLogin = []protocol.Event{{Event: protocol.EventCallInvitationReceived,
			Data: mustJSON(map[string]any{"callID": "s1", "version": 1, "synthetic": true})}}
		h := &orderHandler{seen: make(chan string, 16)}
		_, fc := connect(t, fs, Options{EventHandler: h, MinBackoff: time.Millisecond})
		want(h, "Connecting", "Connected", "received:s1")
		fc.drop()
		want(h, "Reconnecting", "Connected", "received:s1")
	}
}

// Close drops the synthesized invitations not yet handed to the handler as it drops logged
// events: after Close the handler gets no invitation it could no longer answer, and a new
// client of the device, which resumes from the same last processed seq, gets them again.
func TestCloseDropsSynthesizedInvitationsNotYetHandled(t *testing.T) {
	fs := newFakeServer(t)
	fs.afterLogin = []protocol.Event{
		{Event: protocol.EventCallInvitationReceived, Data: mustJSON(map[string]any{"callID": "s1", "version": 1, "synthetic": true})},
		{Event: protocol.EventCallInvitationReceived, Data: mustJSON(map[string]any{"callID": "s2", "version": 1, "synthetic": true})},
	}
	rec := newRecorder()
	release, entered := make(chan struct{}), make(chan struct{}, 8)
	rec.onReceived = func(CallInvitationReceived) { // the handler is busy with the first
		entered <- struct{}{}
		<-release
	}
	c, _ := connect(t, fs, Options{EventHandler: rec})
	for range 2 { // each invitation is acknowledged once queued for the handler
		nextOp(t, fs, protocol.OpCallReceived)
	}
	recv(t, entered, "the handler to begin the first event")
	closeWhileHandling(t, c, rec, release, "received:s1")
}

// R7.2: a reconnection whose missed events the server could not replay (caughtUp false) is
// told to the handler, since calls known from earlier events may have changed without an
// event: Connected carries ErrEventsLost. A first login, with no position to resume from, and
// a reconnection that caught up carry no reason.
func TestConnectedTellsOfLostEvents(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	_, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
	if sc := rec.waitState(t, Connected); sc.reason != nil {
		t.Fatalf("first login: Connected with %v, want no reason", sc.reason)
	}
	fc.emit(protocol.EventCallInvitationCreated, callEvent("a"))
	recv(t, rec.events, "a")
	fc.drop()
	rec.waitState(t, Reconnecting)
	fc = recv(t, fs.conns, "caught-up reconnection")
	if sc := rec.waitState(t, Connected); sc.reason != nil {
		t.Fatalf("caught-up reconnection: Connected with %v, want no reason", sc.reason)
	}
	fs.mu.Lock()
	fs.pruned = true
	fs.mu.Unlock()
	fc.drop()
	rec.waitState(t, Reconnecting)
	recv(t, fs.conns, "reconnection that could not catch up")
	if sc := rec.waitState(t, Connected); !errors.Is(sc.reason, ErrEventsLost) {
		t.Fatalf("reconnection with caughtUp false: Connected with %v, want ErrEventsLost", sc.reason)
	}
}

// A server that drops every session right after its login is retried less and less often:
// the reconnection backoff keeps growing across such short sessions (doc of MinBackoff).
func TestBackoffGrowsAcrossSessionsDroppedAfterLogin(t *testing.T) {
	fs := newFakeServer(t)
	_, fc := connect(t, fs, Options{MinBackoff: 40 * time.Millisecond, MaxBackoff: 10 * time.Second})
	recv(t, fs.logins, "login")
	fc.drop()
	logins := 0
	window := time.After(1200 * time.Millisecond)
	for done := false; !done; {
		select {
		case <-fs.logins:
			logins++
		case fc := <-fs.conns:
			fc.drop()
		case <-window:
			done = true
		}
	}
	// Growing from 40 ms the waits are at least 20, 40, 80, 160, 320, 640 ms: at most six
	// logins fit in 1.2 s. Starting again from 40 ms after each login would give 30 or more.
	if logins > 6 || logins == 0 {
		t.Fatalf("%d logins in 1.2 s against a server that drops each session; want 1 to 6", logins)
	}
}

// A session that lasted MaxBackoff or longer starts the backoff again from MinBackoff.
func TestBackoffStartsAgainAfterALastingSession(t *testing.T) {
	fs := newFakeServer(t)
	_, fc := connect(t, fs, Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 400 * time.Millisecond})
	recv(t, fs.logins, "login")
	for range 5 { // the bound grows to 400 ms: the next wait would be at least 200 ms
		fc.drop()
		recv(t, fs.logins, "relogin")
		fc = recv(t, fs.conns, "connection")
	}
	time.Sleep(450 * time.Millisecond) // the session lasts past MaxBackoff
	dropped := time.Now()
	fc.drop()
	recv(t, fs.logins, "relogin after a lasting session")
	if waited := time.Since(dropped); waited >= 200*time.Millisecond {
		t.Fatalf("reconnected %v after a session of 450 ms; want within about MinBackoff (20 ms)", waited)
	}
}

// A SeqStore holding a position no login can carry (negative, or beyond the protocol's 53-bit
// integers) holds garbage: the device logs in as one without a position, as the browser SDK
// does with such a value in its storage, rather than being refused (6000001) at every Login.
func TestSeqStoreGarbageIsNoPosition(t *testing.T) {
	for _, bad := range []int64{-1, protocol.MaxInteger + 1} {
		fs := newFakeServer(t)
		fs.setLoginErr(func(ld protocol.LoginData) *protocol.Error {
			if ld.LastSeq != nil && (*ld.LastSeq < 0 || *ld.LastSeq > protocol.MaxInteger) {
				return &protocol.Error{Code: protocol.CodeInvalidParameter, Message: "bad lastSeq"}
			}
			return nil
		})
		store := &MemorySeqStore{}
		key := SeqKey{UserID: "alice", DeviceID: "dev1"}
		_ = store.Save(context.Background(), key, bad)
		ctx := testCtx(t)
		c, err := Dial(ctx, fs.url(), Options{SeqStore: store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Login(ctx, jwtWithSub("alice"), "dev1"); err != nil {
			t.Fatalf("stored seq %d: Login: %v", bad, err)
		}
		if ld := recv(t, fs.logins, "login"); ld.LastSeq != nil {
			t.Fatalf("stored seq %d: login sent lastSeq %d, want none", bad, *ld.LastSeq)
		}
		c.Close()
	}
}

// failingSeqStore holds a position it cannot read.
type failingSeqStore struct{ MemorySeqStore }

func (*failingSeqStore) Load(context.Context, SeqKey) (int64, bool, error) {
	return 0, false, errors.New("disk unreadable")
}

// A saved position that cannot be used (Load fails, or it is out of range) may hide missed
// events as surely as one the server could not replay: the first Connected says ErrEventsLost.
func TestUnreadablePositionReportsEventsLost(t *testing.T) {
	for name, store := range map[string]SeqStore{
		"load fails":   &failingSeqStore{},
		"out of range": &MemorySeqStore{},
	} {
		t.Run(name, func(t *testing.T) {
			_ = store.Save(context.Background(), SeqKey{UserID: "alice", DeviceID: "dev1"}, -5)
			fs := newFakeServer(t)
			rec := newRecorder()
			ctx := testCtx(t)
			c, err := Dial(ctx, fs.url(), Options{SeqStore: store, EventHandler: rec})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Login(ctx, jwtWithSub("alice"), "dev1"); err != nil {
				t.Fatalf("Login: %v", err)
			}
			if sc := rec.waitState(t, Connected); !errors.Is(sc.reason, ErrEventsLost) {
				t.Fatalf("Connected with reason %v, want ErrEventsLost", sc.reason)
			}
		})
	}
}

// R7.2 with a slow handler: a reconnection resumes from the last event the handler returned
// from, so the server sends again the events still queued for it; those are dropped, and each
// event reaches the handler once, in order.
func TestReconnectWhileHandlerIsBehindDeliversEachEventOnce(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	release, entered := make(chan struct{}), make(chan struct{}, 8)
	var held atomic.Bool
	rec.onReceived = func(CallInvitationReceived) {
		if held.CompareAndSwap(false, true) {
			entered <- struct{}{}
			<-release
		}
	}
	_, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
	recv(t, fs.logins, "first login")
	first := fc.emit(protocol.EventCallInvitationReceived, callEvent("c0"))
	fc.emit(protocol.EventCallInvitationReceived, callEvent("c1"))
	fc.emit(protocol.EventCallInvitationReceived, callEvent("c2"))
	recv(t, entered, "the handler to begin the first event")
	fc.drop()
	if ld := recv(t, fs.logins, "resume login"); ld.LastSeq == nil || *ld.LastSeq >= first {
		t.Fatalf("resume lastSeq = %v, want one before %d, the first event not handled yet", ld.LastSeq, first)
	}
	fc2 := recv(t, fs.conns, "new connection") // it sent c0..c2 again
	fc2.emit(protocol.EventCallInvitationReceived, callEvent("after"))
	close(release)
	for _, want := range []string{"received:c0", "received:c1", "received:c2", "received:after"} {
		if got := recv(t, rec.events, want); got != want {
			t.Fatalf("the handler got %q, want %q", got, want)
		}
	}
}

// A kick whose kicked event the connection could not carry is told by its close code alone:
// the state change's reason is the kick of the table, and the client reconnects or not as
// the table says, without an OnKicked.
func TestKickByCloseCodeAlone(t *testing.T) {
	for _, reason := range []string{KickHeartbeat, KickTooManyDevices} {
		t.Run(reason, func(t *testing.T) {
			want, _ := protocol.KickFor(reason)
			fs := newFakeServer(t)
			rec := newRecorder()
			c, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
			recv(t, fs.logins, "login")
			_ = fc.ws.Close(websocket.StatusCode(want.CloseCode), "")
			next := Disconnected
			if want.Retry {
				next = Reconnecting
			}
			var ke *KickError
			if sc := rec.waitState(t, next); !errors.As(sc.reason, &ke) || ke.Reason != reason || ke.Retry != want.Retry {
				t.Fatalf("%v reason %v, want the kick %s", next, sc.reason, reason)
			}
			if want.Retry {
				recv(t, fs.logins, "login after the kick")
				rec.waitState(t, Connected)
			} else {
				recv(t, c.Done(), "Done")
				assertNoReconnection(t, fs, c)
			}
			select {
			case k := <-rec.kicks:
				t.Fatalf("OnKicked(%+v) without a kicked event", k)
			default:
			}
		})
	}
}
