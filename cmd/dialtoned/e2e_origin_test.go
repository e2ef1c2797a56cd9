package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// A page served from another origin (the app's own site, a native app's web view, a file)
// opens the WebSocket and logs in: the server reads no Origin, since a connection carries no
// credential of the browser's (no cookie, no HTTP authentication) and acts only for the user
// whose token its login sends (docs/operations.md "Browsers and other origins").
func TestE2EWebSocketOpensFromAnyOrigin(t *testing.T) {
	ts := startServer(t)
	for _, origin := range []string{"https://app.example", "null", "http://127.0.0.1:1"} {
		r := ts.rawWith(t, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		r.send(`{"id":1,"op":"login","data":{"token":"` + token(t, "alice") + `","deviceID":"d-` + strings.NewReplacer(":", "", "/", "", ".", "").Replace(origin) + `"}}`)
		if f := r.reply(1); f.Error != nil {
			t.Errorf("login from Origin %s: %+v, want a result", origin, f.Error)
		}
	}
}

// The REST API answers no cross-origin request of a browser: it sends no CORS header, so a
// page of another origin can neither send its preflight's Authorization nor read an answer
// (docs/operations.md "Browsers and other origins"; docs/api.md: the API is for app servers).
func TestE2ERestAPISendsNoCORSHeaders(t *testing.T) {
	ts := startServer(t, "--api-key", "an-api-key-of-enough-bytes")
	// A preflight, which carries no Authorization, is refused as the request itself is
	// without the key: 401 (docs/api.md).
	for _, method := range []string{http.MethodOptions, http.MethodGet} {
		req, err := http.NewRequestWithContext(t.Context(), method, "http://"+ts.Addr+"/v1/api/calls/c1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", "https://elsewhere.example")
		req.Header.Set("Access-Control-Request-Method", http.MethodGet)
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		for name := range res.Header {
			if strings.HasPrefix(strings.ToLower(name), "access-control-") {
				t.Errorf("%s /v1/api/calls/c1 from another origin answers %s: %q", method, name, res.Header.Get(name))
			}
		}
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s /v1/api/calls/c1 without a key: %d, want 401", method, res.StatusCode)
		}
	}
}

// A request whose headers pass 1 MiB (and the few KiB of slack Go's HTTP server allows), the
// WebSocket handshake's as any other, is refused with 431 before any handler reads it
// (docs/operations.md "Limits on requests"); headers just under it are read.
func TestE2EOversizedRequestHeadersAreRefused(t *testing.T) {
	ts := startServer(t, "--api-key", "an-api-key-of-enough-bytes")
	for _, tc := range []struct {
		path string
		pad  int
		want int
	}{
		{"/v1/ws", 1<<20 + 8<<10, http.StatusRequestHeaderFieldsTooLarge},
		{"/v1/api/calls/c1", 1<<20 + 8<<10, http.StatusRequestHeaderFieldsTooLarge},
		{"/healthz", 1<<20 + 8<<10, http.StatusRequestHeaderFieldsTooLarge},
		{"/healthz", 1<<20 - 1<<10, http.StatusOK},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+ts.Addr+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("X-Padding", strings.Repeat("p", tc.pad))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s with %d bytes of headers: %v", tc.path, tc.pad, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("GET %s with %d bytes of headers: %d, want %d", tc.path, tc.pad, res.StatusCode, tc.want)
		}
	}
}
