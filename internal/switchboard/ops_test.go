package switchboard_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
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

// startOver returns a started switchboard with cfg over a real SQLite store seen through wrap
// (a test double around it), on the real clock; both are closed when the test ends.
func startOver[S switchboard.Store](t *testing.T, cfg switchboard.Config, wrap func(*sqlite.Store) S) (*switchboard.Switchboard, S) {
	t.Helper()
	return startOverOn(t, cfg, wrap, time.Now)
}

// startOverOn is startOver on the clock now.
func startOverOn[S switchboard.Store](t *testing.T, cfg switchboard.Config, wrap func(*sqlite.Store) S, now switchboard.Clock) (*switchboard.Switchboard, S) {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wrapped := wrap(store)
	sb := switchboard.New(cfg, wrapped, now, nil)
	t.Cleanup(func() {
		sb.Close()
		store.Close()
	})
	if err := sb.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return sb, wrapped
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

// R3.10: a bad count or nextFlag is 6000001, with a message that names the one at fault.
func TestListCallsNamesTheBadParameter(t *testing.T) {
	sb, _ := newSwitchboard(t)
	for _, tc := range []struct {
		count int
		next  int64
		want  string
	}{
		{-1, 0, "count must not be negative"},
		{20, -1, "nextFlag must be 0 or one a page returned"},
		{20, 1 << 53, "nextFlag must be 0 or one a page returned"},
	} {
		_, _, err := sb.ListCalls(t.Context(), "bob", tc.count, tc.next)
		wantCode(t, fmt.Sprint("count ", tc.count, " nextFlag ", tc.next), err, call.CodeInvalidParameter)
		var ce *call.Error
		if errors.As(err, &ce) && ce.Reason != tc.want {
			t.Errorf("count %d nextFlag %d: reason %q, want %q", tc.count, tc.next, ce.Reason, tc.want)
		}
	}
}

// R3.1 and the R3 preamble: a caller whose call's only deadline has passed is no longer in a
// call, even before the deadline is committed, and the expiry is committed with the new call.
func TestInviteAppliesTheCallersDueDeadlines(t *testing.T) {
	sb, clock := newSwitchboard(t)
	first := invite(t, sb, "alice", call.General, 1, "bob")
	clock.Advance(999 * time.Millisecond)
	_, err := sb.Invite(t.Context(), call.Invite{Actor: actor("alice"), Invitees: []string{"carol"}}, "")
	wantCode(t, "invite while bob still rings", err, call.CodeBusy)

	clock.Advance(time.Millisecond) // the deadline is due (deadline ≤ now), not yet applied
	invite(t, sb, "alice", call.General, 30, "carol")
	c, err := sb.QueryCall(t.Context(), "alice", first)
	if err != nil {
		t.Fatal(err)
	}
	if bob := c.User("bob"); c.State != call.Ended || bob == nil || bob.State != call.Timeout {
		t.Errorf("first call after the second invite: state %d, bob %+v; want Ended, bob Timeout", c.State, bob)
	}
}

// R3.7 and R3.3b: only a pending user's join is an accept that may cancel the user's own
// unanswered call; a user who quit and rejoins while calling someone else is busy (6000290).
func TestGlareOnlyForAPendingUsersJoin(t *testing.T) {
	sb, _ := newSwitchboard(t)
	group := invite(t, sb, "alice", call.Advanced, 60, "bob", "carol")
	do(t, sb, group, call.Accept{Actor: actor("bob")})
	do(t, sb, group, call.QuitCall{Actor: actor("bob")})
	own := invite(t, sb, "bob", call.General, 60, "dave")

	_, err := sb.Do(t.Context(), group, call.Join{Actor: actor("bob")}, "")
	wantCode(t, "a Quit user's rejoin while ringing dave", err, call.CodeBusy)
	if c, err := sb.QueryCall(t.Context(), "bob", own); err != nil || c.State != call.Started {
		t.Errorf("bob's own call after the refused rejoin: %+v, %v; want Started", c.State, err)
	}

	ownOfCarol := invite(t, sb, "carol", call.General, 60, "erin")
	do(t, sb, group, call.Join{Actor: actor("carol")}) // carol is pending in group: her join is an accept
	if c, err := sb.QueryCall(t.Context(), "carol", ownOfCarol); err != nil || c.State != call.Ended ||
		c.User("carol").State != call.Cancelled {
		t.Errorf("carol's own call after her join as a pending user: %+v, %v; want Ended, carol Cancelled", c, err)
	}
}

// faultStore fails the next Commit with failNext, once.
type faultStore struct {
	switchboard.Store
	mu       sync.Mutex
	failNext error
}

func withFaults(s *sqlite.Store) *faultStore { return &faultStore{Store: s} }

func (f *faultStore) Commit(ctx context.Context, ch switchboard.Change) ([]int64, error) {
	f.mu.Lock()
	err := f.failNext
	f.failNext = nil
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.Store.Commit(ctx, ch)
}

// R3.5: a deadline whose application failed (a commit error that is not a conflict) is applied
// again shortly; it does not drop out of the scheduler and leave the user ringing.
func TestDeadlineAppliedAgainAfterAFailedCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, faults := startOver(t, switchboard.Config{}, withFaults)
		id := invite(t, sb, "alice", call.General, 10, "bob")
		faults.mu.Lock()
		faults.failNext = errors.New("disk I/O error")
		faults.mu.Unlock()

		time.Sleep(10 * time.Second) // the deadline: its commit fails
		synctest.Wait()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		c, err := sb.QueryCall(t.Context(), "alice", id)
		if err != nil {
			t.Fatal(err)
		}
		if bob := c.User("bob"); bob == nil || bob.State != call.Timeout {
			t.Errorf("bob 2 s after his deadline's failed commit: %+v, want Timeout", bob)
		}
	})
}

