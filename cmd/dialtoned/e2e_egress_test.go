package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/servertest"
)

// egressProxy is an HTTP proxy that refuses every tunnel (502) and records the host:port of
// each CONNECT.
type egressProxy struct {
	addr string
	mu   sync.Mutex
	seen map[string]bool
}

func newEgressProxy(t *testing.T) *egressProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { l.Close() })
	p := &egressProxy{addr: l.Addr().String(), seen: map[string]bool{}}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				p.mu.Lock()
				p.seen[req.Method+" "+req.Host] = true
				p.mu.Unlock()
				_, _ = c.Write([]byte("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"))
			}()
		}
	}()
	return p
}

func (p *egressProxy) saw(request string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[request]
}

// A server whose outgoing connections must go through a proxy (HTTPS_PROXY, as Go's HTTP
// clients take it; docs/operations.md) sends webhooks and pushes of every provider through it.
// APNs went straight to its endpoint, which such a network never lets through.
func TestE2EOutgoingRequestsUseTheEnvironmentProxy(t *testing.T) {
	proxy := newEgressProxy(t)
	keyFile, _ := apnsKeyFile(t)
	fcmFile := filepath.Join(t.TempDir(), "fcm.json")
	must(t, os.WriteFile(fcmFile, serviceAccount(t), 0o600))
	addr := freeAddr(t)
	cmd := startBinary(t, buildServer(t), addr, []string{"HTTPS_PROXY=http://" + proxy.addr, "NO_PROXY="},
		"--data", t.TempDir(), "--secret", servertest.Secret, "--log-level", "warn",
		"--webhook-url", "https://hooks.example/dialtone", "--webhook-secret", hookSecret,
		"--fcm-credentials", fcmFile, "--fcm-token-url", "https://oauth.example/token",
		"--apns-key-file", keyFile, "--apns-key-id", "KEYID12345", "--apns-team-id", "TEAMID1234",
		"--apns-endpoint", "https://apns.example")
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "ws://" + addr + "/v1/ws"

	bob := dialAt(t, url, "bob", "b-phone", client.Options{})
	_, err := bob.Login(t.Context(), token(t, "bob"), "b-phone")
	must(t, err)
	must(t, bob.PushRegister(t.Context(), client.PushTarget{Provider: "apns", Token: "bob-apns", BundleID: "com.example"}))
	must(t, bob.PushRegister(t.Context(), client.PushTarget{Provider: "fcm", Token: "bob-fcm"}))
	bob.Close()
	alice := dialAt(t, url, "alice", "a", client.Options{})
	_, err = alice.Login(t.Context(), token(t, "alice"), "a")
	must(t, err)
	for deadline := time.Now().Add(waitFor); !strings.Contains(get(t, "http://"+addr+"/metrics"), "\ndialtone_sessions 1\n"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("bob's session did not end")
		}
	}
	_, err = alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 30, PushConfig: ring})
	must(t, err)

	want := []string{"CONNECT hooks.example:443", "CONNECT oauth.example:443", "CONNECT apns.example:443"}
	for deadline := time.Now().Add(waitFor); ; time.Sleep(20 * time.Millisecond) {
		missing := slices.DeleteFunc(slices.Clone(want), proxy.saw)
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy saw no %v", missing)
		}
	}
}

// getStatus returns the status and body of GET url.
func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp.StatusCode, string(body)
}

// get returns the body of a GET of url.
func get(t *testing.T, url string) string {
	t.Helper()
	_, body := getStatus(t, url)
	return body
}
