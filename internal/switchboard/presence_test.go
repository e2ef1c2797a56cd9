package switchboard_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// heldBusyStore holds the next read of a user's busy record, once armed, until released: a
// device loss caught between its timer and the read of what its user is doing.
type heldBusyStore struct {
	switchboard.Store
	mu      sync.Mutex
	user    string
	entered chan struct{}
	release chan struct{}
}

func (h *heldBusyStore) arm(userID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.user, h.entered, h.release = userID, make(chan struct{}), make(chan struct{})
}

func (h *heldBusyStore) BusyCall(ctx context.Context, userID string) (string, error) {
	h.mu.Lock()
	hold := userID == h.user
	entered, release := h.entered, h.release
	if hold {
		h.user = ""
	}
	h.mu.Unlock()
	if hold {
		close(entered)
		<-release
	}
	return h.Store.BusyCall(ctx, userID)
}

// R6.1, R4.3: a device whose loss fires as it reconnects is lost with what it left behind
// (here nothing), never with a call it places from its new session: the caller of that call
// is connected, so the call rings on.
func TestLossFiringAsTheDeviceReconnects(t *testing.T) {
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	held := &heldBusyStore{Store: store}
	sb := switchboard.New(switchboard.Config{HeartbeatTimeout: 20 * time.Millisecond}, held, time.Now, nil)
	if err := sb.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	defer sb.Close()

	sb.DeviceConnected("alice", "alice-phone")
	held.arm("alice")
	sb.DeviceDisconnected("alice", "alice-phone")
	<-held.entered // the loss fired and reads what alice is doing

	type placed struct {
		id  string
		err error
	}
	done := make(chan placed, 1)
	go func() { // the app is back and calls bob
		sb.DeviceConnected("alice", "alice-phone")
		res, err := sb.Invite(context.Background(), call.Invite{Actor: actor("alice"), Invitees: []string{"bob"}, Timeout: 60}, "")
		done <- placed{res.Call.ID, err}
	}()
	var p placed
	select {
	case p = <-done:
		close(held.release)
	case <-time.After(200 * time.Millisecond):
		close(held.release)
		p = <-done
	}
	if p.err != nil {
		t.Fatalf("alice's invite from her new session: %v", p.err)
	}
	time.Sleep(200 * time.Millisecond) // whatever the loss still does, it has done by now
	c, err := sb.QueryCall(t.Context(), "alice", p.id)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != call.Started || c.User("bob").State != call.Inviting {
		t.Errorf("call placed by alice's reconnected device after its loss fired: state %d, users %+v; want Started, bob ringing", c.State, c.Users)
	}
}