// R6.1, R4.3: a device loss whose commit failed (a store error that may pass) is applied again
// shortly while the device stays away, so a caller whose app was killed does not stay busy
// with its call ringing; a device back before that is not lost.
func TestDeviceLossAppliedAgainAfterAFailedCommit(t *testing.T) {
	for _, back := range []bool{false, true} {
		t.Run(map[bool]string{false: "StaysAway", true: "ComesBack"}[back], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sb, faults := startOver(t, switchboard.Config{HeartbeatTimeout: 3 * time.Second}, withFaults)
				sb.DeviceConnected("alice", "alice-phone")
				id := invite(t, sb, "alice", call.General, 60, "bob")
				sb.DeviceDisconnected("alice", "alice-phone")
				faults.mu.Lock()
				faults.failNext = errors.New("database or disk is full")
				faults.mu.Unlock()

				time.Sleep(3 * time.Second) // the grace: the loss's commit fails
				synctest.Wait()
				if back {
					sb.DeviceConnected("alice", "alice-phone")
				}
				time.Sleep(2 * time.Second)
				synctest.Wait()
				c, err := sb.QueryCall(t.Context(), "alice", id)
				if err != nil {
					t.Fatal(err)
				}
				want := call.Ended
				if back {
					want = call.Started
				}
				if c.State != want {
					t.Errorf("call 2 s after the failed loss of its caller's device: %v, want %v", c.State, want)
				}
			})
		})
	}
}

// R6.1: a logout of a user made without a device (the REST API's) whose loss the store failed
// to commit fails, so the caller can repeat it, rather than reporting a logout that left the
// user's call going; the repeat ends the call.
func TestLogoutUserFailsWithItsCommit(t *testing.T) {
	sb, faults := startOver(t, switchboard.Config{}, withFaults)
	id := invite(t, sb, "alice", call.General, 60, "bob")
	faults.mu.Lock()
	faults.failNext = errors.New("database or disk is full")
	faults.mu.Unlock()
	if err := sb.LogoutUser(t.Context(), "alice"); err == nil {
		t.Error("LogoutUser whose commit failed reported success")
	}
	if err := sb.LogoutUser(t.Context(), "alice"); err != nil {
		t.Fatalf("LogoutUser repeated: %v", err)
	}
	if c, err := sb.QueryCall(t.Context(), "alice", id); err != nil || c.State != call.Ended {
		t.Errorf("call after the repeated logout of its caller: %+v, %v; want Ended", c, err)
	}
}
