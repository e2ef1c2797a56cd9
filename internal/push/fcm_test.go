package push

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fakeFCM is Google's token endpoint and FCM's messages:send in one server. It verifies every
// assertion with the service account's public key; the device token picks the send answer.
type fakeFCM struct {
	t         *testing.T
	srv       *httptest.Server
	pub       *rsa.PublicKey
	clock     *fakeClock
	mu        sync.Mutex
	exchanges int
	issued    map[string]time.Time // the access tokens the token endpoint gave, and when each expires
	sends     []fcmSend
	hold      chan struct{} // a send to the token "slow" is answered once it is closed (or abandoned)
	poke      chan struct{} // signalled after each send is recorded
}

type fcmSend struct {
	path, auth string
	body       FCMRequest
	dataSize   int // bytes of the message's data object as sent
}

func newFakeFCM(t *testing.T, pub *rsa.PublicKey, clock *fakeClock) *fakeFCM {
	f := &fakeFCM{t: t, pub: pub, clock: clock, issued: map[string]time.Time{}, hold: make(chan struct{}), poke: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			t.Errorf("grant_type = %q", r.FormValue("grant_type"))
		}
		tok, err := jwt.Parse(r.FormValue("assertion"), func(*jwt.Token) (any, error) { return f.pub, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
		if err != nil {
			t.Errorf("assertion: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c := tok.Claims.(jwt.MapClaims)
		now := f.clock.now().Unix()
		if c["iss"] != "push@proj-1.iam.example" || c["scope"] != FCMScope || c["aud"] != f.srv.URL+"/token" ||
			c["iat"] != float64(now) || c["exp"] != float64(now+3600) {
			t.Errorf("assertion claims %v", c)
		}
		f.mu.Lock()
		f.exchanges++
		n := f.exchanges
		f.issued["at-"+string(rune('0'+n))] = f.clock.now().Add(time.Hour)
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + string(rune('0'+n)), "expires_in": 3600,
			"token_type": "Bearer"})
	})
	mux.HandleFunc("POST /v1/projects/{project}/messages:send", func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body FCMRequest
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("FCM body %s: %v", raw, err)
		}
		var data struct {
			Message struct {
				Data json.RawMessage `json:"data"`
			} `json:"message"`
		}
		_ = json.Unmarshal(raw, &data)
		if !f.authorized(r.Header.Get("Authorization")) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":401,"message":"Request had invalid authentication credentials. ` +
				`Expected OAuth 2 access token, login cookie or other valid authentication credential.","status":"UNAUTHENTICATED"}}`))
			return
		}
		if body.Message.Token == "slow" {
			select {
			case <-f.hold:
			case <-r.Context().Done():
				return
			}
		}
		f.mu.Lock()
		f.sends = append(f.sends, fcmSend{path: r.URL.Path, auth: r.Header.Get("Authorization"), body: body,
			dataSize: len(data.Message.Data)})
		f.mu.Unlock()
		select {
		case f.poke <- struct{}{}:
		default:
		}
		// FCM counts only the data, and takes 4096 bytes of it; the token "big" stands for the
		// answer to a larger message whatever the count.
		if len(data.Message.Data) > 4096 || body.Message.Token == "big" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"code":400,"message":"Android message is too big","status":"INVALID_ARGUMENT",` +
				`"details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}`))
			return
		}
		answer := map[string]struct {
			status int
			body   string
		}{
			// FCM's own answers (firebase.google.com/docs/cloud-messaging/error-codes): a dead
			// token, a token that is no FCM token, and two INVALID_ARGUMENTs about the message.
			"gone": {404, `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND",` +
				`"details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`},
			"invalid": {400, `{"error":{"code":400,"message":"The registration token is not a valid FCM registration token",` +
				`"status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}`},
			"field": {400, `{"error":{"code":400,"message":"Invalid value at 'message.data[0].value' (TYPE_STRING), 12",` +
				`"status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":` +
				`[{"field":"message.data[0].value","description":"Invalid value at 'message.data[0].value' (TYPE_STRING), 12"}]}]}}`},
			"argument": {400, `{"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT",` +
				`"details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}`},
			"empty": {400, `{"error":{"code":400,"message":"Invalid registration token","status":"INVALID_ARGUMENT",` +
				`"details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":` +
				`[{"field":"message.token","description":"Invalid registration token"}]}]}}`},
			"quota": {429, `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}`},
			"down":  {503, `{"error":{"code":503,"status":"UNAVAILABLE"}}`},
			// The APNs key or certificate the Firebase project holds for iOS is refused: the
			// access token is not at fault.
			"apnsauth": {401, `{"error":{"code":401,"message":"Auth error from APNS or Web Push Service","status":"UNAUTHENTICATED",` +
				`"details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"THIRD_PARTY_AUTH_ERROR"}]}}`},
			"denied": {403, `{"error":{"code":403,"status":"PERMISSION_DENIED","details":[{"errorCode":"SENDER_ID_MISMATCH"}]}}`},
		}[body.Message.Token]
		if answer.status != 0 {
			w.WriteHeader(answer.status)
			_, _ = w.Write([]byte(answer.body))
			return
		}
		_, _ = w.Write([]byte(`{"name":"projects/proj-1/messages/1"}`))
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// authorized reports whether header carries an access token the token endpoint gave that has
// not expired, as FCM requires (OAuth 2 bearer).
func (f *fakeFCM) authorized(header string) bool {
	token, ok := strings.CutPrefix(header, "Bearer ")
	f.mu.Lock()
	defer f.mu.Unlock()
	expires, issued := f.issued[token]
	return ok && issued && f.clock.now().Before(expires)
}

