package outbox

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryAfter is a failure after which the receiver asked for no attempt before after passed.
type retryAfter struct {
	error
	after time.Duration
}

func (r retryAfter) Unwrap() error { return r.error }

// RetryAfter marks err, a failure to retry, as one after which the receiver asked for no new
// attempt before d has passed (an HTTP Retry-After). The worker then waits at least d, at most
// Config.MaxRetryAfter and never past the record's expiry, or the backoff when that is longer.
// A d of zero or less returns err unchanged.
func RetryAfter(err error, d time.Duration) error {
	if d <= 0 {
		return err
	}
	return retryAfter{err, d}
}

// RetryAfterOf returns the wait err asks for (RetryAfter), 0 when none.
func RetryAfterOf(err error) time.Duration {
	var r retryAfter
	if errors.As(err, &r) {
		return r.after
	}
	return 0
}

// ParseRetryAfter reads an HTTP Retry-After value (RFC 9110 section 10.2.3), seen at now:
// delay-seconds (digits only; a number of seconds longer than a Duration is the longest
// Duration), or an HTTP date (any of the three forms HTTP allows), whose wait is 0 once it is
// past. ok is false when value is neither.
func ParseRetryAfter(value string, now time.Time) (d time.Duration, ok bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if strings.Trim(value, "0123456789") == "" {
		secs, err := strconv.ParseInt(value, 10, 64)
		if err != nil || secs > int64(maxDuration/time.Second) { // only digits: err is out of range
			return maxDuration, true
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	return max(at.Sub(now), 0), true
}

// maxDuration is the longest time.Duration.
const maxDuration = time.Duration(1<<63 - 1)

// HTTPRetryAfter returns err, the failure of an HTTP request answered with status and header
// at now, marked with the wait its Retry-After asks for (RetryAfter) when the status is 429 (Too
// Many Requests) or 5xx (503 Service Unavailable above all; FCM asks for it to be honoured on
// a 500 too), the answers whose Retry-After says when to try again; otherwise (on a 3xx it is
// about the redirect, which is not followed), or without a Retry-After that parses, err
// unchanged.
func HTTPRetryAfter(err error, status int, header http.Header, now time.Time) error {
	if status != http.StatusTooManyRequests && (status < 500 || status > 599) {
		return err
	}
	d, ok := ParseRetryAfter(header.Get("Retry-After"), now)
	if !ok {
		return err
	}
	return RetryAfter(err, d)
}
