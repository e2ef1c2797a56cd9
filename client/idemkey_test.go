package client

import (
	"regexp"
	"testing"
	"time"
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
