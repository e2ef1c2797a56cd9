package wsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// failingQuery is a Backend whose queries fail with an error of the store.
type failingQuery struct{ prunedLog }

func (failingQuery) QueryCall(context.Context, string, string) (call.Call, error) {
	return call.Call{}, errors.New("sqlite: read call c1: disk I/O error (/var/lib/dialtone/dialtone.db)")
}

// aliceLoggedIn starts a server on backend, whose log goes to the returned buffer, and returns
// a connection logged in as alice; both end with the test.
func aliceLoggedIn(t *testing.T, backend Backend) (*websocket.Conn, *lockedBuffer) {
	t.Helper()
	logged := &lockedBuffer{}
	srv := New(Config{}, backend, noBus{}, tokenIsUser{}, nil, slog.New(slog.NewTextHandler(logged, nil)))
	return aliceLoggedInTo(t, srv), logged
}

// aliceLoggedInTo serves srv and returns a connection to it logged in as alice (device a1);
// both end with the test.
func aliceLoggedInTo(t *testing.T, srv *Server) *websocket.Conn {
	t.Helper()
	conn := dialWS(t, listen(t, srv))
	exchange(t, conn, aliceLogin)
	return conn
}

// An op that fails inside the server is answered 6000270 "internal error" (§8): the store's
// error, with its file path, is logged and never sent to the client.
func TestInternalErrorIsLoggedNotSent(t *testing.T) {
	conn, logged := aliceLoggedIn(t, &failingQuery{})
	if err := conn.Write(t.Context(), websocket.MessageText, []byte(`{"id":2,"op":"queryCall","data":{"callID":"c1"}}`)); err != nil {
		t.Fatal(err)
	}
	_, data, err := conn.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var f protocol.Frame
	if err := json.Unmarshal(data, &f); err != nil || f.ID != 2 || f.Error == nil ||
		*f.Error != (protocol.Error{Code: protocol.CodeInternal, Message: "internal error"}) {
		t.Fatalf("queryCall answered %s, want 6000270 \"internal error\"", data)
	}
	if !strings.Contains(logged.String(), "disk I/O error") {
		t.Errorf("log %q does not hold the store's error", logged.String())
	}
}

// failingLogReads is a Backend whose reads of the user's log and ringing calls fail, as when the
// store cannot read its file.
type failingLogReads struct{ prunedLog }

var errLogRead = errors.New("sqlite: log bounds of alice: disk I/O error")

func (failingLogReads) LogBounds(context.Context, string) (int64, int64, error) {
	return 0, 0, errLogRead
}

func (failingLogReads) RingingCalls(context.Context, string) ([]call.Call, int64, error) {
	return nil, 0, errLogRead
}

// A login whose catch-up fails before its reply, for a resume (lastSeq) as for a first login,
// is still answered, once: 6000270 "internal error" (§8, protocol.md "Envelopes": exactly one
// reply per request), before the shutdown kick that ends the session; the store's error is
// only logged.
func TestLoginWhoseCatchUpFailsIsAnswered(t *testing.T) {
	for _, login := range []string{
		`{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1","lastSeq":0}}`,
		`{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1"}}`,
	} {
		frames := exchange(t, dialServer(t, &failingLogReads{}, noBus{}), login)
		var replies []protocol.Frame
		for _, f := range frames {
			if f.Event == "" {
				replies = append(replies, f)
			}
		}
		if len(replies) != 1 || replies[0].ID != 1 || replies[0].Error == nil ||
			*replies[0].Error != (protocol.Error{Code: protocol.CodeInternal, Message: "internal error"}) {
			t.Errorf("%s: replies %+v, want one: 6000270 \"internal error\"", login, replies)
		}
		if _, kicked := seqs(frames); kicked != protocol.KickShutdown {
			t.Errorf("%s: kicked %q, want %q", login, kicked, protocol.KickShutdown)
		}
	}
}

// failingInvite is a Backend whose invitations fail with the store's error for a full disk
// while full is set, and with another error of the store otherwise.
type failingInvite struct {
	prunedLog
	full *atomic.Bool
}

func (f failingInvite) Invite(context.Context, call.Invite, string) (switchboard.Result, error) {
	if f.full.Load() {
		return switchboard.Result{}, fmt.Errorf("%w: sqlite: commit: database or disk is full (13)", switchboard.ErrStorageUnavailable)
	}
	return switchboard.Result{}, errors.New("sqlite: commit: interrupted (9)")
}

// An op that fails because the store cannot write (a full disk, an I/O error, a read-only file
// system: switchboard.ErrStorageUnavailable) is answered 6000270 (§8, retryable) with a message
// that says so, "storage unavailable, retry later"; any other failure inside the server is
// "internal error". Either way the store's error is only logged.
func TestStorageFaultIsToldToTheClient(t *testing.T) {
	var full atomic.Bool
	full.Store(true)
	conn, logged := aliceLoggedIn(t, &failingInvite{full: &full})
	invite := func(id int) string {
		return fmt.Sprintf(`{"id":%d,"op":"callInvite","data":{"invitees":["bob"],"config":{"timeout":30}}}`, id)
	}
	want := protocol.Error{Code: protocol.CodeInternal, Message: "storage unavailable, retry later"}
	if got := requestError(t, conn, 2, invite(2)); got != want {
		t.Errorf("callInvite on a full disk answered %+v, want %+v", got, want)
	}
	full.Store(false)
	want.Message = "internal error"
	if got := requestError(t, conn, 3, invite(3)); got != want {
		t.Errorf("callInvite failing for another reason answered %+v, want %+v", got, want)
	}
	for _, stored := range []string{"database or disk is full", "interrupted"} {
		if n := strings.Count(logged.String(), stored); n != 1 {
			t.Errorf("log holds the store's error %q %d times, want once: %q", stored, n, logged.String())
		}
	}
}

