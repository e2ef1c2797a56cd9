package client

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/goroutines"
	"github.com/dialtone/dialtone/protocol"
)

// goroutineStacks returns the stack of every goroutine, by its header line ("goroutine N
// [state]:"), without the state, which changes while a goroutine runs.
func goroutineStacks() map[string]string {
	stacks := map[string]string{}
	for _, g := range goroutines.Stacks() {
		head, _, _ := strings.Cut(g, " [")
		stacks[head] = g
	}
	return stacks
}

// serverSide reports whether a goroutine's stack belongs to a test's server (an httptest
// server, a raw listener, the fake server's handlers) or to the test itself, not to a client.
func serverSide(stack string) bool {
	for _, s := range []string{"net/http.(*conn).serve", "net/http/httptest", "net/http.(*Server).Serve",
		"client.rawServer", "client.(*fakeServer)", "client.(*fakeConn)", "testing.tRunner", "testing.(*T).Run",
		"testing.runTests", "testing.(*M)", "client.refusingServer", "client.silentListener"} {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}

// clientSockets returns how many sockets of the process are connected to port (a test
// server's): the client's ends of its connections, which the server's own ends are not.
func clientSockets(t *testing.T, port int) int {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("reading /proc/self/fd: %v", err)
	}
	for _, fd := range fds {
		link, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	n := 0
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, row := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(row)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			_, remPort, _ := strings.Cut(f[2], ":")
			if p, err := strconv.ParseInt(remPort, 16, 32); err == nil && int(p) == port {
				n++
			}
		}
	}
	return n
}

// portOf returns the port of a ws:// URL.
func portOf(t *testing.T, rawURL string) int {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("no port in %s", rawURL)
	}
	return p
}

// leakCheck records the goroutines of the process; the function it returns waits, up to 5 s,
// until every goroutine started since that is not a test server's has ended and no socket of
// the process is connected to one of ports, and fails the test with what is left otherwise.
func leakCheck(t *testing.T) func(what string, ports ...int) {
	t.Helper()
	before := goroutineStacks()
	return func(what string, ports ...int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			var left []string
			for head, stack := range goroutineStacks() {
				if _, old := before[head]; !old && !serverSide(stack) {
					left = append(left, stack)
				}
			}
			open := 0
			for _, p := range ports {
				open += clientSockets(t, p)
			}
			if len(left) == 0 && open == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d goroutines and %d sockets of the client left:\n%s",
					what, len(left), open, strings.Join(left, "\n\n"))
			}
			time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
		}
	}
}

// waitNoClientSockets waits, up to 5 s, until no socket of the process is connected to port.
func waitNoClientSockets(t *testing.T, what string, port int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for clientSockets(t, port) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d sockets of the client still open", what, clientSockets(t, port))
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
}

// After Close and after Logout of a logged-in client that made requests, nothing of the
// client is left: no goroutine, timer goroutine or socket.
func TestNoLeakAfterCloseOrLogout(t *testing.T) {
	for _, end := range []string{"Close", "Logout"} {
		t.Run(end, func(t *testing.T) {
			fs := newFakeServer(t)
			check := leakCheck(t)
			c, fc := connect(t, fs, Options{})
			fc.emit(protocol.EventCallInvitationReceived, callEvent("c1"))
			nextOp(t, fs, protocol.OpCallReceived)
			if _, err := c.QueryCall(testCtx(t), "c1"); err != nil {
				t.Fatalf("QueryCall: %v", err)
			}
			if end == "Close" {
				c.Close()
			} else if err := c.Logout(testCtx(t)); err != nil {
				t.Fatalf("Logout: %v", err)
			}
			check("after "+end, portOf(t, fs.url()))
		})
	}
}

// refusingServer refuses every connection as the server does one over its limit of
// connections not logged in from an address: an error frame with id 0, then the close.
func refusingServer(t *testing.T) string {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		_ = ws.Write(ctx, websocket.MessageText, mustJSON(protocol.Reply{Error: &protocol.Error{
			Code: protocol.CodeRateLimited, Message: "too many connections not logged in from this address"}}))
		_ = ws.Close(websocket.StatusPolicyViolation, "")
	}))
	t.Cleanup(hs.Close)
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

// droppingServer takes every WebSocket and drops it at once, as a server that goes away does.
func droppingServer(t *testing.T) *httptest.Server {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ws, err := websocket.Accept(w, r, nil); err == nil {
			ws.CloseNow()
		}
	}))
	t.Cleanup(hs.Close)
	return hs
}

