package wsapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/protocol"
)

// failingQuery is a Backend whose queries fail with an error of the store.
type failingQuery struct{ prunedLog }

func (failingQuery) QueryCall(context.Context, string, string) (call.Call, error) {
	return call.Call{}, errors.New("sqlite: read call c1: disk I/O error (/var/lib/dialtone/dialtone.db)")
}

// An op that fails inside the server is answered 6000270 "internal error" (§8): the store's
// error, with its file path, is logged and never sent to the client.
func TestInternalErrorIsLoggedNotSent(t *testing.T) {
	var logged lockedBuffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	hs := httptest.NewServer(New(Config{}, &failingQuery{}, noBus{}, tokenIsUser{}, nil, log))
	t.Cleanup(hs.Close)
	conn, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	exchange(t, conn, `{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1"}}`)
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
