package main

import (
	"testing"

	"github.com/dialtone/dialtone/client"
)

// R6.4 (last sentence), R6.1: a ringing user's device that logs out changes nothing: the
// user's other device still rings, the caller hears nothing, and the other device answers.
func TestE2EDevicesPendingDeviceLogoutChangesNothing(t *testing.T) {
	ts := startServer(t)
	alice := ts.login(t, "alice", "a")
	phone, laptop := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	id := res.CallID
	alice.wait(id, "changed bob=Received")
	must(t, phone.Logout(t.Context()))
	alice.expect(ts, id, "created", "changed bob=Received")
	info, err := laptop.QueryCall(t.Context(), id)
	must(t, err)
	if b := userIn(t, info.CallUserList, "bob"); info.State != client.CallStarted || b.State != client.StateReceived {
		t.Fatalf("after a ringing device's logout: %+v", info)
	}
	must(t, second(laptop.CallAccept(t.Context(), id, client.OpConfig{})))
	alice.wait(id, "changed bob=Accepted (call ended)")
}

// R4.3, R6.1, §5: the caller's main device is killed (no logout) while its laptop stays
// connected: after heartbeatTimeout the unanswered call is cancelled, and the laptop, which
// made no request, hears the cancel like the callee.
func TestE2EDevicesCallerMainDeviceKilledOtherDeviceStays(t *testing.T) {
	ts := startServer(t)
	phone, laptop := ts.login(t, "alice", "phone"), ts.login(t, "alice", "laptop")
	bob := ts.login(t, "bob", "b")
	res, err := phone.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	id := res.CallID
	phone.wait(id, "changed bob=Received")
	phone.Close() // killed: its loss comes heartbeatTimeout (3s) later
	bob.wait(id, "cancelled bob=BeCancelled")
	laptop.expect(ts, id, "created", "cancelled bob=BeCancelled")
	info, err := laptop.QueryCall(t.Context(), id)
	must(t, err)
	if info.State != client.CallEnded || userIn(t, info.CallUserList, "alice").State != client.StateCancelled {
		t.Errorf("after the caller's main device was lost: %+v", info)
	}
}

// R6.4, R6.3, R3.7: in an answered advanced call the caller's main device logs out while its
// laptop stays: the caller is Quit at once, on every device of its own and for the callee; the
// call goes on, and the laptop may join again and becomes the main device.
func TestE2EDevicesAnsweredCallerMainDeviceLogsOut(t *testing.T) {
	ts := startServer(t, "--heartbeat-interval", "10s", "--heartbeat-timeout", "60s")
	phone, laptop := ts.login(t, "alice", "phone"), ts.login(t, "alice", "laptop")
	b1, b2 := ts.login(t, "bob", "b1"), ts.login(t, "bob", "b2")
	ctx := t.Context()
	id := phone.callBobAnsweredOn(t, b2)

	must(t, phone.Logout(ctx))
	laptop.wait(id, "changed alice=Quit")
	b2.wait(id, "changed alice=Quit")
	b1.expect(ts, id, "received from alice", "changed bob=Received", "changed bob=Accepted")
	info, err := laptop.QueryCall(ctx, id)
	must(t, err)
	if a := userIn(t, info.CallUserList, "alice"); info.State != client.CallStarted || a.State != client.StateQuit {
		t.Fatalf("after the caller's main device logged out: %+v", info)
	}
	must(t, second(laptop.CallJoin(ctx, id, client.OpConfig{})))
	b2.wait(id, "changed alice=Accepted")
	laptop.expect(ts, id, "created", "changed alice=Quit", "changed alice=Accepted")
	// The laptop is alice's main device now: it hears bob's quit; the call goes on.
	must(t, second(b1.CallQuit(ctx, id, client.OpConfig{})))
	laptop.wait(id, "changed bob=Quit")
	b1.wait(id, "changed bob=Quit")
	b2.wait(id, "changed bob=Quit")
}

