package client

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

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
