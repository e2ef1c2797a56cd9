package switchboard_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
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

// R6.1, R6.4, R4.3: only the loss of a main device acts. A user's other devices, and a pending
// invitee's, come and go without changing the call; the main device of the caller of an
// answered advanced call, lost, makes it Quit.
func TestLossOfADeviceThatIsNotTheMainDevice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, _ := startOver(t, switchboard.Config{HeartbeatTimeout: 3 * time.Second}, func(s *sqlite.Store) *sqlite.Store { return s })
		for _, d := range []string{"alice-phone", "alice-tablet", "bob-phone", "bob-tablet", "carol-phone"} {
			user, _, _ := strings.Cut(d, "-")
			sb.DeviceConnected(user, d)
		}
		id := invite(t, sb, "alice", call.Advanced, 60, "bob", "carol")
		do(t, sb, id, call.Accept{Actor: actor("bob")})
		for _, d := range []string{"alice-tablet", "bob-tablet", "carol-phone"} {
			user, _, _ := strings.Cut(d, "-")
			sb.DeviceDisconnected(user, d)
		}
		time.Sleep(4 * time.Second)
		synctest.Wait()
		c, err := sb.QueryCall(t.Context(), "alice", id)
		if err != nil {
			t.Fatal(err)
		}
		for user, want := range map[string]call.UserState{"alice": call.Accepted, "bob": call.Accepted, "carol": call.Inviting} {
			if got := c.User(user).State; got != want {
				t.Errorf("%s after the loss of devices that are no main device: %v, want %v", user, got, want)
			}
		}
		sb.DeviceDisconnected("alice", "alice-phone")
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if c, err = sb.QueryCall(t.Context(), "alice", id); err != nil {
			t.Fatal(err)
		}
		if got := c.User("alice").State; got != call.Quit || c.State != call.Started {
			t.Errorf("R6.4 alice after her main device's loss in the answered call: %v (call %v), want Quit (Started)", got, c.State)
		}
	})
}

// R3.3b with the R3 preamble: a glare accept at the instant a deadline of the accepting
// user's own advanced call falls due applies that deadline first, then cancels the call: the
// invitee whose ring ended is Timeout, not BeCancelled.
func TestGlareAtTheInstantOfTheOwnCallsDeadline(t *testing.T) {
	sb, clock := newSwitchboard(t)
	own := invite(t, sb, "alice", call.Advanced, 1, "bob")
	other := invite(t, sb, "carol", call.General, 30, "alice")
	clock.Advance(time.Second)
	do(t, sb, other, call.Accept{Actor: actor("alice")})
	c, err := sb.QueryCall(t.Context(), "alice", own)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != call.Ended || c.User("bob").State != call.Timeout || c.User("alice").State != call.Cancelled || c.Version != 3 {
		t.Errorf("alice's own call: state %v version %d, alice %v, bob %v; want Ended, 3, Cancelled, Timeout",
			c.State, c.Version, c.User("alice").State, c.User("bob").State)
	}
}

// R7.3: a repeat of a success after the call it changed has ended gets the first reply; the
// same key on another op is 6000001 even though that op alone would be 6000276.
func TestIdempotentRepeatAfterTheCallEnded(t *testing.T) {
	sb, clock := newSwitchboard(t)
	id := invite(t, sb, "alice", call.General, 30, "bob")
	key := "0123456789abcdef0123"
	first, err := sb.Do(t.Context(), id, call.Accept{Actor: actor("bob"), ExtendedData: "hi"}, key)
	if err != nil || first.Call.State != call.Ended {
		t.Fatalf("accept: %+v, %v", first.Call.State, err)
	}
	clock.Advance(time.Minute)
	again, err := sb.Do(t.Context(), id, call.Accept{Actor: actor("bob"), ExtendedData: "hi"}, key)
	if err != nil || again.Now != first.Now || again.Call.Version != first.Call.Version {
		t.Errorf("repeat: now %d version %d, %v; want the first reply (now %d version %d)", again.Now,
			again.Call.Version, err, first.Now, first.Call.Version)
	}
	_, err = sb.Do(t.Context(), id, call.Reject{Actor: actor("bob")}, key)
	wantCode(t, "the key on a reject", err, call.CodeInvalidParameter)
}
