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

// A device that logged out (R6.1) is no longer connected once it is told so: another device
// of its user logs in at once, within maxDevicesPerUser (R6.2), without waiting for the logged
// out connection's close handshake to end, and the user counts as connected no more (§9).
func TestLoggedOutDeviceFreesItsPlaceAtOnce(t *testing.T) {
	srv := New(Config{MaxDevicesPerUser: 1}, &countedLogout{}, noBus{}, tokenIsUser{}, nil, nil)
	url := listen(t, srv)
	phone, _, err := websocket.Dial(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer phone.CloseNow()
	exchange(t, phone, `{"id":1,"op":"login","data":{"token":"alice","deviceID":"phone"}}`)
	if f := requestFrame(t, phone, `{"id":2,"op":"logout"}`); f.ID != 2 || f.Error != nil {
		t.Fatalf("logout answered %+v (error %v), want {}", f, f.Error)
	}
	if got := readUntilKicked(t, phone); got != protocol.KickLogout {
		t.Fatalf("logged-out connection kicked with %q, want %q", got, protocol.KickLogout)
	}
	if srv.Connected("alice") {
		t.Error("alice counts as connected after her only device logged out")
	}

	tablet, _, err := websocket.Dial(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tablet.CloseNow()
	if f := requestFrame(t, tablet, `{"id":1,"op":"login","data":{"token":"alice","deviceID":"tablet"}}`); f.ID != 1 || f.Error != nil {
		t.Errorf("login of another device right after the logout answered %+v (error %v), want a login result", f, f.Error)
	}
}

// R6.2: a connection kicked for another reason than logout (here its bad frames) holds no place
// among its user's maxDevicesPerUser from the moment it is kicked: another device of the user
// logs in at once, without waiting for the kicked connection's close handshake to end. The
// kicked device, back meanwhile, then needs a place like any other: the limit holds. Its user
// counts as connected no more (§9) from the kick on, since the connection is sent nothing more.
func TestKickedDeviceFreesItsPlaceAtOnce(t *testing.T) {
	srv := New(Config{MaxDevicesPerUser: 1}, &prunedLog{}, noBus{}, tokenIsUser{}, nil, nil)
	url := listen(t, srv)
	phone := dialWS(t, url)
	exchange(t, phone, `{"id":1,"op":"login","data":{"token":"alice","deviceID":"phone"}}`)
	for range badFrameLimit {
		if err := phone.Write(t.Context(), websocket.MessageText, []byte("not json")); err != nil {
			t.Fatal(err)
		}
	}
	if got := readUntilKicked(t, phone); got != protocol.KickBadFrames {
		t.Fatalf("phone kicked with %q, want %q", got, protocol.KickBadFrames)
	}
	if srv.Connected("alice") {
		t.Error("alice counts as connected (§9: no push) while her only device's connection, kicked, ends")
	}

	tablet := dialWS(t, url)
	if f := requestFrame(t, tablet, `{"id":1,"op":"login","data":{"token":"alice","deviceID":"tablet"}}`); f.ID != 1 || f.Error != nil {
		t.Fatalf("login of another device right after the kick answered %+v (error %v), want a login result", f, f.Error)
	}
	phoneAgain := dialWS(t, url)
	if f := requestFrame(t, phoneAgain, `{"id":1,"op":"login","data":{"token":"alice","deviceID":"phone"}}`); f.Error == nil ||
		f.Error.Code != protocol.CodeTooManyDevices {
		t.Errorf("login of the kicked device once another took its place answered %+v (error %v), want 6000293", f, f.Error)
	}
}
