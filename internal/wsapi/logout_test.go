package wsapi

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// countedLogout is a Backend that counts the devices its Logout loses.
type countedLogout struct {
	prunedLog
	lost atomic.Int32
}

func (b *countedLogout) Logout(context.Context, string, string) { b.lost.Add(1) }

// unwritablePushTargets is a store of push targets that cannot write: dropping them fails as on
// a full disk.
type unwritablePushTargets struct{ pushTargetStore } // nil: only DeletePushTargets is called

// pushTargetStore names PushTargets for embedding, whose method of the same name a field
// called PushTargets would hide.
type pushTargetStore = PushTargets

func (unwritablePushTargets) DeletePushTargets(context.Context, string, string) error {
	return fmt.Errorf("%w: sqlite: delete push targets: database or disk is full (13)", switchboard.ErrStorageUnavailable)
}

// A logout (R6.1, behaviour §9) whose push targets cannot be dropped is not carried out in
// part: it is answered 6000270 "storage unavailable, retry later", the device is not lost and
// the connection stays logged in, so the client can repeat it; a logout answered {} while the
// device's push targets stay would have the logged-out device go on being sent the user's
// invitations.
func TestLogoutThatCannotDropPushTargetsChangesNothing(t *testing.T) {
	backend := &countedLogout{}
	hs := httptest.NewServer(New(Config{PushTargets: unwritablePushTargets{}}, backend, noBus{}, tokenIsUser{}, nil, nil))
	t.Cleanup(hs.Close)
	conn, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	exchange(t, conn, `{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1"}}`)

	frames := exchange(t, conn, `{"id":2,"op":"logout"}`)
	want := protocol.Error{Code: protocol.CodeInternal, Message: "storage unavailable, retry later"}
	if len(frames) != 1 || frames[0].ID != 2 || frames[0].Error == nil || *frames[0].Error != want {
		t.Errorf("logout answered %+v, want only 6000270 %q and the connection kept", frames, want.Message)
	}
	if n := backend.lost.Load(); n != 0 {
		t.Errorf("the failed logout lost the device %d times, want none", n)
	}
	if f := requestFrame(t, conn, `{"id":3,"op":"heartbeat"}`); f.ID != 3 || f.Error != nil {
		t.Errorf("after the failed logout a heartbeat answered %+v (error %v), want the session still logged in", f, f.Error)
	}
}
