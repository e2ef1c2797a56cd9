package wsapi

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// slowAccept is a Backend whose Do takes until released, and that records the order in which
// ops finish and devices are lost.
type slowAccept struct {
	Backend // nil: only the methods below are called
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	order   []string
}

func (b *slowAccept) note(what string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.order = append(b.order, what)
}

// noted reports whether what was recorded.
func (b *slowAccept) noted(what string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Contains(b.order, what)
}

func (b *slowAccept) RingingCalls(context.Context, string) ([]call.Call, int64, error) {
	return nil, 0, nil
}
func (b *slowAccept) DeviceConnected(string, string)    {}
func (b *slowAccept) DeviceDisconnected(string, string) {}
func (b *slowAccept) Logout(_ context.Context, _, deviceID string) {
	b.note("logout " + deviceID)
}

func (b *slowAccept) Do(_ context.Context, callID string, in call.Input, _ string) (switchboard.Result, error) {
	close(b.entered)
	<-b.release
	b.note("accept committed")
	return switchboard.Result{Call: call.Call{ID: callID}}, nil
}

// R6.1, R4.3, R6.4: the server REST API's logout of a user loses each device after the ops that
// device has in flight, as a logout from the device does: an accept that commits after the
// device's loss would leave the user in a call that outlives the logout.
func TestLogoutUserAfterTheOpsInFlight(t *testing.T) {
	backend := &slowAccept{entered: make(chan struct{}), release: make(chan struct{})}
	srv := New(Config{}, backend, noBus{}, tokenIsUser{}, nil, nil)
	conn := aliceLoggedInTo(t, srv)
	if err := conn.Write(t.Context(), websocket.MessageText, []byte(`{"id":2,"op":"callAccept","data":{"callID":"c1"}}`)); err != nil {
		t.Fatal(err)
	}
	<-backend.entered

	loggedOut := make(chan struct{})
	go func() {
		srv.LogoutUser(context.Background(), "alice")
		close(loggedOut)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !backend.noted("logout a1") && !waitsForDeviceOps() {
		if time.Now().After(deadline) {
			t.Fatal("LogoutUser neither lost the device nor waited for its ops within 10s")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
	close(backend.release)
	select {
	case <-loggedOut:
	case <-time.After(10 * time.Second):
		t.Fatal("LogoutUser did not return")
	}
	backend.mu.Lock()
	defer backend.mu.Unlock()
	if want := []string{"accept committed", "logout a1"}; strings.Join(backend.order, ", ") != strings.Join(want, ", ") {
		t.Errorf("order %q, want %q", backend.order, want)
	}
}
