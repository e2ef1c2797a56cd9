package push

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// apnsRequest is what the fake APNs saw.
type apnsRequest struct {
	proto, path string
	header      http.Header
	body        APNsPayload
	raw         []byte // the body as sent
	size        int    // bytes of the body
}

// fakeAPNs is an HTTP/2 TLS server answering like APNs: a request without a topic gets 400
// MissingTopic, one whose provider token APNs would refuse the answer of providerToken, a
// body over 4096 bytes (5120 for VoIP) 413 PayloadTooLarge, a token with a character no
// device token has 400 BadDeviceToken, and the device token picks the other answers.
type fakeAPNs struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []apnsRequest

	// The provider token's checks, once newAPNs set pub: the team's key and the clock.
	pub       *ecdsa.PublicKey
	clock     *fakeClock
	current   string          // the provider token in use
	issued    time.Time       // its iat
	stale     map[string]bool // tokens APNs has declared expired (expireCurrentToken)
	refreshes int             // the provider tokens taken after the first
}

// expireCurrentToken makes APNs refuse the provider token in use as ExpiredProviderToken from
// now on, as it does for a token it no longer accepts, whatever its age; the next one is taken
// at once, since APNs asked for it.
func (f *fakeAPNs) expireCurrentToken() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stale == nil {
		f.stale = map[string]bool{}
	}
	f.stale[f.current] = true
}

// providerToken checks a request's authorization as APNs does (developer.apple.com,
// "Establishing a token-based connection to APNs"): an ES256 JWT with the key's kid and the
// team as iss, else 403 InvalidProviderToken; issued an hour ago or more, or declared expired,
// 403 ExpiredProviderToken; a new token less than 20 minutes after the one before, 429
// TooManyProviderTokenUpdates. It returns the status and reason of a refusal, or 0.
func (f *fakeAPNs) providerToken(header string) (int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pub == nil {
		return 0, ""
	}
	raw, _ := strings.CutPrefix(header, "bearer ")
	tok, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return f.pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithoutClaimsValidation())
	if err != nil || tok.Header["kid"] != "KEY123" {
		return http.StatusForbidden, "InvalidProviderToken"
	}
	iss, _ := tok.Claims.GetIssuer()
	iat, _ := tok.Claims.GetIssuedAt()
	if iss != "TEAM456" || iat == nil {
		return http.StatusForbidden, "InvalidProviderToken"
	}
	now := f.clock.now()
	if f.stale[raw] || now.Sub(iat.Time) >= time.Hour {
		return http.StatusForbidden, "ExpiredProviderToken"
	}
	if raw != f.current {
		if f.current != "" && !f.stale[f.current] && iat.Time.Sub(f.issued) < 20*time.Minute {
			return http.StatusTooManyRequests, "TooManyProviderTokenUpdates"
		}
		if f.current != "" {
			f.refreshes++
		}
		f.current, f.issued = raw, iat.Time
	}
	return 0, ""
}

// apnsTokenChars are the characters of the fake's device tokens (real ones are hex).
const apnsTokenChars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-"

