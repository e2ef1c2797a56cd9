package client

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/goroutines"
	"github.com/dialtone/dialtone/protocol"
)

// A logout whose connection drops before it reaches the server is sent again after the
// reconnection, as every operation is: the device is logged out (R6.1), Logout returns nil and
// the client ends with ErrLoggedOut.
func TestLogoutSentAgainAfterADroppedConnection(t *testing.T) {
	fs := newFakeServer(t)
	var dropped atomic.Bool
	fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		if req.Op == protocol.OpLogout && dropped.CompareAndSwap(false, true) {
			fc.drop() // lost with the connection, never carried out
			return nil, nil, false
		}
		return defaultRespond(fc, req)
	})
	rec := newRecorder()
	c, _ := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
	recv(t, fs.logins, "login")
	if err := c.Logout(testCtx(t)); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	nextOp(t, fs, protocol.OpLogout)
	recv(t, fs.logins, "the login of the reconnection")
	nextOp(t, fs, protocol.OpLogout)
	if sc := rec.waitState(t, Disconnected); !errors.Is(sc.reason, ErrLoggedOut) {
		t.Fatalf("Disconnected reason %v, want ErrLoggedOut", sc.reason)
	}
	if !errors.Is(c.Err(), ErrLoggedOut) {
		t.Fatalf("Err() = %v, want ErrLoggedOut", c.Err())
	}
	assertNoReconnection(t, fs, c)
}

