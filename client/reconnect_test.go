package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone/dialtone/protocol"
)

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

// A reconnection's login refused because a newer connection of the device logged in, whose
// connection then hears the replaced kick but never its close (lost on the network), ends the
// client with that kick, without asking the TokenSource for a token or logging in again
// (docs/behaviour.md §12, "A kick whose close is lost"); as the browser SDK does.
func TestReconnectRefusedKickHeardWithoutItsCloseDisconnects(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	var asked atomic.Int32
	src := func(context.Context) (string, error) {
		asked.Add(1)
		return "fresh", nil
	}
	c, fc := connect(t, fs, Options{EventHandler: rec, TokenSource: src,
		MinBackoff: 300 * time.Millisecond, MaxBackoff: 600 * time.Millisecond})
	recv(t, fs.logins, "the first login")
	fs.setLoginErr(func(protocol.LoginData) *protocol.Error {
		return &protocol.Error{Code: protocol.CodeInvalidParameter, Message: "a newer connection of this device is logged in"}
	})
	fs.mu.Lock()
	fs.loginKick, fs.kickLost = protocol.KickReplaced, true
	fs.mu.Unlock()
	fc.drop()
	recv(t, fs.logins, "the refused login")
	if k := recv(t, rec.kicks, "the replaced kick"); k.Reason != protocol.KickReplaced {
		t.Fatalf("OnKicked(%+v), want the replaced kick", k)
	}
	sc := rec.waitState(t, Disconnected)
	var kick *KickError
	if !errors.As(sc.reason, &kick) || kick.Reason != protocol.KickReplaced || !errors.As(c.Err(), &kick) {
		t.Fatalf("Disconnected reason %v, Err %v; want the replaced kick", sc.reason, c.Err())
	}
	assertNoReconnection(t, fs, c)
	if n := asked.Load(); n != 1 {
		t.Fatalf("the TokenSource was asked %d times, want once (for the refused login only)", n)
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
//
// The client times a session from its own login, which on a loaded machine comes well after
// the server saw the login: the session is timed here from the Connected state, and lasts half
// MaxBackoff longer than needed.
func TestBackoffStartsAgainAfterALastingSession(t *testing.T) {
	const minB, maxB = 20 * time.Millisecond, time.Second
	fs := newFakeServer(t)
	rec := newRecorder()
	_, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: minB, MaxBackoff: maxB})
	recv(t, fs.logins, "login")
	rec.waitState(t, Connected)
	for range 6 { // the bound grows to MaxBackoff: the next wait would be at least maxB/2
		fc.drop()
		recv(t, fs.logins, "relogin")
		fc = recv(t, fs.conns, "connection")
		rec.waitState(t, Connected)
	}
	time.Sleep(maxB + maxB/2) // the session lasts past MaxBackoff
	dropped := time.Now()
	fc.drop()
	recv(t, fs.logins, "relogin after a lasting session")
	if waited := time.Since(dropped); waited >= maxB/2 {
		t.Fatalf("reconnected %v after a session of %v; want within about MinBackoff (%v), not the grown backoff (at least %v)",
			waited, maxB+maxB/2, minB, maxB/2)
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

// A reconnection may log in before the reader of the connection it replaces has told the
// client of its death (die closes done, then runs onDead, which waits for the client's lock):
// the new connection is installed all the same, and operations waiting for a connection get
// it.
func TestInstallBeforeTheDeadConnectionsReaderCaughtUp(t *testing.T) {
	c := &Client{opts: Options{}.withDefaults(), ready: make(chan struct{}), loggedIn: true}
	c.life, c.finish = context.WithCancelCause(context.Background())
	defer c.finish(ErrClosed)
	old := &conn{done: make(chan struct{})}
	if !c.install(old, LoginResult{}) {
		t.Fatal("the first connection was not installed")
	}
	close(old.done) // died; its reader has not run onDead yet
	next := &conn{done: make(chan struct{})}
	defer func() {
		close(next.done) // ends its heartbeat
		c.wg.Wait()
	}()
	if !c.install(next, LoginResult{}) {
		t.Fatal("the new connection was not installed")
	}
	cn, err := c.connection(testCtx(t))
	if err != nil || cn != next {
		t.Fatalf("connection() = %p, %v; want the new connection %p", cn, err, next)
	}
	c.onDead(old) // the old reader catches up: it must leave the new connection in place
	if cn, err := c.connection(testCtx(t)); err != nil || cn != next {
		t.Fatalf("after the old reader's onDead, connection() = %p, %v; want %p", cn, err, next)
	}
}
