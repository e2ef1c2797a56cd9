package wsapi

import (
	"sync"
	"time"
)

// bucket is a token bucket: up to burst tokens, refilled at rate per second.
type bucket struct {
	mu     sync.Mutex
	tokens float64
	burst  float64
	rate   float64
	last   time.Time
}

func newBucket(burst int, per time.Duration, now time.Time) *bucket {
	return &bucket{tokens: float64(burst), burst: float64(burst), rate: float64(burst) / per.Seconds(), last: now}
}

// full reports whether the bucket has refilled to its burst at now.
func (b *bucket) full(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tokens+now.Sub(b.last).Seconds()*b.rate >= b.burst
}

// take consumes one token if one is available at now.
func (b *bucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// giveBack returns one token that take consumed, up to the burst.
func (b *bucket) giveBack() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = min(b.burst, b.tokens+1)
}
