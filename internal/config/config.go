// Package config is the server's typed configuration: its defaults, where values come from and
// the validation every value passes before the server starts.
//
// Each setting is named by its flag (e.g. heartbeat-timeout). Values are taken, from lowest to
// highest precedence, from
//   - the defaults (Defaults; the development defaults when dev is on),
//   - the JSON file named by --config (or DIALTONE_CONFIG), an object whose keys are flag names,
//     each given once, and whose values are strings (the flag's text), or JSON booleans for the
//     boolean settings and JSON numbers for the integer ones,
//   - the environment variables DIALTONE_<FLAG NAME, upper case, dashes as underscores>
//     (an empty variable counts as unset; UnknownEnv tells those that name no setting),
//   - the command-line flags.
//
// Whether dev is on is itself decided by the same layers. Every refused value is reported with
// the flag's name and, when it did not come from a flag, where it came from (the file or the
// variable), so an operator can fix it.
// The package reads the environment only through the getenv it is given and holds no state.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dialtone/dialtone/internal/clientip"
)

// Config is the server's configuration. Parse returns it validated; Defaults returns the
// defaults, which are valid except that Defaults(false) has no Secret.
type Config struct {
	Dev      bool   // development mode: loopback only, dev secret, demo tokens
	Listen   string // host:port of the HTTP listener
	DataDir  string // directory of the SQLite database
	Secret   string // HS256 token secret, at least 16 bytes
	Audience string // required aud claim, "" for none

	HeartbeatInterval time.Duration // R6.1; at most HeartbeatTimeout/3
	HeartbeatTimeout  time.Duration // R6.1
	NotReceivedCheck  time.Duration // R5.2, 3s..5s
	LoginTimeout      time.Duration // protocol.md Transport: fixed at 10s, no flag

	MaxCallUsers      int    // R3.1, 2..20
	MaxDevicesPerUser int    // R6.2, 1..100
	JoinPolicy        string // JoinMembers or JoinAnyone (R3.7)

	CallRetention     time.Duration // R3.10
	LogRetention      time.Duration // R7.2; at least HeartbeatTimeout
	IdempotencyWindow time.Duration // R7.3

	TLSCert, TLSKey string // PEM files; both or neither
	LogLevel        string // debug, info, warn or error

	MaxRequestsPerSecond    int // per connection
	MaxInvitesPerMinute     int // per user, callInvite and callingInvite
	MaxUnauthenticatedPerIP int // connections not yet logged in, per client IP
	// TrustedProxies lists the reverse proxies (addresses and CIDR ranges, comma-separated)
	// whose X-Forwarded-For names the client; "" trusts none. See clientip.Parse.
	TrustedProxies string

	WebhookURL    string        // behaviour §10; "" disables webhooks
	WebhookSecret string        // HMAC key of the Dialtone-Signature header
	WebhookExpiry time.Duration // a callback is retried until delivered or this old

	APIKey string // server REST API bearer key; "" disables /v1/api

	PushWebhookURL string        // §9 generic push provider endpoint; "" disables it
	PushExpiry     time.Duration // a push is retried until delivered or this old; at least 10s
	PushProfiles   string        // JSON file of the push profiles resourcesID names (§9); "" none
	FCMCredentials string        // service-account JSON file; "" disables FCM
	FCMTokenURL    string        // OAuth token endpoint
	FCMEndpoint    string        // messages:send URL, {project} replaced by the project ID
	APNsKeyFile    string        // .p8 key; "" disables APNs
	APNsKeyID      string
	APNsTeamID     string
	APNsEndpoint   string
}

// Join policies (R3.7).
const (
	JoinMembers = "members"
	JoinAnyone  = "anyone"
)

// DevSecret is the token secret of --dev when no --secret is given. It is public: a dev server
// must never be reachable from another machine, which is why --dev binds loopback only.
const DevSecret = "dialtone-dev-secret"

