package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A push profile field of a provider that is not configured (apnsCategory with FCM alone,
// androidChannelID with APNs alone) is never used: the server says so at start, with a WARN
// naming the profile, the field and the provider, and starts all the same (docs/push.md). The
// generic webhook provider carries every field, so with it nothing is warned.
func TestE2EPushProfileFieldOfUnconfiguredProviderWarned(t *testing.T) {
	dir := t.TempDir()
	profiles := filepath.Join(dir, "profiles.json")
	must(t, os.WriteFile(profiles, []byte(`{"ring": {"sound": "ring.caf", "apnsCategory": "CALL", "androidChannelID": "calls"},
		"quiet": {"sound": "none"}}`), 0o600))
	creds := filepath.Join(dir, "sa.json")
	must(t, os.WriteFile(creds, serviceAccount(t), 0o600))
	keyFile, _ := apnsKeyFile(t)
	apns := []string{"--apns-key-file", keyFile, "--apns-key-id", "KEYID12345", "--apns-team-id", "TEAMID1234"}
	const warning = "push profile field is for a provider that is not configured"

	tests := []struct {
		name      string
		providers []string
		want      []string // the fields warned of, each as "profile=… field=… provider=…"
	}{
		{"FCM alone", []string{"--fcm-credentials", creds}, []string{"profile=ring field=apnsCategory provider=apns"}},
		{"APNs alone", apns, []string{"profile=ring field=androidChannelID provider=fcm"}},
		{"FCM and APNs", append([]string{"--fcm-credentials", creds}, apns...), nil},
		{"APNs and the webhook provider", append([]string{"--push-webhook-url", "http://127.0.0.1:1/push"}, apns...), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The profiles are checked before the server listens, so the log is complete here.
			ts := startServer(t, append([]string{"--push-profiles", profiles}, tt.providers...)...)
			var got []string
			for _, line := range strings.Split(ts.Logs(), "\n") {
				if strings.Contains(line, warning) {
					got = append(got, line)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d warnings, want %d (%q):\n%s", len(got), len(tt.want), tt.want, ts.Logs())
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], "level=WARN") || !strings.Contains(got[i], w) {
					t.Errorf("warning %q, want a WARN with %q", got[i], w)
				}
			}
		})
	}
}
