package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/push"
	"github.com/dialtone/dialtone/internal/server"
)

// pushService is the application's own push service behind --push-webhook-url: it records
// the pushes the server sends.
type pushService struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	got     []push.WebhookBody
	fail    int             // answer 503 to this many requests first
	refused int             // requests answered 503 or 400
	reject  map[string]bool // tokens whose pushes are answered 400, for good
	down    map[string]bool // tokens whose pushes are answered 503, for good
	poke    chan struct{}
}

func newPushService(t *testing.T) *pushService {
	p := &pushService{t: t, poke: make(chan struct{}, 1)}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var b push.WebhookBody
		if err := json.Unmarshal(raw, &b); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("push body %s: %v", raw, err)
		}
		p.mu.Lock()
		down := p.down[b.Target.Token]
		refuse, reject := p.fail > 0 || down, p.reject[b.Target.Token]
		switch {
		case refuse:
			if !down {
				p.fail--
			}
			p.refused++
		case reject:
			p.refused++
		default:
			p.got = append(p.got, b)
		}
		p.mu.Unlock()
		switch {
		case refuse:
			w.WriteHeader(http.StatusServiceUnavailable)
		case reject:
			w.WriteHeader(http.StatusBadRequest)
		}
		select {
		case p.poke <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// wait returns the n-th push (from 1), waiting up to 15 s for it.
// setFail makes the service answer 503 to the next n requests (0: none).
func (p *pushService) setFail(n int) { p.mu.Lock(); p.fail = n; p.mu.Unlock() }

func (p *pushService) wait(n int) push.WebhookBody {
	p.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		p.mu.Lock()
		if len(p.got) >= n {
			defer p.mu.Unlock()
			return p.got[n-1]
		}
		p.mu.Unlock()
		select {
		case <-p.poke:
		case <-deadline:
			p.t.Fatalf("push %d did not arrive; got %v", n, p.all())
		}
	}
}

// waitRefused waits up to 15 s until the service has refused n pushes.
func (p *pushService) waitRefused(n int) {
	p.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		p.mu.Lock()
		refused := p.refused
		p.mu.Unlock()
		if refused >= n {
			return
		}
		select {
		case <-p.poke:
		case <-deadline:
			p.t.Fatalf("%d pushes refused, want %d", refused, n)
		}
	}
}

func (p *pushService) all() []push.WebhookBody {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]push.WebhookBody(nil), p.got...)
}