// Bounds of the validated settings.
const (
	minSecretBytes = 16
	minCallUsers   = 2
	// maxCallUsers keeps a full callUserList, each user with up to 2 KiB of extendedData,
	// within one 64 KiB frame.
	maxCallUsers      = 20
	maxDevicesPerUser = 100
	minNotReceived    = 3 * time.Second
	maxNotReceived    = 5 * time.Second
	// minOutboxExpiry is the least --webhook-expiry and --push-expiry: the time one attempt
	// may take (the webhook and push providers' client timeout). A callback or push found
	// expired before its first attempt is given up unsent.
	minOutboxExpiry = 10 * time.Second
)

// Defaults returns the defaults, the development ones when dev is true. They differ only in
// Dev, Listen (":3425", all interfaces, versus "127.0.0.1:3425") and Secret (none, so it must
// be given, versus DevSecret).
func Defaults(dev bool) Config {
	c := Config{
		Dev:                     dev,
		Listen:                  ":3425",
		DataDir:                 "./.dialtone",
		HeartbeatInterval:       10 * time.Second,
		HeartbeatTimeout:        35 * time.Second,
		NotReceivedCheck:        5 * time.Second,
		LoginTimeout:            10 * time.Second,
		MaxCallUsers:            10,
		MaxDevicesPerUser:       10,
		JoinPolicy:              JoinMembers,
		CallRetention:           30 * 24 * time.Hour,
		LogRetention:            15 * time.Minute,
		IdempotencyWindow:       15 * time.Minute,
		LogLevel:                "info",
		MaxRequestsPerSecond:    50,
		MaxInvitesPerMinute:     60,
		MaxUnauthenticatedPerIP: 100,
		WebhookExpiry:           24 * time.Hour,
		PushExpiry:              time.Hour,
		FCMTokenURL:             "https://oauth2.googleapis.com/token",
		FCMEndpoint:             "https://fcm.googleapis.com/v1/projects/{project}/messages:send",
		APNsEndpoint:            "https://api.push.apple.com",
	}
	if dev {
		c.Listen = "127.0.0.1:3425"
		c.Secret = DevSecret
	}
	return c
}

// value is one setting's text and where it came from, for error messages: origin is the
// environment variable or the --config file, "" for a flag.
type value struct{ text, origin string }

// source is where v came from as a message puts it after the flag's name: " (from ORIGIN)",
// or "" for a flag.
func (v value) source() string {
	if v.origin == "" {
		return ""
	}
	return " (from " + v.origin + ")"
}

// recorder is the flag.Value of every flag: it records the text, which Parse applies later
// over the lower layers.
type recorder struct {
	name    string
	isBool  bool
	flagged map[string]value
}

func (r *recorder) String() string { return "" }
func (r *recorder) Set(s string) error {
	r.flagged[r.name] = value{s, ""}
	return nil
}
func (r *recorder) IsBoolFlag() bool { return r.isBool }

