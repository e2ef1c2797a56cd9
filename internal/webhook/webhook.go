// Package webhook sends the server callbacks of behaviour §10 (docs/webhooks.md): one signed
// HTTP POST per outbox record. Ordering, retries and expiry are internal/outbox's; this package
// only signs, sends and says whether the receiver took it (any 2xx), and when it asked to be
// tried again (Retry-After).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dialtone/dialtone/internal/outbox"
)

// Header is the signature header of every callback.
const Header = "Dialtone-Signature"

// Parallel is how many callbacks (of different calls) the server sends at once: the outbox
// worker's parallelism, and the connections a Sender keeps open to the receiver.
const Parallel = 16

// Sender POSTs callback bodies to one URL.
type Sender struct {
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
}

// New returns a sender to url signing with secret. client nil means a client with a 10 s
// timeout that does not follow redirects: a 3xx answer is a failure, retried like any other,
// since following it would turn the POST into a body-less GET; it goes through the
// environment's proxy (HTTPS_PROXY, NO_PROXY) and keeps up to Parallel connections to the
// receiver open between callbacks; a callback cut off by the receiver's closing of the
// kept-open connection it went out on is sent again at once on a new one (Send). now nil
// means time.Now.
func New(url, secret string, client *http.Client, now func() time.Time) *Sender {
	if client == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = Parallel
		client = &http.Client{Timeout: 10 * time.Second, Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if now == nil {
		now = time.Now
	}
	return &Sender{url: url, secret: []byte(secret), client: client, now: now}
}

// CloseIdleConnections closes the connections to the receiver kept open between callbacks;
// the server calls it as it stops.
func (s *Sender) CloseIdleConnections() { s.client.CloseIdleConnections() }

// Send POSTs body as JSON with its signature; it fails unless the receiver answers 2xx. A 429
// or 5xx with a Retry-After fails with the wait it asks for (outbox.HTTPRetryAfter), which the
// outbox honours before the next attempt.
func (s *Sender) Send(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "dialtone-webhook/1")
	req.Header.Set(Header, Sign(s.secret, s.now(), body))
	// A callback is safe to send twice (receivers deduplicate on eventID), so the transport
	// may send it again on a new connection when the receiver closed the kept-open one it
	// went out on. The nil value marks that without sending the header (net/http.Transport).
	req.Header["Idempotency-Key"] = nil
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL is left out: it may carry a key in its query, and the error is logged.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = fmt.Errorf("%s: %w", uerr.Op, uerr.Err)
		}
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return outbox.HTTPRetryAfter(fmt.Errorf("webhook: receiver answered %s", resp.Status),
			resp.StatusCode, resp.Header, s.now())
	}
	return nil
}

// Sign returns the Dialtone-Signature value of body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<unix seconds>.<body>")>".
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a Dialtone-Signature header against body, refusing signatures older or newer
// than tolerance (0: no time check). It is what a receiver does (docs/webhooks.md).
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("webhook: malformed signature header")
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
			return errors.New("webhook: signature timestamp out of tolerance")
		}
	}
	if !hmac.Equal([]byte(sig), []byte(mac(secret, ts, body))) {
		return errors.New("webhook: signature mismatch")
	}
	return nil
}
