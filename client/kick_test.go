package client

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/protocol"
)

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

// A connection that heard a kicked event, its close lost on the network, is ended by the client
// at once with a normal close (docs/behaviour.md §12, "A kick whose close is lost"): an op in
// flight on it and an op sent right after the kick are not left waiting for their timeout on a
// connection the server no longer reads. After a kick with retry they are sent again on the
// next connection; after one without, they fail with the kick, which ends the client. The
// browser SDK does the same.
func TestKickWhoseCloseIsLostEndsTheConnection(t *testing.T) {
	for _, reason := range []string{KickShutdown, KickReplaced} {
		t.Run(reason, func(t *testing.T) {
			want, _ := protocol.KickFor(reason)
			fs, kickedConn := newKickingServer(t)
			rec := newRecorder()
			c, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
			recv(t, fs.logins, "login")
			kickedConn.Store(fc) // from now on fc answers nothing: the kick is on its way
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			inFlight := make(chan error, 1)
			go func() { _, err := c.CallAccept(ctx, "c1", OpConfig{}); inFlight <- err }()
			first := nextOp(t, fs, protocol.OpCallAccept)
			fc.kickEvent(reason)
			recv(t, rec.kicks, "kicked")
			after := make(chan error, 1)
			go func() { _, err := c.QueryCall(ctx, "c1"); after <- err }()
			for _, res := range []struct {
				what string
				ch   <-chan error
			}{{"the op sent after the kick", after}, {"the op in flight at the kick", inFlight}} {
				err := recv(t, res.ch, res.what)
				var ke *KickError
				switch {
				case want.Retry && err != nil:
					t.Errorf("%s: %v, want it carried out on the next connection", res.what, err)
				case !want.Retry && !(errors.As(err, &ke) && ke.Reason == reason):
					t.Errorf("%s: %v, want the %s kick", res.what, err, reason)
				}
			}
			if code := recv(t, fs.closes, "the client's close of the kicked connection"); code != websocket.StatusNormalClosure {
				t.Fatalf("the kicked connection ended with %v, want a normal close by the client", code)
			}
			if want.Retry {
				if again := nextOp(t, fs, protocol.OpCallAccept); again.Idem != first.Idem {
					t.Fatalf("callAccept sent again with key %q, want %q (R7.3)", again.Idem, first.Idem)
				}
				return
			}
			sc := rec.waitState(t, Disconnected)
			var ke *KickError
			if !errors.As(sc.reason, &ke) || ke.Reason != reason {
				t.Fatalf("Disconnected reason %v, want the %s kick", sc.reason, reason)
			}
			select {
			case req := <-fs.requests:
				t.Fatalf("%s sent on a connection kicked without retry", req.Op)
			default:
			}
			assertNoReconnection(t, fs, c)
		})
	}
}

// newKickingServer returns a fake server and the connection it kicked (none until the test
// stores one), which carries out nothing more it reads, as the server's side of a kicked
// connection does.
func newKickingServer(t *testing.T) (*fakeServer, *atomic.Pointer[fakeConn]) {
	fs := newFakeServer(t)
	kicked := new(atomic.Pointer[fakeConn])
	fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		if fc == kicked.Load() {
			return nil, nil, false // a kicked connection carries out nothing more it reads
		}
		return defaultRespond(fc, req)
	})
	return fs, kicked
}

// A kicked event that tells no reason (no data, data not of the kicked shape, or no reason in
// it) is still a kick: the connection carries nothing more, and the close that follows names
// the kick by its code (kick table), which the handler's OnKicked and the state change carry.
// When that close does not come, the kick is one without retry, of no reason: the client ends
// rather than risk taking the device back from a connection that replaced it.
func TestKickedWithoutAReasonIsNamedByItsClose(t *testing.T) {
	for _, tt := range []struct {
		name, event string
		closeCode   websocket.StatusCode // 0: the close is lost
		want        Kicked
	}{
		{"no data", `{"event":"kicked"}`, 4003, Kicked{Reason: KickShutdown, Retry: true}},
		{"data of another shape", `{"event":"kicked","data":"replaced"}`, 4001, Kicked{Reason: KickReplaced}},
		{"no reason", `{"event":"kicked","data":{}}`, 4009, Kicked{Reason: KickHeartbeat, Retry: true}},
		{"no data, its close lost", `{"event":"kicked"}`, 0, Kicked{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs, kickedConn := newKickingServer(t)
			rec := newRecorder()
			c, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
			recv(t, fs.logins, "login")
			kickedConn.Store(fc)
			fc.writeText([]byte(tt.event))
			if tt.closeCode != 0 {
				_ = fc.ws.Close(tt.closeCode, "")
			}
			if k := recv(t, rec.kicks, "kicked"); k != tt.want {
				t.Fatalf("OnKicked(%+v), want %+v", k, tt.want)
			}
			next := Disconnected
			if tt.want.Retry {
				next = Reconnecting
			}
			var ke *KickError
			sc := rec.waitState(t, next)
			if !errors.As(sc.reason, &ke) || *ke != (KickError{Reason: tt.want.Reason, Retry: tt.want.Retry}) {
				t.Fatalf("%v reason %v, want the kick %+v", next, sc.reason, tt.want)
			}
			if tt.want.Retry {
				recv(t, fs.logins, "login after the kick")
				return
			}
			recv(t, c.Done(), "Done")
			assertNoReconnection(t, fs, c)
		})
	}
}

// A kick that tells no reason (docs/behaviour.md §12, "A kick that tells no reason") says so in
// its error, instead of an empty reason.
func TestKickErrorOfNoReasonSaysSo(t *testing.T) {
	for _, tt := range []struct {
		kick KickError
		want string
	}{
		{KickError{Reason: protocol.KickReplaced}, "dialtone: kicked by the server: replaced (retry false)"},
		{KickError{}, "dialtone: kicked by the server, no reason given (retry false)"},
		{KickError{Retry: true}, "dialtone: kicked by the server, no reason given (retry true)"},
	} {
		if got := tt.kick.Error(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.kick, got, tt.want)
		}
	}
}