// Parse builds the configuration from args (without the program name), the environment seen
// through getenv and the --config file, and validates it. For -h or --help it writes the usage
// to stderr and returns flag.ErrHelp; flag syntax errors are written to stderr too. Every other
// error names the flag whose value is refused.
func Parse(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	flagged := map[string]value{}
	fs := flag.NewFlagSet("dialtoned", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { io.WriteString(stderr, usage()) }
	fs.Var(&recorder{name: configSetting.name, flagged: flagged}, configSetting.name, configSetting.meaning)
	for _, s := range settings() {
		fs.Var(&recorder{name: s.name, isBool: s.isBool(), flagged: flagged}, s.name, s.meaning)
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (every setting is a --flag)", fs.Arg(0))
	}

	values := map[string]value{}
	if path, ok := lookup(configSetting.name, flagged, getenv); ok && path.text != "" {
		fromFile, err := readFile(path.text)
		if err != nil {
			return Config{}, fmt.Errorf("--config%s: %w", path.source(), err)
		}
		values = fromFile
	}
	for _, s := range settings() {
		if v, ok := lookup(s.name, flagged, getenv); ok {
			values[s.name] = v
		}
	}

	dev := false
	if v, ok := values["dev"]; ok {
		b, err := strconv.ParseBool(v.text)
		if err != nil {
			return Config{}, fmt.Errorf("invalid value %q for --dev%s: must be true or false", v.text, v.source())
		}
		dev = b
	}
	c := Defaults(dev)
	for _, s := range settings() {
		if v, ok := values[s.name]; ok {
			if err := s.set(&c, v.text); err != nil {
				return Config{}, fmt.Errorf("invalid value %q for --%s%s: %w", v.text, s.name, v.source(), err)
			}
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, withOrigins(err, values)
	}
	return c, nil
}

// flagMention matches a flag named in a refusal, such as --heartbeat-timeout.
var flagMention = regexp.MustCompile(`--([a-z][a-z0-9-]*)`)

// withOrigins returns Validate's err with each of its refusals followed by where the values of
// the flags it names came from, when not from a flag: "--secret must be at least 16 bytes
// (--secret from /etc/dialtone.json)". The operator then knows which file or variable to fix.
func withOrigins(err error, values map[string]value) error {
	refusals := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		refusals = slices.Clone(joined.Unwrap())
	}
	for i, refusal := range refusals {
		var origins []string
		for _, m := range flagMention.FindAllStringSubmatch(refusal.Error(), -1) {
			v := values[m[1]]
			if origin := "--" + m[1] + " from " + v.origin; v.origin != "" && !slices.Contains(origins, origin) {
				origins = append(origins, origin)
			}
		}
		if len(origins) > 0 {
			refusals[i] = fmt.Errorf("%w (%s)", refusal, strings.Join(origins, ", "))
		}
	}
	return errors.Join(refusals...)
}

// lookup returns a setting from the flags, else from the environment; ok is false when
// neither has it.
func lookup(name string, flagged map[string]value, getenv func(string) string) (v value, ok bool) {
	if v, ok := flagged[name]; ok {
		return v, true
	}
	env := EnvVar(name)
	if text := getenv(env); text != "" {
		return value{text, env}, true
	}
	return value{}, false
}

// readFile reads a JSON config file into setting texts.
func readFile(path string) (map[string]value, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s is empty: it must hold a JSON object whose keys are flag names", path)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object: %w", path, err)
	}
	if raw == nil { // null
		return nil, fmt.Errorf("%s is not a JSON object", path)
	}
	if _, err := dec.Token(); err != io.EOF { // another value, or a stray character
		return nil, fmt.Errorf("%s holds more than one JSON value", path)
	}
	if key, ok := repeatedKey(data); ok {
		return nil, fmt.Errorf("%s: %q is given twice (give each setting once)", path, key)
	}
	known := map[string]setting{}
	for _, s := range settings() {
		known[s.name] = s
	}
	out := make(map[string]value, len(raw))
	for key, v := range raw {
		s, ok := known[key]
		if key == configSetting.name {
			return nil, fmt.Errorf("%s: %q cannot be set in the file, only by --config or %s (files do not include others)",
				path, key, EnvVar(configSetting.name))
		}
		if !ok {
			return nil, fmt.Errorf("%s: unknown setting %q (keys are flag names without dashes in front)", path, key)
		}
		text, err := s.fileText(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %q %w", path, key, err)
		}
		out[key] = value{text, path}
	}
	return out, nil
}

