package protocol

// Event names.
const (
	EventCallInvitationCreated   = "callInvitationCreated"
	EventCallInvitationReceived  = "callInvitationReceived"
	EventCallInvitationCancelled = "callInvitationCancelled"
	EventCallInvitationTimeout   = "callInvitationTimeout"
	EventCallInvitationEnded     = "callInvitationEnded"
	EventCallUserStateChanged    = "callUserStateChanged"
	EventCallMainDeviceChanged   = "callMainDeviceChanged"
	EventKicked                  = "kicked"
)

// CallInvitationCreated goes to all devices of the caller.
type CallInvitationCreated struct {
	CallID       string         `json:"callID"`
	Version      int64          `json:"version"`
	Mode         CallMode       `json:"mode"`
	Caller       string         `json:"caller"`
	ExtendedData string         `json:"extendedData"`
	Timeout      int            `json:"timeout"`
	CreateTime   int64          `json:"createTime"`
	CallUserList []CallUserInfo `json:"callUserList"`
}

// CallInvitationReceived rings a device. Timeout is the whole seconds left (rounded up) when it
// was produced; clients ring until Deadline, corrected by the login's serverTime offset.
// Synthetic is on the wire in every one, false but for the invitations synthesized at login
// (R5.3).
type CallInvitationReceived struct {
	CallID       string         `json:"callID"`
	Version      int64          `json:"version"`
	Mode         CallMode       `json:"mode"`
	Caller       string         `json:"caller"`
	Inviter      string         `json:"inviter"`
	ExtendedData string         `json:"extendedData"`
	Timeout      int            `json:"timeout"`
	Deadline     int64          `json:"deadline"`
	CreateTime   int64          `json:"createTime"`
	CallUserList []CallUserInfo `json:"callUserList"`
	Synthetic    bool           `json:"synthetic"`
}

// CallInvitationCancelled tells cancelled users, and the canceller's other devices, that
// invitations were withdrawn; CallUserList holds the users cancelled.
type CallInvitationCancelled struct {
	CallID       string         `json:"callID"`
	Version      int64          `json:"version"`
	Mode         CallMode       `json:"mode"`
	Inviter      string         `json:"inviter"`
	ExtendedData string         `json:"extendedData"`
	CallUserList []CallUserInfo `json:"callUserList"`
}

// CallInvitationTimeout tells a user its invitation timed out.
type CallInvitationTimeout struct {
	CallID  string   `json:"callID"`
	Version int64    `json:"version"`
	Mode    CallMode `json:"mode"`
}

// CallInvitationEnded tells a user the call ended.
type CallInvitationEnded struct {
	CallID         string   `json:"callID"`
	Version        int64    `json:"version"`
	Mode           CallMode `json:"mode"`
	Caller         string   `json:"caller"`
	OperatedUserID string   `json:"operatedUserID"`
	ExtendedData   string   `json:"extendedData"`
	EndTime        int64    `json:"endTime"`
}

// CallUserStateChanged lists the users one change moved; CallState (2) and EndTime are set
// when the change ended the call.
type CallUserStateChanged struct {
	CallID       string         `json:"callID"`
	Version      int64          `json:"version"`
	CallUserList []CallUserInfo `json:"callUserList"`
	CallState    CallState      `json:"callState,omitempty"`
	EndTime      int64          `json:"endTime,omitempty"`
}

// CallMainDeviceChanged tells a user's devices which of them is now its main device in a call.
type CallMainDeviceChanged struct {
	CallID   string `json:"callID"`
	Version  int64  `json:"version"`
	DeviceID string `json:"deviceID"`
}

// Kicked precedes the close of a connection by the server.
type Kicked struct {
	Reason string `json:"reason"`
	Retry  bool   `json:"retry"`
}
