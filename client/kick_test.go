package client

import (
	"errors"
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