// repeatedKey returns the first key that data, a JSON object known to be valid, holds more
// than once at its top level (which json.Unmarshal would silently resolve to the last).
func repeatedKey(data []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // the object's '{'
		return "", false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		key, isKey := tok.(string)
		if err != nil || !isKey {
			return "", false
		}
		if seen[key] {
			return key, true
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

// Validate reports every refused value of c, each naming its flag. Parse calls it; a caller
// that builds a Config by hand should too.
func (c Config) Validate() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if err := validListen(c.Listen, c.Dev); err != nil {
		fail("%w", err)
	}
	switch {
	case c.DataDir == "":
		fail("--data must not be empty")
	case strings.ContainsRune(c.DataDir, '?'):
		fail("--data must not contain '?', which SQLite would read as the start of URI parameters")
	}
	switch {
	case c.Secret == "" && !c.Dev:
		fail("--secret is required (or %s), unless --dev", EnvVar("secret"))
	case c.Secret == DevSecret && !c.Dev:
		fail("--secret must not be the public development secret outside --dev: anyone could mint tokens")
	default:
		if err := CheckSecret(c.Secret); err != nil {
			fail("%w", err)
		}
	}
	if err := CheckAudience(c.Audience); err != nil {
		fail("%w", err)
	}
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"heartbeat-interval", c.HeartbeatInterval}, {"heartbeat-timeout", c.HeartbeatTimeout},
		{"call-retention", c.CallRetention}, {"log-retention", c.LogRetention},
		{"idempotency-window", c.IdempotencyWindow}, {"webhook-expiry", c.WebhookExpiry},
		{"push-expiry", c.PushExpiry},
	}
	for _, p := range positive {
		if p.d < time.Millisecond { // the wire's unit: a shorter one would reach clients as 0
			fail("--%s must be at least 1ms", p.name)
		}
	}
	// Compared as interval > timeout/3 (the same bound for whole nanoseconds), since three
	// times a long interval overflows a Duration.
	if c.HeartbeatInterval > 0 && c.HeartbeatTimeout > 0 && c.HeartbeatInterval > c.HeartbeatTimeout/3 {
		fail("--heartbeat-interval must be at most a third of --heartbeat-timeout")
	}
	if least := c.minHeartbeatInterval(); c.HeartbeatInterval > 0 && c.HeartbeatInterval < least {
		fail("--heartbeat-interval must be at least %v with --max-requests-per-second %d: a client's heartbeats count "+
			"as requests, and may take at most half of them", least, c.MaxRequestsPerSecond)
	}
	if c.LogRetention > 0 && c.LogRetention < c.HeartbeatTimeout {
		fail("--log-retention must be at least --heartbeat-timeout, so a device can resume within its grace period")
	}
	if c.CallRetention > 0 && c.CallRetention < c.LogRetention {
		fail("--call-retention must be at least --log-retention: a device resuming within the log window " +
			"replays the events of calls that queryCall would no longer find")
	}
	if c.pushes() && c.CallRetention > 0 && c.CallRetention < c.PushExpiry {
		fail("--call-retention must be at least --push-expiry: a withdrawal push retried after its call was deleted " +
			"would not be sent")
	}
	if c.NotReceivedCheck < minNotReceived || c.NotReceivedCheck > maxNotReceived {
		fail("--not-received-check must be between %v and %v", minNotReceived, maxNotReceived)
	}
	if c.LoginTimeout <= 0 {
		fail("LoginTimeout must be positive")
	}
	ranges := []struct {
		name     string
		n        int
		min, max int // max 0: no upper bound
	}{
		{"max-call-users", c.MaxCallUsers, minCallUsers, maxCallUsers},
		{"max-devices-per-user", c.MaxDevicesPerUser, 1, maxDevicesPerUser},
		{"max-requests-per-second", c.MaxRequestsPerSecond, 1, 0},
		{"max-invites-per-minute", c.MaxInvitesPerMinute, 1, 0},
		{"max-unauthenticated-per-ip", c.MaxUnauthenticatedPerIP, 1, 0},
	}
	for _, r := range ranges {
		switch {
		case r.max > 0 && (r.n < r.min || r.n > r.max):
			fail("--%s must be between %d and %d", r.name, r.min, r.max)
		case r.n < r.min:
			fail("--%s must be at least %d", r.name, r.min)
		}
	}
	if _, err := clientip.Parse(c.TrustedProxies); err != nil {
		fail("--trusted-proxies: %w", err)
	}
	if c.JoinPolicy != JoinMembers && c.JoinPolicy != JoinAnyone {
		fail("--join-policy must be %s or %s", JoinMembers, JoinAnyone)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		fail("--tls-cert and --tls-key must be given together")
	}
	for _, u := range []struct{ name, url string }{{"webhook-url", c.WebhookURL}, {"push-webhook-url", c.PushWebhookURL},
		{"fcm-token-url", c.FCMTokenURL}, {"fcm-endpoint", c.FCMEndpoint}, {"apns-endpoint", c.APNsEndpoint}} {
		if u.url != "" {
			if problem := urlProblem(u.url); problem != "" {
				fail("--%s %s", u.name, problem)
			}
		}
	}
	if c.WebhookURL != "" && c.WebhookSecret == "" {
		fail("--webhook-secret is required with --webhook-url")
	}
	if c.WebhookURL != "" && c.WebhookExpiry >= time.Millisecond && c.WebhookExpiry < minOutboxExpiry {
		fail("--webhook-expiry must be at least %v, the time of one attempt: a callback not sent before it expires is dropped",
			minOutboxExpiry)
	}
	if c.pushes() && c.PushExpiry >= time.Millisecond && c.PushExpiry < minOutboxExpiry {
		fail("--push-expiry must be at least %v, the time of one attempt: a push not sent before it expires is dropped",
			minOutboxExpiry)
	}
	if !plainValue(c.WebhookSecret) {
		fail("--webhook-secret must not hold a control character nor begin or end with a space: " +
			"most likely a file's line break, which the receiver would not verify with")
	}
	if c.WebhookSecret != "" && c.WebhookURL == "" {
		fail("--webhook-secret needs --webhook-url: without it no webhook is sent")
	}
	switch {
	case c.APIKey != "" && len(c.APIKey) < minSecretBytes:
		fail("--api-key must be at least %d bytes", minSecretBytes)
	case !plainValue(c.APIKey):
		fail("--api-key must not hold a control character nor begin or end with a space: the Authorization header could not carry it")
	}
	if c.APNsKeyFile != "" && (c.APNsKeyID == "" || c.APNsTeamID == "") {
		fail("--apns-key-id and --apns-team-id are required with --apns-key-file")
	}
	errs = append(errs, c.providerSettingsUnused()...)
	errs = append(errs, c.expiriesUnused()...)
	if c.PushProfiles != "" && !c.pushes() {
		fail("--push-profiles needs a push provider (--push-webhook-url, --fcm-credentials or --apns-key-file): " +
			"a profile is used only by a push")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		fail("--log-level must be debug, info, warn or error")
	}
	return errors.Join(errs...)
}

