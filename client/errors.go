package client

import (
	"errors"
	"fmt"

	"github.com/dialtone/dialtone/protocol"
)

// Errors returned by the client. Server-side failures are *protocol.Error values instead; see
// [Code].
var (
	// ErrClosed is returned by operations on a client that Close shut down, and is the reason of
	// the final Disconnected state after Close.
	ErrClosed = errors.New("dialtone: client closed")
	// ErrLoggedOut is returned by operations after Logout, and is the reason of the final
	// Disconnected state after Logout.
	ErrLoggedOut = errors.New("dialtone: logged out")
	// ErrNotLoggedIn is returned by operations called before a successful Login.
	ErrNotLoggedIn = errors.New("dialtone: not logged in")
	// ErrAlreadyLoggedIn is returned by a second Login on the same client.
	ErrAlreadyLoggedIn = errors.New("dialtone: already logged in")
	// ErrHeartbeatTimeout is the reason of a Reconnecting state caused by a connection that was
	// silent for the server's heartbeat timeout, or, wrapped (match it with errors.Is), by one
	// that could not even take a heartbeat for a whole heartbeat interval: the server stopped
	// reading.
	ErrHeartbeatTimeout = errors.New("dialtone: connection silent for the heartbeat timeout")
	// ErrEventsLost is the reason of a Connected state after a login that resumed from a
	// position (a reconnection, or Options.SeqStore's) whose missed events the server could no
	// longer send (behaviour R7.2: retention deleted them, or the server's log was reset), and
	// after a first login whose SeqStore position could not be used (Load failed, or gave a
	// seq out of range), since events may have been missed all the same. Only
	// the invitations still ringing follow, synthesized (R5.3); calls known from earlier events
	// may have changed or ended unseen, so read them again (QueryCall, QueryCallInvitationList).
	ErrEventsLost = errors.New("dialtone: events missed while disconnected could not be replayed")
	// ErrProtocol is wrapped by the error of an operation whose reply does not follow the
	// protocol: its result is not JSON, or not of the op's shape, or it has neither result nor
	// error, or its error has no code (every error has one, behaviour §8). The reply was the
	// request's one reply (protocol.md "Envelopes"), so the operation is not sent again; the
	// connection stays.
	ErrProtocol = errors.New("dialtone: protocol error")

	// errConnLost tells a request that its connection died before the reply: it is retried.
	errConnLost = errors.New("dialtone: connection lost")
	// errWriteBusy tells a request with a write budget that an earlier frame was still being
	// written when the budget ran out: it was not sent, and the connection stays.
	errWriteBusy = errors.New("dialtone: an earlier frame is still being written")
)

// Code returns the wire error code carried by err (a *protocol.Error anywhere in its chain), or
// 0 when err is nil or did not come from a server reply.
func Code(err error) ErrorCode {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return 0
}

// replyError returns the error that the error reply e fails its operation with: e, or
// ErrProtocol when e has no code (Code would give 0, the code of no server error).
func replyError(e *protocol.Error) error {
	if e.Code == 0 {
		return fmt.Errorf("%w: an error without a code (message %q)", ErrProtocol, e.Message)
	}
	return e
}

// KickError is the reason of a Disconnected or Reconnecting state caused by the server kicking
// the connection (the kicked event, or a close code of the kick table without one).
type KickError struct {
	Reason string // a Kick* constant
	Retry  bool   // whether the client reconnects
}

func (e *KickError) Error() string {
	if e.Reason == "" { // a kick that told no reason (docs/behaviour.md §12)
		return fmt.Sprintf("dialtone: kicked by the server, no reason given (retry %t)", e.Retry)
	}
	return fmt.Sprintf("dialtone: kicked by the server: %s (retry %t)", e.Reason, e.Retry)
}
