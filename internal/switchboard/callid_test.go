package switchboard

import (
	"testing"
	"time"
)

// Call IDs carry 96 random bits after the creation time (behaviour §1) and sort by creation
// time, which keeps the store's writes on a few recent pages.
func TestCallIDsSortByCreationAndDiffer(t *testing.T) {
	t0 := time.UnixMilli(1_795_000_000_000)
	a, b, c := newCallID(t0), newCallID(t0), newCallID(t0.Add(time.Millisecond))
	if a == b {
		t.Fatalf("two IDs of the same millisecond are equal: %s", a)
	}
	if !(a < c && b < c) {
		t.Errorf("IDs do not sort by creation time: %s, %s, then %s", a, b, c)
	}
	if len(a) != 24 {
		t.Errorf("ID %q has %d characters, want 24 (18 bytes)", a, len(a))
	}
	for _, r := range a {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '_' || r == '~') {
			t.Errorf("ID %q has a character that is not URL-safe: %q", a, r)
		}
	}
}
