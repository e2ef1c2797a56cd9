package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// pushRegister validates its data (6000001) and pushUnregister accepts what it registered;
// a WebSocket logout drops the device's targets and keeps the user's other devices' (§9).
// An APNs bundleID, sent as the apns-topic header of each push, is a bundle ID's letters,
// digits, "-" and "." only: one that no header can carry would fail every push to the target.
func TestE2EPushTargetsRegisterValidateLogout(t *testing.T) {
	ts := startServer(t)
	phone := ts.login(t, "bob", "b-phone")
	tablet := ts.login(t, "bob", "b-tablet")
	ctx := t.Context()

	bad := []client.PushTarget{
		{Provider: "sms", Token: "t"},
		{Provider: "fcm", Token: ""},
		{Provider: "fcm", Token: strings.Repeat("x", 4097)},
		{Provider: "apns", Token: "t"},
		{Provider: "apns", Token: "t", BundleID: "com.example\r\napns-priority: 5"},
		{Provider: "apns", Token: "t", BundleID: "com.example\x00"},
		{Provider: "apns", Token: "t", BundleID: "com.example app"},
		{Provider: "apns", Token: "t", BundleID: "com.exämple"},
		{Provider: "apns", Token: "t", BundleID: strings.Repeat("a", 256)},
		{Provider: "webhook", Token: "t", AppID: strings.Repeat("a", 256)},
		{Provider: "fcm", Token: "t", BundleID: strings.Repeat("a", 256)},
	}
	for _, target := range bad {
		if err := phone.PushRegister(ctx, target); code(err) != 6000001 {
			t.Errorf("PushRegister(%+v) = %v, want 6000001", target, err)
		}
	}
	if err := phone.PushUnregister(ctx, "sms", "t"); code(err) != 6000001 {
		t.Errorf("PushUnregister(sms) = %v, want 6000001", err)
	}
	must(t, phone.PushRegister(ctx, client.PushTarget{Provider: "fcm", Token: "phone-fcm", AppID: strings.Repeat("a", 255)}))
	must(t, phone.PushRegister(ctx, client.PushTarget{Provider: "apns", Token: "phone-voip", VoIP: true, BundleID: "com.Example-2.app"}))
	must(t, phone.PushRegister(ctx, client.PushTarget{Provider: "webhook", Token: "phone-gone"}))
	must(t, phone.PushUnregister(ctx, "webhook", "phone-gone"))
	must(t, phone.PushUnregister(ctx, "webhook", "never-registered"))
	must(t, tablet.PushRegister(ctx, client.PushTarget{Provider: "webhook", Token: strings.Repeat("y", 4096)}))
	must(t, phone.Logout(ctx))

	targets := storedPushTargets(t, ts, "bob")
	want := switchboard.PushTarget{UserID: "bob", DeviceID: "b-tablet", Provider: "webhook", Token: strings.Repeat("y", 4096)}
	if len(targets) != 1 || targets[0] != want {
		t.Fatalf("bob's targets after the phone's logout = %+v, want only the tablet's", targets)
	}
}

// protocol.md "Extensions: push targets": a user has at most MaxPushTargetsPerUser targets,
// from all its devices; past it, a pushRegister of a new target is refused with 6000001, as
// every push to the user goes to each of them. Registering one it has again, or a new one once
// one is unregistered, is accepted.
func TestE2EPushTargetsPerUserBounded(t *testing.T) {
	ts := startServer(t, "--max-requests-per-second", "1000")
	phone := ts.login(t, "bob", "b-phone")
	tablet := ts.login(t, "bob", "b-tablet")
	ctx := t.Context()
	target := func(i int) client.PushTarget {
		return client.PushTarget{Provider: "webhook", Token: "bob-" + strconv.Itoa(i)}
	}
	for i := range protocol.MaxPushTargetsPerUser {
		must(t, []*device{phone, tablet}[i%2].PushRegister(ctx, target(i)))
	}
	extra := target(protocol.MaxPushTargetsPerUser)
	if err := tablet.PushRegister(ctx, extra); code(err) != 6000001 {
		t.Errorf("target %d of bob: %v, want 6000001", protocol.MaxPushTargetsPerUser+1, err)
	}
	must(t, phone.PushRegister(ctx, target(0)))
	must(t, phone.PushUnregister(ctx, target(0).Provider, target(0).Token))
	must(t, tablet.PushRegister(ctx, extra))
	if n := len(storedPushTargets(t, ts, "bob")); n != protocol.MaxPushTargetsPerUser {
		t.Errorf("bob has %d targets stored, want %d", n, protocol.MaxPushTargetsPerUser)
	}
}

// storedPushTargets stops the server and returns user's push targets as stored.
func storedPushTargets(t *testing.T, ts *testServer, user string) []switchboard.PushTarget {
	t.Helper()
	ts.Stop()
	store, err := sqlite.Open(t.Context(), filepath.Join(ts.Data, "dialtone.db"), sqlite.Options{})
	must(t, err)
	defer store.Close()
	targets, err := store.PushTargets(t.Context(), user)
	must(t, err)
	return targets
}

// protocol.md "Extensions: push targets": a (provider, token) pair belongs to the last user
// who registered it. On one installation bob, then carol, register the same token: pushes for
// bob no longer go to it, and neither bob's pushUnregister nor his logout removes carol's.
func TestE2EPushTargetBelongsToLastRegistrant(t *testing.T) {
	pushes := newPushService(t)
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL)
	ctx := t.Context()
	shared := client.PushTarget{Provider: "webhook", Token: "phone-token"}
	bob := ts.login(t, "bob", "phone")
	must(t, bob.PushRegister(ctx, shared))
	carol := ts.login(t, "carol", "phone")
	must(t, carol.PushRegister(ctx, shared))
	must(t, bob.PushUnregister(ctx, shared.Provider, shared.Token))
	must(t, bob.Logout(ctx))
	carol.Close()
	alice := ts.login(t, "alice", "a")
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 1")

	res, err := alice.CallInvite(ctx, []string{"bob", "carol"}, client.InviteConfig{Timeout: 60, PushConfig: ring})
	must(t, err)
	pushRecordsHandled(t, ts, 2)
	got := pushes.all()
	if len(got) != 1 || got[0].Target.Token != shared.Token || got[0].Message.CallID != res.CallID {
		t.Fatalf("pushes %+v, want one invitation push to the shared token, for carol", got)
	}
	targets := storedPushTargets(t, ts, "carol")
	if len(targets) != 1 || targets[0] != (switchboard.PushTarget{UserID: "carol", DeviceID: "phone", Provider: "webhook", Token: shared.Token}) {
		t.Errorf("carol's targets %+v, want the shared token", targets)
	}
}
