package sqlite

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// TestOperationsOnAFullDisk: what a client gets from operations that meet a full database
// (SQLITE_FULL for real: max_page_count), batched together by the group commit. Each op either
// succeeds whole or fails with an error that is no domain code (so the WebSocket and REST
// APIs answer 6000270, retryable, §8) and leaves nothing of itself: no call, no busy record,
// no event in anyone's log, no idempotency record (R7.1, R7.3). Once space is back, each
// failed op repeated with its idempotency key succeeds, and a call created before the disk
// filled goes on.
func TestOperationsOnAFullDisk(t *testing.T) {
	s, _ := openTest(t, Options{Now: time.Now})
	sb := startedSwitchboard(t, s)
	before, err := sb.Invite(bg, call.Invite{Actor: phoneOf("alice"), Invitees: []string{"bob"}, Timeout: 600}, "")
	if err != nil {
		t.Fatal(err)
	}

	fillPages(t, s, true)
	const n = 24
	ext := strings.Repeat("x", 2048) // each invite needs new pages: 2 KiB in its call, its events
	key := func(i int) string { return fmt.Sprintf("key-of-caller-%04d", i) }
	invite := func(i int) call.Invite {
		return call.Invite{Actor: phoneOf(fmt.Sprint("caller", i)), Invitees: []string{fmt.Sprint("callee", i)},
			Timeout: 600, ExtendedData: ext}
	}
	results := make([]switchboard.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i], errs[i] = sb.Invite(bg, invite(i), key(i)) })
	}
	wg.Wait()

	failed := 0
	for i, err := range errs {
		caller, callee := fmt.Sprint("caller", i), fmt.Sprint("callee", i)
		if err == nil {
			agree(t, s, results[i].Call.ID, caller, callee)
			continue
		}
		failed++
		var ce *call.Error
		if errors.As(err, &ce) || errors.Is(err, switchboard.ErrClosed) || !errors.Is(err, switchboard.ErrStorageUnavailable) {
			t.Errorf("invite %d on a full disk: %v, want switchboard.ErrStorageUnavailable (6000270)", i, err)
		}
		wantCode(t, fmt.Sprint("invite ", i), err, sqlite3.SQLITE_FULL)
		for _, u := range []string{caller, callee} {
			if busy, err := s.BusyCall(bg, u); busy != "" || err != nil {
				t.Errorf("after invite %d failed, %s is busy in %q (%v)", i, u, busy, err)
			}
			if calls, _, err := s.ListCalls(bg, u, 0, 10); len(calls) != 0 || err != nil {
				t.Errorf("after invite %d failed, %s has calls %v (%v)", i, u, calls, err)
			}
			if _, head, err := s.LogBounds(bg, u); head != 0 || err != nil {
				t.Errorf("after invite %d failed, %s's log has head %d (%v)", i, u, head, err)
			}
		}
		if _, found, err := s.Idempotency(bg, caller, key(i), 0); found || err != nil {
			t.Errorf("after invite %d failed, its idempotency record was kept (%v)", i, err)
		}
	}
	if failed == 0 {
		t.Fatalf("all %d invites fit in a full database: the test needs bigger ones", n)
	}
	wantCode(t, "Writable on a full disk", s.Fault(), sqlite3.SQLITE_FULL)

	fillPages(t, s, false)
	for i, err := range errs {
		if err == nil {
			continue
		}
		res, err := sb.Invite(bg, invite(i), key(i))
		if err != nil {
			t.Fatalf("invite %d repeated once space is back: %v", i, err)
		}
		agree(t, s, res.Call.ID, fmt.Sprint("caller", i), fmt.Sprint("callee", i))
	}
	if _, err := sb.Do(bg, before.Call.ID, call.Accept{Actor: phoneOf("bob")}, ""); err != nil {
		t.Fatalf("bob accepts the call made before the disk filled: %v", err)
	}
	if err := s.Fault(); err != nil {
		t.Errorf("Fault once space is back: %v", err)
	}
	t.Logf("%d of %d invites failed on the full disk", failed, n)
}

// startedSwitchboard returns a switchboard started on s with the default settings. At the
// test's end it closes the switchboard, then s.
func startedSwitchboard(t *testing.T, s *Store) *switchboard.Switchboard {
	t.Helper()
	t.Cleanup(func() { s.Close() })
	sb := switchboard.New(switchboard.Config{}, s, time.Now, nil)
	t.Cleanup(sb.Close)
	if err := sb.Start(bg); err != nil {
		t.Fatal(err)
	}
	return sb
}

// phoneOf is user acting from its device user-phone.
func phoneOf(user string) call.Actor { return call.Actor{UserID: user, DeviceID: user + "-phone"} }
