package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// setting is one configurable value: its flag name (also its config-file key and, upper-cased
// with underscores and prefixed DIALTONE_, its environment variable), its meaning for --help and
// the README, and the Config field it fills.
type setting struct {
	name    string
	meaning string
	field   func(*Config) any // a *bool, *string, *int or *time.Duration into the Config
}

// settings lists every setting in the order of --help and MarkdownTable.
func settings() []setting {
	return []setting{
		{"dev", "zero-config development server: loopback only, fixed dev secret, demo tokens printed at start",
			func(c *Config) any { return &c.Dev }},
		{"listen", "address of the HTTP and WebSocket listener, host:port (with --dev a loopback host only)",
			func(c *Config) any { return &c.Listen }},
		{"data", "directory holding the SQLite database (created if missing); one running server per directory",
			func(c *Config) any { return &c.DataDir }},
		{"secret", "HS256 secret that signs login tokens, at least 16 bytes (required without --dev)",
			func(c *Config) any { return &c.Secret }},
		{"audience", "when set, tokens must carry this aud claim",
			func(c *Config) any { return &c.Audience }},
		{"heartbeat-interval", "how often clients send heartbeat; at most a third of --heartbeat-timeout (R6.1), at least 2s divided by --max-requests-per-second",
			func(c *Config) any { return &c.HeartbeatInterval }},
		{"heartbeat-timeout", "a silent connection is closed, and a device without a session is lost, after this (R6.1)",
			func(c *Config) any { return &c.HeartbeatTimeout }},
		{"not-received-check", "delay before a still-Inviting invitee becomes NotYetReceived, 3s..5s (R5.2)",
			func(c *Config) any { return &c.NotReceivedCheck }},
		{"max-call-users", fmt.Sprintf("active users per call, caller included, %d..%d (R3.1)", minCallUsers, maxCallUsers),
			func(c *Config) any { return &c.MaxCallUsers }},
		{"max-devices-per-user", fmt.Sprintf("devices of one user connected at once, 1..%d (R6.2)", maxDevicesPerUser),
			func(c *Config) any { return &c.MaxDevicesPerUser }},
		{"join-policy", "who may callJoin a call: members (users who were in it) or anyone (R3.7)",
			func(c *Config) any { return &c.JoinPolicy }},
		{"call-retention", "ended calls older than this may be deleted (R3.10); at least --log-retention, and with a push provider at least --push-expiry",
			func(c *Config) any { return &c.CallRetention }},
		{"log-retention", "how long each user's event log is kept for resume, at least --heartbeat-timeout (R7.2)",
			func(c *Config) any { return &c.LogRetention }},
		{"idempotency-window", "how long a successful request's idempotency key is remembered (R7.3)",
			func(c *Config) any { return &c.IdempotencyWindow }},
		{"tls-cert", "TLS certificate file (PEM); give --tls-key with it",
			func(c *Config) any { return &c.TLSCert }},
		{"tls-key", "TLS private key file (PEM); give --tls-cert with it",
			func(c *Config) any { return &c.TLSKey }},
		{"log-level", "debug, info, warn or error (debug also says why each refused login was refused)",
			func(c *Config) any { return &c.LogLevel }},
		{"max-requests-per-second", "requests one connection may make per second; beyond, 6000292",
			func(c *Config) any { return &c.MaxRequestsPerSecond }},
		{"max-invites-per-minute", "callInvite and callingInvite requests one user may make per minute; beyond, 6000292",
			func(c *Config) any { return &c.MaxInvitesPerMinute }},
		{"max-unauthenticated-per-ip", "connections from one IPv4 address or IPv6 /64 that have not logged in yet; beyond, refused",
			func(c *Config) any { return &c.MaxUnauthenticatedPerIP }},
		{"trusted-proxies", "IP addresses and CIDR ranges, comma-separated, of the reverse proxies whose X-Forwarded-For names the client (docs/operations.md); none: the TCP peer is the client",
			func(c *Config) any { return &c.TrustedProxies }},
		{"webhook-url", "URL that receives the signed server callbacks (behaviour §10, docs/webhooks.md); none: no webhooks",
			func(c *Config) any { return &c.WebhookURL }},
		{"webhook-secret", "HMAC-SHA256 key of the Dialtone-Signature header (required with --webhook-url, refused without it)",
			func(c *Config) any { return &c.WebhookSecret }},
		{"webhook-expiry", "a callback is retried with backoff until delivered or this old, then dropped; at least 10s (refused without --webhook-url)",
			func(c *Config) any { return &c.WebhookExpiry }},
		{"api-key", "bearer key of the server REST API /v1/api (docs/api.md), at least 16 bytes; none: the API is disabled",
			func(c *Config) any { return &c.APIKey }},
		{"push-webhook-url", "endpoint of the generic push provider (docs/push.md); none: provider \"webhook\" disabled",
			func(c *Config) any { return &c.PushWebhookURL }},
		{"push-expiry", "a push is retried with backoff until delivered or this old, then dropped; at least 10s (refused without a push provider)",
			func(c *Config) any { return &c.PushExpiry }},
		{"push-profiles", "JSON file of the push profiles a pushConfig's resourcesID names (docs/push.md); none: defaults only",
			func(c *Config) any { return &c.PushProfiles }},
		{"fcm-credentials", "FCM service-account JSON file; none: provider \"fcm\" disabled",
			func(c *Config) any { return &c.FCMCredentials }},
		{"fcm-token-url", "OAuth 2 token endpoint for FCM (refused without --fcm-credentials)",
			func(c *Config) any { return &c.FCMTokenURL }},
		{"fcm-endpoint", "FCM HTTP v1 send URL; {project} is replaced by the credentials' project (refused without --fcm-credentials)",
			func(c *Config) any { return &c.FCMEndpoint }},
		{"apns-key-file", "APNs token-auth key (.p8); none: provider \"apns\" disabled",
			func(c *Config) any { return &c.APNsKeyFile }},
		{"apns-key-id", "key ID of --apns-key-file (required with it, refused without it)",
			func(c *Config) any { return &c.APNsKeyID }},
		{"apns-team-id", "Apple developer team ID that signs APNs tokens (required with --apns-key-file, refused without it)",
			func(c *Config) any { return &c.APNsTeamID }},
		{"apns-endpoint", "APNs HTTP/2 endpoint (https://api.sandbox.push.apple.com for development builds; refused without --apns-key-file)",
			func(c *Config) any { return &c.APNsEndpoint }},
	}
}

