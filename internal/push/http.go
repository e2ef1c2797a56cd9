package push

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"sync"
	"time"
)

// defaultClient returns a provider's default HTTP client: a 10 s timeout, and redirects are not
// followed, so that a 3xx is a failure to retry rather than a body-less GET to elsewhere whose
// 2xx would count as sent. Its transport is the provider's own, with http.DefaultTransport's
// proxy (HTTPS_PROXY), timeouts and HTTP/2, keeping a connection open between pushes for each
// of the provider's slots (SlotsPerProvider); CloseIdleConnections closes them.
func defaultClient() *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = SlotsPerProvider
	return &http.Client{Timeout: 10 * time.Second, Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// answer is a provider's answer to a request.
type answer struct {
	status int
	body   []byte // its first 64 KiB
	header http.Header
}

// post sends body to url with the headers and returns the answer. An error means no answer; it
// leaves url out, since an APNs URL ends with the device token, which must not reach the log.
func post(ctx context.Context, client *http.Client, url string, header map[string]string, body []byte) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		var uerr *neturl.Error
		if errors.As(err, &uerr) {
			err = fmt.Errorf("%s: %w", uerr.Op, uerr.Err)
		}
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return answer{status: resp.StatusCode, body: raw, header: resp.Header}, nil
}

// tokenCache holds one bearer token until a time; safe for concurrent use. A token is minted
// by one caller at a time: the others share that mint's result rather than each waiting for the
// one before and minting again, so that a token endpoint that stops answering holds each push
// up for one request's timeout at most.
type tokenCache struct {
	mu      sync.Mutex
	token   string
	until   time.Time
	minting *mint // the mint under way, if any
}

// mint is one call of a mint function; token and err are set before done is closed.
type mint struct {
	done  chan struct{}
	token string
	err   error
}

// get returns the cached token, or the one mint returns (with its end of use) when there is
// none or it is past its time. When a mint is already under way it waits for that one's result
// instead, or until ctx ends.
func (c *tokenCache) get(ctx context.Context, now time.Time, mintFn func() (string, time.Time, error)) (string, error) {
	c.mu.Lock()
	if c.token != "" && now.Before(c.until) {
		defer c.mu.Unlock()
		return c.token, nil
	}
	if m := c.minting; m != nil {
		c.mu.Unlock()
		select {
		case <-m.done:
			return m.token, m.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	m := &mint{done: make(chan struct{})}
	c.minting = m
	c.mu.Unlock()
	token, until, err := mintFn()
	c.mu.Lock()
	if err == nil {
		c.token, c.until = token, until
	}
	m.token, m.err = token, err
	c.minting = nil
	close(m.done)
	c.mu.Unlock()
	return token, err
}

// drop forgets token if it is the cached one (the server refused it).
func (c *tokenCache) drop(token string) {
	c.mu.Lock()
	if c.token == token {
		c.token = ""
	}
	c.mu.Unlock()
}

// errCredentialRefused marks a send refused for a bearer token the provider no longer takes
// (APNs ExpiredProviderToken, FCM 401), which the provider has dropped: sent again, the
// request carries a new one.
var errCredentialRefused = errors.New("push: credential refused")

// retryCredential calls send, and once more at once when it fails with errCredentialRefused,
// so that a push whose provider stopped taking the cached token goes with a new one rather
// than waiting for its retry. A second refusal is returned: it may be retried later.
func retryCredential(send func() error) error {
	err := send()
	if errors.Is(err, errCredentialRefused) {
		err = send()
	}
	return err
}
