package webhook_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/outbox"
	"github.com/dialtone/dialtone/internal/webhook"
)

func TestSendSignsBody(t *testing.T) {
	secret := []byte("hook-secret")
	at := time.Unix(1700000000, 0)
	status := http.StatusNoContent
	got := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || string(body) != `{"event":"call_create"}` {
			t.Errorf("request %s %q %q", r.Method, r.Header.Get("Content-Type"), body)
		}
		got <- webhook.Verify(secret, r.Header.Get(webhook.Header), body, at.Add(time.Minute), 5*time.Minute)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	s := webhook.New(srv.URL, string(secret), srv.Client(), func() time.Time { return at })
	if err := s.Send(context.Background(), []byte(`{"event":"call_create"}`)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := <-got; err != nil {
		t.Errorf("Verify: %v", err)
	}
	status = http.StatusInternalServerError
	if err := s.Send(context.Background(), []byte(`{"event":"call_create"}`)); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("Send to a failing receiver: %v", err)
	}
	<-got
}

// §10: a redirect is not followed (that would turn the POST into a body-less GET elsewhere) and
// is not a 2xx, so the callback fails and is retried.
func TestSendDoesNotFollowRedirects(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/hook" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}
	}))
	defer srv.Close()
	s := webhook.New(srv.URL+"/hook", "k", nil, nil)
	if err := s.Send(context.Background(), []byte(`{"event":"call_create"}`)); err == nil || !strings.Contains(err.Error(), "302") {
		t.Errorf("Send answered by a redirect: %v, want a failure", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "POST /hook" {
		t.Errorf("receiver saw %q, want only the POST", seen)
	}
}

// A callback that gets no answer fails with an error that leaves out the --webhook-url, which
// may carry a key in its query: the error is logged (docs/architecture.md "Logging").
func TestSendErrorHoldsNoURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nobody answers
	s := webhook.New(srv.URL+"/hook?key=url-key-0123", "hook-secret", nil, nil)
	err := s.Send(t.Context(), []byte(`{}`))
	if err == nil || strings.Contains(err.Error(), "url-key-0123") {
		t.Errorf("Send with nobody answering: %v, want an error without the URL", err)
	}
}

func TestSignVerify(t *testing.T) {
	secret := []byte("k")
	at := time.Unix(1700000000, 0)
	body := []byte(`{"a":1}`)
	h := webhook.Sign(secret, at, body)
	if !strings.HasPrefix(h, "t=1700000000,v1=") || len(h) != len("t=1700000000,v1=")+64 {
		t.Fatalf("Sign = %q", h)
	}
	for name, tc := range map[string]struct {
		secret []byte
		header string
		body   string
		now    time.Time
	}{
		"other secret": {[]byte("x"), h, `{"a":1}`, at},
		"other body":   {secret, h, `{"a":2}`, at},
		"too old":      {secret, h, `{"a":1}`, at.Add(time.Hour)},
		"malformed":    {secret, "v1=abc", `{"a":1}`, at},
	} {
		if err := webhook.Verify(tc.secret, tc.header, []byte(tc.body), tc.now, 5*time.Minute); err == nil {
			t.Errorf("%s: Verify accepted", name)
		}
	}
	if err := webhook.Verify(secret, h, body, at, 5*time.Minute); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// The sender keeps a connection open for each callback it may send at once (Parallel, the
// outbox worker's parallelism): a receiver that answers slowly has many callbacks in flight,
// and a connection made again for each of them, a TLS handshake each, would slow it further.
func TestSendKeepsAConnectionPerParallelCallback(t *testing.T) {
	var mu sync.Mutex
	opened := 0
	arrived := make(chan struct{}, webhook.Parallel)
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-release // every callback of a round is in flight at once, on a connection of its own
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			mu.Lock()
			opened++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	s := webhook.New(srv.URL, "hook-secret", nil, nil)
	round := func() int {
		mu.Lock()
		before := opened
		mu.Unlock()
		errs := make(chan error, webhook.Parallel)
		for range webhook.Parallel {
			go func() { errs <- s.Send(t.Context(), []byte(`{}`)) }()
		}
		for range webhook.Parallel {
			<-arrived
		}
		for range webhook.Parallel {
			release <- struct{}{}
		}
		for range webhook.Parallel {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return opened - before
	}
	if n := round(); n != webhook.Parallel {
		t.Fatalf("first round opened %d connections, want %d", n, webhook.Parallel)
	}
	// A connection handed back just as the second round asks for one may be met by a new
	// dial; most must be reused.
	if n := round(); n > webhook.Parallel/4 {
		t.Errorf("second round opened %d new connections of %d: the first round's were not kept", n, webhook.Parallel)
	}
}

// docs/webhooks.md: a receiver answering 429 or 5xx with a Retry-After, in seconds or as an
// HTTP date, has its callback's next attempt wait that long (outbox.RetryAfter); other
// failures, and those without the header, keep the outbox's backoff.
func TestSendCarriesTheReceiversRetryAfter(t *testing.T) {
	at := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		status int
		value  string
		want   time.Duration
	}{
		{http.StatusTooManyRequests, "120", 2 * time.Minute},
		{http.StatusServiceUnavailable, "Mon, 07 Dec 2026 06:05:00 GMT", 5 * time.Minute},
		{http.StatusServiceUnavailable, "", 0},
		{http.StatusInternalServerError, "120", 2 * time.Minute},
		{http.StatusFound, "120", 0},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tt.value != "" {
				w.Header().Set("Retry-After", tt.value)
			}
			w.WriteHeader(tt.status)
		}))
		s := webhook.New(srv.URL, "k", srv.Client(), func() time.Time { return at })
		err := s.Send(context.Background(), []byte(`{"event":"call_create"}`))
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), fmt.Sprint(tt.status)) {
			t.Errorf("status %d: Send = %v, want a failure naming the status", tt.status, err)
		}
		if got := outbox.RetryAfterOf(err); got != tt.want {
			t.Errorf("status %d, Retry-After %q: next attempt asked after %v, want %v", tt.status, tt.value, got, tt.want)
		}
	}
}

