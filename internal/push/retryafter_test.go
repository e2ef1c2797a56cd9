package push

import (
	"crypto/elliptic"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/outbox"
)

// busyServer answers every request with the status and Retry-After set in it (read before
// each request is sent; the test sends one at a time).
type busyServer struct {
	srv        *httptest.Server
	status     int
	retryAfter string
}

func newBusyServer(t *testing.T) *busyServer {
	b := &busyServer{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b.retryAfter != "" {
			w.Header().Set("Retry-After", b.retryAfter)
		}
		w.WriteHeader(b.status)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// docs/push.md "Invalid tokens, retries, expiry": FCM and APNs (and an application's push
// service) that answer 429 or 5xx with a Retry-After, in seconds or as an HTTP date, fail the
// send with the wait they asked for (outbox.RetryAfter), which the outbox honours before the
// push's next attempt; other failures keep the backoff.
func TestProvidersCarryRetryAfter(t *testing.T) {
	b := newBusyServer(t)
	clock := newClock()
	fcm, _, _ := newFCM(t)
	fcm.cfg.Now = clock.now
	fcm.endpoint = b.srv.URL
	_, p8 := p8Key(t, elliptic.P256())
	apns, err := NewAPNs(APNsConfig{Key: p8, KeyID: "K", TeamID: "T", Endpoint: b.srv.URL, Client: b.srv.Client(), Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	webhook := NewWebhook(b.srv.URL, nil)
	webhook.now = clock.now
	providers := map[string]Provider{"fcm": fcm, "apns": apns, "webhook": webhook}

	date := clock.now().Add(5 * time.Minute).UTC().Format(http.TimeFormat)
	tests := []struct {
		status int
		value  string
		want   time.Duration
	}{
		{http.StatusTooManyRequests, "120", 2 * time.Minute},
		{http.StatusServiceUnavailable, date, 5 * time.Minute},
		{http.StatusServiceUnavailable, "", 0},
		{http.StatusInternalServerError, "120", 2 * time.Minute},
		{http.StatusFound, "120", 0},
	}
	m := Message{Kind: KindInvitation, CallID: "c1", Caller: "alice", ServerTime: 1000}
	for name, p := range providers {
		for _, tt := range tests {
			b.status, b.retryAfter = tt.status, tt.value
			err := p.Send(t.Context(), Target{Provider: name, Token: "tok", BundleID: "com.example.app"}, m)
			if err == nil || errors.Is(err, ErrRejected) || errors.Is(err, ErrTokenInvalid) {
				t.Errorf("%s, status %d: Send = %v, want a failure to retry", name, tt.status, err)
				continue
			}
			if got := outbox.RetryAfterOf(err); got != tt.want {
				t.Errorf("%s, status %d, Retry-After %q: next attempt asked after %v, want %v", name, tt.status, tt.value, got, tt.want)
			}
		}
	}
}

// A push record whose targets fail asks the outbox for the longest wait one of their providers
// asked for: an attempt sooner would be one that provider refused again.
func TestDispatchAsksForTheLongestRetryAfter(t *testing.T) {
	e := newDispatchEnv(t)
	for i := range 20 { // the targets are sent side by side: let each finish first in turn
		e.fcm.fail["bob-1"] = []error{outbox.RetryAfter(errors.New("429"), time.Minute)}
		e.fcm.fail["bob-2"] = []error{errors.New("503")}
		err := e.d.Deliver(t.Context(), e.record(KindInvitation, "bob", false))
		if err == nil {
			t.Fatal("Deliver succeeded, want a failure to retry")
		}
		if got := outbox.RetryAfterOf(err); got != time.Minute {
			t.Fatalf("attempt %d: Deliver = %v, asks for a wait of %v, want the 1m one target asked for", i, err, got)
		}
	}
}