// A logout carried out whose reply is lost, the server's logout kick telling it was done:
// Logout returns nil and the client does not reconnect.
func TestLogoutDoneWithoutItsReply(t *testing.T) {
	fs := newFakeServer(t)
	fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		if req.Op == protocol.OpLogout {
			fc.kick(protocol.KickLogout) // no reply, only the kick and the close (4002)
			return nil, nil, false
		}
		return defaultRespond(fc, req)
	})
	rec := newRecorder()
	c, _ := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
	recv(t, fs.logins, "login")
	if err := c.Logout(testCtx(t)); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if sc := rec.waitState(t, Disconnected); !errors.Is(sc.reason, ErrLoggedOut) {
		t.Fatalf("Disconnected reason %v, want ErrLoggedOut", sc.reason)
	}
	assertNoReconnection(t, fs, c)
	if n := len(fs.requests); n != 1 {
		t.Errorf("the server got %d requests, want the one logout", n)
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

// A Logout called right after a kick with retry whose close is lost is not sent on the kicked
// connection, which the server no longer reads: it waits for the reconnection and is carried
// out there (docs/behaviour.md §12, "A kick whose close is lost").
func TestLogoutAfterAKickWhoseCloseIsLost(t *testing.T) {
	fs, kickedConn := newKickingServer(t)
	rec := newRecorder()
	c, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
	recv(t, fs.logins, "login")
	kickedConn.Store(fc)
	fc.kickEvent(protocol.KickShutdown) // and its close never comes
	recv(t, rec.kicks, "kicked")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Logout(ctx); err != nil {
		t.Fatalf("Logout after the kick: %v, want it carried out on the next connection", err)
	}
	recv(t, fs.logins, "the login of the reconnection")
	nextOp(t, fs, protocol.OpLogout)
	if !errors.Is(c.Err(), ErrLoggedOut) {
		t.Fatalf("Err() = %v, want ErrLoggedOut", c.Err())
	}
}

// Logout and Close racing, in both orders (docs: client.Logout). Logout tells whether the server
// logged the device out: nil when it did (its reply or its logout kick came), else why not. The
// client's end reason (Err, the last Disconnected) is that of the first of the two to end it.
func TestLogoutRacingClose(t *testing.T) {
	t.Run("CloseFirst", func(t *testing.T) {
		// A Logout after Close is refused at once, sending nothing: the device stays known until
		// its heartbeat timeout (R6.1), as after any Close.
		fs := newFakeServer(t)
		rec := newRecorder()
		c, _ := connect(t, fs, Options{EventHandler: rec})
		c.Close()
		if err := c.Logout(testCtx(t)); !errors.Is(err, ErrClosed) {
			t.Errorf("Logout after Close: %v, want ErrClosed", err)
		}
		if sc := rec.lastState(); sc.state != Disconnected || !errors.Is(sc.reason, ErrClosed) {
			t.Errorf("last state %v (%v), want Disconnected (ErrClosed)", sc.state, sc.reason)
		}
		select {
		case req := <-fs.requests:
			t.Errorf("the server got %s", req.Op)
		default:
		}
	})
	t.Run("CloseWhileLogoutWaitsForItsReply", func(t *testing.T) {
		// Close cuts short a Logout the server has not answered: it returns ErrClosed, as every
		// pending operation does, since the device may not be logged out.
		fs := newFakeServer(t)
		held := make(chan struct{})
		t.Cleanup(func() { close(held) })
		fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
			if req.Op == protocol.OpLogout {
				<-held
				return nil, nil, false
			}
			return defaultRespond(fc, req)
		})
		rec := newRecorder()
		c, _ := connect(t, fs, Options{EventHandler: rec})
		logoutErr := make(chan error, 1)
		go func() { logoutErr <- c.Logout(context.Background()) }()
		nextOp(t, fs, protocol.OpLogout)
		c.Close()
		if err := recv(t, logoutErr, "Logout"); !errors.Is(err, ErrClosed) {
			t.Errorf("Logout cut short by Close: %v, want ErrClosed", err)
		}
		if !errors.Is(c.Err(), ErrClosed) {
			t.Errorf("Err() = %v, want ErrClosed", c.Err())
		}
		if sc := rec.lastState(); sc.state != Disconnected || !errors.Is(sc.reason, ErrClosed) {
			t.Errorf("last state %v (%v), want Disconnected (ErrClosed)", sc.state, sc.reason)
		}
	})
	t.Run("LogoutFirst", func(t *testing.T) {
		// A Close after a Logout that returned changes nothing: the client ended logged out.
		fs := newFakeServer(t)
		rec := newRecorder()
		c, _ := connect(t, fs, Options{EventHandler: rec})
		if err := c.Logout(testCtx(t)); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close after Logout: %v", err)
		}
		if !errors.Is(c.Err(), ErrLoggedOut) {
			t.Errorf("Err() = %v, want ErrLoggedOut", c.Err())
		}
		var disconnected []stateChange
		for len(rec.states) > 0 { // Close returned: every state change was handled
			if sc := <-rec.states; sc.state == Disconnected {
				disconnected = append(disconnected, sc)
			}
		}
		if len(disconnected) != 1 || !errors.Is(disconnected[0].reason, ErrLoggedOut) {
			t.Errorf("Disconnected handled %v, want once, with ErrLoggedOut", disconnected)
		}
	})
}

// A logout the server refuses (6000270: its database cannot write, docs/protocol.md "logout")
// changes nothing: the connection stays logged in for the client to repeat it. Logout returns
// the refusal and leaves the client running, Connected on the same connection, so a second
// Logout logs the device out (R6.1) rather than the device going on ringing while the app
// believes it signed out.
func TestLogoutRefusedLeavesTheClientLoggedIn(t *testing.T) {
	fs := newFakeServer(t)
	var refused atomic.Bool
	fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		if req.Op == protocol.OpLogout && refused.CompareAndSwap(false, true) {
			return nil, &protocol.Error{Code: protocol.CodeInternal, Message: "storage unavailable, retry later"}, true
		}
		return defaultRespond(fc, req)
	})
	c, _ := connect(t, fs, Options{MinBackoff: time.Millisecond})
	recv(t, fs.logins, "login")
	if err := c.Logout(testCtx(t)); Code(err) != CodeInternal {
		t.Fatalf("Logout refused with 6000270: %v, want that refusal", err)
	}
	nextOp(t, fs, protocol.OpLogout)
	if err, s := c.Err(), c.State(); err != nil || s != Connected {
		t.Fatalf("after the refused Logout: Err %v, state %v, want the client running and Connected", err, s)
	}
	if _, err := c.QueryCall(testCtx(t), "c1"); err != nil {
		t.Fatalf("an operation after the refused Logout: %v", err)
	}
	nextOp(t, fs, protocol.OpQueryCall)
	if err := c.Logout(testCtx(t)); err != nil {
		t.Fatalf("Logout repeated: %v", err)
	}
	nextOp(t, fs, protocol.OpLogout)
	if !errors.Is(c.Err(), ErrLoggedOut) {
		t.Fatalf("Err() = %v, want ErrLoggedOut", c.Err())
	}
	assertNoReconnection(t, fs, c) // both logouts went on the first connection
}

