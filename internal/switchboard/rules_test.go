package switchboard_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// newSwitchboardWith is newSwitchboard with cfg.
func newSwitchboardWith(t *testing.T, cfg switchboard.Config) (*switchboard.Switchboard, *fakeClock) {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
	sb := switchboard.New(cfg, store, clock.Now, nil)
	t.Cleanup(func() {
		sb.Close()
		store.Close()
	})
	return sb, clock
}

// R3.7, R5.2: each call setting the switchboard is given is applied, also when another is
// left unset for its default: a join policy or a not-received delay set without
// maxCallUsers is not replaced by the defaults.
func TestCallSettingsKeptWhenOthersDefault(t *testing.T) {
	sb, _ := newSwitchboardWith(t, switchboard.Config{Call: call.Config{JoinPolicy: call.JoinAnyone}})
	id := invite(t, sb, "alice", call.Advanced, 60, "bob")
	_, err := sb.Do(t.Context(), id, call.Join{Actor: actor("zoe")}, "")
	wantCode(t, "R3.7 a newcomer's join under joinPolicy anyone", err, 0)

	sb, clock := newSwitchboardWith(t, switchboard.Config{Call: call.Config{NotReceivedCheckMs: 3000}})
	res, err := sb.Invite(t.Context(), call.Invite{Actor: actor("alice"), Invitees: []string{"bob"},
		EnableNotReceivedCheck: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Second)
	do(t, sb, res.Call.ID, call.Receipt{Actor: actor("alice")}) // applies the due check first (R3)
	c, err := sb.QueryCall(t.Context(), "alice", res.Call.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bob := c.User("bob"); bob.State != call.NotYetReceived {
		t.Errorf("R5.2 bob 3 s after the invite with a 3 s check: %v, want NotYetReceived (%d)", bob.State, call.NotYetReceived)
	}
}