// providerSettingsUnused returns an error for each provider-specific setting given (set to other
// than its default) without the setting that turns its provider on, which would leave it
// silently unused; each names the setting it needs (docs/push.md "Providers").
func (c Config) providerSettingsUnused() []error {
	d := Defaults(c.Dev)
	fcm, apns := c.FCMCredentials != "", c.APNsKeyFile != ""
	var errs []error
	for _, s := range []struct {
		name, value, def string
		on               bool   // the provider is configured
		needs, provider  string // the setting that configures it, and its name in the message
	}{
		{"fcm-token-url", c.FCMTokenURL, d.FCMTokenURL, fcm, "fcm-credentials", "FCM"},
		{"fcm-endpoint", c.FCMEndpoint, d.FCMEndpoint, fcm, "fcm-credentials", "FCM"},
		{"apns-key-id", c.APNsKeyID, d.APNsKeyID, apns, "apns-key-file", "APNs"},
		{"apns-team-id", c.APNsTeamID, d.APNsTeamID, apns, "apns-key-file", "APNs"},
		{"apns-endpoint", c.APNsEndpoint, d.APNsEndpoint, apns, "apns-key-file", "APNs"},
	} {
		if !s.on && s.value != s.def {
			errs = append(errs, fmt.Errorf("--%s needs --%s: without it no %s push is sent", s.name, s.needs, s.provider))
		}
	}
	return errs
}

