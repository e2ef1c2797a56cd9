package main

import (
	"testing"

	"github.com/dialtone/dialtone/client"
)

// §1, §5, R6.3 with three devices per user: the caller's main device is the one that invited,
// the callee's the one that accepted. Every change goes to all devices of a ringing user; once
// Accepted, a user hears the others' changes on its main device only, its own changes and the
// end on all of them; a user who rejected hears its own reject on all its devices and nothing
// after it.
func TestE2EDevicesMainDeviceOfCallerAndCallee(t *testing.T) {
	ts := startServer(t)
	a1, a2, a3 := ts.login(t, "alice", "a1"), ts.login(t, "alice", "a2"), ts.login(t, "alice", "a3")
	b1, b2, b3 := ts.login(t, "bob", "b1"), ts.login(t, "bob", "b2"), ts.login(t, "bob", "b3")
	c1, c2 := ts.login(t, "carol", "c1"), ts.login(t, "carol", "c2")
	ctx := t.Context()

	id := a2.ringBobAndCarol(t)
	must(t, second(b3.CallAccept(ctx, id, client.OpConfig{})))
	a2.wait(id, "changed bob=Accepted")
	must(t, second(c2.CallReject(ctx, id, client.OpConfig{})))
	a2.wait(id, "changed carol=Rejected")
	must(t, second(a1.CallEnd(ctx, id, client.OpConfig{}))) // from a device that is not alice's main one

	info, err := b1.QueryCall(ctx, id)
	must(t, err)
	if info.State != client.CallEnded {
		t.Fatalf("after callEnd: %+v", info)
	}
	// The order of bob's and carol's receipts is theirs: compare each device's events without them.
	received := []string{"changed bob=Received", "changed carol=Received"}
	for _, c := range []struct {
		d    *device
		want []string
	}{
		{a1, []string{"created", "ended by alice"}},
		{a2, []string{"created", "changed bob=Accepted", "changed carol=Rejected", "ended by alice"}},
		{a3, []string{"created", "ended by alice"}},
		{b1, []string{"received from alice", "changed bob=Accepted", "ended by alice"}},
		{b2, []string{"received from alice", "changed bob=Accepted", "ended by alice"}},
		{b3, []string{"received from alice", "changed bob=Accepted", "changed carol=Rejected", "ended by alice"}},
		{c1, []string{"received from alice", "changed bob=Accepted", "changed carol=Rejected"}},
		{c2, []string{"received from alice", "changed bob=Accepted", "changed carol=Rejected"}},
	} {
		c.d.expectIgnoring(ts, id, received, c.want...)
	}
	// The receipts: to every ringing user's devices and the caller's main device only.
	for _, d := range []*device{a2, b1, b2, b3, c1, c2} {
		for _, r := range received {
			d.waitCount(id, r, 1)
		}
	}
	for _, d := range []*device{a1, a3} {
		for _, r := range received {
			if d.count(id, r) != 0 {
				t.Errorf("%s@%s, not alice's main device, got %q", d.user, d.id, r)
			}
		}
	}
}

// R3.6, R3.8, R6.3, §1: an Accepted user's non-main device may callingInvite and callQuit; it
// does not become the main device by that: the invitee's changes reach the main device only
// (the acting device has its reply), and the quit reaches every device of the user.
func TestE2EDevicesOpsFromANonMainDevice(t *testing.T) {
	ts := startServer(t)
	alice := ts.login(t, "alice", "a")
	b1, b2 := ts.login(t, "bob", "b1"), ts.login(t, "bob", "b2")
	carol := ts.login(t, "carol", "c")
	ctx := t.Context()
	id := alice.callBobAnsweredOn(t, b1)

	must(t, second(b2.CallingInvite(ctx, id, []string{"carol"}, client.CallingInviteConfig{})))
	carol.wait(id, "received from bob")
	b1.wait(id, "changed carol=Received")
	must(t, second(carol.CallAccept(ctx, id, client.OpConfig{})))
	b1.wait(id, "changed carol=Accepted")
	must(t, second(b2.CallQuit(ctx, id, client.OpConfig{})))
	alice.wait(id, "changed bob=Quit")
	carol.wait(id, "changed bob=Quit")

	b1.expect(ts, id, "received from alice", "changed bob=Received", "changed bob=Accepted",
		"changed carol=Inviting", "changed carol=Received", "changed carol=Accepted", "changed bob=Quit")
	b2.expect(ts, id, "received from alice", "changed bob=Received", "changed bob=Accepted", "changed bob=Quit")
	info, err := alice.QueryCall(ctx, id)
	must(t, err)
	if c := userIn(t, info.CallUserList, "carol"); info.State != client.CallStarted || c.Inviter != "bob" {
		t.Errorf("after bob's quit from his non-main device: %+v", info)
	}
}
