package client

import (
	"sync"
	"sync/atomic"
	"time"
)

// clockOffset returns the server clock minus the local clock, estimated from a reply carrying
// serverTime (Unix ms, truncated) to a request sent at sent and answered at recv: the server
// read its clock, on average, halfway between the two, and half a millisecond after the
// millisecond it reports.
func clockOffset(serverTimeMs int64, sent, recv time.Time) time.Duration {
	mid := sent.Add(recv.Sub(sent) / 2)
	return time.UnixMilli(serverTimeMs).Add(time.Millisecond / 2).Sub(mid)
}

// maxSampleAge is how long the best clock sample stands against newer samples with a longer
// round trip, so that the estimate follows a clock that drifts or is stepped.
const maxSampleAge = time.Minute

// clockEstimate is the server clock offset estimated from the replies that carry serverTime.
// The sample with the shortest round trip wins, as the server read its clock closest to that
// sample's midpoint: a reply delayed on a busy network or machine would shift the estimate by
// half its delay.
type clockEstimate struct {
	offset atomic.Int64 // nanoseconds; 0 before the first sample

	mu  sync.Mutex
	rtt time.Duration // of the sample in use
	at  time.Time     // when that sample was taken; zero before the first
}

// record takes the sample of a request sent at sent and answered at recv with serverTimeMs.
// fresh says it is a new session's first (a login, maybe to another server), which replaces
// the estimate whatever its round trip.
func (e *clockEstimate) record(serverTimeMs int64, sent, recv time.Time, fresh bool) {
	if serverTimeMs <= 0 {
		return
	}
	rtt := recv.Sub(sent)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !fresh && !e.at.IsZero() && rtt > e.rtt && recv.Sub(e.at) < maxSampleAge {
		return
	}
	e.rtt, e.at = rtt, recv
	e.offset.Store(int64(clockOffset(serverTimeMs, sent, recv)))
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
// wins); 0 before the first login.
func (c *Client) ServerTimeOffset() time.Duration {
	return time.Duration(c.clock.offset.Load())
}

// ServerNow returns the current time on the server's clock, estimated with ServerTimeOffset.
func (c *Client) ServerNow() time.Time {
	return time.Now().Add(c.ServerTimeOffset())
}

// RemainingRingTime returns how long an invitation with the given deadline (server Unix ms, as
// in CallInvitationReceived.Deadline) should still ring, corrected by the server clock offset
// (protocol "Ring time"); 0 when it must not ring at all.
func (c *Client) RemainingRingTime(deadlineMs int64) time.Duration {
	return RemainingRingTime(deadlineMs, c.ServerTimeOffset(), time.Now())
}
