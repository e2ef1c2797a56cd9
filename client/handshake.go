package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// handshakeTransport is the http.RoundTripper of the WebSocket handshake when
// Options.HTTPClient is nil. Each request gets a connection of its own which, once the server
// has switched protocols, becomes the WebSocket: no pool, no goroutine, nothing kept
// afterwards. A request that proxy routes through a proxy goes through viaProxy instead.
type handshakeTransport struct {
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	tls      *tls.Config // for https; nil: the system's roots
	proxy    func(*http.Request) (*url.URL, error)
	viaProxy http.RoundTripper
}

// newHandshakeClient returns the handshake's HTTP client for Options.DialContext (nil: a zero
// net.Dialer) and Options.TLSConfig. Proxies named by the environment (HTTP_PROXY,
// HTTPS_PROXY, NO_PROXY) are honoured through http.DefaultTransport, or a copy of it with
// tlsConfig.
func newHandshakeClient(dial func(ctx context.Context, network, addr string) (net.Conn, error),
	tlsConfig *tls.Config) *http.Client {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return &http.Client{Transport: &handshakeTransport{
		dial:     dial,
		tls:      tlsConfig,
		proxy:    http.ProxyFromEnvironment,
		viaProxy: proxyTransport(tlsConfig, http.ProxyFromEnvironment),
	}}
}

// proxyTransport returns the transport of a handshake through the proxy that proxy names: a
// copy of http.DefaultTransport with tlsConfig (nil: the system's roots) and without
// keep-alives. A handshake's connection becomes its WebSocket once the server switches
// protocols, and a refused handshake's (a draining server's 503, a proxy's 407) is closed,
// rather than kept idle in a pool that no later handshake of the client would reuse.
func proxyTransport(tlsConfig *tls.Config, proxy func(*http.Request) (*url.URL, error)) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = proxy
	tr.DisableKeepAlives = true
	if tlsConfig != nil {
		tr.TLSClientConfig = tlsConfig
	}
	return tr
}

// RoundTrip sends req on a new connection and reads the response's head. A 101 response's
// Body is the connection itself (an io.ReadWriteCloser, as the WebSocket library requires);
// another response's Body reads what follows the head and closes the connection on Close.
// The connection is closed when anything fails, and ctx ending unblocks it.
func (t *handshakeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if p, err := t.proxy(req); err != nil || p != nil {
		return t.viaProxy.RoundTrip(req)
	}
	ctx := req.Context()
	secure := req.URL.Scheme == "https"
	nc, err := t.dial(ctx, "tcp", hostPort(req.URL.Host, secure))
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	resp, err := t.exchange(ctx, nc, req, secure)
	if !stop() || err != nil {
		nc.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	return resp, nil
}

func (t *handshakeTransport) exchange(ctx context.Context, nc net.Conn, req *http.Request, secure bool) (*http.Response, error) {
	rwc := io.ReadWriteCloser(nc)
	if secure {
		cfg := t.tls.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = req.URL.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		rwc = tc
	}
	if err := req.Write(rwc); err != nil {
		return nil, err
	}
	br := bufio.NewReader(rwc)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{resp.Body, rwc}
		return resp, nil
	}
	resp.Body = &upgradedConn{head: br, ReadWriteCloser: rwc}
	return resp, nil
}

// upgradeRecorder is the RoundTripper of one handshake: it passes the request to next (nil:
// http.DefaultTransport) and records the connection a 101 response hands over, which the
// WebSocket library reads and writes from then on.
type upgradeRecorder struct {
	next http.RoundTripper
	conn io.Closer // nil until a 101 response
}

func (r *upgradeRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	next := r.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		r.conn = resp.Body
	}
	return resp, err
}

// upgradedConn is a connection whose first bytes may already sit in the reader that parsed
// the response's head.
type upgradedConn struct {
	head *bufio.Reader // nil once drained
	io.ReadWriteCloser
}

func (c *upgradedConn) Read(p []byte) (int, error) {
	if c.head != nil {
		if c.head.Buffered() > 0 {
			return c.head.Read(p)
		}
		c.head = nil
	}
	return c.ReadWriteCloser.Read(p)
}

// hostPort returns host with the scheme's default port when it names none.
func hostPort(host string, secure bool) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	port := "80"
	if secure {
		port = "443"
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), port)
}
