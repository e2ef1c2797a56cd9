package outbox_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialtone/dialtone/internal/outbox"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// attemptTimes runs a worker over one record committed at the start of the bubble, whose
// attempts answer with the errors of answers in turn (nil: delivered), for a simulated
// duration; it returns when each attempt was made, from the commit, and the observer.
func attemptTimes(t *testing.T, cfg outbox.Config, answers []error, duration time.Duration) ([]time.Duration, *counter) {
	t.Helper()
	s := openStore(t)
	created := time.Now()
	put(t, s, created, [2]string{"c", "x"})
	var (
		mu       sync.Mutex
		attempts []time.Duration
	)
	obs := &counter{}
	cfg.Kind, cfg.Observer = switchboard.OutboxWebhook, obs
	cfg.Deliver = func(context.Context, switchboard.OutboxRecord) error {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, time.Since(created))
		if len(attempts) > len(answers) {
			return errors.New("down")
		}
		return answers[len(attempts)-1]
	}
	w := outbox.New(cfg, s, nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	time.Sleep(duration)
	synctest.Wait()
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	return attempts, obs
}

// docs/webhooks.md "Retries": a receiver that answers with a Retry-After (429, 503) gets the
// next attempt no earlier than it asked, even when the backoff would come back sooner; the
// backoff still applies when it asks for less.
func TestRetryAfterDelaysTheNextAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		busy := outbox.RetryAfter(errors.New("receiver answered 429"), 2*time.Minute)
		soon := outbox.RetryAfter(errors.New("receiver answered 503"), time.Millisecond)
		attempts, obs := attemptTimes(t, outbox.Config{Expiry: time.Hour, MinBackoff: time.Second},
			[]error{busy, soon, nil}, time.Hour)
		if len(attempts) != 3 {
			t.Fatalf("attempts at %v, want 3", attempts)
		}
		if second := attempts[1] - attempts[0]; second < 2*time.Minute || second > 2*time.Minute+time.Second {
			t.Errorf("second attempt %v after the first, which asked for 2m (attempts %v)", second, attempts)
		}
		if third := attempts[2] - attempts[1]; third < 2*time.Second {
			t.Errorf("third attempt %v after the second, before the backoff of 2s (attempts %v)", third, attempts)
		}
		obs.waitFor(t, 1, 0)
	})
}

// A Retry-After is honoured up to Config.MaxRetryAfter, so that a receiver cannot park the
// callbacks of a call for longer.
func TestRetryAfterIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		busy := outbox.RetryAfter(errors.New("receiver answered 429"), 10*time.Hour)
		attempts, obs := attemptTimes(t, outbox.Config{Expiry: 24 * time.Hour, MaxRetryAfter: 30 * time.Minute},
			[]error{busy, nil}, 2*time.Hour)
		if len(attempts) != 2 || attempts[1]-attempts[0] < 30*time.Minute || attempts[1]-attempts[0] > 30*time.Minute+time.Second {
			t.Errorf("attempts at %v, want the second 30m (MaxRetryAfter) after the first", attempts)
		}
		obs.waitFor(t, 1, 0)
	})
}

// A Retry-After past the record's expiry makes no attempt past it: the record is dropped as
// expired at its expiry, as after any failure.
func TestRetryAfterPastExpiryDropsAtExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		busy := outbox.RetryAfter(errors.New("receiver answered 503"), 20*time.Minute)
		attempts, obs := attemptTimes(t, outbox.Config{Expiry: 10 * time.Minute}, []error{busy}, time.Hour)
		if len(attempts) != 1 {
			t.Errorf("attempts at %v, want one: the next would be past the expiry", attempts)
		}
		obs.waitFor(t, 0, 1)
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"0", 0, true},
		{"Mon, 07 Dec 2026 06:01:30 GMT", 90 * time.Second, true},    // IMF-fixdate
		{"Monday, 07-Dec-26 06:00:10 GMT", 10 * time.Second, true},   // RFC 850
		{"Mon Dec  7 06:00:20 2026", 20 * time.Second, true},         // asctime
		{"Mon, 07 Dec 2026 05:00:00 GMT", 0, true},                   // in the past: no wait
		{"99999999999999999999", time.Duration(math.MaxInt64), true}, // longer than a Duration: the longest
		{"9223372037", time.Duration(math.MaxInt64), true},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"+5", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := outbox.ParseRetryAfter(tt.value, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.ok)
		}
	}
}

// HTTPRetryAfter marks a failure with the wait the answer asked for, only for 429 and 5xx
// (FCM asks for its Retry-After to be honoured on a 500 too) with a Retry-After that parses;
// the error still says what failed.
func TestHTTPRetryAfter(t *testing.T) {
	now := time.Now()
	failed := errors.New("receiver answered")
	tests := []struct {
		status int
		value  string
		want   time.Duration
	}{
		{429, "30", 30 * time.Second},
		{503, "30", 30 * time.Second},
		{500, "30", 30 * time.Second},
		{302, "30", 0},
		{400, "30", 0},
		{429, "", 0},
		{503, "later", 0},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.value != "" {
			h.Set("Retry-After", tt.value)
		}
		err := outbox.HTTPRetryAfter(failed, tt.status, h, now)
		if !errors.Is(err, failed) {
			t.Errorf("status %d: %v no longer wraps the failure", tt.status, err)
		}
		if got := outbox.RetryAfterOf(err); got != tt.want {
			t.Errorf("status %d, Retry-After %q: wait %v, want %v", tt.status, tt.value, got, tt.want)
		}
	}
}
