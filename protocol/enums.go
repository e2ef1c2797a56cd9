package protocol

// CallUserState is a user's state in a call (behaviour §2).
type CallUserState int

// The CallUserState values. 4 is reserved (ZIM's removed Offline); Ended is reserved and never
// set by v1.
const (
	StateUnknown        CallUserState = -1
	StateInviting       CallUserState = 0
	StateAccepted       CallUserState = 1
	StateRejected       CallUserState = 2
	StateCancelled      CallUserState = 3
	StateReceived       CallUserState = 5
	StateTimeout        CallUserState = 6
	StateQuit           CallUserState = 7
	StateEnded          CallUserState = 8
	StateNotYetReceived CallUserState = 9
	StateBeCancelled    CallUserState = 10
)

// CallState is the state of a whole call.
type CallState int

// The CallState values.
const (
	CallStateUnknown CallState = -1
	CallStarted      CallState = 1
	CallEnded        CallState = 2
)

// CallMode is a call's invitation mode; absent or -1 on input means General.
type CallMode int

// The CallMode values.
const (
	ModeGeneral  CallMode = 0
	ModeAdvanced CallMode = 1
)