// A Logout whose ctx ends while its connection is down (docs/behaviour.md §12, "A Go Logout
// that fails") may or may not have been carried out: it returns ctx's error and leaves the
// client running, so it reconnects and a Logout repeated then logs the device out (R6.1), its
// push targets included, rather than the device staying known to the server unseen.
func TestLogoutGivenUpWhileReconnectingLeavesTheClientRunning(t *testing.T) {
	fs := newFakeServer(t)
	fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		if req.Op == protocol.OpLogout {
			fc.drop() // lost with the connection
			return nil, nil, false
		}
		return defaultRespond(fc, req)
	})
	c, _ := connect(t, fs, Options{MinBackoff: time.Millisecond})
	recv(t, fs.logins, "login")
	reconnect := make(chan struct{})
	fs.setLoginErr(func(protocol.LoginData) *protocol.Error { <-reconnect; return nil })
	endWhileWaiting(t, map[string]func(context.Context) error{"Logout": c.Logout})
	if err := c.Err(); err != nil {
		t.Fatalf("after a Logout given up: Err %v, want the client running", err)
	}
	close(reconnect)
	recv(t, fs.conns, "the reconnection")
	fs.setRespond(nil)
	if err := c.Logout(testCtx(t)); err != nil {
		t.Fatalf("Logout repeated after the reconnection: %v", err)
	}
	if !errors.Is(c.Err(), ErrLoggedOut) {
		t.Fatalf("Err() = %v, want ErrLoggedOut", c.Err())
	}
}

