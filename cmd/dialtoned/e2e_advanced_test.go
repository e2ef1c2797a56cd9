package main

import (
	"fmt"
	"testing"

	"github.com/dialtone/dialtone/client"
)

var advanced = client.InviteConfig{Timeout: 60, Mode: client.ModeAdvanced}

// Advanced mode, seed flow: invite, accept, callingInvite, join after a reject, device switch,
// quit, end (R3.6, R3.7, R3.8, R3.9).
func TestE2EAdvancedFlow(t *testing.T) {
	ts := startServer(t)
	alice, bob, carol := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c")

	res, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
	if err != nil {
		t.Fatal(err)
	}
	id := res.CallID
	alice.wait(id, "changed bob=Received")
	if _, err := bob.CallAccept(t.Context(), id, client.OpConfig{}); err != nil {
		t.Fatal(err)
	}
	alice.wait(id, "changed bob=Accepted") // advanced calls go on after an answer

	// R3.6: bob, now Accepted, invites carol; alice (already active) is reported, not re-invited.
	inv, err := bob.CallingInvite(t.Context(), id, []string{"carol", "alice"}, client.CallingInviteConfig{Timeout: 30, ExtendedData: "join us"})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.ErrorUserList) != 1 || inv.ErrorUserList[0].UserID != "alice" || inv.ErrorUserList[0].Reason != client.CodeAlreadyActive {
		t.Errorf("errorUserList = %+v, want alice/6000283", inv.ErrorUserList)
	}
	ring := carol.wait(id, "received from bob").(client.CallInvitationReceived)
	if ring.ExtendedData != "join us" || ring.Caller != "alice" {
		t.Errorf("carol's invitation = %+v", ring)
	}
	bob.wait(id, "changed carol=Received")
	if _, err := carol.CallReject(t.Context(), id, client.OpConfig{}); err != nil {
		t.Fatal(err)
	}
	// R3.7: a Rejected user may still join; it becomes Accepted with this device as main.
	join, err := carol.CallJoin(t.Context(), id, client.OpConfig{ExtendedData: "changed my mind"})
	if err != nil {
		t.Fatal(err)
	}
	if join.JoinTime == 0 || len(join.CallUserList) != 3 {
		t.Errorf("callJoin result = %+v", join)
	}
	alice.wait(id, "changed carol=Accepted")

	// R3.7 device switch: carol picks the call up on her laptop; only carol's devices hear it.
	laptop := ts.login(t, "carol", "c-laptop")
	if _, err := laptop.CallJoin(t.Context(), id, client.OpConfig{}); err != nil {
		t.Fatalf("switch device: %v", err)
	}
	carol.wait(id, "main device c-laptop")
	laptop.wait(id, "main device c-laptop")
	if _, err := laptop.CallJoin(t.Context(), id, client.OpConfig{}); code(err) != client.CodeAlreadyActive {
		t.Errorf("join from the main device: got %v, want 6000283", err)
	}

	// R3.8: bob quits; the call goes on with alice and carol.
	q, err := bob.CallQuit(t.Context(), id, client.OpConfig{})
	if err != nil || q.QuitTime == 0 || q.AcceptTime == 0 {
		t.Fatalf("callQuit = %+v, %v", q, err)
	}
	alice.wait(id, "changed bob=Quit")
	laptop.wait(id, "changed bob=Quit")
	// R3.9: alice ends the call for everyone.
	e, err := alice.CallEnd(t.Context(), id, client.OpConfig{ExtendedData: "bye"})
	if err != nil || e.EndTime == 0 {
		t.Fatalf("callEnd = %+v, %v", e, err)
	}
	ended := laptop.wait(id, "ended by alice").(client.CallInvitationEnded)
	if ended.ExtendedData != "bye" || ended.EndTime != e.EndTime {
		t.Errorf("callInvitationEnded = %+v", ended)
	}
	bob.expectNone(ts, id, "ended by alice") // bob had left: he gets no end (§5)
	if _, err := carol.CallQuit(t.Context(), id, client.OpConfig{}); code(err) != client.CodeCallUnavailable {
		t.Errorf("quit after end: got %v, want 6000276 (R4.4)", err)
	}
}

// R3.8: the last Accepted user quits; pending users keep their state and get the end, with the
// quit's extendedData (docs §12); the quitter gets its own Quit change, carrying the end, on
// all its devices, and no callInvitationEnded (§5).
func TestE2EAdvancedEveryoneLeft(t *testing.T) {
	ts := startServer(t)
	alice, alice2, bob := ts.login(t, "alice", "a"), ts.login(t, "alice", "a2"), ts.login(t, "bob", "b")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
	if err != nil {
		t.Fatal(err)
	}
	alice.wait(res.CallID, "changed bob=Received")
	q, err := alice.CallQuit(t.Context(), res.CallID, client.OpConfig{ExtendedData: "leaving"})
	if err != nil {
		t.Fatal(err)
	}
	ended := bob.wait(res.CallID, "ended by alice").(client.CallInvitationEnded)
	if ended.ExtendedData != "leaving" || ended.EndTime != q.QuitTime || ended.Caller != "alice" {
		t.Errorf("callInvitationEnded = %+v, want the quit's extendedData and time", ended)
	}
	alice.expect(ts, res.CallID, "created", "changed bob=Received", "changed alice=Quit (call ended)")
	alice2.expect(ts, res.CallID, "created", "changed alice=Quit (call ended)")
	info, err := bob.QueryCall(t.Context(), res.CallID)
	if err != nil || info.State != client.CallEnded {
		t.Fatalf("queryCall = %+v, %v", info, err)
	}
	for _, u := range info.CallUserList {
		if want := map[string]client.CallUserState{"alice": client.StateQuit, "bob": client.StateReceived}[u.UserID]; u.State != want {
			t.Errorf("%s state = %d, want %d", u.UserID, u.State, want)
		}
	}
}

// R3.1, R3.6: at most maxCallUsers (10) active users, caller included; all or nothing.
func TestE2ECallUserLimit(t *testing.T) {
	ts := startServer(t)
	alice := ts.login(t, "alice", "a")
	ten := make([]string, 10)
	for i := range ten {
		ten[i] = fmt.Sprintf("u%d", i)
	}
	if _, err := alice.CallInvite(t.Context(), ten, advanced); code(err) != client.CodeTooManyUsers {
		t.Fatalf("10 invitees: got %v, want 6000272", err)
	}
	res, err := alice.CallInvite(t.Context(), ten[:9], advanced) // 1 + 9 = 10
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CallingInvite(t.Context(), res.CallID, []string{"extra"}, client.CallingInviteConfig{}); code(err) != client.CodeTooManyUsers {
		t.Fatalf("11th user: got %v, want 6000272", err)
	}
	u0 := ts.login(t, "u0", "d")
	u0.wait(res.CallID, "received from alice (synthetic)") // u0 logged in after the ring (R5.3)
	if _, err := u0.CallReject(t.Context(), res.CallID, client.OpConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CallingInvite(t.Context(), res.CallID, []string{"extra"}, client.CallingInviteConfig{}); err != nil {
		t.Errorf("10th active user after a reject: %v", err)
	}
}
