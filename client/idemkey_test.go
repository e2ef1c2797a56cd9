package client

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/protocol"
)

// Idempotency keys are 24 URL-safe characters (16–64 bytes, R7.3), differ every time, and sort
// by creation time, so the server appends its records instead of scattering them.
func TestIdemKeysSortByTime(t *testing.T) {
	a := NewIdempotencyKey()
	if !regexp.MustCompile(`^[0-9A-Z_a-z~]{24}$`).MatchString(a) {
		t.Fatalf("key %q is not 24 URL-safe characters", a)
	}
	if a == NewIdempotencyKey() {
		t.Fatal("two keys are equal")
	}
	time.Sleep(2 * time.Millisecond) // a later millisecond, not an event
	if b := NewIdempotencyKey(); b <= a {
		t.Errorf("a later key %q does not sort after %q", b, a)
	}
}

// An application's idempotency key (WithIdempotencyKey) is refused with 6000001, without being
// sent, unless it is 16 to 64 bytes of UTF-8 (R7.3, protocol.md "Envelopes"). A key that is not
// UTF-8 would go out altered, each invalid byte as U+FFFD: two distinct keys of the application
// would reach the server as one, and the second operation would get the first one's reply.
func TestIdemKeyOfTheApplicationIsCheckedBeforeSending(t *testing.T) {
	fs := newFakeServer(t)
	c, _ := connect(t, fs, Options{})
	for _, key := range []string{"too-short", strings.Repeat("k", protocol.MaxIdemBytes+1), strings.Repeat("\xff", 20)} {
		ctx := WithIdempotencyKey(testCtx(t), key)
		if _, err := c.CallAccept(ctx, "c1", OpConfig{}); Code(err) != CodeInvalidParameter {
			t.Errorf("CallAccept under the key %q: %v, want code %d", key, err, CodeInvalidParameter)
		}
	}
	select {
	case req := <-fs.requests:
		t.Errorf("the server got %s under the key %q", req.Op, req.Idem)
	default:
	}
}
