package call

// Actor is who makes an operation: a user and the device it acts from. DeviceID is "" for the
// server REST API, which acts without a device (§1): the user gets no main device and its own
// events go to all its devices.
type Actor struct {
	UserID   string
	DeviceID string
}

// Input is one thing that can happen to an existing call: an operation, a tick of its
// deadlines, or a lost device. The concrete types are listed below; Invite is not an Input
// because it creates a call (see Create).
type Input interface {
	input()
	// ActingUser returns the user the input acts for (the owner of its idempotency keys).
	ActingUser() string
}

// ActingUser returns a.UserID; every input that embeds an Actor acts for it.
func (a Actor) ActingUser() string { return a.UserID }

// ActingUser returns the user whose device was lost.
func (d DeviceLost) ActingUser() string { return d.UserID }

// ActingUser returns the caller whose call is cancelled.
func (g GlareCancel) ActingUser() string { return g.UserID }

// Invite creates a call (R3.1). CallID is chosen by the shell (≥ 96 random bits).
type Invite struct {
	Actor
	CallID                 string
	Invitees               []string
	Timeout                int // seconds, 1..600; 0 = 90
	Mode                   Mode
	ExtendedData           string
	Push                   *PushConfig
	EnableNotReceivedCheck bool
}

// Cancel is callCancel (R3.2). Empty Invitees cancels the whole call.
type Cancel struct {
	Actor
	Invitees     []string
	ExtendedData string
	Push         *PushConfig
}

// Accept is callAccept (R3.3).
type Accept struct {
	Actor
	ExtendedData string
}

// Reject is callReject (R3.4).
type Reject struct {
	Actor
	ExtendedData string
}

// Receipt is callReceived, the SDK's automatic receipt acknowledgement (R3.11, R5.1).
type Receipt struct {
	Actor
}

// CallingInvite invites more users into an advanced call (R3.6).
type CallingInvite struct {
	Actor
	Invitees     []string
	Timeout      int // seconds, 1..600; 0 = 90
	ExtendedData string
	Push         *PushConfig
}

// Join is callJoin (R3.7): join as a participant, or switch the main device.
type Join struct {
	Actor
	ExtendedData string
}

// QuitCall is callQuit (R3.8).
type QuitCall struct {
	Actor
	ExtendedData string
	Push         *PushConfig
}

// End is callEnd (R3.9).
type End struct {
	Actor
	ExtendedData string
	Push         *PushConfig
}

// DeviceLost reports that a device of a user had no connected session for heartbeatTimeout, or
// logged out (R6.1). It applies R4.3 when the device is the caller's main device in an
// unanswered call, R6.4 when it is the main device of an Accepted user in an advanced call, and
// otherwise changes nothing (no error).
type DeviceLost struct {
	UserID   string
	DeviceID string
}

// GlareCancel cancels UserID's own unanswered outgoing call because UserID is accepting another
// call (R3.3b): as a whole-call cancel by the caller (R3.2) whose events go to all the caller's
// devices, with webhook reason caller_cancel. The shell applies it in the same commit as the
// accept. It fails with CodeStateForbids when the call is answered or UserID is not its caller
// (or no longer Accepted in it), and with CodeCallUnavailable when the call has ended.
type GlareCancel struct {
	UserID string
}

func (Cancel) input()        {}
func (Accept) input()        {}
func (Reject) input()        {}
func (Receipt) input()       {}
func (CallingInvite) input() {}
func (Join) input()          {}
func (QuitCall) input()      {}
func (End) input()           {}
func (DeviceLost) input()    {}
func (GlareCancel) input()   {}
