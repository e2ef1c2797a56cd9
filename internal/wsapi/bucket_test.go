package wsapi

import (
	"testing"
	"time"
)

// A bucket of 2 per minute: spent, refused, then full again only after the whole minute.
func TestBucketRefill(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	b := newBucket(2, time.Minute, t0)
	if !b.full(t0) || !b.take(t0) || !b.take(t0) || b.take(t0) {
		t.Fatal("a full bucket of 2 did not give exactly 2 tokens")
	}
	if b.full(t0.Add(59 * time.Second)) {
		t.Error("full 59 s after being emptied")
	}
	if !b.take(t0.Add(30 * time.Second)) {
		t.Error("no token 30 s after being emptied")
	}
	if b.full(t0.Add(89*time.Second)) || !b.full(t0.Add(90*time.Second)) {
		t.Error("not full exactly 60 s after the last token was taken at the refill rate")
	}
}