// expiriesUnused returns an error for --webhook-expiry given (set to other than its default)
// without --webhook-url, and for --push-expiry without a push provider: with nothing sent,
// nothing is retried, so the setting would be silently unused (docs/operations.md).
func (c Config) expiriesUnused() []error {
	d := Defaults(c.Dev)
	var errs []error
	if c.WebhookURL == "" && c.WebhookExpiry != d.WebhookExpiry {
		errs = append(errs, errors.New("--webhook-expiry needs --webhook-url: without it no webhook is sent"))
	}
	if !c.pushes() && c.PushExpiry != d.PushExpiry {
		errs = append(errs, errors.New("--push-expiry needs a push provider (--push-webhook-url, --fcm-credentials or "+
			"--apns-key-file): without it no push is sent"))
	}
	return errs
}

// pushes reports whether a push provider is configured.
func (c Config) pushes() bool {
	return c.PushWebhookURL != "" || c.FCMCredentials != "" || c.APNsKeyFile != ""
}

// CheckSecret returns the refusal, naming --secret, of s as the secret that signs login tokens:
// shorter than 16 bytes, or holding a control character or a space at an end. The server
// refuses such a --secret, and the CLI one it would mint tokens with, which no server takes.
func CheckSecret(s string) error {
	switch {
	case len(s) < minSecretBytes:
		return fmt.Errorf("--secret must be at least %d bytes", minSecretBytes)
	case !plainValue(s):
		return errors.New("--secret must not hold a control character nor begin or end with a space: " +
			"most likely a file's line break, which the app's backend would not sign with")
	}
	return nil
}

// CheckAudience returns the refusal, naming --audience, of s as the aud claim tokens must
// carry: a control character or a space at an end, most likely a file's line break, which the
// app's backend would not put in its tokens.
func CheckAudience(s string) error {
	if !plainValue(s) {
		return errors.New("--audience must not hold a control character nor begin or end with a space: " +
			"most likely a file's line break; every token's aud claim would differ from it")
	}
	return nil
}

// plainValue reports whether s holds no control character (RFC 9110 section 5.5) and no space
// or tab at either end: an HTTP header can carry it unchanged (parsers drop spaces at the
// ends), and a secret that another program also reads is the same there (a line break read
// with a file is what such programs trim).
func plainValue(s string) bool {
	if strings.Trim(s, " \t") != s {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f })
}

// urlProblem says what is wrong with s as an outgoing URL ("" when nothing is): it must parse as
// an absolute http or https URL with a host and, when it names a port, one a connection can be
// made to, so that a URL the server could never send to is refused at start-up rather than
// retried until expiry.
func urlProblem(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "must be an http:// or https:// URL"
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return "port must be a number from 1 to 65535"
		}
	}
	return ""
}

// minHeartbeatInterval is the shortest heartbeat interval whose heartbeats take at most half of
// a connection's --max-requests-per-second, which they count against (R6.1); 0 when that
// setting is itself refused.
func (c Config) minHeartbeatInterval() time.Duration {
	if c.MaxRequestsPerSecond < 1 {
		return 0
	}
	perHeartbeat := 2 * time.Second // the time of two requests' share of the budget
	rate := time.Duration(c.MaxRequestsPerSecond)
	least := perHeartbeat / rate
	if perHeartbeat%rate != 0 { // rounded up, without the overflow of a sum near the maximum rate
		least++
	}
	return least
}

// validListen checks a host:port and, in dev mode, that the host is loopback.
func validListen(listen string, dev bool) error {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen must be host:port: %w", err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("--listen port must be a number from 0 to 65535")
	}
	if dev && !clientip.Loopback(host) {
		return fmt.Errorf("--listen must be a loopback address (127.0.0.1, ::1 or localhost) with --dev, which has a public secret")
	}
	return nil
}
