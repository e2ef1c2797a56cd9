package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/auth"
	"github.com/dialtone/dialtone/protocol"
)

const testSecret = "server-test-secret-0123456789"

// syncBuffer is a bytes.Buffer safe for the server's writes and the test's reads, which
// wait for a line with waitFor.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{} // poked after each write
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{wrote: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// waitFor returns the first line holding what, failing the test if none comes within 10 s.
func (s *syncBuffer) waitFor(t *testing.T, what string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		for line := range strings.SplitSeq(s.String(), "\n") {
			if strings.Contains(line, what) {
				return line
			}
		}
		select {
		case <-s.wrote:
		case <-deadline:
			t.Fatalf("no %q in the log:\n%s", what, s)
		}
	}
}

// running is a server started by start.
type running struct {
	addr string
	logs *syncBuffer
}

// start runs the server with args (after a secret and a loopback listener on port 0) until the
// test ends, and waits until it serves.
func start(t *testing.T, args ...string) running {
	t.Helper()
	l := launch(t, append([]string{"--secret", testSecret, "--listen", "127.0.0.1:0", "--data", t.TempDir(),
		"--log-level", "warn"}, args...))
	t.Cleanup(func() {
		l.cancel()
		if err := <-l.done; err != nil {
			t.Errorf("server stopped with %v", err)
		}
	})
	return running{addr: l.addr, logs: l.logs}
}

// launched is a server that Run serves until cancel; done receives Run's error once it returns.
type launched struct {
	addr   string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// launch starts Run with args (all of them: no defaults are added) and waits until it serves.
// The caller cancels it and receives from done; a server that fails to start fails the test.
func launch(t *testing.T, args []string) launched {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := launched{logs: newSyncBuffer(), cancel: cancel, done: make(chan error, 1)}
	addrs := make(chan string, 1)
	go func() { l.done <- Run(ctx, args, nil, io.Discard, l.logs, func(a string) { addrs <- a }) }()
	select {
	case l.addr = <-addrs:
		return l
	case err := <-l.done:
		cancel()
		t.Fatalf("server did not start: %v\n%s", err, l.logs)
	case <-time.After(30 * time.Second):
		cancel()
		<-l.done
		t.Fatal("server did not start in 30s")
	}
	return l
}

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files and returns their
// paths and the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile, cert
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// With --tls-cert and --tls-key the listener speaks TLS.
func TestServesTLS(t *testing.T) {
	certFile, keyFile, cert := selfSigned(t)
	srv := start(t, "--tls-cert", certFile, "--tls-key", keyFile)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + srv.addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz over TLS: %s", resp.Status)
	}
}

// A file the server cannot use (a TLS certificate or key, push credentials, push profiles)
// stops it before it touches its data: no data directory created, no database opened, no
// deadline that passed while it was down fired (docs/operations.md "Start-up, probes and
// shutdown": a refused setting stops it before anything else).
func TestUnusableFilesStopTheStartBeforeTheStore(t *testing.T) {
	certFile, _, _ := selfSigned(t)
	_, otherKey, _ := selfSigned(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	push := []string{"--push-webhook-url", "http://127.0.0.1:1/push"}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"missing cert":            {[]string{"--tls-cert", missing, "--tls-key", otherKey}, "--tls-cert: open "},
		"key of another":          {[]string{"--tls-cert", certFile, "--tls-key", otherKey}, "--tls-cert/--tls-key"},
		"key not a key":           {[]string{"--tls-cert", certFile, "--tls-key", certFile}, "--tls-cert/--tls-key"},
		"cert is a dir":           {[]string{"--tls-cert", dir, "--tls-key", otherKey}, "--tls-cert: read "},
		"missing push profiles":   {append(push, "--push-profiles", missing), "--push-profiles"},
		"push profiles not JSON":  {append(push, "--push-profiles", certFile), "--push-profiles"},
		"missing fcm credentials": {[]string{"--fcm-credentials", missing}, "--fcm-credentials"},
		"apns key not a key": {[]string{"--apns-key-file", certFile, "--apns-key-id", "KID", "--apns-team-id", "TEAM"},
			"--apns-key-file"},
		// An empty file (a secret mount not filled in yet, a truncated copy) is told as such,
		// not as what the parser of its format says of no input ("EOF").
		"empty cert":            {[]string{"--tls-cert", empty, "--tls-key", otherKey}, "--tls-cert: " + empty + " is empty"},
		"empty key":             {[]string{"--tls-cert", certFile, "--tls-key", empty}, "--tls-key: " + empty + " is empty"},
		"empty push profiles":   {append(push, "--push-profiles", empty), "--push-profiles: " + empty + " is empty"},
		"empty fcm credentials": {[]string{"--fcm-credentials", empty}, "--fcm-credentials: " + empty + " is empty"},
		"empty apns key": {[]string{"--apns-key-file", empty, "--apns-key-id", "KID", "--apns-team-id", "TEAM"},
			"--apns-key-file: " + empty + " is empty"},
	} {
		t.Run(name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			args := append([]string{"--secret", testSecret, "--listen", "127.0.0.1:0", "--data", data}, tc.args...)
			err := Run(t.Context(), args, nil, io.Discard, io.Discard, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want an error naming %s", err, tc.want)
			}
			if _, serr := os.Stat(data); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("the data directory was created (%v) before the start was refused: %v", serr, err)
			}
		})
	}
}