// R6.4, R3.8, §5: the callee's main device is killed in an advanced call where it is the only
// other user Accepted, while its second device stays: after heartbeatTimeout the callee is
// Quit, heard by its second device; the caller is still Accepted, so the call goes on. Then the
// caller's main device is killed too: nobody is Accepted any more, the call ends, and a user
// still ringing gets callInvitationEnded on all its devices.
func TestE2EDevicesCalleeMainDeviceKilledOtherDeviceStays(t *testing.T) {
	ts := startServer(t)
	alice := ts.login(t, "alice", "a")
	b1, b2 := ts.login(t, "bob", "b1"), ts.login(t, "bob", "b2")
	c1, c2 := ts.login(t, "carol", "c1"), ts.login(t, "carol", "c2")
	ctx := t.Context()
	id := alice.ringBobAndCarol(t)
	must(t, second(b1.CallAccept(ctx, id, client.OpConfig{})))
	alice.wait(id, "changed bob=Accepted")

	b1.Close()
	alice.wait(id, "changed bob=Quit")
	b2.wait(id, "changed bob=Quit")
	c1.wait(id, "changed bob=Quit")
	info, err := b2.QueryCall(ctx, id)
	must(t, err)
	if info.State != client.CallStarted {
		t.Fatalf("call ended while its caller is still Accepted: %+v", info)
	}
	alice.Close()
	c1.wait(id, "ended by alice")
	c2.wait(id, "ended by alice")
	b2.expectNone(ts, id, "ended by alice")
	info, err = b2.QueryCall(ctx, id)
	must(t, err)
	if c := userIn(t, info.CallUserList, "carol"); info.State != client.CallEnded || c.State != client.StateReceived {
		t.Errorf("after the last Accepted user was lost: %+v", info)
	}
}

// R6.1, R6.3, R7.2: the main device of an Accepted user whose network drops reconnects within
// heartbeatTimeout: it is not lost, stays the main device, and gets the changes made while it
// was away, once. The loss of another user's main device, cut at the same moment and never
// back, tells when the grace is over.
func TestE2EDevicesMainDeviceReconnectIsNoLoss(t *testing.T) {
	ts := startServer(t)
	proxy := newCutProxy(t, ts.Addr)
	alice := ts.login(t, "alice", "a")
	b1 := dialAt(t, proxy.URL(), "bob", "b1", client.Options{})
	must(t, second(b1.Login(t.Context(), token(t, "bob"), "b1")))
	b2 := ts.login(t, "bob", "b2")
	dave := ts.login(t, "dave", "d")
	ctx := t.Context()
	res, err := alice.CallInvite(ctx, []string{"bob", "carol", "dave"}, advanced)
	must(t, err)
	id := res.CallID
	alice.wait(id, "changed dave=Received")
	alice.wait(id, "changed bob=Received")
	must(t, second(b1.CallAccept(ctx, id, client.OpConfig{})))
	must(t, second(dave.CallAccept(ctx, id, client.OpConfig{})))
	b1.wait(id, "changed dave=Accepted")

	proxy.cutAll()
	dave.Close() // never back: lost after heartbeatTimeout
	must(t, second(alice.CallCancel(ctx, id, []string{"carol"}, client.OpConfig{})))
	alice.wait(id, "changed dave=Quit")
	b1.wait(id, "changed dave=Quit")
	receipts := []string{"changed bob=Received", "changed dave=Received"}
	b1.expectIgnoring(ts, id, receipts, "received from alice", "changed bob=Accepted",
		"changed dave=Accepted", "changed carol=BeCancelled", "changed dave=Quit")
	b2.expectIgnoring(ts, id, receipts, "received from alice", "changed bob=Accepted")
	info, err := alice.QueryCall(ctx, id)
	must(t, err)
	if b := userIn(t, info.CallUserList, "bob"); b.State != client.StateAccepted {
		t.Errorf("bob after his main device reconnected: %+v", b)
	}
}

// R6.1, R6.4, docs/api.md logout: the server API's logout of a user whose main device has no
// connection (killed, within its grace) while another device is connected: the connected
// device is kicked with logout, and the main device is lost at once, without waiting for its
// grace: the user quits the advanced call.
func TestE2EDevicesAPILogoutLosesADisconnectedMainDevice(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey, "--heartbeat-interval", "10s", "--heartbeat-timeout", "60s")
	alice := ts.login(t, "alice", "a")
	b1, b2 := ts.login(t, "bob", "b1"), ts.login(t, "bob", "b2")
	id := alice.callBobAnsweredOn(t, b1)
	b1.Close() // its loss would take 60s

	if st, m := apiCall(t, ts, "POST", "/v1/api/users/bob/logout", apiKey, ""); st != 200 || len(m) != 0 {
		t.Fatalf("logout bob: %d %v", st, m)
	}
	b2.until("logout kick", func() bool { return len(b2.kicks) > 0 && b2.kicks[0].Reason == client.KickLogout })
	alice.wait(id, "changed bob=Quit")
}
