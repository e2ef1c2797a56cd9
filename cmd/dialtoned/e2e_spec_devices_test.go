package main

import (
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/auth"
	"github.com/dialtone/dialtone/protocol"
)

// §1, R6.2, R6.4: a device is the pair (userID, deviceID), so two users logged in on one
// installation under the same deviceID are two devices: neither login replaces the other,
// each counts for its own user's device limit, each gets its own user's events only, and the
// logout of one loses that user's device alone.
func TestE2ETwoUsersOfOneInstallationAreTwoDevices(t *testing.T) {
	ts := startServer(t, "--max-devices-per-user", "1")
	ctx := t.Context()
	carol := ts.login(t, "carol", "c")
	alice := ts.login(t, "alice", "tablet")
	bob := ts.login(t, "bob", "tablet")

	ring, err := carol.CallInvite(ctx, []string{"alice"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	alice.wait(ring.CallID, "received from carol")
	must(t, second(alice.CallReject(ctx, ring.CallID, client.OpConfig{})))
	bob.expect(ts, ring.CallID) // alice's invitation is not bob's

	res, err := carol.CallInvite(ctx, []string{"alice", "bob"}, advanced)
	must(t, err)
	must(t, second(alice.CallAccept(ctx, res.CallID, client.OpConfig{})))
	must(t, second(bob.CallAccept(ctx, res.CallID, client.OpConfig{})))
	carol.wait(res.CallID, "changed bob=Accepted")
	must(t, alice.Logout(ctx))
	bob.wait(res.CallID, "changed alice=Quit")
	info, err := carol.QueryCall(ctx, res.CallID)
	must(t, err)
	if b := userIn(t, info.CallUserList, "bob"); info.State != client.CallStarted || b.State != client.StateAccepted {
		t.Errorf("after alice logged out on the installation bob uses too: %+v", info)
	}
	bob.mu.Lock()
	defer bob.mu.Unlock()
	if len(bob.kicks) != 0 {
		t.Errorf("bob on the installation alice logged in and out of was kicked: %+v", bob.kicks)
	}
}

// R7.2, §5, R6.3: a device that resumes from a lastSeq gets, of the events it missed, exactly
// those whose target includes it, as the live ones were sent: after a subset cancel sent from
// the canceller's main device, that device catches up with the callUserStateChanged a listener
// gets and not the callInvitationCancelled meant for the canceller's other devices, and another
// device of the canceller with that callInvitationCancelled and not the change meant for the
// main device only (docs/behaviour.md §12, "A subset cancel's canceller").
func TestE2ECatchUpKeepsEachEventsDeviceTarget(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	main := ts.login(t, "alice", "a1")
	bob := ts.login(t, "bob", "b")
	ts.login(t, "carol", "c")
	id := main.ringBobAndCarol(t)
	must(t, second(bob.CallAccept(ctx, id, client.OpConfig{})))
	main.wait(id, "changed bob=Accepted")
	_, before := ts.rawLogin(t, "alice", "probe", -1)

	must(t, second(main.CallCancel(ctx, id, []string{"carol"}, client.OpConfig{})))
	main.wait(id, "changed carol=BeCancelled")
	for _, c := range []struct {
		deviceID string
		want     string
	}{
		{"a1", protocol.EventCallUserStateChanged},
		{"a2", protocol.EventCallInvitationCancelled},
	} {
		r, lr := ts.rawLogin(t, "alice", c.deviceID, before.HeadSeq)
		if !lr.CaughtUp {
			t.Fatalf("%s: login from seq %d not caught up: %+v", c.deviceID, before.HeadSeq, lr)
		}
		var got []string
		for _, f := range untilHeartbeat(r, 2) {
			got = append(got, f.Event)
		}
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s caught up with %q after the cancel, want only %s", c.deviceID, got, c.want)
		}
	}
}

// §1 "Answered", R4.3, R6.4: a call stays answered once a callee was Accepted, also after that
// callee quit. So when the caller, left alone Accepted with a callee still ringing, loses its
// main device, the call is not cancelled: the caller quits (R6.4), nobody is Accepted any more
// and the call ends as by callEnd (R3.8), operated by the caller. The callee still ringing keeps
// its state and gets callInvitationEnded, not callInvitationCancelled.
func TestE2EAnsweredCallerLeftAloneIsLostAsAMember(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	alice := ts.login(t, "alice", "a")
	bob, carol := ts.login(t, "bob", "b"), ts.login(t, "carol", "c")
	id := alice.ringBobAndCarol(t)
	must(t, second(bob.CallAccept(ctx, id, client.OpConfig{})))
	must(t, second(bob.CallQuit(ctx, id, client.OpConfig{})))
	alice.wait(id, "changed bob=Quit")

	alice.Close() // killed: lost after heartbeatTimeout
	carol.wait(id, "ended by alice")
	receipts := []string{"changed bob=Received", "changed carol=Received"}
	carol.expectIgnoring(ts, id, receipts, "received from alice", "changed bob=Accepted", "changed bob=Quit", "ended by alice")
	info, err := carol.QueryCall(ctx, id)
	must(t, err)
	a, c := userIn(t, info.CallUserList, "alice"), userIn(t, info.CallUserList, "carol")
	if info.State != client.CallEnded || a.State != client.StateQuit || c.State != client.StateReceived {
		t.Errorf("after the answered call's caller, alone Accepted, was lost: %+v", info)
	}
}

// protocol.md "Login": the token is checked at login only. A device logged in with a token
// that expires (past its leeway, auth.Leeway) while the connection lives stays logged in: its
// requests are carried out and it is not kicked, though a new login with that token is
// refused (6000291).
func TestE2ETokenExpiringDuringTheSessionKeepsItLoggedIn(t *testing.T) {
	ts := startServer(t)
	// Valid for about two more seconds: it expired auth.Leeway - 2s ago.
	issued := time.Now().Add(-auth.Leeway - time.Minute)
	tok := mustMint(t, testSecret, "alice", time.Minute+2*time.Second, issued)
	alice := ts.dial(t, "alice", "a", client.Options{})
	must(t, second(alice.Login(t.Context(), tok, "a")))
	for {
		r := ts.raw(t)
		r.send(`{"id":1,"op":"login","data":{"token":"` + tok + `","deviceID":"probe"}}`)
		if f := r.reply(1); f.Error != nil {
			if f.Error.Code != protocol.CodeAuthFailed {
				t.Fatalf("a new login with the token: %+v, want 6000291 once it expired", f.Error)
			}
			break
		}
		r.conn.CloseNow()
		time.Sleep(100 * time.Millisecond) // until the token's expiry
	}
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	if _, err := alice.QueryCall(t.Context(), res.CallID); err != nil {
		t.Errorf("a query after the token expired: %v", err)
	}
	alice.mu.Lock()
	defer alice.mu.Unlock()
	if len(alice.kicks) != 0 {
		t.Errorf("kicked after the token expired: %+v", alice.kicks)
	}
}
