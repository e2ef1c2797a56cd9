package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/auth"
)

// What the server logs names users, devices and calls, never a credential nor what users send
// (docs/architecture.md "Logging"): driven at --log-level debug through refused logins, a
// refused API key, and a webhook and an APNs push that fail, its log, and /metrics, hold none of the token
// secret, the API key, the webhook secret, the login tokens, the push token, the APNs key, the
// extendedData or the pushConfig.
func TestE2ELogsHoldNoCredentialsNorUserData(t *testing.T) {
	hooks := newHookReceiver(t, -1) // refuses every webhook
	// An APNs endpoint where nobody listens: every push fails before any answer.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	apns := "http://" + l.Addr().String()
	must(t, l.Close())
	keyFile, keyPEM := apnsKeyFile(t)
	ts := startServer(t, append(hookFlags(hooks), "--log-level", "debug", "--api-key", apiKey,
		"--apns-key-file", keyFile, "--apns-key-id", "KEYID12345", "--apns-team-id", "TEAMID1234", "--apns-endpoint", apns)...)
	ctx := t.Context()

	foreign, err := auth.Mint([]byte("another-secret-0123456789"), "alice", time.Hour, time.Now(), "")
	must(t, err)
	for _, bad := range []string{foreign, "not-a-token-at-all"} {
		d := ts.dial(t, "alice", "a-bad", client.Options{})
		if _, err := d.Login(ctx, bad, "a-bad"); code(err) != 6000291 {
			t.Fatalf("login with a bad token = %v, want 6000291", err)
		}
	}
	const wrongKey = "wrong-api-key-0123456789"
	if status, _ := apiCall(t, ts, "GET", "/v1/api/calls/none?userID=bob", wrongKey, ""); status != 401 {
		t.Fatalf("REST call with a wrong key: status %d, want 401", status)
	}
	const deviceToken = "bob-apns-device-token-0123456789"
	alice := offlineWithTargets(t, ts, client.PushTarget{Provider: "apns", Token: deviceToken, BundleID: "com.example"})
	const extended = "alice-extended-data-secret"
	pc := &client.PushConfig{Title: "title-for-bob", Content: "content-for-bob", Payload: "payload-for-bob"}
	_, err = alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 30, ExtendedData: extended, PushConfig: pc})
	must(t, err)
	waitLogs(t, ts, "push apns", "webhook: receiver answered")

	logs := ts.Logs()
	_, samples := scrape(t, ts)
	metrics := strings.Join(samples, "\n")
	keyBody := strings.Join(strings.Split(string(keyPEM), "\n")[1:3], "")
	for name, secret := range map[string]string{"token secret": testSecret, "API key": apiKey, "wrong API key": wrongKey,
		"webhook secret": hookSecret, "login token": "eyJhbGciOi", "foreign token": foreign, "bad token": "not-a-token-at-all",
		"push token": deviceToken, "APNs key": keyBody, "extendedData": extended, "push title": pc.Title,
		"push content": pc.Content, "push payload": pc.Payload} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds the %s %q:\n%s", name, secret, logs)
		}
		if strings.Contains(metrics, secret) {
			t.Errorf("/metrics holds the %s %q:\n%s", name, secret, metrics)
		}
	}
}

// apnsKeyFile writes a fresh APNs token-auth key (.p8) and returns its path and contents.
func apnsKeyFile(t *testing.T) (path string, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	path = filepath.Join(t.TempDir(), "apns.p8")
	must(t, os.WriteFile(path, keyPEM, 0o600))
	return path, keyPEM
}

// waitLogs waits up to 15 s until the server has logged each of texts.
func waitLogs(t *testing.T, ts *testServer, texts ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, text := range texts {
		for !strings.Contains(ts.Logs(), text) {
			if time.Now().After(deadline) {
				t.Fatalf("the server did not log %q:\n%s", text, ts.Logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// A value a client chooses that the server logs (a resourcesID that names no push profile,
// behaviour §12) is one quoted field of one record: line breaks and quotes in it forge no
// record, and every line of the log is a record of the server's.
func TestE2ELogsCannotBeForged(t *testing.T) {
	pushes := newPushService(t)
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL)
	alice := offlineWithTargets(t, ts, client.PushTarget{Provider: "webhook", Token: "bob-phone-token"})
	const forged = "level=ERROR msg=forged" // a resourcesID is at most 32 bytes
	pc := &client.PushConfig{Title: "t", ResourcesID: "x\r\n" + forged + "\""}
	_, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 30, PushConfig: pc})
	must(t, err)
	waitLogs(t, ts, "unknown resourcesID")
	for line := range strings.SplitSeq(strings.TrimSuffix(ts.Logs(), "\n"), "\n") {
		if !strings.HasPrefix(line, "time=") {
			t.Errorf("log line %q is not one of the server's records:\n%s", line, ts.Logs())
		}
	}
	if !strings.Contains(ts.Logs(), `resourcesID="x\r\n`+forged+`\""`) {
		t.Errorf("the resourcesID is not one quoted field:\n%s", ts.Logs())
	}
}