// requestError sends frame and returns the error of the reply to id (zero for a result),
// skipping the frames before it; it fails the test if the reply does not come within 10 s.
func requestError(t *testing.T, conn *websocket.Conn, id int64, frame string) protocol.Error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("no reply to %d: %v", id, err)
		}
		var f protocol.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %q: %v", data, err)
		}
		if f.Event == "" && f.ID == id {
			if f.Error == nil {
				return protocol.Error{}
			}
			return *f.Error
		}
	}
}

// failingAfterwards is a Backend whose reads of the user's log and ringing calls fail once
// failing is set (failingLogReads), and succeed before.
type failingAfterwards struct {
	prunedLog
	failing atomic.Bool
}

func (b *failingAfterwards) LogBounds(ctx context.Context, userID string) (int64, int64, error) {
	if b.failing.Load() {
		return failingLogReads{}.LogBounds(ctx, userID)
	}
	return b.prunedLog.LogBounds(ctx, userID)
}

func (b *failingAfterwards) RingingCalls(ctx context.Context, userID string) ([]call.Call, int64, error) {
	if b.failing.Load() {
		return failingLogReads{}.RingingCalls(ctx, userID)
	}
	return b.prunedLog.RingingCalls(ctx, userID)
}

// A login that fails changes nothing (R6.2): when a device's new connection cannot read its
// catch-up and is answered 6000270, the connection it was to replace is not kicked, and the
// device stays connected on it.
func TestFailedLoginKeepsTheDevicesConnection(t *testing.T) {
	for _, login := range []string{
		`{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1","lastSeq":0}}`,
		aliceLogin,
	} {
		backend := &failingAfterwards{}
		srv := New(Config{}, backend, noBus{}, tokenIsUser{}, nil, nil)
		url := listen(t, srv)
		first := dialWS(t, url)
		exchange(t, first, aliceLogin)

		backend.failing.Store(true)
		frames := exchange(t, dialWS(t, url), login)
		if len(frames) == 0 || frames[0].Error == nil || frames[0].Error.Code != protocol.CodeInternal {
			t.Fatalf("%s: the failing login got %+v, want 6000270 first", login, frames)
		}
		if _, kicked := seqs(exchange(t, first)); kicked != "" {
			t.Errorf("%s: the device's connection was kicked %q by a login that failed", login, kicked)
		}
		if !srv.Connected("alice") {
			t.Errorf("%s: alice has no connected device after a login of a1 that failed", login)
		}
	}
}

// heldSecondLogin is a Backend whose second read of ringing calls, that of the second login,
// waits for release and then fails; the others succeed.
type heldSecondLogin struct {
	prunedLog
	reads   atomic.Int64
	entered chan struct{} // closed when the second read began
	release chan struct{}
}

func (b *heldSecondLogin) RingingCalls(ctx context.Context, userID string) ([]call.Call, int64, error) {
	if b.reads.Add(1) == 2 {
		close(b.entered)
		<-b.release
		return failingLogReads{}.RingingCalls(ctx, userID)
	}
	return b.prunedLog.RingingCalls(ctx, userID)
}

// R6.2: when a device's connection logs in while an earlier one's login is still reading its
// catch-up, and that earlier login then fails, the device is left with the newest connection
// only: the one both logins were to replace is kicked, not left running unknown to the server.
func TestLoginAfterAFailingOneReplacesEveryEarlierConnection(t *testing.T) {
	backend := &heldSecondLogin{entered: make(chan struct{}), release: make(chan struct{})}
	srv := New(Config{}, backend, noBus{}, tokenIsUser{}, nil, nil)
	url := listen(t, srv)
	first := dialWS(t, url)
	exchange(t, first, aliceLogin)
	failing := dialWS(t, url)
	if err := failing.Write(t.Context(), websocket.MessageText, []byte(aliceLogin)); err != nil {
		t.Fatal(err)
	}
	<-backend.entered
	newest := dialWS(t, url)
	if lr := loginResult(t, exchange(t, newest, aliceLogin)); lr.DeviceID != "a1" {
		t.Fatalf("newest login: %+v", lr)
	}
	close(backend.release)
	exchange(t, failing)

	if _, kicked := seqs(exchange(t, first)); kicked != protocol.KickReplaced {
		t.Errorf("the first connection was kicked %q after the newest logged in, want %q", kicked, protocol.KickReplaced)
	}
	if _, kicked := seqs(exchange(t, newest)); kicked != "" {
		t.Errorf("the newest connection was kicked %q", kicked)
	}
}
