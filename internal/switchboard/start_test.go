package switchboard_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// R3.5, R7.1: the deadlines that passed while the server was down have fired when Start
// returns, so nothing served after it (a login's catch-up, R5.3's ringing calls, a query)
// shows an invitation ringing past its deadline.
func TestStartFiresTheDeadlinesThatPassedBeforeItReturns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	store, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
	before := switchboard.New(switchboard.Config{}, store, clock.Now, nil)
	var ids []string
	for _, caller := range []string{"alice", "carol", "erin"} {
		ids = append(ids, invite(t, before, caller, call.Advanced, 5, caller+"-callee"))
	}
	before.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	clock.Advance(time.Minute) // the server was down past every deadline
	store, err = sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	after := switchboard.New(switchboard.Config{}, store, clock.Now, nil)
	t.Cleanup(func() {
		after.Close()
		store.Close()
	})
	if err := after.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		callee := []string{"alice", "carol", "erin"}[i] + "-callee"
		c, err := after.QueryCall(t.Context(), callee, id)
		if err != nil {
			t.Fatal(err)
		}
		if u := c.User(callee); u == nil || u.State != call.Timeout {
			t.Errorf("when Start returned, %s in call %s: %+v, want Timeout (its deadline passed while down)", callee, id, u)
		}
	}
	if n := after.PendingDeadlines(); n != 0 {
		t.Errorf("deadlines pending after Start: %d, want 0", n)
	}
}
