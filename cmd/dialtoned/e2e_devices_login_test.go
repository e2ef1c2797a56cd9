package main

import (
	"slices"
	"testing"

	"github.com/dialtone/dialtone/client"
)

// R5.3, R5.1, R7.2: a device that logs in while a call rings for its user gets the invitation
// synthesized once: not again when it reconnects (it resumes after it), nor on the user's
// other device; its automatic receipt changes nothing for a user already Received. When the
// other device answers, the new one stops ringing like the first.
func TestE2EDevicesLoginDuringRingGetsTheInvitationOnce(t *testing.T) {
	ts := startServer(t)
	alice, phone := ts.login(t, "alice", "a"), ts.login(t, "bob", "phone")
	ctx := t.Context()
	res, err := alice.CallInvite(ctx, []string{"bob", "carol"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	id := res.CallID
	alice.wait(id, "changed bob=Received")

	proxy := newCutProxy(t, ts.Addr)
	laptop := dialAt(t, proxy.URL(), "bob", "laptop", client.Options{})
	must(t, second(laptop.Login(ctx, token(t, "bob"), "laptop")))
	laptop.wait(id, "received from alice (synthetic)")
	proxy.cutAll()
	laptop.until("a reconnect", func() bool {
		return len(laptop.states) >= 3 && laptop.states[len(laptop.states)-1] == client.Connected
	})
	must(t, second(laptop.QueryCallInvitationList(ctx, 1, 0)))

	must(t, second(phone.CallAccept(ctx, id, client.OpConfig{})))
	laptop.wait(id, "changed bob=Accepted")
	laptop.expect(ts, id, "received from alice (synthetic)", "changed bob=Accepted")
	phone.expect(ts, id, "received from alice", "changed bob=Received", "changed bob=Accepted")
	alice.expect(ts, id, "created", "changed bob=Received", "changed bob=Accepted")
}

// R5.3, R5.1: a user with no device connected when it is invited logs in on two devices one
// after the other: each gets the invitation once, synthesized; the first one's receipt makes
// the user Received (heard by the caller once, and by both of the user's devices, the second
// one only if it was logged in by then), the second one's changes nothing. A reject from the
// second device stops the first ringing.
func TestE2EDevicesLoginOfEveryDeviceAfterTheInvite(t *testing.T) {
	ts := startServer(t)
	alice := ts.login(t, "alice", "a")
	ctx := t.Context()
	res, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	id := res.CallID

	phone := ts.login(t, "bob", "phone")
	phone.wait(id, "received from alice (synthetic)")
	alice.wait(id, "changed bob=Received")
	phone.wait(id, "changed bob=Received")
	laptop := ts.login(t, "bob", "laptop")
	laptop.wait(id, "received from alice (synthetic)")

	must(t, second(laptop.CallReject(ctx, id, client.OpConfig{})))
	phone.wait(id, "changed bob=Rejected (call ended)")
	phone.expect(ts, id, "received from alice (synthetic)", "changed bob=Received", "changed bob=Rejected (call ended)")
	laptop.expect(ts, id, "received from alice (synthetic)", "changed bob=Rejected (call ended)")
	alice.expect(ts, id, "created", "changed bob=Received", "changed bob=Rejected (call ended)")
}

// R3.3, §5: two devices of one user answer a group call: the first answer wins and reaches
// the other device at once; the other device's accept and reject are then refused with
// 6000274, and in a 1:1 general call, which the first answer ended, with 6000276.
func TestE2EDevicesSecondAnswerRefused(t *testing.T) {
	ts := startServer(t)
	alice := ts.login(t, "alice", "a")
	phone, laptop := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop")
	ctx := t.Context()

	group, err := alice.CallInvite(ctx, []string{"bob", "carol"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	phone.wait(group.CallID, "received from alice")
	must(t, second(phone.CallReject(ctx, group.CallID, client.OpConfig{})))
	laptop.wait(group.CallID, "changed bob=Rejected")
	wantCode(t, "accept after the other device rejected", second(laptop.CallAccept(ctx, group.CallID, client.OpConfig{})), client.CodeStateForbids)
	wantCode(t, "reject after the other device rejected", second(laptop.CallReject(ctx, group.CallID, client.OpConfig{})), client.CodeStateForbids)
	must(t, second(alice.CallCancel(ctx, group.CallID, nil, client.OpConfig{})))

	one, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	laptop.wait(one.CallID, "received from alice")
	must(t, second(laptop.CallAccept(ctx, one.CallID, client.OpConfig{})))
	phone.wait(one.CallID, "changed bob=Accepted (call ended)")
	wantCode(t, "accept after the other device ended the call", second(phone.CallAccept(ctx, one.CallID, client.OpConfig{})), client.CodeCallUnavailable)
}

// R3.5, R5.3, §5: a ring times out on every device of the user, the one that logged in during
// the ring (and got the invitation synthesized) included.
func TestE2EDevicesTimeoutReachesADeviceThatLoggedInDuringTheRing(t *testing.T) {
	ts := startServer(t)
	alice, phone := ts.login(t, "alice", "a"), ts.login(t, "bob", "phone")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 3})
	must(t, err)
	id := res.CallID
	phone.wait(id, "changed bob=Received") // the receipt is in before the laptop logs in
	laptop := ts.login(t, "bob", "laptop")
	laptop.wait(id, "received from alice (synthetic)")
	phone.wait(id, "timeout")
	laptop.wait(id, "timeout")
	alice.wait(id, "changed bob=Timeout (call ended)")
	laptop.expect(ts, id, "received from alice (synthetic)", "timeout")
}

// R5.3, §5 (§12 reading): a device of the caller that logs in while its outgoing call rings
// gets no invitation synthesized (its user is not pending) and no event until the call's end,
// which reaches it like every device of the caller.
func TestE2EDevicesCallerDeviceLoginDuringItsRing(t *testing.T) {
	ts := startServer(t)
	phone, bob := ts.login(t, "alice", "phone"), ts.login(t, "bob", "b")
	ctx := t.Context()
	res, err := phone.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	id := res.CallID
	phone.wait(id, "changed bob=Received")

	laptop := ts.login(t, "alice", "laptop")
	laptop.expect(ts, id)
	list, err := laptop.QueryCallInvitationList(ctx, 20, 0)
	must(t, err)
	if !slices.ContainsFunc(list.CallList, func(c client.CallInfo) bool { return c.CallID == id && c.State == client.CallStarted }) {
		t.Errorf("the caller's new device does not find the ringing call in its list: %+v", list.CallList)
	}
	must(t, second(bob.CallReject(ctx, id, client.OpConfig{})))
	laptop.wait(id, "changed bob=Rejected (call ended)")
	laptop.expect(ts, id, "changed bob=Rejected (call ended)")
}