// revokeAccessTokens makes FCM refuse every access token given so far (401 UNAUTHENTICATED),
// as Google does when it revokes them before they expire.
func (f *fakeFCM) revokeAccessTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.issued)
}

// sentTo returns the tokens FCM took sends for, in order.
func (f *fakeFCM) sentTo() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var tokens []string
	for _, s := range f.sends {
		tokens = append(tokens, s.body.Message.Token)
	}
	return tokens
}

func newFCM(t *testing.T) (*FCM, *fakeFCM, *fakeClock) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	clock := newClock()
	f := newFakeFCM(t, &key.PublicKey, clock)
	creds, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "proj-1",
		"client_email": "push@proj-1.iam.example", "token_uri": f.srv.URL + "/token",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
	p, err := NewFCM(FCMConfig{Credentials: creds, TokenURL: f.srv.URL + "/token",
		Endpoint: f.srv.URL + "/v1/projects/{project}/messages:send", Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return p, f, clock
}

func TestFCMRequestAndTokenCache(t *testing.T) {
	p, f, clock := newFCM(t)
	ctx := t.Context()
	inv := Message{Kind: KindInvitation, CallID: "call-1", Caller: "alice", ServerTime: clock.ms(0),
		Deadline: clock.ms(29500 * time.Millisecond), Title: "Alice", Content: "is calling", Payload: `{"k":1}`, ResourcesID: "ring",
		Profile: Profile{Sound: "ring.ogg", APNsCategory: "CALL", AndroidChannelID: "calls"}}
	target := Target{Provider: "fcm", Token: "dev-1"}
	if err := p.Send(ctx, target, inv); err != nil {
		t.Fatal(err)
	}
	wd := Message{Kind: KindWithdrawal, CallID: "call-1", Caller: "alice", ServerTime: clock.ms(time.Second)}
	if err := p.Send(ctx, target, wd); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	sends, exchanges := append([]fcmSend(nil), f.sends...), f.exchanges
	f.mu.Unlock()
	if exchanges != 1 || len(sends) != 2 {
		t.Fatalf("%d token exchanges and %d sends, want 1 and 2 (token cached)", exchanges, len(sends))
	}
	want := FCMRequest{Message: FCMMessage{Token: "dev-1",
		Data: map[string]string{"callID": "call-1", "caller": "alice", "kind": "invitation", "serverTime": "1700000000000",
			"deadline": "1700000029500", "title": "Alice", "content": "is calling", "payload": `{"k":1}`, "resourcesID": "ring",
			"sound": "ring.ogg", "androidChannelID": "calls"},
		Android: FCMAndroid{CollapseKey: "call-1", Priority: "high", TTL: "30s"}}}
	if s := sends[0]; s.path != "/v1/projects/proj-1/messages:send" || s.auth != "Bearer at-1" || !equalFCM(s.body, want) {
		t.Errorf("invitation send = %s %s %+v, want %+v", s.path, s.auth, s.body, want)
	}
	if a := sends[1].body.Message.Android; a.TTL != "" || a.CollapseKey != "call-1" || sends[1].body.Message.Data["kind"] != "withdrawal" {
		t.Errorf("withdrawal send = %+v", sends[1].body)
	}

	clock.advance(time.Hour) // the cached token expires (less a minute of margin)
	if err := p.Send(ctx, target, wd); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.exchanges != 2 || f.sends[2].auth != "Bearer at-2" {
		t.Errorf("after expiry: %d exchanges, auth %q; want 2 and a new token", f.exchanges, f.sends[2].auth)
	}
}

func equalFCM(a, b FCMRequest) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestFCMErrors(t *testing.T) {
	p, f, _ := newFCM(t)
	m := Message{Kind: KindQuit, CallID: "c", Caller: "alice"}
	for token, want := range map[string]struct{ invalid, rejected bool }{
		"gone": {invalid: true}, "invalid": {invalid: true}, "quota": {}, "down": {}, "apnsauth": {}, "denied": {rejected: true},
		"big": {rejected: true}, // too big says nothing of the token, and retrying cannot help
	} {
		err := p.Send(t.Context(), Target{Provider: "fcm", Token: token}, m)
		if err == nil || errors.Is(err, ErrTokenInvalid) != want.invalid || errors.Is(err, ErrRejected) != want.rejected {
			t.Errorf("Send to %q: %v, want invalid=%v rejected=%v", token, err, want.invalid, want.rejected)
		}
	}
	if err := p.Send(t.Context(), Target{Provider: "fcm", Token: "ok"}, m); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.exchanges != 1 { // THIRD_PARTY_AUTH_ERROR is about the project's APNs key, not the access token
		t.Errorf("%d token exchanges, want 1 (the access token kept whatever the answers)", f.exchanges)
	}
	if !strings.HasPrefix(f.sends[0].auth, "Bearer at-") {
		t.Errorf("auth = %q", f.sends[0].auth)
	}
}

// docs/push.md "fcm": a push FCM refuses for its access token (401 UNAUTHENTICATED: say, the
// token was revoked before it expired) is sent again at once with a new one, rather than
// waiting for its retry (1 s at least) while the phone should ring.
func TestFCMRefusedAccessTokenIsRenewedAndTheSendRetriedAtOnce(t *testing.T) {
	p, f, _ := newFCM(t)
	m := Message{Kind: KindInvitation, CallID: "c", Caller: "alice"}
	target := Target{Provider: "fcm", Token: "dev-1"}
	if err := p.Send(t.Context(), target, m); err != nil {
		t.Fatal(err)
	}
	f.revokeAccessTokens()
	if err := p.Send(t.Context(), target, m); err != nil {
		t.Fatalf("Send after FCM refused the access token: %v, want it sent with a new one", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.exchanges != 2 || len(f.sends) != 2 || f.sends[1].auth != "Bearer at-2" {
		t.Errorf("%d token exchanges, %d sends taken; want 2 and 2, the second with the new token", f.exchanges, len(f.sends))
	}
}

// A 404 that is not FCM's UNREGISTERED says nothing of the token: an --fcm-endpoint with a
// typo in its path, or a project FCM does not know, is answered 404 for every push, and taking
// that for a dead token would remove every FCM target of every user at their first push.
func TestFCMNotFoundWithoutUnregisteredKeepsTheTarget(t *testing.T) {
	p, f, _ := newFCM(t)
	m := Message{Kind: KindInvitation, CallID: "c", Caller: "alice"}
	target := Target{Provider: "fcm", Token: "dev-1"}
	unknown := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}`))
	}))
	defer unknown.Close()
	for _, endpoint := range []string{f.srv.URL + "/v1/projects/proj-1/message:send", unknown.URL} {
		p.endpoint = endpoint
		if err := p.Send(t.Context(), target, m); err == nil || errors.Is(err, ErrTokenInvalid) {
			t.Errorf("Send answered 404 by %s: %v, want a failure that keeps the target", endpoint, err)
		}
	}
}

// FCM answers INVALID_ARGUMENT both for a token that is no FCM registration token and for
// many faults of the message (a bad data value, TTL or package name): only an answer that
// says the token is at fault removes the target (docs/push.md "fcm"). Removing it for a
// fault of the message would cost the user every later push to a device that works.
func TestFCMInvalidArgumentRemovesOnlyABadToken(t *testing.T) {
	p, _, _ := newFCM(t)
	m := Message{Kind: KindInvitation, CallID: "c", Caller: "alice"}
	for token, want := range map[string]struct{ invalid, rejected bool }{
		"invalid":  {invalid: true},  // "The registration token is not a valid FCM registration token"
		"empty":    {invalid: true},  // a BadRequest naming the field message.token
		"gone":     {invalid: true},  // 404 NOT_FOUND, UNREGISTERED
		"field":    {rejected: true}, // a BadRequest naming a data value
		"argument": {rejected: true}, // FcmError INVALID_ARGUMENT that names no token
	} {
		err := p.Send(t.Context(), Target{Provider: "fcm", Token: token}, m)
		if err == nil || errors.Is(err, ErrTokenInvalid) != want.invalid || errors.Is(err, ErrRejected) != want.rejected {
			t.Errorf("Send to %q: %v, want invalid=%v rejected=%v", token, err, want.invalid, want.rejected)
		}
	}
}

// A token endpoint's answer that cannot be read fails the send without echoing it: it may hold
// an access token, and the error is logged (docs/architecture.md "Logging").
func TestFCMUnreadableTokenAnswerIsNotEchoed(t *testing.T) {
	p, _, _ := newFCM(t)
	const access = "ya29.access-token-0123456789"
	odd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"access_token":"` + access + `","expires_in":"3600"}`)) // a string, not a number
	}))
	defer odd.Close()
	p.cfg.TokenURL = odd.URL
	err := p.Send(t.Context(), Target{Provider: "fcm", Token: "ok"}, Message{Kind: KindQuit, CallID: "c"})
	if err == nil || strings.Contains(err.Error(), access) {
		t.Errorf("Send with an unreadable token answer: %v, want an error without the access token", err)
	}
}

// docs/push.md "The VoIP rule": FCM has no VoIP push, so the `voip` flag of an fcm target
// (protocol.md: an APNs VoIP token) changes nothing: the target gets every push, the
// withdrawal that stops its ringing included, as an ordinary one.
func TestFCMTargetFlaggedVoIPGetsEveryPush(t *testing.T) {
	p, f, _ := newFCM(t)
	target := Target{Provider: "fcm", Token: "android-1", VoIP: true}
	kinds := []string{KindInvitation, KindWithdrawal, KindQuit, KindEnd}
	for _, kind := range kinds {
		m := Message{Kind: kind, CallID: "call-1", Caller: "alice"}
		if s, ok := any(p).(Skipper); ok && s.Skips(target, m) {
			t.Errorf("FCM skips the %s push to a target flagged voip", kind)
		}
		if err := p.Send(t.Context(), target, m); err != nil {
			t.Fatalf("Send %s: %v", kind, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var got []string
	for _, s := range f.sends {
		got = append(got, s.body.Message.Data["kind"])
	}
	if !slices.Equal(got, kinds) {
		t.Errorf("FCM took %q, want %q", got, kinds)
	}
}
