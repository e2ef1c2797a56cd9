package client

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// rawServer accepts one TCP connection and hands it to serve.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		serve(nc)
	}()
	return "ws://" + ln.Addr().String() + "/v1/ws"
}

// readHandshake reads a handshake request's head and returns its Sec-WebSocket-Accept value.
func readHandshake(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	req, err := http.ReadRequest(br)
	if err != nil {
		t.Errorf("read handshake: %v", err)
		return ""
	}
	h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// answeringServer reads one handshake, writes response to it, then reports on closed what its
// next read got within 5 s: io.EOF once the client has closed the connection.
func answeringServer(t *testing.T, response string) (u string, closed <-chan error) {
	t.Helper()
	ch := make(chan error, 1)
	u = rawServer(t, func(nc net.Conn) {
		br := bufio.NewReader(nc)
		readHandshake(t, br)
		nc.Write([]byte(response))
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := br.ReadByte()
		ch <- err
	})
	return u, ch
}

func TestHandshakeKeepsBytesSentWithItsResponse(t *testing.T) {
	const text = `{"event":"hello"}`
	u := rawServer(t, func(nc net.Conn) {
		accept := readHandshake(t, bufio.NewReader(nc))
		// The response's head and a first text frame in one write, so the client reads both
		// at once.
		msg := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + accept + "\r\n\r\n" + "\x81" + string(rune(len(text))) + text
		nc.Write([]byte(msg))
		io.Copy(io.Discard, nc)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: newHandshakeClient(nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	typ, data, err := ws.Read(ctx)
	if err != nil || typ != websocket.MessageText || string(data) != text {
		t.Fatalf("first frame = %v %q, %v; want the text frame sent with the response", typ, data, err)
	}
}

func TestHandshakeRefusedClosesItsConnection(t *testing.T) {
	u, closed := answeringServer(t, "HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: newHandshakeClient(nil, nil)})
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("Dial = %v; want an error naming the 403", err)
	}
	if err := <-closed; !errors.Is(err, io.EOF) {
		t.Fatalf("the server's read after the refusal = %v; want EOF (the client closed)", err)
	}
}

// A password in the URL is a credential the handshake sends (Basic authentication, for a proxy
// in front of the server): a failed Dial names the URL without it, as net/http does, since
// apps log the error.
func TestDialErrorHoldsNoPassword(t *testing.T) {
	u, _ := answeringServer(t, "HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Dial(ctx, strings.Replace(u, "://", "://alice:pass-0123456789@", 1), Options{})
	if err == nil || strings.Contains(err.Error(), "pass-0123456789") {
		t.Fatalf("Dial = %v; want an error without the password", err)
	}
}

func TestHandshakeEndsWithItsContext(t *testing.T) {
	u, closed := answeringServer(t, "") // never answers
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: newHandshakeClient(nil, nil)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial = %v; want the context's deadline", err)
	}
	if err := <-closed; !errors.Is(err, io.EOF) {
		t.Fatalf("the server's read after the deadline = %v; want EOF (the client closed)", err)
	}
}

func TestHandshakeOverTLS(t *testing.T) {
	upgraded := make(chan struct{}, 2)
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		upgraded <- struct{}{}
		ws.Read(r.Context())
	}))
	defer hs.Close()
	u := "wss" + strings.TrimPrefix(hs.URL, "https")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// The system's roots do not know the test server's certificate: the handshake is refused.
	_, err := Dial(ctx, u, Options{})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("Dial with the system's roots = %v; want x509.UnknownAuthorityError", err)
	}

	roots := x509.NewCertPool()
	roots.AddCert(hs.Certificate())
	c, err := Dial(ctx, u, Options{TLSConfig: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatalf("Dial with the server's root = %v", err)
	}
	defer c.Close()
	select {
	case <-upgraded:
	case <-ctx.Done():
		t.Fatal("the server saw no WebSocket upgrade")
	}
}

func TestHandshakeGoesThroughTheProxyNamed(t *testing.T) {
	var dialed, proxied atomic.Int32
	errProxy := errors.New("proxy reached")
	tr := &handshakeTransport{
		dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed.Add(1)
			return nil, errors.New("dialed directly")
		},
		viaProxy: roundTripFunc(func(*http.Request) (*http.Response, error) {
			proxied.Add(1)
			return nil, errProxy
		}),
	}
	req, _ := http.NewRequest(http.MethodGet, "http://dialtone.example/v1/ws", nil)

	tr.proxy = func(*http.Request) (*url.URL, error) { return url.Parse("http://proxy.example:3128") }
	if _, err := tr.RoundTrip(req); !errors.Is(err, errProxy) || proxied.Load() != 1 || dialed.Load() != 0 {
		t.Fatalf("with a proxy: err %v, proxied %d, dialed %d; want the proxy only", err, proxied.Load(), dialed.Load())
	}
	tr.proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	if _, err := tr.RoundTrip(req); err == nil || proxied.Load() != 1 || dialed.Load() != 1 {
		t.Fatalf("without a proxy: err %v, proxied %d, dialed %d; want a direct dial", err, proxied.Load(), dialed.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestDialUsesTheDialContextOption(t *testing.T) {
	fs := newFakeServer(t)
	var addrs []string
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		addrs = append(addrs, addr)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, fs.url(), Options{DialContext: dial})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if want := strings.TrimPrefix(fs.hs.URL, "http://"); len(addrs) != 1 || addrs[0] != want {
		t.Fatalf("dialed %v; want [%s]", addrs, want)
	}
}

func TestHostPort(t *testing.T) {
	for _, tc := range []struct {
		host   string
		secure bool
		want   string
	}{
		{"example.com", false, "example.com:80"},
		{"example.com", true, "example.com:443"},
		{"example.com:8080", true, "example.com:8080"},
		{"[::1]", false, "[::1]:80"},
		{"[::1]:3425", false, "[::1]:3425"},
	} {
		if got := hostPort(tc.host, tc.secure); got != tc.want {
			t.Errorf("hostPort(%q, %v) = %q; want %q", tc.host, tc.secure, got, tc.want)
		}
	}
}

// TestHTTPClientTimeoutBoundsTheHandshakeOnly: an Options.HTTPClient with a Timeout gives up a
// handshake that takes longer, and the connection the handshake opened outlives its Timeout.
func TestHTTPClientTimeoutBoundsTheHandshakeOnly(t *testing.T) {
	t.Run("handshake", func(t *testing.T) {
		u, _ := answeringServer(t, "") // never answers
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := Dial(ctx, u, Options{HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
		if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			t.Fatalf("Dial = %v, its context's error %v; want the Timeout's deadline, before the context's", err, ctx.Err())
		}
	})
	t.Run("connection", func(t *testing.T) {
		fs := newFakeServer(t)
		// The handshake's request carries the Timeout's deadline, which the test waits out; the
		// Timeout is one a loopback handshake never nears, however loaded the machine.
		deadlines := make(chan time.Time, 16)
		recordDeadline := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			deadline, _ := r.Context().Deadline()
			deadlines <- deadline
			return http.DefaultTransport.RoundTrip(r)
		})
		c, _ := connect(t, fs, Options{HTTPClient: &http.Client{Timeout: time.Second, Transport: recordDeadline}})
		recv(t, fs.logins, "login")
		deadline := recv(t, deadlines, "the handshake's deadline")
		if deadline.IsZero() {
			t.Fatal("the handshake's request has no deadline; want the Timeout's")
		}
		<-time.After(time.Until(deadline))
		if _, err := c.CallAccept(testCtx(t), "c1", OpConfig{}); err != nil {
			t.Fatalf("CallAccept after the Timeout: %v", err)
		}
		assertNoReconnection(t, fs, c)
	})
}
