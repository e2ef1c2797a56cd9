package wsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
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
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	conn := dialWS(t, "ws"+strings.TrimPrefix(hs.URL, "http"))
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
