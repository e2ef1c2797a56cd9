package client

import (
	"sync"
	"sync/atomic"
	"time"
)

// monoStart is the origin of the local monotonic clock readings (see mono).
var monoStart = time.Now()

// mono returns the local monotonic clock's reading: the time since monoStart, which a step of
// the local wall clock (an NTP correction) does not move.
func mono() time.Duration { return time.Since(monoStart) }

// maxSampleAge is how long the best clock sample stands against newer samples with a longer
// round trip, so that the estimate follows a server clock that drifts or is stepped.
const maxSampleAge = time.Minute

// clockEstimate is the server clock estimated from the replies that carry serverTime, as the
// server's time at each reading of the local monotonic clock, so that a step of the local wall
// clock moves the offset between the two clocks at once and leaves the server time as it was.
// The sample with the shortest round trip wins, as the server read its clock closest to that
// sample's midpoint: a reply delayed on a busy network or machine would shift the estimate by
// half its delay. A sample the estimate cannot explain wins too (explains).
type clockEstimate struct {
	wall func() time.Time // the local wall clock; nil for time.Now

	base atomic.Int64 // the server's Unix ns at monotonic reading 0; 0 before the first sample

	mu  sync.Mutex
	rtt time.Duration // of the sample in use
	at  time.Duration // monotonic reading of when that sample was taken; 0 before the first
}

// now reads the local wall clock.
func (e *clockEstimate) now() time.Time {
	if e.wall != nil {
		return e.wall()
	}
	return time.Now()
}

// record takes the sample of a request sent at monotonic reading sent and answered at recv
// with serverTimeMs (Unix ms, truncated): the server read its clock, on average, halfway
// between the two, and half a millisecond after the millisecond it reports. fresh says it is
// a new session's first (a login, maybe to another server), which replaces the estimate
// whatever its round trip.
func (e *clockEstimate) record(serverTimeMs int64, sent, recv time.Duration, fresh bool) {
	if serverTimeMs <= 0 {
		return
	}
	rtt := recv - sent
	e.mu.Lock()
	defer e.mu.Unlock()
	if !fresh && e.at != 0 && rtt > e.rtt && recv-e.at < maxSampleAge && e.explains(serverTimeMs, sent, recv) {
		return
	}
	e.rtt, e.at = rtt, recv
	mid := sent + rtt/2
	e.base.Store(serverTimeMs*int64(time.Millisecond) + int64(time.Millisecond/2) - int64(mid))
}

// explains reports whether the estimate in use agrees with a sample: the server read its
// clock, at serverTimeMs or within the millisecond after, at some moment between the monotonic
// readings sent and recv, as the estimate maps them, give or take the estimate's own error
// (half its round trip, and the millisecond the server truncates). A sample the estimate does
// not explain shows that one of the clocks jumped since (the local monotonic clock stops while
// a machine sleeps), so it replaces the estimate whatever its round trip. Called with mu held.
func (e *clockEstimate) explains(serverTimeMs int64, sent, recv time.Duration) bool {
	base, slack := e.base.Load(), int64(e.rtt/2+time.Millisecond)
	read := serverTimeMs * int64(time.Millisecond)
	return read+int64(time.Millisecond) > base+int64(sent)-slack && read <= base+int64(recv)+slack
}

// serverNow returns the server's current time as estimated, and false before the first sample.
func (e *clockEstimate) serverNow() (time.Time, bool) {
	base := e.base.Load()
	return time.Unix(0, base+int64(mono())), base != 0
}

// RemainingRingTime returns how long an invitation whose deadline is deadlineMs (server Unix
// ms) should still ring at local time now, given offset = server clock − local clock (see
// Client.ServerTimeOffset). It is never negative; 0 means the invitation must not ring.
func RemainingRingTime(deadlineMs int64, offset time.Duration, now time.Time) time.Duration {
	left := time.UnixMilli(deadlineMs).Sub(now.Add(offset))
	return max(left, 0)
}

// ServerTimeOffset returns the server clock minus the local clock, measured at each login and
// refined by the heartbeats (the reply with the shortest round trip of the last minute or so
// wins, unless a later reply shows that a clock jumped: the local clock paused while the
// machine slept, or the server's was stepped), and moved at once by a step of the local clock;
// 0 before the first login.
func (c *Client) ServerTimeOffset() time.Duration {
	now := c.clock.now()
	if server, ok := c.clock.serverNow(); ok {
		return server.Sub(now)
	}
	return 0
}

// ServerNow returns the current time on the server's clock, estimated as ServerTimeOffset is;
// the local time before the first login.
func (c *Client) ServerNow() time.Time {
	if server, ok := c.clock.serverNow(); ok {
		return server
	}
	return c.clock.now()
}

// RemainingRingTime returns how long an invitation with the given deadline (server Unix ms, as
// in CallInvitationReceived.Deadline) should still ring, by the server clock estimate
// (protocol "Ring time"); 0 when it must not ring at all.
func (c *Client) RemainingRingTime(deadlineMs int64) time.Duration {
	return max(time.UnixMilli(deadlineMs).Sub(c.ServerNow()), 0)
}
