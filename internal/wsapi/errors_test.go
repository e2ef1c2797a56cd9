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
