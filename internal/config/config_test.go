package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const secret = "0123456789abcdef-secret"

// env returns a getenv over vars.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// writeFile writes a config file into a temporary directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dialtone.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func parse(t *testing.T, args []string, vars map[string]string) (Config, error) {
	t.Helper()
	var out strings.Builder
	return Parse(args, env(vars), &out)
}

func TestDefaults(t *testing.T) {
	prod := Defaults(false)
	want := Config{
		Listen: ":3425", DataDir: "./.dialtone",
		HeartbeatInterval: 10 * time.Second, HeartbeatTimeout: 35 * time.Second,
		NotReceivedCheck: 5 * time.Second, LoginTimeout: 10 * time.Second,
		MaxCallUsers: 10, MaxDevicesPerUser: 10, JoinPolicy: "members",
		CallRetention: 720 * time.Hour, LogRetention: 15 * time.Minute, IdempotencyWindow: 15 * time.Minute,
		LogLevel: "info", MaxRequestsPerSecond: 50, MaxInvitesPerMinute: 60, MaxUnauthenticatedPerIP: 100,
		WebhookExpiry: 24 * time.Hour, PushExpiry: time.Hour,
		FCMTokenURL:  "https://oauth2.googleapis.com/token",
		FCMEndpoint:  "https://fcm.googleapis.com/v1/projects/{project}/messages:send",
		APNsEndpoint: "https://api.push.apple.com",
	}
	if diff := cmp.Diff(want, prod); diff != "" {
		t.Errorf("Defaults(false) (-want +got):\n%s", diff)
	}
	dev := Defaults(true)
	want.Dev, want.Listen, want.Secret = true, "127.0.0.1:3425", DevSecret
	if diff := cmp.Diff(want, dev); diff != "" {
		t.Errorf("Defaults(true) (-want +got):\n%s", diff)
	}
	if err := dev.Validate(); err != nil {
		t.Errorf("Defaults(true) invalid: %v", err)
	}
	prod.Secret = secret
	if err := prod.Validate(); err != nil {
		t.Errorf("Defaults(false) with a secret invalid: %v", err)
	}
}