// A receiver that answers 2xx with a body of no end has taken the callback: Send reports it
// delivered after reading a bounded part of the body, and the receiver's writes then fail as
// the connection closes, long before the body's end. A failure answered so is a failure.
func TestSendReadsABoundedPartOfAHugeAnswer(t *testing.T) {
	const huge = 1 << 30
	for _, status := range []int{http.StatusOK, http.StatusInternalServerError} {
		written := make(chan int, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			chunk := make([]byte, 64<<10)
			n := 0
			for n < huge {
				m, err := w.Write(chunk)
				n += m
				if err != nil {
					break
				}
			}
			written <- n
		}))
		s := webhook.New(srv.URL, "k", nil, nil)
		err := s.Send(t.Context(), []byte(`{}`))
		if delivered := err == nil; delivered != (status == http.StatusOK) {
			t.Errorf("Send answered %d with a huge body: %v", status, err)
		}
		if n := <-written; n >= huge {
			t.Errorf("answer %d: the receiver wrote all its %d bytes: the sender read them all", status, n)
		}
		srv.Close()
	}
}

// A receiver may close a kept-open connection just as the next callback goes out on it (its
// idle timeout ran out). That callback is sent again at once on a new connection, as a
// receiver deduplicates on eventID (docs/webhooks.md), instead of failing and waiting for the
// outbox's backoff.
func TestSendRetriesACallbackTheReceiverClosedItsConnectionOn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var seen []string // each request, by the connection it came on
	go func() {
		for conn := 0; ; conn++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for n := 0; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					mu.Lock()
					seen = append(seen, fmt.Sprintf("conn %d request %d", conn, n))
					mu.Unlock()
					if conn == 0 && n == 1 {
						return // closed without an answer: the first connection timed out idle
					}
					_, _ = io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
				}
			}()
		}
	}()
	s := webhook.New("http://"+ln.Addr().String()+"/hook", "hook-secret", nil, nil)
	defer s.CloseIdleConnections()
	for i := range 2 {
		if err := s.Send(t.Context(), []byte(`{"eventID":"c.1.0"}`)); err != nil {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("callback %d: %v (requests seen: %q)", i, err, seen)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"conn 0 request 0", "conn 0 request 1", "conn 1 request 0"}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("requests seen %q, want %q", seen, want)
	}
}