// metric returns the /metrics line starting with prefix ("" when absent).
func metric(t *testing.T, ts *testServer, prefix string) string {
	t.Helper()
	resp, err := http.Get("http://" + ts.Addr + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

// waitMetric polls /metrics until the line starting with prefix is want (the server's own
// view of sessions and outbox progress; nothing else tells a client these).
func waitMetric(t *testing.T, ts *testServer, prefix, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for metric(t, ts, prefix) != want {
		if time.Now().After(deadline) {
			t.Fatalf("metric %q = %q, want %q", prefix, metric(t, ts, prefix), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// offlineWithTargets logs bob in on his phone, registers its push targets, and logs the phone
// off again, then returns alice logged in once the server counts only her session.
func offlineWithTargets(t *testing.T, ts *testServer, targets ...client.PushTarget) (alice *device) {
	t.Helper()
	bobPhone := ts.login(t, "bob", "b-phone")
	for _, target := range targets {
		must(t, bobPhone.PushRegister(t.Context(), target))
	}
	bobPhone.Close()
	alice = ts.login(t, "alice", "a")
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 1")
	return alice
}

var ring = &client.PushConfig{Title: "Alice", Content: "is calling", Payload: `{"room":"r1"}`}

// An offline user's registered target gets the invitation push (callID, caller, serverTime,
// absolute deadline); logging in shows the invitation with the time left; the caller's cancel
// sends the withdrawal push with the same callID (§9).
func TestE2EPushOfflineInvitationAndWithdrawal(t *testing.T) {
	pushes := newPushService(t)
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL)
	ctx := t.Context()
	alice := offlineWithTargets(t, ts, client.PushTarget{Provider: "webhook", Token: "bob-phone-token"})

	before := time.Now().UnixMilli()
	res, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 30, PushConfig: ring})
	must(t, err)
	var deadline int64
	for _, u := range res.CallInfo.CallUserList {
		if u.UserID == "bob" {
			deadline = u.Deadline
		}
	}
	inv := pushes.wait(1)
	want := push.WebhookBody{
		Target: push.WebhookTarget{Provider: "webhook", Token: "bob-phone-token"},
		Message: push.Message{Kind: "invitation", CallID: res.CallID, Caller: "alice", Inviter: "alice", ServerTime: inv.Message.ServerTime,
			Deadline: deadline, Title: "Alice", Content: "is calling", Payload: `{"room":"r1"}`},
	}
	if inv != want || deadline == 0 || inv.Message.ServerTime < before || inv.Message.ServerTime > time.Now().UnixMilli() {
		t.Fatalf("invitation push = %+v, want %+v (deadline %d)", inv, want, deadline)
	}

	bob := ts.login(t, "bob", "b-phone")
	ev := bob.wait(res.CallID, "received from alice (synthetic)").(client.CallInvitationReceived)
	if ev.Deadline != deadline || ev.Timeout < 1 || ev.Timeout > 30 {
		t.Errorf("synthetic invitation deadline %d timeout %d, want deadline %d and 1..30 s left", ev.Deadline, ev.Timeout, deadline)
	}
	_, err = alice.CallCancel(ctx, res.CallID, nil, client.OpConfig{})
	must(t, err)
	wd := pushes.wait(2)
	if wd.Message.Kind != "withdrawal" || wd.Message.CallID != res.CallID || wd.Message.Caller != "alice" ||
		wd.Target.Token != "bob-phone-token" || wd.Message.Title != "Alice" {
		t.Errorf("withdrawal push = %+v", wd)
	}
}

// A user with a connected device gets no invitation push, hence no withdrawal either; after
// the device's logout its target is gone.
func TestE2EPushOnlineUserGetsNone(t *testing.T) {
	pushes := newPushService(t)
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL)
	ctx := t.Context()
	bob := ts.login(t, "bob", "b-phone")
	must(t, bob.PushRegister(ctx, client.PushTarget{Provider: "webhook", Token: "bob-phone-token"}))
	alice := ts.login(t, "alice", "a")

	res, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 30, PushConfig: ring})
	must(t, err)
	bob.wait(res.CallID, "received from alice")
	_, err = alice.CallCancel(ctx, res.CallID, nil, client.OpConfig{PushConfig: ring})
	must(t, err)
	// The invitation and withdrawal records are handled (and sent nothing).
	waitMetric(t, ts, `dialtone_outbox_attempts_total{kind="push",result="delivered"}`,
		`dialtone_outbox_attempts_total{kind="push",result="delivered"} 2`)

	must(t, bob.Logout(ctx))
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 1")
	_, err = alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 30, PushConfig: ring})
	must(t, err)
	waitMetric(t, ts, `dialtone_outbox_attempts_total{kind="push",result="delivered"}`,
		`dialtone_outbox_attempts_total{kind="push",result="delivered"} 3`)
	if got := pushes.all(); len(got) != 0 {
		t.Fatalf("pushes sent to an online or logged-out user: %+v", got)
	}
}

