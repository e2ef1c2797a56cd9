package switchboard_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// fakeClock is a switchboard.Clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newSwitchboard returns a switchboard over a real SQLite store, on a fake clock and not
// started, so no deadline fires unless an operation applies it.
func newSwitchboard(t *testing.T) (*switchboard.Switchboard, *fakeClock) {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
	sb := switchboard.New(switchboard.Config{}, store, clock.Now, nil)
	t.Cleanup(func() {
		sb.Close()
		store.Close()
	})
	return sb, clock
}

func wantCode(t *testing.T, what string, err error, want call.Code) {
	t.Helper()
	var ce *call.Error
	switch {
	case want == 0 && err != nil:
		t.Errorf("%s: %v, want success", what, err)
	case want != 0 && (!errors.As(err, &ce) || ce.Code != want):
		t.Errorf("%s: %v, want code %d", what, err, want)
	}
}

func actor(user string) call.Actor { return call.Actor{UserID: user, DeviceID: user + "-phone"} }

func invite(t *testing.T, sb *switchboard.Switchboard, caller string, mode call.Mode, timeout int, invitees ...string) string {
	t.Helper()
	res, err := sb.Invite(t.Context(), call.Invite{Actor: actor(caller), Invitees: invitees, Mode: mode, Timeout: timeout}, "")
	if err != nil {
		t.Fatalf("%s invites %v: %v", caller, invitees, err)
	}
	return res.Call.ID
}

func do(t *testing.T, sb *switchboard.Switchboard, callID string, in call.Input) {
	t.Helper()
	if _, err := sb.Do(t.Context(), callID, in, ""); err != nil {
		t.Fatalf("%T on %s: %v", in, callID, err)
	}
}

// §8: an invalid parameter (6000001) wins over an unknown call (6000276), for every op.
func TestInvalidParameterBeforeUnknownCall(t *testing.T) {
	sb, _ := newSwitchboard(t)
	long := strings.Repeat("x", 2049)
	for _, in := range []call.Input{
		call.Accept{Actor: actor("bob"), ExtendedData: long},
		call.Reject{Actor: actor("bob"), ExtendedData: long},
		call.Cancel{Actor: actor("bob"), ExtendedData: long},
		call.CallingInvite{Actor: actor("bob"), Invitees: []string{"carol"}, Timeout: 601},
		call.CallingInvite{Actor: actor("bob")},
		call.Join{Actor: actor("bob"), ExtendedData: long},
		call.QuitCall{Actor: actor("bob"), ExtendedData: long},
		call.End{Actor: actor("bob"), ExtendedData: long},
		call.Receipt{Actor: call.Actor{UserID: "bob", DeviceID: "not a device"}},
	} {
		_, err := sb.Do(t.Context(), "noSuchCall", in, "")
		wantCode(t, fmt.Sprintf("%T", in), err, call.CodeInvalidParameter)
	}
	_, err := sb.Do(t.Context(), "noSuchCall", call.Accept{Actor: actor("bob")}, "")
	wantCode(t, "a valid accept", err, call.CodeCallUnavailable)
}
