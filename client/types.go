package client

import "github.com/dialtone/dialtone/protocol"

// Wire types re-exported from package protocol so that an application needs to import only this
// package. They are aliases: values convert freely between the two packages.
type (
	// ErrorCode is a wire error code (behaviour §8). Obtain it from an error with [Code].
	ErrorCode = protocol.Code
	// CallUserState is a user's state in a call.
	CallUserState = protocol.CallUserState
	// CallState is the state of a whole call.
	CallState = protocol.CallState
	// CallMode is a call's invitation mode.
	CallMode = protocol.CallMode

	// CallUserInfo is one entry of a call's user list.
	CallUserInfo = protocol.CallUserInfo
	// CallInfo describes a call.
	CallInfo = protocol.CallInfo
	// ErrorUserInfo names a user an operation could not apply to, and why.
	ErrorUserInfo = protocol.ErrorUserInfo
	// PushConfig asks the server for offline pushes (behaviour §9).
	PushConfig = protocol.PushConfig

	// LoginResult is the result of a login.
	LoginResult = protocol.LoginResult
	// InviteConfig configures CallInvite. Timeout is in seconds (1..600; 0 = 90).
	InviteConfig = protocol.InviteConfig
	// OpConfig configures CallCancel, CallAccept, CallReject, CallJoin, CallQuit and CallEnd.
	// The server ignores PushConfig for ops that take none (accept, reject, join).
	OpConfig = protocol.OpConfig
	// CallingInviteConfig configures CallingInvite.
	CallingInviteConfig = protocol.CallingInviteConfig

	// CallInviteResult is the result of CallInvite.
	CallInviteResult = protocol.CallInviteResult
	// CallCancelResult is the result of CallCancel.
	CallCancelResult = protocol.CallCancelResult
	// CallIDResult is the result of CallAccept and CallReject.
	CallIDResult = protocol.CallIDResult
	// CallingInviteResult is the result of CallingInvite.
	CallingInviteResult = protocol.CallingInviteResult
	// CallJoinResult is the result of CallJoin.
	CallJoinResult = protocol.CallJoinResult
	// CallQuitResult is the result of CallQuit.
	CallQuitResult = protocol.CallQuitResult
	// CallEndResult is the result of CallEnd.
	CallEndResult = protocol.CallEndResult
	// CallInvitationListResult is the result of QueryCallInvitationList; NextFlag 0 means
	// nothing older.
	CallInvitationListResult = protocol.QueryCallInvitationListResult

	// CallInvitationCreated is delivered to all devices of a call's caller.
	CallInvitationCreated = protocol.CallInvitationCreated
	// CallInvitationReceived rings a device; see [Client.RemainingRingTime].
	CallInvitationReceived = protocol.CallInvitationReceived
	// CallInvitationCancelled tells that invitations were withdrawn.
	CallInvitationCancelled = protocol.CallInvitationCancelled
	// CallInvitationTimeout tells a user its invitation timed out.
	CallInvitationTimeout = protocol.CallInvitationTimeout
	// CallInvitationEnded tells a user the call ended.
	CallInvitationEnded = protocol.CallInvitationEnded
	// CallUserStateChanged lists the users one change moved.
	CallUserStateChanged = protocol.CallUserStateChanged
	// CallMainDeviceChanged names the user's new main device in a call.
	CallMainDeviceChanged = protocol.CallMainDeviceChanged
	// Kicked tells why the server is closing the connection and whether to reconnect.
	Kicked = protocol.Kicked
)

// Error codes (behaviour §8).
const (
	CodeInvalidParameter = protocol.CodeInvalidParameter
	CodeUnknownOp        = protocol.CodeUnknownOp
	CodeNotLoggedIn      = protocol.CodeNotLoggedIn
	CodeInternal         = protocol.CodeInternal
	CodeCancelAccepted   = protocol.CodeCancelAccepted
	CodeTooManyUsers     = protocol.CodeTooManyUsers
	CodeNotInviter       = protocol.CodeNotInviter
	CodeStateForbids     = protocol.CodeStateForbids
	CodeCallUnavailable  = protocol.CodeCallUnavailable
	CodeNoValidInvitee   = protocol.CodeNoValidInvitee
	CodeAlreadyActive    = protocol.CodeAlreadyActive
	CodeNotAdvanced      = protocol.CodeNotAdvanced
	CodeBusy             = protocol.CodeBusy
	CodeAuthFailed       = protocol.CodeAuthFailed
	CodeRateLimited      = protocol.CodeRateLimited
	CodeTooManyDevices   = protocol.CodeTooManyDevices
)

// Call user states (behaviour §2).
const (
	StateUnknown        = protocol.StateUnknown
	StateInviting       = protocol.StateInviting
	StateAccepted       = protocol.StateAccepted
	StateRejected       = protocol.StateRejected
	StateCancelled      = protocol.StateCancelled
	StateReceived       = protocol.StateReceived
	StateTimeout        = protocol.StateTimeout
	StateQuit           = protocol.StateQuit
	StateEnded          = protocol.StateEnded
	StateNotYetReceived = protocol.StateNotYetReceived
	StateBeCancelled    = protocol.StateBeCancelled
)

// Call states.
const (
	CallStateUnknown = protocol.CallStateUnknown
	CallStarted      = protocol.CallStarted
	CallEnded        = protocol.CallEnded
)

// Call invitation modes.
const (
	ModeGeneral  = protocol.ModeGeneral
	ModeAdvanced = protocol.ModeAdvanced
)

// Kick reasons carried by [Kicked].
const (
	KickReplaced       = protocol.KickReplaced
	KickLogout         = protocol.KickLogout
	KickShutdown       = protocol.KickShutdown
	KickSlowConsumer   = protocol.KickSlowConsumer
	KickBadFrames      = protocol.KickBadFrames
	KickAuthFailed     = protocol.KickAuthFailed
	KickLoginTimeout   = protocol.KickLoginTimeout
	KickTooManyDevices = protocol.KickTooManyDevices
	KickHeartbeat      = protocol.KickHeartbeat
)
