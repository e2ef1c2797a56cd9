package client

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Options configure a Client. The zero value is usable: every field has a default.
type Options struct {
	// EventHandler receives events and connection state changes; nil ignores them (the client
	// still acknowledges invitations). See EventHandler for the delivery contract: one call at
	// a time, in order, and none running or to come once Close or Logout has returned.
	EventHandler EventHandler

	// Logger receives the client's diagnostics; nil discards them.
	Logger *slog.Logger

	// HTTPClient performs the WebSocket handshake. A Timeout other than 0 bounds each
	// handshake, within the context of the Dial, Login or reconnection attempt that makes it,
	// and not the connection it opens, which lasts beyond it. nil, the usual choice: the client opens a connection of its own for each handshake (with DialContext
	// and TLSConfig), or, when the environment names a proxy for the server's address
	// (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), one through the proxy with a copy of
	// http.DefaultTransport (and TLSConfig); a refused handshake's connection is closed.
	HTTPClient *http.Client
	// DialContext opens the TCP connection of a handshake when HTTPClient is nil, for example
	// from a chosen local address; nil uses a zero net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig configures wss handshakes when HTTPClient is nil, for example with the roots
	// of a private certificate authority; nil verifies against the system's roots. An empty
	// ServerName is taken from the URL.
	TLSConfig *tls.Config
	// HTTPHeader is sent with every handshake (for example a proxy's authorization).
	HTTPHeader http.Header

	// MinBackoff and MaxBackoff bound the exponential, jittered wait between reconnection
	// attempts; defaults 250 ms and 30 s. The first attempt after a drop waits up to
	// MinBackoff; each further attempt doubles the bound up to MaxBackoff. A session that
	// ends within MaxBackoff of its login counts as an attempt too, so a server that drops
	// every session right after login is retried less and less often; one that lasted
	// MaxBackoff or longer starts the count again.
	MinBackoff, MaxBackoff time.Duration

	// SeqStore persists the last processed event seq per device so a restarted application
	// resumes (behaviour R7.2); nil keeps it only in the client's memory.
	SeqStore SeqStore

	// TokenSource returns the token for each reconnection's login; nil reuses the token given
	// to Login. An error is logged and retried with backoff. It must return when ctx is done
	// (after RequestTimeout, or when the client is closed): Close waits for it, and so it must
	// not call Close or Logout itself, which would wait for ever; one that finds the user signed
	// out may start them on another goroutine (go c.Close()) and return an error. Nor may it
	// wait for an operation of the client: the operation waits for the reconnection that waits
	// for the token, so it fails with ctx's error at every attempt, and the client never
	// reconnects.
	TokenSource func(ctx context.Context) (string, error)

	// RequestTimeout bounds an operation whose context has no deadline, retries across
	// reconnections included, and so a Dial, a Login and each reconnection attempt; default
	// 15 s.
	RequestTimeout time.Duration
}

// Defaults used when Options leaves a field zero, and when the server's login result carries
// no heartbeat settings.
const (
	DefaultMinBackoff       = 250 * time.Millisecond
	DefaultMaxBackoff       = 30 * time.Second
	DefaultRequestTimeout   = 15 * time.Second
	defaultHeartbeatEvery   = 10 * time.Second
	defaultHeartbeatTimeout = 35 * time.Second
)

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.EventHandler == nil {
		o.EventHandler = BaseHandler{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	return o
}
