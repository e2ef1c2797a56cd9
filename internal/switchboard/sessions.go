package switchboard

import (
	"context"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/protocol"
)

// DeviceConnected records that a session of the device logged in (R6.1).
func (s *Switchboard) DeviceConnected(userID, deviceID string) {
	s.presence.Connected(userID, deviceID)
}

// DeviceDisconnected records that a session of the device ended without logout; the device is
// lost if it does not reconnect within heartbeatTimeout (R6.1, R4.3, R6.4).
func (s *Switchboard) DeviceDisconnected(userID, deviceID string) {
	s.presence.Disconnected(userID, deviceID)
}

// Logout loses the device at once (R6.1). A loss that fails is applied again once the
// session's end leaves the device without one for its grace.
func (s *Switchboard) Logout(ctx context.Context, userID, deviceID string) {
	_ = s.loseDevice(userID, deviceID)
}

// QueryCall returns the call for a user in it (R3.10); anyone else gets 6000276.
func (s *Switchboard) QueryCall(ctx context.Context, userID, callID string) (call.Call, error) {
	c, err := s.loadCall(ctx, callID)
	if err != nil {
		return call.Call{}, err
	}
	if c.User(userID) == nil {
		return call.Call{}, call.Unavailable()
	}
	return c, nil
}

// ListCalls pages the calls of a user, newest first (R3.10). count 0 means 20 and counts
// above 100 mean 100; a negative count, or a next that no page returns (negative, or 2^53 or
// more), is invalid (6000001).
func (s *Switchboard) ListCalls(ctx context.Context, userID string, count int, next int64) ([]call.Call, int64, error) {
	if count < 0 {
		return nil, 0, &call.Error{Code: call.CodeInvalidParameter, Reason: "count must not be negative"}
	}
	if next < 0 || next > protocol.MaxInteger {
		return nil, 0, &call.Error{Code: call.CodeInvalidParameter, Reason: "nextFlag must be 0 or one a page returned"}
	}
	switch {
	case count == 0:
		count = 20
	case count > 100:
		count = 100
	}
	return s.store.ListCalls(ctx, userID, next, count)
}

// RingingCalls returns the Started calls in which the user is pending (R5.3), and the head of
// the user's log they reflect (see Store.RingingCalls).
func (s *Switchboard) RingingCalls(ctx context.Context, userID string) ([]call.Call, int64, error) {
	return s.store.RingingCalls(ctx, userID)
}

// ReadLog returns up to limit entries of the user's log after afterSeq (R7.2). Every entry has
// data, which a device gets as its event's "data" as it is: the switchboard writes none
// without, and the store reads an entry back without as damage (LogEntry).
func (s *Switchboard) ReadLog(ctx context.Context, userID string, afterSeq int64, limit int) ([]LogEntry, error) {
	return s.store.ReadLog(ctx, userID, afterSeq, limit)
}

// LogBounds returns the oldest and the head sequence of the user's log (R7.2; see
// Store.LogBounds: oldest is one past the greatest seq retention deleted).
func (s *Switchboard) LogBounds(ctx context.Context, userID string) (oldest, head int64, err error) {
	return s.store.LogBounds(ctx, userID)
}

// PendingDeadlines returns how many calls have a deadline scheduled (for metrics).
func (s *Switchboard) PendingDeadlines() int { return s.timers.Pending() }

// LogoutUser loses, at once, the main device of the call in which userID is busy, whether or not
// it is connected (R6.1, R4.3, R6.4): a logout from every device, made without one. It fails
// when the loss could not be committed, so that it may be repeated.
func (s *Switchboard) LogoutUser(ctx context.Context, userID string) error {
	callID, err := s.store.BusyCall(ctx, userID)
	if err != nil || callID == "" {
		return err
	}
	c, err := s.loadCall(ctx, callID)
	if err != nil {
		return err
	}
	if u := c.User(userID); u != nil && u.MainDevice != "" {
		return s.loseDevice(userID, u.MainDevice)
	}
	return nil
}
