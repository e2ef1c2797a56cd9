package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// pushRegister validates its data (6000001) and pushUnregister accepts what it registered;
// a WebSocket logout drops the device's targets and keeps the user's other devices' (§9).
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
	}
	for _, target := range bad {
		if err := phone.PushRegister(ctx, target); code(err) != 6000001 {
			t.Errorf("PushRegister(%+v) = %v, want 6000001", target, err)
		}
	}
	if err := phone.PushUnregister(ctx, "sms", "t"); code(err) != 6000001 {
		t.Errorf("PushUnregister(sms) = %v, want 6000001", err)
	}
	must(t, phone.PushRegister(ctx, client.PushTarget{Provider: "fcm", Token: "phone-fcm"}))
	must(t, phone.PushRegister(ctx, client.PushTarget{Provider: "apns", Token: "phone-voip", VoIP: true, BundleID: "com.example"}))
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
