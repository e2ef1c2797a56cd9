package wsapi

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/goroutines"
	"github.com/dialtone/dialtone/internal/localbus"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// heldBoard is the real switchboard over SQLite, except that it holds alice's first op (an
// invite, or an input on a call) in flight until release is closed, and tells when alice's
// device was lost by a logout.
type heldBoard struct {
	*switchboard.Switchboard
	holding atomic.Bool   // alice's first op is yet to come
	entered chan struct{} // closed when the held op reached the switchboard
	release chan struct{} // closed by the test: the held op goes on
	done    chan struct{} // closed when the held op returned
	callID  string        // the call of the held op, once done
	lost    chan struct{} // closed when a logout of alice's device returned
	lostOne sync.Once
}

// newHeldBoard starts a switchboard over a new SQLite store publishing to bus; both are closed
// when the test ends.
func newHeldBoard(t *testing.T, bus *localbus.Bus) *heldBoard {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "dialtone.db"), sqlite.Options{Publish: bus.Publish})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	board := switchboard.New(switchboard.Config{}, store, nil, nil)
	if err := board.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(board.Close)
	b := &heldBoard{Switchboard: board, entered: make(chan struct{}), release: make(chan struct{}),
		done: make(chan struct{}), lost: make(chan struct{})}
	b.holding.Store(true)
	return b
}

// hold holds the op if it is alice's first, and returns the function that marks it done.
func (b *heldBoard) hold(userID string) func(callID string) {
	if userID != "alice" || !b.holding.CompareAndSwap(true, false) {
		return func(string) {}
	}
	close(b.entered)
	<-b.release
	return func(callID string) {
		b.callID = callID
		close(b.done)
	}
}

func (b *heldBoard) Invite(ctx context.Context, in call.Invite, idemKey string) (switchboard.Result, error) {
	done := b.hold(in.UserID)
	res, err := b.Switchboard.Invite(ctx, in, idemKey)
	done(res.Call.ID)
	return res, err
}

func (b *heldBoard) Do(ctx context.Context, callID string, in call.Input, idemKey string) (switchboard.Result, error) {
	done := func(string) {}
	if a, ok := in.(call.Accept); ok {
		done = b.hold(a.UserID)
	}
	res, err := b.Switchboard.Do(ctx, callID, in, idemKey)
	done(callID)
	return res, err
}

func (b *heldBoard) Logout(ctx context.Context, userID, deviceID string) {
	b.Switchboard.Logout(ctx, userID, deviceID)
	if userID == "alice" {
		b.lostOne.Do(func() { close(b.lost) })
	}
}

// within waits for ch, failing the test after 10 s.
func within(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not within 10s", what)
	}
}

// waitsForDeviceOps reports whether a goroutine waits, for a logout, for the ops in flight of
// the device it loses (session.waitDeviceOps).
func waitsForDeviceOps() bool {
	return slices.ContainsFunc(goroutines.Stacks(), func(g string) bool { return strings.Contains(g, "wsapi.(*session).waitDeviceOps") })
}