// EnvVar returns the environment variable of a flag: DIALTONE_ and the name upper-cased with
// underscores for dashes (heartbeat-timeout → DIALTONE_HEARTBEAT_TIMEOUT).
func EnvVar(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// get renders the field's value as a flag would take it.
func (s setting) get(c *Config) string {
	switch p := s.field(c).(type) {
	case *bool:
		return strconv.FormatBool(*p)
	case *string:
		return *p
	case *int:
		return strconv.Itoa(*p)
	case *time.Duration:
		return formatDuration(*p)
	}
	panic("config: unsupported field type for --" + s.name)
}

// set parses text into the field; the error says what was expected.
func (s setting) set(c *Config, text string) error {
	switch p := s.field(c).(type) {
	case *bool:
		v, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("must be true or false")
		}
		*p = v
	case *string:
		*p = text
	case *int:
		v, err := strconv.Atoi(text)
		if errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("is out of range for an integer")
		}
		if err != nil {
			return fmt.Errorf("must be an integer")
		}
		*p = v
	case *time.Duration:
		v, err := time.ParseDuration(text)
		if err != nil && durationSyntax.MatchString(text) {
			return fmt.Errorf("is out of range: a duration is at most %s", formatDuration(math.MaxInt64))
		}
		if err != nil {
			return fmt.Errorf("must be a duration such as 10s, 15m or 720h")
		}
		*p = v
	default:
		panic("config: unsupported field type for --" + s.name)
	}
	return nil
}