// kickWatcher reports the reason of each kicked event its client receives.
type kickWatcher struct {
	client.BaseHandler
	kicks chan string
}

func (k kickWatcher) OnKicked(ev client.Kicked) { k.kicks <- ev.Reason }

// A drain kicks every WebSocket session with shutdown at once, whatever HTTP requests are
// still in flight: a REST request whose body never comes (held until the read timeout cuts it)
// does not hold the other sessions' kick back until the drain time runs out, when they would
// be cut without it (docs/operations.md "Start-up, probes and shutdown").
func TestDrainKicksSessionsWhileARequestHangs(t *testing.T) {
	args := []string{"--secret", testSecret, "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--api-key", testAPIKey,
		"--log-level", "warn"}
	l := launch(t, args)
	defer l.cancel()
	addr, logs, cancel, done := l.addr, l.logs, l.cancel, l.done

	watcher := kickWatcher{kicks: make(chan string, 4)}
	c, err := client.Dial(t.Context(), "ws://"+addr+"/v1/ws", client.Options{EventHandler: watcher})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	token, err := auth.Mint([]byte(testSecret), "alice", time.Hour, time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(t.Context(), token, "phone"); err != nil {
		t.Fatal(err)
	}

	awaitingBody(t, addr, 100)

	cancel()
	select {
	case reason := <-watcher.kicks:
		if reason != protocol.KickShutdown {
			t.Errorf("kicked with %q, want %q", reason, protocol.KickShutdown)
		}
	case <-time.After(readTimeout / 2): // well before the hung request's read timeout
		t.Errorf("no shutdown kick within %v of the drain's start", readTimeout/2)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if strings.Contains(logs.String(), "drain time ran out") {
		t.Errorf("the drain ran out of time:\n%s", logs)
	}
}

// A connection that closes before its TLS handshake begins (a load balancer's TCP health
// check, a port scan) is routine: its "http: TLS handshake error … EOF" line is DEBUG, not a
// WARN every few seconds that would bury the handshake errors worth a look (a client that
// refuses the certificate), which stay WARN (docs/operations.md "The log").
func TestTCPProbeOfTheTLSPortIsLoggedAtDebug(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	srv := start(t, "--tls-cert", certFile, "--tls-key", keyFile, "--log-level", "debug")
	conn, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	line := srv.logs.waitFor(t, "TLS handshake error")
	if !strings.Contains(line, "level=DEBUG") {
		t.Errorf("a TCP probe of the TLS port is logged as %q, want DEBUG", line)
	}
}

// From the drain's start, /readyz and /healthz never answer 200: asked on a new connection or
// on a keep-alive one opened before, they answer 503 or fail, while a request in flight holds
// the drain open (docs/operations.md "Start-up, probes and shutdown").
func TestProbesFailFromTheDrainsStart(t *testing.T) {
	args := []string{"--secret", testSecret, "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--api-key", testAPIKey}
	l := launch(t, args)
	defer l.cancel()
	addr, logs, cancel, done := l.addr, l.logs, l.cancel, l.done
	keepAlive := &http.Client{Transport: &http.Transport{}}
	probe := func(c *http.Client, path string) (int, error) {
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	for _, path := range []string{"/readyz", "/healthz"} {
		if status, err := probe(keepAlive, path); status != http.StatusOK {
			t.Fatalf("%s before the drain: %d %v", path, status, err)
		}
	}

	conn := awaitingBody(t, addr, 2) // a request whose body has not come holds the drain open

	cancel()
	logs.waitFor(t, `msg=draining`)
	for _, c := range []*http.Client{keepAlive, {Transport: &http.Transport{DisableKeepAlives: true}}} {
		for _, path := range []string{"/readyz", "/healthz"} {
			if status, err := probe(c, path); status == http.StatusOK {
				t.Errorf("%s during the drain: %d, want 503 or no answer", path, status)
			} else {
				t.Logf("%s during the drain: %d %v", path, status, err)
			}
		}
	}
	if strings.Contains(logs.String(), "msg=stopped") {
		t.Error("the drain ended before the probes: they tested nothing")
	}
	if _, err := conn.Write([]byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// awaitingBody sends the REST API at addr a POST announcing a body of length bytes, and returns
// its connection, closed when the test ends, once the server answered 100 Continue: the
// handler then waits for the body, which the caller may send or withhold.
func awaitingBody(t *testing.T, addr string, length int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "POST /v1/api/calls HTTP/1.1\r\nHost: dialtone\r\nAuthorization: Bearer %s"+
		"\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", testAPIKey, length); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.Contains(line, "100 Continue") {
		t.Fatalf("no 100 Continue: %q %v", line, err)
	}
	return conn
}

// testAPIKey is the REST API key of the servers these tests start with one.
const testAPIKey = "api-key-0123456789abcdef"