// A push the push service refuses with 503 is retried with backoff; an FCM token the provider
// reports unregistered is removed (providers configured from the flags).
func TestE2EPushRetryAndInvalidTokenRemoval(t *testing.T) {
	pushes := newPushService(t)
	pushes.fail = 1
	fcm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			_, _ = w.Write([]byte(`{"access_token":"at","expires_in":3600}`))
			return
		}
		if r.URL.Path != "/v1/projects/proj-1/messages:send" || r.Header.Get("Authorization") != "Bearer at" {
			t.Errorf("FCM request %s with %q", r.URL.Path, r.Header.Get("Authorization"))
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":404,"status":"NOT_FOUND","details":[{"errorCode":"UNREGISTERED"}]}}`))
	}))
	defer fcm.Close()
	creds := filepath.Join(t.TempDir(), "sa.json")
	must(t, os.WriteFile(creds, serviceAccount(t), 0o600))
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL, "--fcm-credentials", creds,
		"--fcm-token-url", fcm.URL+"/token", "--fcm-endpoint", fcm.URL+"/v1/projects/{project}/messages:send")
	ctx := t.Context()
	alice := offlineWithTargets(t, ts, client.PushTarget{Provider: "webhook", Token: "bob-hook"},
		client.PushTarget{Provider: "fcm", Token: "bob-fcm-stale"})

	res, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 30, PushConfig: ring})
	must(t, err)
	if inv := pushes.wait(1); inv.Message.CallID != res.CallID || inv.Message.Kind != "invitation" {
		t.Fatalf("retried invitation push = %+v", inv)
	}
	if m := metric(t, ts, `dialtone_outbox_attempts_total{kind="push",result="failed"}`); m == `dialtone_outbox_attempts_total{kind="push",result="failed"} 0` {
		t.Error("the refused attempt was not counted as failed")
	}
	if targets := storedPushTargets(t, ts, "bob"); len(targets) != 1 || targets[0].Token != "bob-hook" {
		t.Errorf("bob's targets = %+v, want only bob-hook (the unregistered FCM token removed)", targets)
	}
}

// serviceAccount returns an FCM service-account JSON with a fresh RSA key.
func serviceAccount(t *testing.T) []byte {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	b, err := json.Marshal(map[string]string{"type": "service_account", "project_id": "proj-1",
		"client_email": "push@proj-1.iam.example", "private_key": string(pem.EncodeToMemory(
			&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))})
	must(t, err)
	return b
}

// §9: a pushConfig's resourcesID names a profile of --push-profiles, which the push carries; a
// profiles file with an error, or without a push provider, stops the server at start-up.
func TestE2EPushProfiles(t *testing.T) {
	pushes := newPushService(t)
	profiles := filepath.Join(t.TempDir(), "profiles.json")
	must(t, os.WriteFile(profiles, []byte(`{"ring": {"sound": "ring.caf", "apnsCategory": "CALL"}}`), 0o600))
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL, "--push-profiles", profiles)
	ctx := t.Context()
	alice := offlineWithTargets(t, ts, client.PushTarget{Provider: "webhook", Token: "bob-phone-token"})
	_, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 30,
		PushConfig: &client.PushConfig{Title: "Alice", ResourcesID: "ring"}})
	must(t, err)
	if got := pushes.wait(1).Message; got.ResourcesID != "ring" || got.Profile != (push.Profile{Sound: "ring.caf", APNsCategory: "CALL"}) {
		t.Errorf("invitation push %+v, want the ring profile", got)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	must(t, os.WriteFile(bad, []byte(`{"ring": {"sond": "ring.caf"}}`), 0o600))
	// Without a provider no profile would ever be used: that too stops it.
	for _, tt := range []struct {
		providers []string
		want      string
	}{
		{[]string{"--push-webhook-url", pushes.srv.URL}, "sond"}, {nil, "needs a push provider"}} {
		args := append([]string{"--dev", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--push-profiles", bad}, tt.providers...)
		err = server.Run(ctx, args, nil, io.Discard, io.Discard,
			func(string) { t.Error("started with a bad profiles file") })
		if err == nil || !strings.Contains(err.Error(), "--push-profiles") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("start with a misspelt profile field and providers %q: %v, want an error naming --push-profiles and %q",
				tt.providers, err, tt.want)
		}
	}
}

// A push record that no target accepted, because the provider refused it for every one (a
// 4xx: retrying cannot help), is lost: dialtone_outbox_attempts_total counts it as dropped, not
// delivered. One accepted by at least one target counts as delivered (docs/push.md).
func TestE2EPushRejectedByEveryTargetCountsAsDropped(t *testing.T) {
	pushes := newPushService(t)
	pushes.reject = map[string]bool{"bob-bad-1": true, "bob-bad-2": true}
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL)
	ctx := t.Context()
	alice := offlineWithTargets(t, ts, client.PushTarget{Provider: "webhook", Token: "bob-bad-1"},
		client.PushTarget{Provider: "webhook", Token: "bob-bad-2"})

	res, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 30, PushConfig: ring})
	must(t, err)
	pushes.waitRefused(2)
	waitMetric(t, ts, `dialtone_outbox_attempts_total{kind="push",result="dropped"}`,
		`dialtone_outbox_attempts_total{kind="push",result="dropped"} 1`)
	if m := metric(t, ts, `dialtone_outbox_attempts_total{kind="push",result="delivered"}`); m != `dialtone_outbox_attempts_total{kind="push",result="delivered"} 0` {
		t.Errorf("a push no target accepted counted as %q", m)
	}
	_, err = alice.CallCancel(ctx, res.CallID, nil, client.OpConfig{})
	must(t, err)
	waitMetric(t, ts, `dialtone_outbox_attempts_total{kind="push",result="dropped"}`, // the withdrawal
		`dialtone_outbox_attempts_total{kind="push",result="dropped"} 2`)

	bobTablet := ts.login(t, "bob", "b-tablet")
	must(t, bobTablet.PushRegister(ctx, client.PushTarget{Provider: "webhook", Token: "bob-good"}))
	bobTablet.Close()
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 1")
	_, err = alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 30, PushConfig: ring})
	must(t, err)
	if inv := pushes.wait(1); inv.Target.Token != "bob-good" {
		t.Fatalf("push = %+v, want one to bob-good", inv)
	}
	waitMetric(t, ts, `dialtone_outbox_attempts_total{kind="push",result="delivered"}`,
		`dialtone_outbox_attempts_total{kind="push",result="delivered"} 1`)
	waitMetric(t, ts, `dialtone_outbox_attempts_total{kind="push",result="dropped"}`,
		`dialtone_outbox_attempts_total{kind="push",result="dropped"} 2`)
}

