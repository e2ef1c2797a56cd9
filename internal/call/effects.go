package call

// Outcome is what Create, Expire and Apply decide: the call after the change and the effects
// the shell must carry out, all in one commit (events, webhooks, pushes, busy records) except
// pushes and webhook delivery, which follow the commit.
type Outcome struct {
	Call    Call // the call afterwards; equal to the input call when Changed is false
	Changed bool // the call changed and must be committed; Version grew by one per change

	Events   []Event   // in commit order; each carries its change's Version
	Webhooks []Webhook // in commit order (behaviour §10)
	Pushes   []Push    // behaviour §9
	Busy     []Busy    // changes to who is "in a call" in this call (§1)

	// MustBeFree names the user who must not be in another call for this outcome to commit:
	// the caller of a new call (R3.1) or a user made Accepted by accept or join (R3.3, R3.7).
	// The shell checks it across calls and applies glare (R3.3b) where the input allows.
	MustBeFree string

	// Reply details.
	Timeout       int         // Create, CallingInvite: the ring timeout applied, in seconds
	ErrorUsers    []ErrorUser // Create, CallingInvite: invitees not invited, with the reason
	ErrorInvitees []string    // Cancel: targets not cancelled (terminal or not in the call)
}

// Busy records that a user starts (InCall) or stops being "in a call" in this call: Accepted
// while the call is Started (§1). The shell keeps one such record per user (R3.1, R3.3, R3.7).
type Busy struct {
	UserID string
	InCall bool
}

// ErrorUser is an entry of errorUserList.
type ErrorUser struct {
	UserID string
	Reason Code
}

// EventKind names an event of protocol.md.
type EventKind int8

// The event kinds.
const (
	InvitationCreated EventKind = iota + 1
	InvitationReceived
	InvitationCancelled
	InvitationTimeout
	InvitationEnded
	UserStateChanged
	MainDeviceChanged
)

// TargetKind says which devices of a recipient user get an event (§5, R7.2).
type TargetKind int8

// The device targets.
const (
	AllDevices   TargetKind = iota // every device of the user
	OnlyDevice                     // only Recipient.DeviceID (the main device)
	AllButDevice                   // every device but Recipient.DeviceID (the acting device)
)

// Recipient is a user and which of its devices get an event.
type Recipient struct {
	UserID   string
	Target   TargetKind
	DeviceID string // for OnlyDevice and AllButDevice
}

// Includes reports whether a device of the recipient user gets the event.
func (r Recipient) Includes(deviceID string) bool {
	switch r.Target {
	case OnlyDevice:
		return deviceID == r.DeviceID
	case AllButDevice:
		return deviceID != r.DeviceID
	default:
		return true
	}
}

// Event is one event with its recipients, fixed when its change commits. Which fields are set
// depends on Kind, following protocol.md "Events":
//
//	InvitationCreated:   Mode, Caller, ExtendedData (the call's), Timeout, CreateTime, Users (all)
//	InvitationReceived:  Mode, Caller, Inviter, ExtendedData (the invitation's), Timeout (seconds
//	                     left, rounded up), Deadline, CreateTime, Users (all)
//	InvitationCancelled: Mode, Inviter (the canceller), ExtendedData (the cancel's), Users (the
//	                     users made BeCancelled)
//	InvitationTimeout:   Mode
//	InvitationEnded:     Mode, Caller, OperatedUserID, ExtendedData (the ending op's), EndTime
//	UserStateChanged:    Users (only the changed users); CallEnded and EndTime when it ended the call
//	MainDeviceChanged:   DeviceID (the new main device)
type Event struct {
	Kind    EventKind
	To      []Recipient
	CallID  string
	Version int64

	Mode           Mode
	Caller         string
	Inviter        string
	ExtendedData   string
	Timeout        int
	Deadline       int64
	CreateTime     int64
	Users          []User
	CallEnded      bool
	EndTime        int64
	OperatedUserID string
	DeviceID       string
}

// Webhook is one server callback record of behaviour §10, written to the outbox in the same
// commit as its change. Which fields are set depends on Event, as in the §10 table.
type Webhook struct {
	Event     string // call_create, call_invite, call_accept, call_reject, call_cancel, call_timeout, call_join, call_quit, call_end
	CallID    string
	Version   int64 // the version of the change that produced it
	Timestamp int64
	Caller    string
	Mode      Mode

	Users          []string
	Timeout        int
	ExtendedData   string
	Inviter        string
	UserID         string
	OperatedUserID string
	Reason         string // call_cancel: caller_cancel; call_end: answered, rejected, timeout, cancelled, ended, everyone_left
	Lost           bool   // call_quit by device loss (R6.4)
	EndTime        int64
}

// PushKind says what a push is for (§9).
type PushKind int8

// The push kinds and who they go to:
//
//	PushInvitation: a new invitee with no connected device, or (Always) one just made NotYetReceived
//	PushWithdrawal: a user who was sent an invitation push for this call and stopped being pending
//	                (else, when its change is a callQuit or callEnd, that op's push: Else)
//	PushQuit, PushEnd: a user who gets that op's event and has no connected device
const (
	PushInvitation PushKind = iota + 1
	PushWithdrawal
	PushQuit
	PushEnd
)

// Push asks the shell to push to a user's registered targets. Only users with a Config to
// use are listed: the causing op's pushConfig or, for withdrawals, else the invitation's.
type Push struct {
	Kind     PushKind
	UserID   string
	CallID   string
	Caller   string
	Inviter  string // PushInvitation: the member whose invitation rings the user (User.Inviter)
	Config   PushConfig
	Deadline int64 // PushInvitation: the absolute ring deadline
	Always   bool  // send whether or not the user has a connected device (R5.2)
	// Else (PushWithdrawal only; 0: none) is the push of the change's callQuit or callEnd to
	// send instead, by that push's rule, when the user was sent no invitation push: the user
	// gets that op's event, and the withdrawal stands for the op's push only where it is sent.
	Else PushKind
}