func TestParseDefaults(t *testing.T) {
	got, err := parse(t, []string{"--secret", secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults(false)
	want.Secret = secret
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got, err = parse(t, []string{"--dev"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Defaults(true), got); diff != "" {
		t.Errorf("--dev (-want +got):\n%s", diff)
	}
}

// parseCase is a successful Parse: want edits the expected Config, which starts as a default.
type parseCase struct {
	name string
	args []string
	vars map[string]string
	want func(*Config)
}

func runParseCases(t *testing.T, base Config, tests []parseCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(t, tt.args, tt.vars)
			if err != nil {
				t.Fatal(err)
			}
			want := base
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, `{"listen": "file:1", "data": "file-data", "heartbeat-timeout": "60s",
		"max-call-users": 4, "log-level": "debug", "secret": "file-secret-0123456789"}`)
	other := writeFile(t, `{"listen": "other:1"}`)
	proxies := writeFile(t, `{"trusted-proxies": "::1, 192.168.0.0/16"}`)
	tests := []parseCase{
		{"file only", []string{"--config", file}, nil, func(c *Config) {
			c.Listen, c.DataDir, c.HeartbeatTimeout, c.MaxCallUsers, c.LogLevel, c.Secret =
				"file:1", "file-data", time.Minute, 4, "debug", "file-secret-0123456789"
		}},
		{"env over file", []string{"--config", file}, map[string]string{
			"DIALTONE_LISTEN": "env:2", "DIALTONE_MAX_CALL_USERS": "5", "DIALTONE_SECRET": "env-secret-0123456789",
		}, func(c *Config) {
			c.Listen, c.DataDir, c.HeartbeatTimeout, c.MaxCallUsers, c.LogLevel, c.Secret =
				"env:2", "file-data", time.Minute, 5, "debug", "env-secret-0123456789"
		}},
		{"flag over env over file", []string{"--config", file, "--listen", "flag:3", "--log-level=warn"},
			map[string]string{"DIALTONE_LISTEN": "env:2", "DIALTONE_LOG_LEVEL": "error", "DIALTONE_DATA": "env-data"},
			func(c *Config) {
				c.Listen, c.DataDir, c.HeartbeatTimeout, c.MaxCallUsers, c.LogLevel, c.Secret =
					"flag:3", "env-data", time.Minute, 4, "warn", "file-secret-0123456789"
			}},
		{"config path from env", nil, map[string]string{"DIALTONE_CONFIG": other, "DIALTONE_SECRET": secret},
			func(c *Config) { c.Listen, c.Secret = "other:1", secret }},
		{"config flag over config env", []string{"--config", other, "--secret", secret},
			map[string]string{"DIALTONE_CONFIG": "/does/not/exist.json"},
			func(c *Config) { c.Listen, c.Secret = "other:1", secret }},
		{"trusted proxies by file", []string{"--config", proxies, "--secret", secret}, nil,
			func(c *Config) { c.TrustedProxies, c.Secret = "::1, 192.168.0.0/16", secret }},
		{"call retention under push expiry without a push provider", []string{"--secret", secret, "--call-retention", "30m"}, nil,
			func(c *Config) { c.Secret, c.CallRetention = secret, 30*time.Minute }},
		{"expiries at their defaults without webhooks or pushes", []string{"--secret", secret,
			"--webhook-expiry", "24h", "--push-expiry", "1h"}, nil, func(c *Config) { c.Secret = secret }},
		// docs/operations.md: a value equal to the setting's default counts as not given, so a
		// provider's settings written out at their defaults need no provider.
		{"provider settings at their defaults without their providers", []string{"--secret", secret,
			"--fcm-token-url", "https://oauth2.googleapis.com/token",
			"--fcm-endpoint", "https://fcm.googleapis.com/v1/projects/{project}/messages:send",
			"--apns-endpoint", "https://api.push.apple.com"}, nil, func(c *Config) { c.Secret = secret }},
		{"flag given twice: the last wins", []string{"--secret", secret, "--listen", "a:1", "--listen", "b:2"}, nil,
			func(c *Config) { c.Secret, c.Listen = secret, "b:2" }},
		{"empty env counts as unset", []string{"--secret", secret}, map[string]string{"DIALTONE_LISTEN": ""},
			func(c *Config) { c.Secret = secret }},
		{"every setting by env", nil, map[string]string{
			"DIALTONE_LISTEN": "h:9", "DIALTONE_DATA": "d", "DIALTONE_SECRET": secret, "DIALTONE_AUDIENCE": "aud",
			"DIALTONE_HEARTBEAT_INTERVAL": "2s", "DIALTONE_HEARTBEAT_TIMEOUT": "6s", "DIALTONE_NOT_RECEIVED_CHECK": "3s",
			"DIALTONE_MAX_CALL_USERS": "20", "DIALTONE_MAX_DEVICES_PER_USER": "1", "DIALTONE_JOIN_POLICY": "anyone",
			"DIALTONE_CALL_RETENTION": "1h", "DIALTONE_LOG_RETENTION": "6s", "DIALTONE_IDEMPOTENCY_WINDOW": "1m",
			"DIALTONE_TLS_CERT": "c.pem", "DIALTONE_TLS_KEY": "k.pem", "DIALTONE_LOG_LEVEL": "error",
			"DIALTONE_MAX_REQUESTS_PER_SECOND": "7", "DIALTONE_MAX_INVITES_PER_MINUTE": "8",
			"DIALTONE_MAX_UNAUTHENTICATED_PER_IP": "9",
			"DIALTONE_WEBHOOK_URL":                "https://hooks.example/x", "DIALTONE_WEBHOOK_SECRET": "ws",
			"DIALTONE_WEBHOOK_EXPIRY": "2h", "DIALTONE_API_KEY": "api-key-0123456789",
			"DIALTONE_PUSH_WEBHOOK_URL": "https://push.example/p", "DIALTONE_PUSH_EXPIRY": "3m",
			"DIALTONE_FCM_CREDENTIALS": "sa.json", "DIALTONE_FCM_TOKEN_URL": "https://tok.example",
			"DIALTONE_FCM_ENDPOINT": "https://fcm.example/{project}", "DIALTONE_APNS_KEY_FILE": "k.p8",
			"DIALTONE_APNS_KEY_ID": "KID", "DIALTONE_APNS_TEAM_ID": "TEAM", "DIALTONE_APNS_ENDPOINT": "https://apns.example",
			"DIALTONE_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8",
		}, func(c *Config) {
			*c = Config{Listen: "h:9", DataDir: "d", Secret: secret, Audience: "aud",
				HeartbeatInterval: 2 * time.Second, HeartbeatTimeout: 6 * time.Second, NotReceivedCheck: 3 * time.Second,
				LoginTimeout: 10 * time.Second, MaxCallUsers: 20, MaxDevicesPerUser: 1, JoinPolicy: "anyone",
				CallRetention: time.Hour, LogRetention: 6 * time.Second, IdempotencyWindow: time.Minute,
				TLSCert: "c.pem", TLSKey: "k.pem", LogLevel: "error",
				MaxRequestsPerSecond: 7, MaxInvitesPerMinute: 8, MaxUnauthenticatedPerIP: 9,
				TrustedProxies: "127.0.0.1, 10.0.0.0/8", WebhookURL: "https://hooks.example/x", WebhookSecret: "ws", WebhookExpiry: 2 * time.Hour,
				APIKey: "api-key-0123456789", PushWebhookURL: "https://push.example/p", PushExpiry: 3 * time.Minute,
				FCMCredentials: "sa.json", FCMTokenURL: "https://tok.example", FCMEndpoint: "https://fcm.example/{project}",
				APNsKeyFile: "k.p8", APNsKeyID: "KID", APNsTeamID: "TEAM", APNsEndpoint: "https://apns.example"}
		}},
	}
	runParseCases(t, Defaults(false), tests)
}

func TestDev(t *testing.T) {
	devFile := writeFile(t, `{"dev": true}`)
	tests := []parseCase{
		{"flags override dev defaults", []string{"--dev", "--listen", "127.0.0.1:0", "--data", "d", "--secret", secret},
			nil, func(c *Config) { c.Listen, c.DataDir, c.Secret = "127.0.0.1:0", "d", secret }},
		{"dev by env", nil, map[string]string{"DIALTONE_DEV": "true"}, func(*Config) {}},
		{"dev by file", []string{"--config", devFile}, nil, func(*Config) {}},
		{"dev=true flag", []string{"--dev=true"}, nil, func(*Config) {}},
		{"localhost", []string{"--dev", "--listen", "localhost:8080"}, nil, func(c *Config) { c.Listen = "localhost:8080" }},
		{"IPv6 loopback", []string{"--dev", "--listen", "[::1]:0"}, nil, func(c *Config) { c.Listen = "[::1]:0" }},
		{"127.0.0.2", []string{"--dev", "--listen", "127.0.0.2:1"}, nil, func(c *Config) { c.Listen = "127.0.0.2:1" }},
		{"--dev=false flag over env", []string{"--dev=false", "--secret", secret}, map[string]string{"DIALTONE_DEV": "1"},
			func(c *Config) { *c = Defaults(false); c.Secret = secret }},
	}
	runParseCases(t, Defaults(true), tests)
}

func TestRefused(t *testing.T) {
	badJSON := writeFile(t, `{"listen": `)
	unknownKey := writeFile(t, `{"listne": ":1"}`)
	nested := writeFile(t, `{"listen": {"host": "a"}}`)
	twoValues := writeFile(t, `{} {}`)
	badFileValue := writeFile(t, `{"max-call-users": "many"}`)
	nullFile := writeFile(t, `null`)
	emptyFile := writeFile(t, ``)
	strayBrace := writeFile(t, `{"listen": "127.0.0.1:1"}}`)
	twiceKey := writeFile(t, `{"log-level": "debug", "listen": "127.0.0.1:1", "log-level": "error"}`)
	boolForString := writeFile(t, `{"data": true}`)
	nestedConfig := writeFile(t, `{"config": "other.json"}`)
	numberForString := writeFile(t, `{"audience": 123}`)
	numberForBool := writeFile(t, `{"dev": 1}`)
	boolForInt := writeFile(t, `{"max-call-users": true}`)
	emptySecret := writeFile(t, `{"secret": ""}`)
	oneCallUser := writeFile(t, `{"max-call-users": 1}`)
	longTimeoutLeft := writeFile(t, `{"heartbeat-timeout": "20s"}`)
	dev := []string{"--dev"}
	tests := []struct {
		name string
		args []string
		vars map[string]string
		want []string // parts of the error message
	}{
		{"no secret", nil, nil, []string{"--secret is required", "DIALTONE_SECRET"}},
		{"short secret", []string{"--secret", "short"}, nil, []string{"--secret must be at least 16 bytes"}},
		{"short secret in dev", []string{"--dev", "--secret", "short"}, nil, []string{"--secret must be at least 16 bytes"}},
		{"public dev secret outside dev", []string{"--secret", DevSecret}, nil, []string{"--secret must not be the public development secret"}},
		{"dev on all interfaces", []string{"--dev", "--listen", ":3425"}, nil, []string{"--listen must be a loopback"}},
		{"dev on a public address", []string{"--dev", "--listen", "0.0.0.0:3425"}, nil, []string{"--listen must be a loopback"}},
		{"dev on a host name", []string{"--dev", "--listen", "example.com:3425"}, nil, []string{"--listen must be a loopback"}},
		{"dev with public listen by env", dev, map[string]string{"DIALTONE_LISTEN": "10.0.0.1:1"}, []string{"--listen must be a loopback"}},
		{"listen without port", append(dev, "--listen", "127.0.0.1"), nil, []string{"--listen must be host:port"}},
		{"listen bad port", append(dev, "--listen", "127.0.0.1:http"), nil, []string{"--listen port"}},
		{"listen port too big", append(dev, "--listen", "127.0.0.1:65536"), nil, []string{"--listen port"}},
		{"empty data", append(dev, "--data", ""), nil, []string{"--data must not be empty"}},
		{"interval over a third", append(dev, "--heartbeat-interval", "12s"), nil,
			[]string{"--heartbeat-interval must be at most a third of --heartbeat-timeout"}},
		{"timeout under three intervals", append(dev, "--heartbeat-timeout", "29s"), nil,
			[]string{"--heartbeat-interval must be at most a third of --heartbeat-timeout"}},
		{"interval whose triple overflows", append(dev, "--heartbeat-interval", "1000000h"), nil, // R6.1
			[]string{"--heartbeat-interval must be at most a third of --heartbeat-timeout"}},
		{"zero interval", append(dev, "--heartbeat-interval", "0s"), nil, []string{"--heartbeat-interval must be at least 1ms"}},
		{"negative timeout", append(dev, "--heartbeat-timeout", "-1s"), nil, []string{"--heartbeat-timeout must be at least 1ms"}},
		{"nanosecond heartbeats", append(dev, "--heartbeat-interval", "1ns", "--heartbeat-timeout", "3ns", "--log-retention", "3ns"), nil,
			[]string{"--heartbeat-interval must be at least 1ms", "--heartbeat-timeout must be at least 1ms", "--log-retention must be at least 1ms"}},
		// R6.1: a client's heartbeats count against its --max-requests-per-second; heartbeats
		// that took most of them would leave its calls refused with 6000292.
		{"heartbeats taking the request budget", append(dev, "--heartbeat-interval", "20ms"), nil,
			[]string{"--heartbeat-interval must be at least 40ms with --max-requests-per-second 50"}},
		{"request budget too small for the heartbeats", append(dev, "--heartbeat-interval", "1s", "--max-requests-per-second", "1"), nil,
			[]string{"--heartbeat-interval must be at least 2s with --max-requests-per-second 1"}},
		{"data dir with ?", append(dev, "--data", "/tmp/a?b"), nil, []string{"--data must not contain '?'"}},
		{"not-received-check low", append(dev, "--not-received-check", "2999ms"), nil, []string{"--not-received-check must be between 3s and 5s"}},
		{"not-received-check high", append(dev, "--not-received-check", "6s"), nil, []string{"--not-received-check must be between 3s and 5s"}},
		{"one call user", append(dev, "--max-call-users", "1"), nil, []string{"--max-call-users must be between 2 and 20"}},
		{"too many call users", append(dev, "--max-call-users", "21"), nil, []string{"--max-call-users must be between 2 and 20"}},
		{"zero devices", append(dev, "--max-devices-per-user", "0"), nil, []string{"--max-devices-per-user must be between 1 and 100"}},
		{"too many devices", append(dev, "--max-devices-per-user", "101"), nil, []string{"--max-devices-per-user must be between 1 and 100"}},
		{"join policy", append(dev, "--join-policy", "everyone"), nil, []string{"--join-policy must be members or anyone"}},
		{"zero call retention", append(dev, "--call-retention", "0s"), nil, []string{"--call-retention must be at least 1ms"}},
		{"zero log retention", append(dev, "--log-retention", "0s"), nil, []string{"--log-retention must be at least 1ms"}},
		{"log retention under heartbeat timeout", append(dev, "--log-retention", "30s"), nil,
			[]string{"--log-retention must be at least --heartbeat-timeout"}},
		// A device resuming within the log window replays the events of the calls it missed, and
		// reads each one with queryCall: the call must outlive its events.
		{"call retention under log retention", append(dev, "--call-retention", "10m"), nil,
			[]string{"--call-retention must be at least --log-retention"}},
		// A withdrawal push still retried needs its call's record of who was pushed, which goes
		// with the call (docs/push.md): the call must outlive the push's retries.
		{"call retention under push expiry", append(dev, "--push-webhook-url", "https://push.example/p",
			"--call-retention", "30m"), nil, []string{"--call-retention must be at least --push-expiry"}},
		{"zero idempotency window", append(dev, "--idempotency-window", "0s"), nil, []string{"--idempotency-window must be at least 1ms"}},
		{"cert without key", append(dev, "--tls-cert", "c.pem"), nil, []string{"--tls-cert and --tls-key must be given together"}},
		{"key without cert", append(dev, "--tls-key", "k.pem"), nil, []string{"--tls-cert and --tls-key must be given together"}},
		{"webhook url without secret", append(dev, "--webhook-url", "https://h.example"), nil,
			[]string{"--webhook-secret is required with --webhook-url"}},
		{"webhook secret without url", append(dev, "--webhook-secret", "s"), nil,
			[]string{"--webhook-secret needs --webhook-url: without it no webhook is sent"}},
		{"webhook url scheme", append(dev, "--webhook-url", "ftp://h", "--webhook-secret", "s"), nil,
			[]string{"--webhook-url must be an http:// or https:// URL"}},
		{"webhook url without host", append(dev, "--webhook-url", "http://", "--webhook-secret", "s"), nil,
			[]string{"--webhook-url must be an http:// or https:// URL"}},
		{"webhook url that does not parse", append(dev, "--webhook-url", "http://hooks example.com/", "--webhook-secret", "s"), nil,
			[]string{"--webhook-url must be an http:// or https:// URL"}},
		// A port no connection can be made to would fail every attempt until the expiry.
		{"webhook url port out of range", append(dev, "--webhook-url", "https://hooks.example:70000/x", "--webhook-secret", "s"), nil,
			[]string{"--webhook-url port must be a number from 1 to 65535"}},
		{"webhook url port zero", append(dev, "--webhook-url", "http://127.0.0.1:0/x", "--webhook-secret", "s"), nil,
			[]string{"--webhook-url port must be a number from 1 to 65535"}},
		{"push webhook url port out of range", append(dev, "--push-webhook-url", "http://push.example:99999/p"), nil,
			[]string{"--push-webhook-url port must be a number from 1 to 65535"}},
		{"push webhook url that does not parse", append(dev, "--push-webhook-url", "http://[::1"), nil,
			[]string{"--push-webhook-url must be an http:// or https:// URL"}},
		{"fcm endpoint without host", append(dev, "--fcm-endpoint", "https:///v1/projects/{project}/messages:send"), nil,
			[]string{"--fcm-endpoint must be an http:// or https:// URL"}},
		// A callback found expired before its first attempt is given up unsent: an expiry
		// shorter than one attempt would drop most callbacks without trying them.
		{"webhook expiry under one attempt", append(dev, "--webhook-url", "https://h.example", "--webhook-secret", "s",
			"--webhook-expiry", "9s"), nil, []string{"--webhook-expiry must be at least 10s"}},
		{"zero webhook expiry", append(dev, "--webhook-expiry", "0s"), nil, []string{"--webhook-expiry must be at least 1ms"}},
		// The same holds for a push: one found expired before its first attempt is dropped unsent.
		{"push expiry under one attempt", append(dev, "--push-webhook-url", "https://push.example/p",
			"--push-expiry", "9s"), nil, []string{"--push-expiry must be at least 10s, the time of one attempt: " +
			"a push not sent before it expires is dropped"}},
		{"push expiry under one attempt with fcm", append(dev, "--fcm-credentials", "fcm.json",
			"--push-expiry", "1s"), nil, []string{"--push-expiry must be at least 10s"}},
		{"zero push expiry", append(dev, "--push-webhook-url", "https://push.example/p", "--push-expiry", "0s"), nil,
			[]string{"--push-expiry must be at least 1ms"}},
		{"short api key", append(dev, "--api-key", "short"), nil, []string{"--api-key must be at least 16 bytes"}},
		// docs/api.md: the key travels in the Authorization header, which drops spaces at its
		// ends and cannot carry a control character; such a key would refuse every request.
		{"api key with a trailing line break", dev, map[string]string{"DIALTONE_API_KEY": "api-key-0123456789abcdef\n"},
			[]string{"--api-key must not hold a control character"}},
		{"api key with a space at an end", append(dev, "--api-key", " api-key-0123456789abcdef"), nil,
			[]string{"--api-key must not hold a control character"}},
		// A secret read from a file often keeps the file's last line break, which the other
		// side (the app's backend minting tokens, the webhook receiver) trims: every token or
		// signature would then fail to verify.
		{"secret with a trailing line break", nil, map[string]string{"DIALTONE_SECRET": "token-secret-0123456789\n"},
			[]string{"--secret must not hold a control character nor begin or end with a space"}},
		// The audience is compared with each token's aud claim as it is: one read from a file
		// with its line break would refuse every token the app's backend mints.
		{"audience with a trailing line break", dev, map[string]string{"DIALTONE_AUDIENCE": "calls.example\n"},
			[]string{"--audience must not hold a control character nor begin or end with a space"}},
		{"audience with a space at an end", append(dev, "--audience", "calls.example "), nil,
			[]string{"--audience must not hold a control character nor begin or end with a space"}},
		{"webhook secret with a trailing line break", append(dev, "--webhook-url", "https://h.example"),
			map[string]string{"DIALTONE_WEBHOOK_SECRET": "hook-secret\r\n"},
			[]string{"--webhook-secret must not hold a control character nor begin or end with a space"}},
		{"webhook secret with a space at an end", append(dev, "--webhook-url", "https://h.example", "--webhook-secret", "hook-secret "), nil,
			[]string{"--webhook-secret must not hold a control character nor begin or end with a space"}},
		{"apns key without ids", append(dev, "--apns-key-file", "k.p8"), nil,
			[]string{"--apns-key-id and --apns-team-id are required with --apns-key-file"}},
		// docs/push.md: a profile is used only by a push, and no push is sent without a provider.
		{"push profiles without a provider", append(dev, "--push-profiles", "profiles.json"), nil,
			[]string{"--push-profiles needs a push provider (--push-webhook-url, --fcm-credentials or --apns-key-file)"}},
		{"apns key id without key file", append(dev, "--apns-key-id", "KID", "--apns-team-id", "TEAM"), nil,
			[]string{"--apns-key-id needs --apns-key-file: without it no APNs push is sent",
				"--apns-team-id needs --apns-key-file: without it no APNs push is sent"}},
		{"apns team id alone by env", dev, map[string]string{"DIALTONE_APNS_TEAM_ID": "TEAM"},
			[]string{"--apns-team-id needs --apns-key-file"}},
		// docs/push.md "Providers": a provider's own settings without the one that turns it on
		// would be ignored, so they stop the start, each naming the setting it needs.
		{"fcm token url without credentials", append(dev, "--fcm-token-url", "https://tok.example/token"), nil,
			[]string{"--fcm-token-url needs --fcm-credentials: without it no FCM push is sent"}},
		{"fcm endpoint without credentials", append(dev, "--fcm-endpoint", "https://fcm.example/{project}"), nil,
			[]string{"--fcm-endpoint needs --fcm-credentials: without it no FCM push is sent"}},
		{"fcm endpoint without credentials by env", dev, map[string]string{"DIALTONE_FCM_ENDPOINT": "https://fcm.example/{project}",
			"DIALTONE_PUSH_WEBHOOK_URL": "https://push.example/p"},
			[]string{"--fcm-endpoint needs --fcm-credentials: without it no FCM push is sent"}},
		{"apns endpoint without key file", append(dev, "--apns-endpoint", "https://api.sandbox.push.apple.com"), nil,
			[]string{"--apns-endpoint needs --apns-key-file: without it no APNs push is sent"}},
		{"apns endpoint without key file, fcm configured", append(dev, "--apns-endpoint", "https://api.sandbox.push.apple.com",
			"--fcm-credentials", "sa.json"), nil,
			[]string{"--apns-endpoint needs --apns-key-file: without it no APNs push is sent"}},
		// A retry limit of a feature that is off would be ignored; like a provider's settings,
		// it is refused, naming what turns the feature on. Its default counts as not given.
		{"webhook expiry without url", append(dev, "--webhook-expiry", "2h"), nil,
			[]string{"--webhook-expiry needs --webhook-url: without it no webhook is sent"}},
		{"webhook expiry without url by env", dev, map[string]string{"DIALTONE_WEBHOOK_EXPIRY": "1h"},
			[]string{"--webhook-expiry needs --webhook-url"}},
		{"push expiry without a provider", append(dev, "--push-expiry", "10m"), nil,
			[]string{"--push-expiry needs a push provider (--push-webhook-url, --fcm-credentials or --apns-key-file): " +
				"without it no push is sent"}},
		{"push expiry without a provider, webhooks on", append(dev, "--push-expiry", "10m",
			"--webhook-url", "https://h.example", "--webhook-secret", "s"), nil,
			[]string{"--push-expiry needs a push provider"}},
		{"log level", append(dev, "--log-level", "verbose"), nil, []string{"--log-level must be debug, info, warn or error"}},
		{"zero requests per second", append(dev, "--max-requests-per-second", "0"), nil, []string{"--max-requests-per-second must be at least 1"}},
		{"zero invites per minute", append(dev, "--max-invites-per-minute", "0"), nil, []string{"--max-invites-per-minute must be at least 1"}},
		{"zero unauthenticated per IP", append(dev, "--max-unauthenticated-per-ip", "-3"), nil, []string{"--max-unauthenticated-per-ip must be at least 1"}},
		{"trusted proxy not an address", append(dev, "--trusted-proxies", "127.0.0.1,10.0.0.300/8"), nil,
			[]string{"--trusted-proxies", `"10.0.0.300/8"`, "IP address or CIDR range"}},
		{"trusted proxy by env names its variable", dev, map[string]string{"DIALTONE_TRUSTED_PROXIES": "nginx"},
			[]string{"--trusted-proxies", `"nginx"`, "IP address or CIDR range"}},
		{"not a duration", append(dev, "--heartbeat-timeout", "35"), nil, []string{`"35" for --heartbeat-timeout`, "duration"}},
		{"not an integer", append(dev, "--max-call-users", "ten"), nil, []string{`"ten" for --max-call-users`, "integer"}},
		{"not a bool by env", nil, map[string]string{"DIALTONE_DEV": "yes"}, []string{`"yes" for --dev (from DIALTONE_DEV)`}},
		{"bad env value names its variable", dev, map[string]string{"DIALTONE_LOG_RETENTION": "forever"},
			[]string{`"forever" for --log-retention (from DIALTONE_LOG_RETENTION)`}},
		{"several at once", append(dev, "--join-policy", "x", "--log-level", "y"), nil, []string{"--join-policy", "--log-level"}},
		{"missing config file", []string{"--config", "/does/not/exist.json"}, nil, []string{"--config", "exist.json"}},
		{"config not JSON", []string{"--config", badJSON}, nil, []string{"--config", "not a JSON object"}},
		{"config unknown key", []string{"--config", unknownKey}, nil, []string{"--config", `unknown setting "listne"`}},
		{"config nested value", []string{"--config", nested}, nil, []string{"--config", `"listen" must be a JSON string`}},
		{"config two values", []string{"--config", twoValues}, nil, []string{"--config", "more than one JSON value"}},
		{"config null", []string{"--config", nullFile}, nil, []string{"--config", "not a JSON object"}},
		// An empty file (a mount not filled in yet) is told as such, not as the parser's "EOF".
		{"config empty", []string{"--config", emptyFile}, nil, []string{"--config: " + emptyFile + " is empty"}},
		{"config stray brace", []string{"--config", strayBrace}, nil, []string{"--config", "more than one JSON value"}},
		// A key given twice is a mistake whose outcome (the last wins) the operator did not see.
		// A file value of another JSON type than the setting's is a mistake: true for --data
		// would otherwise be a directory named "true", 1 for --dev would be true.
		{"config boolean for a string", []string{"--config", boolForString}, nil,
			[]string{boolForString, `"data" must be a JSON string`}},
		{"config number for a string", append(dev, "--config", numberForString), nil,
			[]string{`"audience" must be a JSON string`}},
		{"config number for a boolean", []string{"--config", numberForBool}, nil,
			[]string{`"dev" must be true or false`}},
		{"config boolean for an integer", append(dev, "--config", boolForInt), nil,
			[]string{`"max-call-users" must be a JSON number or string`}},
		{"integer out of range", append(dev, "--max-requests-per-second", "9223372036854775808"), nil,
			[]string{`"9223372036854775808" for --max-requests-per-second`, "out of range"}},
		{"duration out of range", append(dev, "--call-retention", "3000000h"), nil,
			[]string{`"3000000h" for --call-retention`, "at most 2562047h"}},
		{"config names another config", []string{"--config", nestedConfig}, nil,
			[]string{nestedConfig, `"config" cannot be set in the file, only by --config or DIALTONE_CONFIG`}},
		{"config key given twice", append(dev, "--config", twiceKey), nil, []string{"--config", `"log-level" is given twice`}},
		{"config bad value names its file", append(dev, "--config", badFileValue), nil, []string{`"many" for --max-call-users (from ` + badFileValue}},
		// A value that parses but is refused names where it came from too, when not from a flag:
		// the operator edits that file or variable, not the command line.
		{"config empty secret names its file", []string{"--config", emptySecret}, nil,
			[]string{"--secret is required", "(--secret from " + emptySecret + ")"}},
		{"config refused value names its file", append(dev, "--config", oneCallUser), nil,
			[]string{"--max-call-users must be between 2 and 20 (--max-call-users from " + oneCallUser + ")"}},
		{"refused value by env names its variable", nil, map[string]string{"DIALTONE_SECRET": "short"},
			[]string{"--secret must be at least 16 bytes (--secret from DIALTONE_SECRET)"}},
		{"refusal of two settings names where the one not flagged came from", append(dev, "--config", longTimeoutLeft,
			"--heartbeat-interval", "10s"), nil, []string{"--heartbeat-interval must be at most a third of --heartbeat-timeout " +
			"(--heartbeat-timeout from " + longTimeoutLeft + ")"}},
		{"positional argument", []string{"--dev", "serve"}, nil, []string{`unexpected argument "serve"`}},
		{"unknown flag", []string{"--nope"}, nil, []string{"flag provided but not defined: -nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(t, tt.args, tt.vars)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		t.Run(arg, func(t *testing.T) {
			var out strings.Builder
			_, err := Parse([]string{arg}, env(nil), &out)
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("err = %v, want flag.ErrHelp", err)
			}
			help := out.String()
			for _, s := range settings() {
				line := "  --" + s.name + s.typeName() + "\n"
				if !strings.Contains(help, line) {
					t.Errorf("help lacks %q", line)
				}
				if !strings.Contains(help, s.meaning+" (default ") || !strings.Contains(help, "env "+EnvVar(s.name)+")") {
					t.Errorf("help lacks the meaning, default or env var of --%s", s.name)
				}
			}
			for _, want := range []string{"  --config string\n", `(default ":3425"; with --dev "127.0.0.1:3425";`,
				"(default 10s;", "(default 35s;", "(default 720h;", "(default 15m;", `with --dev "dialtone-dev-secret"`} {
				if !strings.Contains(help, want) {
					t.Errorf("help lacks %q", want)
				}
			}
		})
	}
}

func TestMarkdownTable(t *testing.T) {
	table := MarkdownTable()
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if want := 2 + 1 + len(settings()); len(lines) != want {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), want, table)
	}
	if lines[0] != "| flag | environment variable | default | meaning |" {
		t.Errorf("header = %q", lines[0])
	}
	for i, s := range settings() {
		prefix := "| `--" + s.name + "` | `" + EnvVar(s.name) + "` | "
		if !strings.HasPrefix(lines[3+i], prefix) {
			t.Errorf("row %d = %q, want prefix %q", i, lines[3+i], prefix)
		}
		if n := strings.Count(strings.ReplaceAll(lines[3+i], `\|`, ""), "|"); n != 5 {
			t.Errorf("row %q has %d cell separators, want 5", lines[3+i], n)
		}
	}
	for _, want := range []string{"| `--heartbeat-timeout` | `DIALTONE_HEARTBEAT_TIMEOUT` | `35s` |",
		"| `--listen` | `DIALTONE_LISTEN` | `:3425`; with --dev `127.0.0.1:3425` |",
		"| `--call-retention` | `DIALTONE_CALL_RETENTION` | `720h` |"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

func TestEnvVar(t *testing.T) {
	for name, want := range map[string]string{
		"heartbeat-timeout": "DIALTONE_HEARTBEAT_TIMEOUT", "data": "DIALTONE_DATA",
		"max-unauthenticated-per-ip": "DIALTONE_MAX_UNAUTHENTICATED_PER_IP",
	} {
		if got := EnvVar(name); got != want {
			t.Errorf("EnvVar(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		720 * time.Hour: "720h", 15 * time.Minute: "15m", 35 * time.Second: "35s", 90 * time.Minute: "1h30m",
		time.Hour + time.Second: "1h0m1s", 1500 * time.Millisecond: "1.5s", 0: "0s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
