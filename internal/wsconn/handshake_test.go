package wsconn_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/wsconn"
)

// rawHandshake sends req on a new connection to srv and returns the response and its body.
func rawHandshake(t *testing.T, srv *httptest.Server, req string) (*http.Response, string) {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	must(t, err)
	defer nc.Close()
	must(t, nc.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = io.WriteString(nc, req)
	must(t, err)
	method, _, _ := strings.Cut(req, " ")
	resp, err := http.ReadResponse(bufio.NewReader(nc), &http.Request{Method: method})
	must(t, err)
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		must(t, err)
	}
	return resp, string(body)
}

// handshakeServer upgrades every request it can and sends Upgrade's result for each.
func handshakeServer(t *testing.T) (*httptest.Server, <-chan error) {
	results := make(chan error, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsconn.Upgrade(w, r, limit)
		if err == nil {
			c.CloseNow()
		}
		results <- err
	}))
	t.Cleanup(srv.Close)
	return srv, results
}

const sampleKey = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

// RFC 6455 section 4.2.1: Upgrade's "websocket" and Connection's "Upgrade" are tokens in
// lists, in any case, and a header may come on several lines (RFC 9110 section 5.3); an
// extension or subprotocol offered is not taken (none is implemented), so the answer names
// none. The answer's Sec-WebSocket-Accept is section 1.3's for the sample key.
func TestHandshakeAccepted(t *testing.T) {
	srv, results := handshakeServer(t)
	for name, headers := range map[string]string{
		"plain":                   "Upgrade: websocket\r\nConnection: Upgrade\r\n",
		"mixed case":              "Upgrade: WebSocket\r\nConnection: upgrade\r\n",
		"Connection list":         "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n",
		"Connection on two lines": "Upgrade: websocket\r\nConnection: keep-alive\r\nConnection: Upgrade\r\n",
		"Upgrade list":            "Upgrade: foo/2, WebSocket\r\nConnection: Upgrade\r\n",
		"extension and subprotocol offered": "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nSec-WebSocket-Protocol: chat, superchat\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			resp, _ := rawHandshake(t, srv, "GET /v1/ws HTTP/1.1\r\nHost: x\r\n"+headers+sampleKey+"Sec-WebSocket-Version: 13\r\n\r\n")
			if err := <-results; err != nil {
				t.Fatalf("refused: %v", err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols ||
				!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") ||
				resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
				t.Fatalf("answered %s %v", resp.Status, resp.Header)
			}
			for _, h := range []string{"Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol"} {
				if v, ok := resp.Header[h]; ok {
					t.Errorf("answer has %s: %q though nothing was negotiated", h, v)
				}
			}
		})
	}
}

// RFC 6455 section 4.2.2: a handshake that is not one is refused with a coded HTTP error and
// the connection is not upgraded: a method other than GET 405, HTTP/1.0 505, a request that
// asks no upgrade to WebSocket (a plain GET) 426 naming the upgrade, a key that is missing,
// given twice or not base64 of 16 bytes 400, and a version other than 13, or none, 426 with
// Sec-WebSocket-Version: 13.
func TestHandshakeRefused(t *testing.T) {
	srv, results := handshakeServer(t)
	good := "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + sampleKey
	for name, tt := range map[string]struct {
		req    string
		status int
		header string // name: value the answer must have
	}{
		"POST":            {"POST / HTTP/1.1\r\n" + good + "Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n", 405, "Allow: GET"},
		"HEAD":            {"HEAD / HTTP/1.1\r\n" + good + "Sec-WebSocket-Version: 13\r\n\r\n", 405, "Allow: GET"},
		"HTTP/1.0":        {"GET / HTTP/1.0\r\n" + good + "Sec-WebSocket-Version: 13\r\n\r\n", 505, ""},
		"plain GET":       {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 426, "Upgrade: websocket"},
		"no Upgrade":      {"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n" + sampleKey + "Sec-WebSocket-Version: 13\r\n\r\n", 426, "Upgrade: websocket"},
		"no Connection":   {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n" + sampleKey + "Sec-WebSocket-Version: 13\r\n\r\n", 426, "Upgrade: websocket"},
		"other Upgrade":   {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n" + sampleKey + "Sec-WebSocket-Version: 13\r\n\r\n", 426, "Upgrade: websocket"},
		"no key":          {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, ""},
		"short key":       {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, ""},
		"key of 18 bytes": {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, ""},
		"key twice":       {"GET / HTTP/1.1\r\n" + good + "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, ""},
		"version 8":       {"GET / HTTP/1.1\r\n" + good + "Sec-WebSocket-Version: 8\r\n\r\n", 426, "Sec-WebSocket-Version: 13"},
		"version 13, 8":   {"GET / HTTP/1.1\r\n" + good + "Sec-WebSocket-Version: 13, 8\r\n\r\n", 426, "Sec-WebSocket-Version: 13"},
		"version twice":   {"GET / HTTP/1.1\r\n" + good + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8\r\n\r\n", 426, "Sec-WebSocket-Version: 13"},
		"no version":      {"GET / HTTP/1.1\r\n" + good + "\r\n", 426, "Sec-WebSocket-Version: 13"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := rawHandshake(t, srv, tt.req)
			if err := <-results; err == nil {
				t.Fatal("upgraded")
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("answered %s (%q), want %d", resp.Status, body, tt.status)
			}
			if name, value, ok := strings.Cut(tt.header, ": "); ok && resp.Header.Get(name) != value {
				t.Errorf("answer has %s: %q, want %q", name, resp.Header.Get(name), value)
			}
			if tt.req[:4] != "HEAD" && strings.TrimSpace(body) == "" {
				t.Error("the refusal says nothing of why")
			}
		})
	}
}