// A push that FCM's size limit makes the server shorten is sent, and counted in
// dialtone_push_shortened_total once per target (docs/push.md "Size limits").
func TestE2EPushShortenedIsCounted(t *testing.T) {
	var mu sync.Mutex
	var sends []string
	fcm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			_, _ = w.Write([]byte(`{"access_token":"at","expires_in":3600}`))
			return
		}
		raw, _ := io.ReadAll(r.Body)
		mu.Lock()
		sends = append(sends, string(raw))
		mu.Unlock()
		_, _ = w.Write([]byte(`{"name":"projects/proj-1/messages/1"}`))
	}))
	defer fcm.Close()
	creds := filepath.Join(t.TempDir(), "sa.json")
	must(t, os.WriteFile(creds, serviceAccount(t), 0o600))
	ts := startServer(t, "--fcm-credentials", creds, "--fcm-token-url", fcm.URL+"/token",
		"--fcm-endpoint", fcm.URL+"/v1/projects/{project}/messages:send")
	ctx := t.Context()
	waitMetric(t, ts, "dialtone_push_shortened_total ", "dialtone_push_shortened_total 0")
	alice := offlineWithTargets(t, ts, client.PushTarget{Provider: "fcm", Token: "bob-fcm"})

	big := &client.PushConfig{Title: "Alice", Content: "is calling", Payload: strings.Repeat("\x01", 2048)}
	_, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 30, PushConfig: big})
	must(t, err)
	waitMetric(t, ts, `dialtone_outbox_attempts_total{kind="push",result="delivered"}`,
		`dialtone_outbox_attempts_total{kind="push",result="delivered"} 1`)
	waitMetric(t, ts, "dialtone_push_shortened_total ", "dialtone_push_shortened_total 1")
	mu.Lock()
	defer mu.Unlock()
	if len(sends) != 1 || !strings.Contains(sends[0], `"truncated":"true"`) {
		t.Errorf("FCM sends = %q, want one truncated push", sends)
	}
}
