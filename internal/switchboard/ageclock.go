package switchboard

import (
	"sync"
	"time"
)

// stepTolerance is how far the wall clock may move against the monotonic one before ageClock
// takes it for a step rather than a slew (NTP slews at most 0.5 ms a second).
const stepTolerance = time.Second

// ageClock tells the date before which a record is older than its window, to retention (R7.2,
// R7.3, R3.10) and to idempotency lookups (R7.3). Records are dated by the wall clock, which
// an NTP correction or an operator may step while the server runs; the time a record has
// really been kept is measured on the monotonic clock. So a wall clock stepped forward ages
// nothing before its window has really passed: the cutoff follows the monotonic clock until
// the records dated before the step are that old, then the wall clock again. One stepped back
// ages nothing early either, as the wall clock alone would not. A step made while the server
// was down cannot be told from the downtime. It is safe for concurrent use.
type ageClock struct {
	mu      sync.Mutex
	wall    Clock
	started time.Time // the monotonic origin
	offsets []offset  // oldest first; the first holds since the origin, and before it
	longest time.Duration
}

// offset is the wall clock's lead over the monotonic one (Unix ms minus ms since the origin),
// at most that in force from since on (ms since the origin) until the next offset.
type offset struct{ since, lead int64 }

func newAgeClock(wall Clock, longest time.Duration) *ageClock {
	return &ageClock{wall: wall, started: time.Now(), longest: longest}
}

// cutoffs reads the clock and returns, in Unix ms for each window (at most the longest one
// the clock was made for), the date before which every record the server dated is older
// than the window now.
func (a *ageClock) cutoffs(windows ...time.Duration) []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	elapsed := time.Since(a.started).Milliseconds()
	a.observe(elapsed, a.wall().UnixMilli()-elapsed)
	out := make([]int64, len(windows))
	for w, window := range windows {
		then := elapsed - window.Milliseconds()
		lead := a.offsets[len(a.offsets)-1].lead // in force now
		for i, o := range a.offsets[:len(a.offsets)-1] {
			if a.offsets[i+1].since > then { // in force at then or after
				lead = min(lead, o.lead)
			}
		}
		out[w] = then + lead
	}
	return out
}

// observe records the lead seen at elapsed: a new offset when it moved by more than
// stepTolerance, else the lowest lead seen so far; offsets no window reaches are forgotten.
func (a *ageClock) observe(elapsed, lead int64) {
	n := len(a.offsets)
	if n == 0 || abs(lead-a.offsets[n-1].lead) > stepTolerance.Milliseconds() {
		a.offsets = append(a.offsets, offset{since: elapsed, lead: lead})
	} else {
		a.offsets[n-1].lead = min(a.offsets[n-1].lead, lead)
	}
	oldest := elapsed - a.longest.Milliseconds()
	for len(a.offsets) > 1 && a.offsets[1].since <= oldest {
		a.offsets = a.offsets[1:]
	}
}

func abs(n int64) int64 { return max(n, -n) }