// silentListener accepts TCP connections and never answers their handshake.
func silentListener(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				_, _ = http.ReadRequest(br)
				<-done
			}()
		}
	}()
	return "ws://" + ln.Addr().String()
}

// A Login that fails, however it fails, leaves no socket open; once the client is closed,
// nothing of it is left (protocol "Login").
func TestNoLeakAfterAFailedLogin(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T) (url string, ctx context.Context)
	}{
		{"bad token", func(t *testing.T) (string, context.Context) {
			fs := newFakeServer(t)
			fs.setLoginErr(func(protocol.LoginData) *protocol.Error {
				return &protocol.Error{Code: protocol.CodeAuthFailed, Message: "authentication failed"}
			})
			fs.loginKick = protocol.KickAuthFailed
			return fs.url(), testCtx(t)
		}},
		{"connection refused", func(t *testing.T) (string, context.Context) {
			return refusingServer(t), testCtx(t)
		}},
		{"cancelled while waiting for the reply", func(t *testing.T) (string, context.Context) {
			fs := newFakeServer(t)
			fs.neverAnswerLogins(t)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			t.Cleanup(cancel)
			return fs.url(), ctx
		}},
		{"server gone", func(t *testing.T) (string, context.Context) {
			hs := droppingServer(t)
			return "ws" + strings.TrimPrefix(hs.URL, "http"), testCtx(t)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check := leakCheck(t)
			u, ctx := tc.setup(t)
			c, err := Dial(testCtx(t), u, Options{})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if _, err := c.Login(ctx, "token", "dev1"); err == nil {
				t.Fatal("Login succeeded; want it refused")
			}
			waitNoClientSockets(t, "after the failed Login", portOf(t, u))
			c.Close()
			check("after the failed Login and Close", portOf(t, u))
		})
	}
}