// durationSyntax matches the text of a Go duration (a sign, then numbers each with a unit), so
// that a text matching it that time.ParseDuration refuses is out of range.
var durationSyntax = regexp.MustCompile(`^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// fileText returns the flag text of v, the value a --config file gives this setting (a string,
// bool or json.Number as decoded). A JSON string is every setting's flag text; a JSON boolean
// is taken only by a boolean setting and a JSON number only by an integer one, since any other
// is a mistake (true for --data would name a directory "true"). The error says what is taken.
func (s setting) fileText(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		if s.isBool() {
			return strconv.FormatBool(v), nil
		}
	case json.Number:
		if _, isInt := s.field(&Config{}).(*int); isInt {
			return v.String(), nil
		}
	}
	switch s.field(&Config{}).(type) {
	case *bool:
		return "", errors.New("must be true or false")
	case *int:
		return "", errors.New("must be a JSON number or string")
	case *time.Duration:
		return "", errors.New(`must be a JSON string such as "35s"`)
	}
	return "", errors.New("must be a JSON string")
}

func (s setting) isBool() bool {
	_, ok := s.field(&Config{}).(*bool)
	return ok
}

// typeName is the placeholder shown after the flag in --help.
func (s setting) typeName() string {
	switch s.field(&Config{}).(type) {
	case *bool:
		return ""
	case *int:
		return " int"
	case *time.Duration:
		return " duration"
	}
	return " string"
}

// formatDuration is time.Duration.String without zero trailing units: 720h, 15m, 1h30m.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// defaultText describes a setting's default, with the --dev default when it differs; quote
// renders one value.
func (s setting) defaultText(quote func(string) string) string {
	prod, dev := Defaults(false), Defaults(true)
	p, d := s.get(&prod), s.get(&dev)
	text := "none"
	if p != "" {
		text = quote(p)
	}
	if s.name == "secret" {
		text = "none, required"
	}
	if d != p && s.name != "dev" {
		text += "; with --dev " + quote(d)
	}
	return text
}

// helpQuote quotes strings, as the flag package does, and leaves other values bare.
func (s setting) helpQuote(v string) string {
	if _, ok := s.field(&Config{}).(*string); ok {
		return strconv.Quote(v)
	}
	return v
}

func mdCode(v string) string { return "`" + v + "`" }

// configSetting describes --config, which is not a Config field.
var configSetting = struct{ name, meaning string }{
	"config", "JSON file whose keys are flag names, e.g. {\"listen\": \":3425\", \"heartbeat-timeout\": \"35s\"}",
}

// usage is the --help text: every flag with its meaning, default and environment variable.
func usage() string {
	var b strings.Builder
	b.WriteString("Usage: dialtoned [flags]\n\n")
	b.WriteString("Every flag may also be set by its environment variable or by its key in the --config file.\n")
	b.WriteString("Flags override the environment, which overrides the file, which overrides the defaults.\n")
	b.WriteString("Durations are Go durations (500ms, 10s, 15m, 720h).\n\n")
	fmt.Fprintf(&b, "  --%s string\n    \t%s (env %s)\n", configSetting.name, configSetting.meaning, EnvVar(configSetting.name))
	for _, s := range settings() {
		fmt.Fprintf(&b, "  --%s%s\n    \t%s (default %s; env %s)\n", s.name, s.typeName(), s.meaning, s.defaultText(s.helpQuote), EnvVar(s.name))
	}
	return b.String()
}

// MarkdownTable returns the configuration reference as a Markdown table with the columns
// flag, environment variable, default and meaning, one row per flag in --help order, so that
// documentation can be checked against the code.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| flag | environment variable | default | meaning |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| `--%s` | `%s` | none | %s |\n", configSetting.name, EnvVar(configSetting.name), mdEscape(configSetting.meaning))
	for _, s := range settings() {
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s |\n", s.name, EnvVar(s.name), mdEscape(s.defaultText(mdCode)), mdEscape(s.meaning))
	}
	return b.String()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