// logoutAfterReplacedOp sends op on alice's connection of device a1, which the switchboard
// holds in flight; then way.logins newer connections of a1 log in one after another, each
// replacing the one before (R6.2), and the device logs out: from the newest connection
// (way), or by the server's logout of alice (Server.LogoutUser, the REST API's). The held op goes on once the logout lost the device or
// waits for the device's ops in flight, whichever comes first. It returns once the logout and
// the op are both done, with the op's call.
func logoutAfterReplacedOp(t *testing.T, b *heldBoard, bus *localbus.Bus, op string, way logoutWay) (callID string) {
	t.Helper()
	srv := New(Config{}, b, bus, tokenIsUser{}, nil, nil)
	url := listen(t, srv)
	const login = `{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1"}}`

	older := dialWS(t, url)
	exchange(t, older, login)
	if err := older.Write(t.Context(), websocket.MessageText, []byte(op)); err != nil {
		t.Fatal(err)
	}
	within(t, b.entered, "the op reaching the switchboard")
	var newer *websocket.Conn
	for range way.logins {
		newer = dialWS(t, url)
		exchange(t, newer, login)
		if got := readUntilKicked(t, older); got != protocol.KickReplaced {
			t.Fatalf("older connection kicked with %q, want %q", got, protocol.KickReplaced)
		}
		older = newer
	}

	loggedOut := make(chan struct{})
	if way.byClient {
		if err := newer.Write(t.Context(), websocket.MessageText, []byte(`{"id":2,"op":"logout"}`)); err != nil {
			t.Fatal(err)
		}
		close(loggedOut)
	} else {
		go func() {
			defer close(loggedOut)
			srv.LogoutUser(context.Background(), "alice")
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for !isClosed(b.lost) && !waitsForDeviceOps() {
		if time.Now().After(deadline) {
			t.Fatal("the logout neither lost the device nor waited for its ops within 10s")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
	close(b.release)
	within(t, loggedOut, "the logout")
	within(t, b.lost, "the device's loss")
	within(t, b.done, "the held op")
	if got := readUntilKicked(t, newer); got != protocol.KickLogout {
		t.Fatalf("newer connection kicked with %q, want %q", got, protocol.KickLogout)
	}
	return b.callID
}

// userState describes u's state and main device in a failure message.
func userState(u *call.User) string {
	if u == nil {
		return "not in the call"
	}
	return fmt.Sprintf("state %d on main device %q", u.State, u.MainDevice)
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// logoutWay is how the device logs out after how many newer logins.
type logoutWay struct {
	name     string
	byClient bool // its own logout op, or the server's logout of its user
	logins   int  // newer logins of the device before the logout
}

var logoutWays = []logoutWay{
	{"logout", true, 1}, {"LogoutUser", false, 1}, {"logout after two replacements", true, 2},
}

// R6.1, R6.4: a callAccept in flight on a connection that a newer login of the same device
// replaced (R6.2) commits before the device's logout on the newer connection, as one in
// flight on the logged-out connection itself does: the logout then finds alice Accepted on
// its main device and she quits the advanced call, instead of staying Accepted (and busy) on
// a logged-out device until the device's loss grace ends.
func TestLogoutAfterAnAcceptOfTheReplacedConnection(t *testing.T) {
	for _, way := range logoutWays {
		t.Run(way.name, func(t *testing.T) {
			bus := localbus.New()
			b := newHeldBoard(t, bus)
			res, err := b.Invite(t.Context(), call.Invite{Actor: call.Actor{UserID: "bob", DeviceID: "b1"},
				Invitees: []string{"alice"}, Mode: call.Advanced}, "")
			if err != nil {
				t.Fatal(err)
			}
			logoutAfterReplacedOp(t, b, bus, `{"id":2,"op":"callAccept","data":{"callID":"`+res.Call.ID+`"}}`, way)
			c, err := b.QueryCall(t.Context(), "bob", res.Call.ID)
			if err != nil {
				t.Fatal(err)
			}
			if u := c.User("alice"); u == nil || u.State != call.Quit {
				t.Errorf("alice after her device's logout: %s, want Quit (%d) (R6.4)", userState(u), call.Quit)
			}
		})
	}
}

// R6.1, R4.3: a callInvite in flight on a connection that a newer login of the same device
// replaced (R6.2) commits before the device's logout on the newer connection: the logout then
// cancels the new call, instead of leaving it ringing with a caller whose main device is
// logged out.
func TestLogoutAfterAnInviteOfTheReplacedConnection(t *testing.T) {
	for _, way := range logoutWays {
		t.Run(way.name, func(t *testing.T) {
			bus := localbus.New()
			b := newHeldBoard(t, bus)
			callID := logoutAfterReplacedOp(t, b, bus, `{"id":2,"op":"callInvite","data":{"invitees":["bob"]}}`, way)
			c, err := b.QueryCall(t.Context(), "alice", callID)
			if err != nil {
				t.Fatal(err)
			}
			if u := c.User("alice"); c.State != call.Ended || u == nil || u.State != call.Cancelled {
				t.Errorf("call after its caller's logout: call state %d, caller %s; want Ended (%d), the caller Cancelled (%d) (R4.3)",
					c.State, userState(u), call.Ended, call.Cancelled)
			}
		})
	}
}
