package switchboard_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
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
	fail    error // what the held read returns once released; nil: the store's answer
}

func withHeldBusy(s *sqlite.Store) *heldBusyStore { return &heldBusyStore{Store: s} }

func (h *heldBusyStore) arm(userID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.user, h.entered, h.release = userID, make(chan struct{}), make(chan struct{})
}

func (h *heldBusyStore) BusyCall(ctx context.Context, userID string) (string, error) {
	h.mu.Lock()
	hold := userID == h.user
	entered, release, fail := h.entered, h.release, h.fail
	if hold {
		h.user = ""
	}
	h.mu.Unlock()
	if hold {
		close(entered)
		<-release
		if fail != nil {
			return "", fail
		}
	}
	return h.Store.BusyCall(ctx, userID)
}

// R6.1, R4.3: a device whose loss fires as it reconnects is lost with what it left behind
// (here nothing), never with a call it places from its new session: the caller of that call
// is connected, so the call rings on.
func TestLossFiringAsTheDeviceReconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, held := startOver(t, switchboard.Config{HeartbeatTimeout: 20 * time.Millisecond}, withHeldBusy)

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
		synctest.Wait() // whatever the loss still does, it has done by now
		c, err := sb.QueryCall(t.Context(), "alice", p.id)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != call.Started || c.User("bob").State != call.Inviting {
			t.Errorf("call placed by alice's reconnected device after its loss fired: state %d, users %+v; want Started, bob ringing", c.State, c.Users)
		}
	})
}

// R6.1, R4.3: a device that reconnects while its loss is being applied waits for the loss; when
// the loss fails (a store error), the reconnection goes on, with the device back and its call
// going, and the loss is not tried again.
func TestReconnectWaitingOnAFailedLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, held := startOver(t, switchboard.Config{HeartbeatTimeout: 3 * time.Second}, withHeldBusy)
		sb.DeviceConnected("alice", "alice-phone")
		id := invite(t, sb, "alice", call.General, 60, "bob")
		held.arm("alice")
		held.fail = errors.New("disk I/O error")
		sb.DeviceDisconnected("alice", "alice-phone")
		<-held.entered // the grace ended: the loss reads what alice is doing

		connected := make(chan struct{})
		go func() {
			sb.DeviceConnected("alice", "alice-phone") // the app is back
			close(connected)
		}()
		synctest.Wait() // the reconnection waits for the loss
		close(held.release)
		<-connected
		time.Sleep(5 * time.Second) // past any retry of the failed loss
		synctest.Wait()
		c, err := sb.QueryCall(t.Context(), "alice", id)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != call.Started {
			t.Errorf("call of a device back while its loss failed: %v, want Started", c.State)
		}
	})
}

// R6.1: a reconnection that waits for its device's loss goes on once the loss ends, whether it
// was applied or failed.
func TestReconnectWaitingOnALossGoesOn(t *testing.T) {
	for _, fail := range []error{nil, errors.New("disk I/O error")} {
		synctest.Test(t, func(t *testing.T) {
			sb, held := startOver(t, switchboard.Config{HeartbeatTimeout: 20 * time.Millisecond}, withHeldBusy)
			sb.DeviceConnected("alice", "alice-phone")
			held.arm("alice")
			held.fail = fail
			sb.DeviceDisconnected("alice", "alice-phone")
			<-held.entered
			connected := make(chan struct{})
			go func() {
				sb.DeviceConnected("alice", "alice-phone")
				close(connected)
			}()
			synctest.Wait() // the reconnection waits for the loss
			close(held.release)
			select {
			case <-connected:
			case <-time.After(5 * time.Second):
				t.Fatalf("reconnection still waiting 5 s after its device's loss ended (loss error %v)", fail)
			}
		})
	}
}