// A Login whose own dial fails (the server is gone, or its context ends while the server does
// not answer the handshake) leaves nothing once the client is closed, and a Dial cut short
// by its context leaves nothing at all.
func TestNoLeakAfterADialFails(t *testing.T) {
	t.Run("server gone", func(t *testing.T) {
		check := leakCheck(t)
		hs := droppingServer(t)
		c, err := Dial(testCtx(t), "ws"+strings.TrimPrefix(hs.URL, "http"), Options{})
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		hs.Close()
		if _, err := c.Login(testCtx(t), "token", "dev1"); err == nil {
			t.Fatal("Login succeeded with the server gone")
		}
		c.Close()
		check("after Close")
	})
	t.Run("Login cancelled during the handshake", func(t *testing.T) {
		check := leakCheck(t)
		hs := droppingServer(t)
		c, err := Dial(testCtx(t), "ws"+strings.TrimPrefix(hs.URL, "http"), Options{})
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		waitDead(t, c)
		silent := silentListener(t)
		c.url.Host = strings.TrimPrefix(silent, "ws://")
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := c.Login(ctx, "token", "dev1"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Login: %v, want context.DeadlineExceeded", err)
		}
		waitNoClientSockets(t, "after the failed Login", portOf(t, silent))
		c.Close()
		check("after Close", portOf(t, silent))
	})
	t.Run("Dial cancelled during the handshake", func(t *testing.T) {
		check := leakCheck(t)
		silent := silentListener(t)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := Dial(ctx, silent, Options{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial: %v, want context.DeadlineExceeded", err)
		}
		check("after the failed Dial", portOf(t, silent))
	})
}

// waitDead waits until the connection that Dial opened for c is dead.
func waitDead(t *testing.T, c *Client) {
	t.Helper()
	c.mu.Lock()
	pre := c.pre
	c.mu.Unlock()
	recv(t, pre.done, "the connection to die")
}

// Many reconnections leave the goroutine count where one connection has it, and nothing once
// the client is closed.
func TestNoLeakAcrossReconnections(t *testing.T) {
	fs := newFakeServer(t)
	check := leakCheck(t)
	c, fc := connect(t, fs, Options{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	recv(t, fs.logins, "the login")
	settled := runtime.NumGoroutine()
	for range 30 {
		fc.drop()
		recv(t, fs.logins, "the reconnection's login")
		fc = recv(t, fs.conns, "the reconnection")
		if _, err := c.QueryCall(testCtx(t), "c1"); err != nil {
			t.Fatalf("QueryCall: %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > settled+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
	if n := runtime.NumGoroutine(); n > settled+2 {
		t.Fatalf("%d goroutines after 30 reconnections, %d after the first connection", n, settled)
	}
	c.Close()
	check("after Close", portOf(t, fs.url()))
}

// Requests cut short by their context leave no entry in the connection's pending requests,
// and acknowledged invitations none among the receipts on their way.
func TestPendingRequestsAndReceiptsShrinkBack(t *testing.T) {
	fs := newFakeServer(t)
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		if req.Op == protocol.OpQueryCall {
			return nil, nil, false // never answered
		}
		return defaultRespond(fc, req)
	})
	c, fc := connect(t, fs, Options{})
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		if _, err := c.QueryCall(ctx, "c1"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("QueryCall %d: %v, want context.DeadlineExceeded", i, err)
		}
		cancel()
		fc.emit(protocol.EventCallInvitationReceived, callEvent("c"+string(rune('a'+i))))
		nextOp(t, fs, protocol.OpCallReceived)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		receipts := len(c.receipts)
		c.mu.Unlock()
		pending := pendingRequests(c)
		if pending == 0 && receipts == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests pending and %d receipts on their way, want none", pending, receipts)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
}

// A client finished by the server (a kick without retry), or closed while it reconnects or
// after its connection went silent, leaves nothing.
func TestNoLeakAfterKickOrWhileReconnecting(t *testing.T) {
	t.Run("kicked without retry", func(t *testing.T) {
		fs := newFakeServer(t)
		check := leakCheck(t)
		c, fc := connect(t, fs, Options{})
		fc.kick(protocol.KickReplaced)
		recv(t, c.Done(), "the client to finish")
		check("after the kick", portOf(t, fs.url()))
	})
	t.Run("closed during the backoff", func(t *testing.T) {
		fs := newFakeServer(t)
		check := leakCheck(t)
		c, fc := connect(t, fs, Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
		fc.drop()
		deadline := time.Now().Add(5 * time.Second)
		for c.State() != Reconnecting && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
		}
		c.Close()
		check("after Close", portOf(t, fs.url()))
	})
	t.Run("heartbeat timeout", func(t *testing.T) {
		fs := newFakeServer(t)
		fs.hbInterval, fs.hbTimeout = 20, 60
		fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
			return nil, nil, false // silent
		})
		check := leakCheck(t)
		c, _ := connect(t, fs, Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
		deadline := time.Now().Add(5 * time.Second)
		for c.State() != Reconnecting && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
		}
		c.Close()
		check("after Close", portOf(t, fs.url()))
	})
}

// A handshake that goes through a proxy (HTTPS_PROXY, HTTP_PROXY) and is refused, as a
// draining server's 503 is, leaves no connection to the proxy open: each handshake has a
// connection of its own, so a refused one is closed, not kept idle for a later request that
// never comes (reconnection attempts would pile them up).
func TestRefusedHandshakeThroughAProxyLeavesNoConnection(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "shutting down", http.StatusServiceUnavailable) // as the server answers while draining
	}))
	t.Cleanup(proxy.Close)
	proxyURL, err := url.Parse(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	via := func(*http.Request) (*url.URL, error) { return proxyURL, nil }
	hc := &http.Client{Transport: &handshakeTransport{proxy: via, viaProxy: proxyTransport(nil, via)}}
	for range 3 {
		_, _, err := websocket.Dial(testCtx(t), "ws://dialtone.example/v1/ws", &websocket.DialOptions{HTTPClient: hc})
		if err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("handshake through the proxy: %v, want the 503", err)
		}
	}
	waitNoClientSockets(t, "after 3 refused handshakes through a proxy", portOf(t, proxy.URL))

	// A handshake the server answers still becomes the WebSocket.
	upgraded := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ws, err := websocket.Accept(w, r, nil); err == nil {
			defer ws.CloseNow()
			_, _, _ = ws.Read(r.Context())
		}
	}))
	t.Cleanup(upgraded.Close)
	if proxyURL, err = url.Parse(upgraded.URL); err != nil { // via names it from now on
		t.Fatal(err)
	}
	ws, _, err := websocket.Dial(testCtx(t), "ws://dialtone.example/v1/ws", &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("handshake answered through the proxy: %v", err)
	}
	ws.Close(websocket.StatusNormalClosure, "")
	waitNoClientSockets(t, "after a WebSocket through a proxy closed", portOf(t, upgraded.URL))
}

// pendingRequests returns how many requests of c's current connection await their reply.
func pendingRequests(c *Client) int {
	c.mu.Lock()
	cn := c.cur
	c.mu.Unlock()
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return len(cn.pending)
}