func newFakeAPNs(t *testing.T) *fakeAPNs {
	f := &fakeAPNs{}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body APNsPayload
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("APNs body %s: %v", raw, err)
		}
		f.mu.Lock()
		f.got = append(f.got, apnsRequest{proto: r.Proto, path: r.URL.Path, header: r.Header.Clone(), body: body, raw: raw, size: len(raw)})
		f.mu.Unlock()
		if r.Header.Get("apns-topic") == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"reason":"MissingTopic"}`))
			return
		}
		if status, reason := f.providerToken(r.Header.Get("authorization")); status != 0 {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"reason":"` + reason + `"}`))
			return
		}
		if limit := map[string]int{"voip": 5120}[r.Header.Get("apns-push-type")]; len(raw) > cmp.Or(limit, 4096) {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = w.Write([]byte(`{"reason":"PayloadTooLarge"}`))
			return
		}
		token := strings.TrimPrefix(r.URL.Path, "/3/device/")
		if strings.ContainsFunc(token, func(c rune) bool { return !strings.ContainsRune(apnsTokenChars, c) }) {
			token = "bad" // not a device token: APNs answers as for any unknown token
		}
		switch token {
		case "gone":
			w.WriteHeader(http.StatusGone)
			_, _ = w.Write([]byte(`{"reason":"Unregistered"}`))
		case "bad":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"reason":"BadDeviceToken"}`))
		case "big":
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = w.Write([]byte(`{"reason":"PayloadTooLarge"}`))
		case "busy":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"reason":"ServiceUnavailable"}`))
		default: // the rest of APNs' answers, named by the token: "<status>-<reason>"
			status, reason, ok := strings.Cut(token, "-")
			if code, err := strconv.Atoi(status); ok && err == nil {
				w.WriteHeader(code)
				_, _ = w.Write([]byte(`{"reason":"` + reason + `"}`))
			}
		}
	}))
	f.srv.EnableHTTP2 = true
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPNs) requests() []apnsRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apnsRequest(nil), f.got...)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time           { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration)  { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *fakeClock                    { return &fakeClock{t: time.UnixMilli(1_700_000_000_000)} }
func (c *fakeClock) ms(d time.Duration) int64 { return c.now().Add(d).UnixMilli() }

// p8Key returns a new EC key on curve and its .p8 file (PEM, PKCS #8), as Apple issues them.
func p8Key(t *testing.T, curve elliptic.Curve) (*ecdsa.PrivateKey, []byte) {
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func newAPNs(t *testing.T, f *fakeAPNs, clock *fakeClock) (*APNs, *ecdsa.PublicKey) {
	key, p8 := p8Key(t, elliptic.P256())
	a, err := NewAPNs(APNsConfig{Key: p8, KeyID: "KEY123", TeamID: "TEAM456", Endpoint: f.srv.URL + "/",
		Client: f.srv.Client(), Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.pub, f.clock = &key.PublicKey, clock
	f.mu.Unlock()
	return a, &key.PublicKey
}

// verifyAPNsJWT checks the bearer token's ES256 signature, kid, iss and iat, and returns it.
func verifyAPNsJWT(t *testing.T, pub *ecdsa.PublicKey, header string, iat time.Time) string {
	t.Helper()
	raw, ok := strings.CutPrefix(header, "bearer ")
	if !ok {
		t.Fatalf("authorization = %q, want bearer <jwt>", header)
	}
	tok, err := jwt.Parse(raw, func(tok *jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		t.Fatalf("APNs JWT: %v", err)
	}
	claims := tok.Claims.(jwt.MapClaims)
	if tok.Header["kid"] != "KEY123" || claims["iss"] != "TEAM456" || claims["iat"] != float64(iat.Unix()) {
		t.Errorf("APNs JWT header %v claims %v", tok.Header, claims)
	}
	return raw
}

func TestAPNsRequests(t *testing.T) {
	f := newFakeAPNs(t)
	clock := newClock()
	a, pub := newAPNs(t, f, clock)
	ctx := t.Context()
	inv := Message{Kind: KindInvitation, CallID: "call-1", Caller: "alice", ServerTime: clock.ms(0),
		Deadline: clock.ms(30 * time.Second), Title: "Alice", Content: "is calling", Payload: `{"k":1}`}
	alert := Target{Provider: "apns", Token: "tok-alert", BundleID: "com.example.app"}
	voip := Target{Provider: "apns", Token: "tok-voip", VoIP: true, BundleID: "com.example.app"}
	wd := inv
	wd.Kind, wd.Deadline = KindWithdrawal, 0
	wd.Profile = Profile{Sound: "hangup.caf", APNsCategory: "MISSED", AndroidChannelID: "ignored"}

	for _, s := range []struct {
		t Target
		m Message
	}{{alert, inv}, {voip, inv}, {voip, wd}, {alert, wd}} {
		if err := a.Send(ctx, s.t, s.m); err != nil {
			t.Fatalf("Send(%s, %s): %v", s.t.Token, s.m.Kind, err)
		}
	}
	got := f.requests()
	if len(got) != 3 {
		t.Fatalf("APNs got %d requests, want 3 (no VoIP withdrawal)", len(got))
	}
	wantHeaders := []map[string]string{
		{"apns-topic": "com.example.app", "apns-push-type": "alert", "apns-expiration": "1700000030"},
		{"apns-topic": "com.example.app.voip", "apns-push-type": "voip", "apns-expiration": "1700000030"},
		{"apns-topic": "com.example.app", "apns-push-type": "alert", "apns-expiration": ""},
	}
	wantPaths := []string{"/3/device/tok-alert", "/3/device/tok-voip", "/3/device/tok-alert"}
	var jwts []string
	for i, r := range got {
		if r.proto != "HTTP/2.0" || r.path != wantPaths[i] {
			t.Errorf("request %d: %s %s, want HTTP/2.0 %s", i, r.proto, r.path, wantPaths[i])
		}
		for k, v := range wantHeaders[i] {
			if r.header.Get(k) != v {
				t.Errorf("request %d: %s = %q, want %q", i, k, r.header.Get(k), v)
			}
		}
		if r.header.Get("apns-collapse-id") != "call-1" || r.header.Get("apns-priority") != "10" {
			t.Errorf("request %d: collapse id %q priority %q", i, r.header.Get("apns-collapse-id"), r.header.Get("apns-priority"))
		}
		jwts = append(jwts, verifyAPNsJWT(t, pub, r.header.Get("authorization"), clock.now()))
	}
	want := APNsPayload{APS: APNsAPS{Alert: APNsAlert{Title: "Alice", Body: "is calling"}, Sound: "default"},
		CallID: "call-1", Caller: "alice", Kind: KindInvitation, Deadline: inv.Deadline, ServerTime: inv.ServerTime, Payload: `{"k":1}`}
	if got[0].body != want {
		t.Errorf("invitation body = %+v, want %+v", got[0].body, want)
	}
	if b := got[2].body; b.Kind != KindWithdrawal || b.Deadline != 0 || b.APS.Sound != "hangup.caf" || b.APS.Category != "MISSED" {
		t.Errorf("withdrawal body = %+v, want its profile's sound and category", b)
	}
	if jwts[0] != jwts[1] || jwts[1] != jwts[2] {
		t.Error("provider token not reused within 50 minutes")
	}

	clock.advance(51 * time.Minute)
	if err := a.Send(ctx, alert, inv); err != nil {
		t.Fatal(err)
	}
	got = f.requests()
	if fresh := verifyAPNsJWT(t, pub, got[3].header.Get("authorization"), clock.now()); fresh == jwts[0] {
		t.Error("provider token not refreshed after 50 minutes")
	}
}

func TestAPNsErrors(t *testing.T) {
	f := newFakeAPNs(t)
	a, _ := newAPNs(t, f, newClock())
	m := Message{Kind: KindInvitation, CallID: "c", Caller: "alice", Deadline: 1}
	for token, want := range map[string]struct{ invalid, rejected bool }{
		"gone": {invalid: true}, "bad": {invalid: true}, "big": {rejected: true}, "busy": {},
		// developer.apple.com, "Handling notification responses from APNs"
		"410-ExpiredToken": {invalid: true}, "400-DeviceTokenNotForTopic": {invalid: true},
		"400-BadTopic": {rejected: true}, "400-BadCollapseId": {rejected: true}, "403-BadCertificateEnvironment": {rejected: true},
		"429-TooManyRequests": {}, "429-TooManyProviderTokenUpdates": {}, "500-InternalServerError": {}, "503-Shutdown": {},
	} {
		err := a.Send(t.Context(), Target{Provider: "apns", Token: token, BundleID: "b"}, m)
		if err == nil || errors.Is(err, ErrTokenInvalid) != want.invalid || errors.Is(err, ErrRejected) != want.rejected {
			t.Errorf("Send to %q: %v, want invalid=%v rejected=%v", token, err, want.invalid, want.rejected)
		}
	}
}

// A target whose bundleID is no bundle ID (one registered before pushRegister checked it, with
// a line break that no apns-topic header may hold) is rejected, not retried: every attempt
// would fail the same way, and the retries would hold up the later pushes of its call.
func TestAPNsBundleIDThatIsNoTopicIsRejected(t *testing.T) {
	f := newFakeAPNs(t)
	a, _ := newAPNs(t, f, newClock())
	m := Message{Kind: KindInvitation, CallID: "c", Caller: "alice", Deadline: 1}
	for _, bundle := range []string{"com.example\r\napns-priority: 5", "com.example app", ""} {
		err := a.Send(t.Context(), Target{Provider: "apns", Token: "tok", BundleID: bundle}, m)
		if !errors.Is(err, ErrRejected) || errors.Is(err, ErrTokenInvalid) {
			t.Errorf("Send with bundleID %q: %v, want rejected", bundle, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests reached APNs, want none", n)
	}
}

// A send that gets no answer fails with an error that leaves out the request's URL, which
// ends with the device token: the error is logged, and a push token is a credential
// (docs/architecture.md "Logging").
func TestAPNsUnansweredErrorHoldsNoToken(t *testing.T) {
	f := newFakeAPNs(t)
	a, _ := newAPNs(t, f, newClock())
	f.srv.Close() // nobody answers
	const token = "0123456789abcdef0123456789abcdef"
	err := a.Send(t.Context(), Target{Provider: "apns", Token: token, BundleID: "b"}, Message{Kind: KindInvitation, CallID: "c"})
	if err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("Send with nobody answering: %v, want an error without the token", err)
	}
}

// §9: a pushConfig at its size limits (title and content 256 bytes, payload 2048) fits in an
// APNs alert push (4096 bytes) when it is text such as a query string or "Tom & Jerry" that
// needs no JSON escape, whatever characters HTML gives a meaning to.
func TestAPNsPushConfigAtItsLimitsFits(t *testing.T) {
	f := newFakeAPNs(t)
	clock := newClock()
	a, _ := newAPNs(t, f, clock)
	m := Message{Kind: KindInvitation, CallID: strings.Repeat("c", 24), Caller: strings.Repeat("u", 32),
		ServerTime: clock.ms(0), Deadline: clock.ms(time.Minute), Title: strings.Repeat("<Tom & Jerry>", 20)[:256],
		Content: strings.Repeat("a <b> & c ", 26)[:256], Payload: strings.Repeat("a=1&", 512), ResourcesID: strings.Repeat("r", 32)}
	if err := a.Send(t.Context(), Target{Provider: "apns", Token: "tok", BundleID: "com.example.app"}, m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := f.requests()
	if len(got) != 1 || got[0].body.Payload != m.Payload || got[0].body.APS.Alert.Title != m.Title || got[0].size > 4096 {
		t.Errorf("APNs got %+v", got)
	}
}

// A registered token is any 1 to 4096 bytes (protocol.md "Extensions: push targets"): it is
// sent as one path segment, so APNs judges the token itself, and one it refuses is removed
// (docs/push.md) rather than retried, or sent to another path.
func TestAPNsTokenIsOnePathSegment(t *testing.T) {
	f := newFakeAPNs(t)
	a, _ := newAPNs(t, f, newClock())
	m := Message{Kind: KindInvitation, CallID: "c", Caller: "alice", Deadline: 1}
	tokens := []string{"a/b?c#d", "a%zz", "a b", "a\nb", "../../3/device/tok"}
	for _, token := range tokens {
		err := a.Send(t.Context(), Target{Provider: "apns", Token: token, BundleID: "b"}, m)
		if !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("Send to %q: %v, want the token invalid", token, err)
		}
	}
	var paths []string
	for _, r := range f.requests() {
		paths = append(paths, r.path)
	}
	if len(paths) != len(tokens) {
		t.Fatalf("APNs got paths %q, want one request per token", paths)
	}
	for i, token := range tokens {
		if paths[i] != "/3/device/"+token {
			t.Errorf("request %d to %q, want /3/device/%s", i, paths[i], token)
		}
	}
}

// A key that is not on P-256 cannot sign ES256 provider tokens: NewAPNs refuses it, so the
// server stops at start-up instead of failing every push until it expires.
func TestAPNsRefusesKeyNotOnP256(t *testing.T) {
	_, p8 := p8Key(t, elliptic.P384())
	if _, err := NewAPNs(APNsConfig{Key: p8, KeyID: "KEY123", TeamID: "TEAM456", Endpoint: "https://apns.example"}); err == nil {
		t.Error("NewAPNs accepted a P-384 key")
	}
}

// Only an invitation goes to a VoIP (PushKit) target: iOS ends an app that does not report a
// new call to CallKit for each VoIP push it gets, and quit and end pushes bring no new call, as
// withdrawals do not (behaviour §9, docs/push.md "The VoIP rule").
func TestAPNsVoIPTargetGetsOnlyInvitations(t *testing.T) {
	f := newFakeAPNs(t)
	clock := newClock()
	a, _ := newAPNs(t, f, clock)
	voip := Target{Provider: "apns", Token: "tok-voip", VoIP: true, BundleID: "com.example.app"}
	for _, kind := range []string{KindWithdrawal, KindQuit, KindEnd, KindInvitation} {
		m := Message{Kind: kind, CallID: "call-1", Caller: "alice", ServerTime: clock.ms(0)}
		if err := a.Send(t.Context(), voip, m); err != nil {
			t.Fatalf("Send(%s): %v", kind, err)
		}
	}
	got := f.requests()
	if len(got) != 1 || got[0].body.Kind != KindInvitation {
		kinds := []string{}
		for _, r := range got {
			kinds = append(kinds, r.body.Kind)
		}
		t.Fatalf("the VoIP target got %v, want only the invitation", kinds)
	}
}

// §9: an invitation push rings until its deadline, so APNs may discard it only once the
// deadline has passed: apns-expiration (whole seconds) is the deadline rounded up, as FCM's
// ttl is, never down to a second that ends before the ring does.
func TestAPNsExpirationIsNotBeforeTheDeadline(t *testing.T) {
	f := newFakeAPNs(t)
	clock := newClock()
	a, _ := newAPNs(t, f, clock)
	alert := Target{Provider: "apns", Token: "tok-alert", BundleID: "com.example.app"}
	for _, deadline := range []time.Duration{30 * time.Second, 30*time.Second + 500*time.Millisecond} {
		m := Message{Kind: KindInvitation, CallID: "call-1", Caller: "alice", ServerTime: clock.ms(0), Deadline: clock.ms(deadline)}
		if err := a.Send(t.Context(), alert, m); err != nil {
			t.Fatal(err)
		}
	}
	got := f.requests()
	if len(got) != 2 || got[0].header.Get("apns-expiration") != "1700000030" || got[1].header.Get("apns-expiration") != "1700000031" {
		var exp []string
		for _, r := range got {
			exp = append(exp, r.header.Get("apns-expiration"))
		}
		t.Fatalf("apns-expiration %q for deadlines 1700000030.000 and 1700000030.500, want 1700000030 and 1700000031", exp)
	}
}

// docs/push.md "Message fields": every provider carries the same message, resourcesID
// included (behaviour §9: the pushConfig's profile name), so an app tells the kind of ring
// it was sent the same way whether its push came through APNs, FCM or a push service. APNs
// applies the profile's sound and category itself; the name is for the app.
func TestAPNsBodyCarriesResourcesID(t *testing.T) {
	f := newFakeAPNs(t)
	clock := newClock()
	a, _ := newAPNs(t, f, clock)
	m := Message{Kind: KindInvitation, CallID: "call-1", Caller: "alice", ServerTime: clock.ms(0),
		Deadline: clock.ms(30 * time.Second), ResourcesID: "ring", Profile: Profile{Sound: "ring.caf"}}
	for _, target := range []Target{{Provider: "apns", Token: "tok-alert", BundleID: "com.example.app"},
		{Provider: "apns", Token: "tok-voip", VoIP: true, BundleID: "com.example.app"}} {
		if err := a.Send(t.Context(), target, m); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range f.requests() {
		var body map[string]any
		if err := json.Unmarshal(r.raw, &body); err != nil {
			t.Fatal(err)
		}
		if body["resourcesID"] != "ring" {
			t.Errorf("request %d: APNs body %s, want resourcesID \"ring\" as FCM's data and the push service carry it", i, r.raw)
		}
	}
}

// docs/push.md "apns": the provider token is reused, and renewed before APNs refuses it as
// older than an hour but never within 20 minutes of the one before, which APNs refuses as
// TooManyProviderTokenUpdates; so over hours of pushes every one is taken.
func TestAPNsProviderTokenRenewedAsAPNsAllows(t *testing.T) {
	f := newFakeAPNs(t)
	clock := newClock()
	a, _ := newAPNs(t, f, clock)
	alert := Target{Provider: "apns", Token: "tok-alert", BundleID: "com.example.app"}
	for step := range 3 * 60 / 5 { // a push every 5 minutes for 3 hours
		m := Message{Kind: KindInvitation, CallID: "call-1", Caller: "alice", ServerTime: clock.ms(0), Deadline: clock.ms(30 * time.Second)}
		if err := a.Send(t.Context(), alert, m); err != nil {
			t.Fatalf("push at minute %d: %v", step*5, err)
		}
		clock.advance(5 * time.Minute)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refreshes < 2 || f.refreshes > 9 {
		t.Errorf("%d provider tokens renewed in 3 hours, want one at least every hour and at most every 20 minutes", f.refreshes)
	}
}

// docs/push.md "apns": a push APNs refuses because it no longer takes the provider token
// (403 ExpiredProviderToken: say, the host slept past the token's hour) is sent again at once
// with a new token, rather than waiting for its retry (1 s at least) while the phone should
// ring; the pushes after it use the new token too.
func TestAPNsExpiredProviderTokenIsRenewedAndTheSendRetriedAtOnce(t *testing.T) {
	f := newFakeAPNs(t)
	clock := newClock()
	a, pub := newAPNs(t, f, clock)
	alert := Target{Provider: "apns", Token: "tok-alert", BundleID: "com.example.app"}
	m := Message{Kind: KindInvitation, CallID: "call-1", Caller: "alice", ServerTime: clock.ms(0), Deadline: clock.ms(30 * time.Second)}
	if err := a.Send(t.Context(), alert, m); err != nil {
		t.Fatal(err)
	}
	f.expireCurrentToken()
	clock.advance(time.Second)
	if err := a.Send(t.Context(), alert, m); err != nil {
		t.Fatalf("Send after APNs expired the provider token: %v, want it sent with a new token", err)
	}
	if err := a.Send(t.Context(), alert, m); err != nil {
		t.Fatal(err)
	}
	got := f.requests()
	if len(got) != 4 {
		t.Fatalf("APNs got %d requests, want 4 (the refused one sent again)", len(got))
	}
	first := verifyAPNsJWT(t, pub, got[0].header.Get("authorization"), clock.now().Add(-time.Second))
	renewed := verifyAPNsJWT(t, pub, got[2].header.Get("authorization"), clock.now())
	if got[1].header.Get("authorization") != "bearer "+first || renewed == first ||
		got[3].header.Get("authorization") != "bearer "+renewed {
		t.Error("want the refused token, then a new one for the retry and the next push")
	}
}
