package client

import "time"

// clockOffset returns the server clock minus the local clock, estimated from a reply carrying
// serverTime (Unix ms) to a request sent at sent and answered at recv: the server read its
// clock, on average, halfway between the two.
func clockOffset(serverTimeMs int64, sent, recv time.Time) time.Duration {
	mid := sent.Add(recv.Sub(sent) / 2)
	return time.UnixMilli(serverTimeMs).Sub(mid)
}

// RemainingRingTime returns how long an invitation whose deadline is deadlineMs (server Unix
// ms) should still ring at local time now, given offset = server clock − local clock (see
// Client.ServerTimeOffset). It is never negative; 0 means the invitation must not ring.
func RemainingRingTime(deadlineMs int64, offset time.Duration, now time.Time) time.Duration {
	left := time.UnixMilli(deadlineMs).Sub(now.Add(offset))
	return max(left, 0)
}

// ServerTimeOffset returns the server clock minus the local clock, measured at the last login
// and refreshed by every heartbeat; 0 before the first login.
func (c *Client) ServerTimeOffset() time.Duration {
	return time.Duration(c.offset.Load())
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

func (c *Client) recordServerTime(serverTimeMs int64, sent, recv time.Time) {
	if serverTimeMs > 0 {
		c.offset.Store(int64(clockOffset(serverTimeMs, sent, recv)))
	}
}