// A Logout on a client not logged in has no device to log out: it returns ErrNotLoggedIn and
// leaves the client as it was, so Login may still be called, and Logout after it.
func TestLogoutBeforeLoginLeavesTheClient(t *testing.T) {
	fs := newFakeServer(t)
	c, err := Dial(testCtx(t), fs.url(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Logout(testCtx(t)); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("Logout before Login: %v, want ErrNotLoggedIn", err)
	}
	if _, err := c.Login(testCtx(t), "token", "dev1"); err != nil {
		t.Fatalf("Login after the Logout: %v", err)
	}
	if err := c.Logout(testCtx(t)); err != nil {
		t.Fatalf("Logout after the Login: %v", err)
	}
	nextOp(t, fs, protocol.OpLogout)
}

// gatedSeqStore is a SeqStore whose Load tells it began, then waits for release.
type gatedSeqStore struct {
	MemorySeqStore
	loading chan struct{}
	release chan struct{}
}

func (s *gatedSeqStore) Load(ctx context.Context, key SeqKey) (int64, bool, error) {
	s.loading <- struct{}{}
	<-s.release
	return s.MemorySeqStore.Load(ctx, key)
}

// A Logout called while the first Login runs, at any step of it (here the SeqStore's Load,
// before the login is sent), waits for that Login, then logs the device out (R6.1): the
// device does not end logged in after a Logout that came after the Login.
func TestLogoutWaitsForTheLoginInProgress(t *testing.T) {
	fs := newFakeServer(t)
	store := &gatedSeqStore{loading: make(chan struct{}, 1), release: make(chan struct{})}
	c, err := Dial(testCtx(t), fs.url(), Options{SeqStore: store})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	loginErr := loginAsync(testCtx(t), c)
	recv(t, store.loading, "the Load of the Login")
	logoutErr := make(chan error, 1)
	go func() { logoutErr <- c.Logout(testCtx(t)) }()
	waitFor(t, "Logout to return or wait", func() bool { return len(logoutErr) > 0 || logoutWaits() })
	if len(logoutErr) > 0 {
		t.Fatalf("Logout during the Login returned %v at once, want it to wait for the Login", <-logoutErr)
	}
	close(store.release)
	if err := recv(t, loginErr, "Login"); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if err := recv(t, logoutErr, "Logout"); err != nil {
		t.Fatalf("Logout after the Login it waited for: %v", err)
	}
	nextOp(t, fs, protocol.OpLogout)
	if !errors.Is(c.Err(), ErrLoggedOut) {
		t.Fatalf("Err() = %v, want ErrLoggedOut", c.Err())
	}
}

// logoutWaits reports whether a goroutine is parked in Client.Logout itself, waiting for its
// turn.
func logoutWaits() bool {
	for _, g := range goroutines.Stacks() {
		head, stack, _ := strings.Cut(g, "\n")
		if strings.Contains(head, "[select") && strings.HasPrefix(stack, "github.com/dialtone/dialtone/client.(*Client).Logout(") {
			return true
		}
	}
	return false
}

// Two Logouts at once run one after the other: the second waits for the first, and makes its
// own attempt when the first was refused (6000270), logging the device out (R6.1); both tell
// what happened to their own logout.
func TestConcurrentLogoutsRunOneAfterTheOther(t *testing.T) {
	fs := newFakeServer(t)
	release := make(chan struct{})
	var refused atomic.Bool
	fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		if req.Op == protocol.OpLogout && refused.CompareAndSwap(false, true) {
			<-release
			return nil, &protocol.Error{Code: protocol.CodeInternal, Message: "storage unavailable, retry later"}, true
		}
		return defaultRespond(fc, req)
	})
	check := leakCheck(t)
	c, _ := connect(t, fs, Options{})
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { first <- c.Logout(testCtx(t)) }()
	nextOp(t, fs, protocol.OpLogout)
	go func() { second <- c.Logout(testCtx(t)) }()
	waitFor(t, "the second Logout to wait for the first", logoutWaits)
	close(release)
	if err := recv(t, first, "the first Logout"); Code(err) != CodeInternal {
		t.Errorf("the first Logout: %v, want its refusal", err)
	}
	if err := recv(t, second, "the second Logout"); err != nil {
		t.Errorf("the second Logout: %v, want nil", err)
	}
	nextOp(t, fs, protocol.OpLogout)
	if !errors.Is(c.Err(), ErrLoggedOut) {
		t.Fatalf("Err() = %v, want ErrLoggedOut", c.Err())
	}
	check("after the Logouts", portOf(t, fs.url()))
}

// Close while a Logout waits for the Login in progress ends the wait at once: Logout returns
// ErrClosed, sending nothing, and so does the Login.
func TestCloseWhileLogoutWaitsForTheLogin(t *testing.T) {
	fs := newFakeServer(t)
	store := &gatedSeqStore{loading: make(chan struct{}, 1), release: make(chan struct{})}
	c, err := Dial(testCtx(t), fs.url(), Options{SeqStore: store})
	if err != nil {
		t.Fatal(err)
	}
	loginErr := loginAsync(testCtx(t), c)
	recv(t, store.loading, "the Load of the Login")
	logoutErr := make(chan error, 1)
	go func() { logoutErr <- c.Logout(testCtx(t)) }()
	waitFor(t, "Logout to wait for the Login", logoutWaits)
	c.Close()
	if err := recv(t, logoutErr, "Logout"); !errors.Is(err, ErrClosed) {
		t.Errorf("Logout cut short by Close: %v, want ErrClosed", err)
	}
	close(store.release)
	if err := recv(t, loginErr, "Login"); !errors.Is(err, ErrClosed) {
		t.Errorf("Login cut short by Close: %v, want ErrClosed", err)
	}
	assertNothingSent(t, fs)
}
