package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/protocol"
)

// viaProxy dials the server as a reverse proxy would for a client: over the test's own TCP
// connection (from 127.0.0.1), with one X-Forwarded-For header line per value of xff.
func (ts *testServer) viaProxy(t *testing.T, xff ...string) *rawConn {
	t.Helper()
	h := http.Header{}
	for _, v := range xff {
		h.Add("X-Forwarded-For", v)
	}
	return ts.rawWith(t, &websocket.DialOptions{HTTPHeader: h})
}

// refusedPerIP checks that r was refused for holding too many connections not logged in from
// its address: one 6000292 frame, then a 1008 close (docs/behaviour.md §12).
func refusedPerIP(t *testing.T, r *rawConn, what string) {
	t.Helper()
	if c := r.errorCode(); c != protocol.CodeRateLimited {
		t.Errorf("%s: code %d, want 6000292", what, c)
	}
	if c := r.closed(); c != 1008 {
		t.Errorf("%s: closed with %d, want 1008", what, c)
	}
}

// Behind a reverse proxy the server trusts (--trusted-proxies, docs/operations.md), each client
// has its own allowance of connections not logged in, counted by the right-most address of
// X-Forwarded-For that is not a trusted proxy's, and the log names the client, not the proxy.
func TestE2ETrustedProxyCountsEachClient(t *testing.T) {
	ts := startServer(t, "--max-unauthenticated-per-ip", "1", "--trusted-proxies", "127.0.0.1, ::1", "--log-level", "debug")

	first := ts.viaProxy(t, "203.0.113.1")
	// A client that writes its own X-Forwarded-For gets it kept at the left: only the
	// right-most entry, which the proxy wrote, counts.
	second := ts.viaProxy(t, "203.0.113.1, 198.51.100.2")
	second.login("bob") // not refused: 198.51.100.2 has an allowance of its own
	refusedPerIP(t, ts.viaProxy(t, "203.0.113.1"), "a second connection of 203.0.113.1")
	refusedPerIP(t, ts.viaProxy(t, "198.51.100.9", "203.0.113.1"), "203.0.113.1 over two header lines")
	first.login("alice") // frees 203.0.113.1's place
	ts.viaProxy(t, "203.0.113.1").login("carol")

	for _, line := range refusedLoginLines(t, ts, ts.viaProxy(t, "192.0.2.77")) {
		if !strings.Contains(line, "ip=192.0.2.77") {
			t.Errorf("the refused login is logged without its client's address: %s", line)
		}
	}
}

// refusedLoginLines sends a login with a bad token on r and returns the lines of the server's
// log that record its refusal.
func refusedLoginLines(t *testing.T, ts *testServer, r *rawConn) []string {
	t.Helper()
	r.send(`{"id":1,"op":"login","data":{"token":"not-a-token","deviceID":"d"}}`)
	if c := r.errorCode(); c != protocol.CodeAuthFailed {
		t.Fatalf("login with a bad token: code %d, want 6000291", c)
	}
	waitLogs(t, ts, "login refused")
	var lines []string
	for _, line := range strings.Split(ts.Logs(), "\n") {
		if strings.Contains(line, "login refused") {
			lines = append(lines, line)
		}
	}
	return lines
}

// From a peer that is not a trusted proxy, X-Forwarded-For changes nothing: a client cannot
// spoof its address to escape the per-address limit, whether no proxy is trusted (the
// default) or others are.
func TestE2EUntrustedPeerCannotSpoofItsAddress(t *testing.T) {
	for _, trusted := range []string{"", "192.0.2.1, 10.0.0.0/8"} {
		t.Run("trusted="+trusted, func(t *testing.T) {
			ts := startServer(t, "--max-unauthenticated-per-ip", "1", "--trusted-proxies", trusted)
			ts.viaProxy(t, "203.0.113.1")
			refusedPerIP(t, ts.viaProxy(t, "198.51.100.2"), "a spoofed X-Forwarded-For from an untrusted peer")
			refusedPerIP(t, ts.raw(t), "the same peer without the header")
		})
	}
}

// From a peer that is not a trusted proxy, X-Forwarded-For does not change the address the
// log names either: a refused login is logged with the peer's own address, never with the
// one the client wrote (docs/operations.md "The client's address").
func TestE2EUntrustedPeerIsLoggedByItsOwnAddress(t *testing.T) {
	ts := startServer(t, "--trusted-proxies", "192.0.2.1", "--log-level", "debug")
	for _, line := range refusedLoginLines(t, ts, ts.viaProxy(t, "198.51.100.2")) {
		if !strings.Contains(line, "ip=127.0.0.1 ") {
			t.Errorf("the refused login is not logged with the peer's address 127.0.0.1: %s", line)
		}
	}
	for _, line := range strings.Split(ts.Logs(), "\n") {
		if strings.Contains(line, "198.51.100.2") {
			t.Errorf("the log names the address the client wrote: %s", line)
		}
	}
}
