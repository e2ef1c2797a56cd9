package protocol

// Op names.
const (
	OpLogin                   = "login"
	OpLogout                  = "logout"
	OpHeartbeat               = "heartbeat"
	OpCallInvite              = "callInvite"
	OpCallCancel              = "callCancel"
	OpCallAccept              = "callAccept"
	OpCallReject              = "callReject"
	OpCallingInvite           = "callingInvite"
	OpCallJoin                = "callJoin"
	OpCallQuit                = "callQuit"
	OpCallEnd                 = "callEnd"
	OpCallReceived            = "callReceived"
	OpQueryCallInvitationList = "queryCallInvitationList"
	OpQueryCall               = "queryCall"

	// Extensions (protocol.md "Extensions: push targets"): optional; a server without push
	// support answers them like any unknown op.
	OpPushRegister   = "pushRegister"
	OpPushUnregister = "pushUnregister"
)

// Push providers of PushRegisterData.Provider.
const (
	PushProviderWebhook = "webhook" // the application's own push service (docs/push.md)
	PushProviderFCM     = "fcm"     // Firebase Cloud Messaging HTTP v1
	PushProviderAPNs    = "apns"    // Apple Push Notification service
)

// MaxPushTokenBytes bounds PushRegisterData.Token.
const MaxPushTokenBytes = 4096

// MaxPushTargetsPerUser bounds the push targets registered to one user: a pushRegister of
// another target past it is refused (6000001).
const MaxPushTargetsPerUser = 64

// MaxAppIDBytes bounds a push target's bundleID and appID: the target is stored, and its
// bundleID named in the header of each APNs push.
const MaxAppIDBytes = 255

// ValidBundleID reports whether id is an app's bundle ID as Apple forms them: ASCII letters,
// digits, "-" and ".", one to MaxAppIDBytes. Each APNs push names it in its apns-topic header,
// where a byte no header may hold (a line break) would fail every push to the target.
func ValidBundleID(id string) bool {
	if id == "" || len(id) > MaxAppIDBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// PushRegisterData is the data of pushRegister: this device's push target (behaviour §9). The
// target belongs to the logged-in user until it is unregistered, registered by another user, or
// this device logs out. BundleID is the APNs topic (required for apns, ValidBundleID); AppID is
// optional. Neither is longer than MaxAppIDBytes.
type PushRegisterData struct {
	Provider string `json:"provider"`
	Token    string `json:"token"`
	VoIP     bool   `json:"voip,omitempty"`
	BundleID string `json:"bundleID,omitempty"`
	AppID    string `json:"appID,omitempty"`
}

// PushUnregisterData is the data of pushUnregister.
type PushUnregisterData struct {
	Provider string `json:"provider"`
	Token    string `json:"token"`
}

// LoginData is the data of login. LastSeq is the last seq this device processed; nil when the
// device has never logged in.
type LoginData struct {
	Token    string `json:"token"`
	DeviceID string `json:"deviceID"`
	LastSeq  *int64 `json:"lastSeq,omitempty"`
}

// LoginResult is the result of login. CaughtUp is true when the events after LastSeq follow the
// reply; otherwise synthesized invitations follow.
type LoginResult struct {
	UserID              string `json:"userID"`
	DeviceID            string `json:"deviceID"`
	HeadSeq             int64  `json:"headSeq"`
	CaughtUp            bool   `json:"caughtUp"`
	HeartbeatIntervalMs int64  `json:"heartbeatIntervalMs"`
	HeartbeatTimeoutMs  int64  `json:"heartbeatTimeoutMs"`
	ServerTime          int64  `json:"serverTime"`
}

// HeartbeatResult is the result of heartbeat.
type HeartbeatResult struct {
	ServerTime int64 `json:"serverTime"`
}

// InviteConfig configures callInvite. Timeout is in seconds (1..600; 0 = 90).
type InviteConfig struct {
	Timeout                int         `json:"timeout,omitempty"`
	Mode                   CallMode    `json:"mode,omitempty"`
	ExtendedData           string      `json:"extendedData,omitempty"`
	PushConfig             *PushConfig `json:"pushConfig,omitempty"`
	EnableNotReceivedCheck bool        `json:"enableNotReceivedCheck,omitempty"`
}

// CallInviteData is the data of callInvite.
type CallInviteData struct {
	Invitees []string     `json:"invitees"`
	Config   InviteConfig `json:"config"`
}

// CallInviteResult is the result of callInvite.
type CallInviteResult struct {
	CallID        string          `json:"callID"`
	Timeout       int             `json:"timeout"`
	ErrorUserList []ErrorUserInfo `json:"errorUserList"`
	CallInfo      CallInfo        `json:"callInfo"`
}

// OpConfig is the config of ops that carry only extendedData and, where allowed, pushConfig.
type OpConfig struct {
	ExtendedData string      `json:"extendedData,omitempty"`
	PushConfig   *PushConfig `json:"pushConfig,omitempty"`
}

// CallCancelData is the data of callCancel.
type CallCancelData struct {
	CallID   string   `json:"callID"`
	Invitees []string `json:"invitees"`
	Config   OpConfig `json:"config"`
}

// CallCancelResult is the result of callCancel.
type CallCancelResult struct {
	CallID        string   `json:"callID"`
	ErrorInvitees []string `json:"errorInvitees"`
}

// CallOpData is the data of callAccept, callReject, callJoin, callQuit and callEnd.
type CallOpData struct {
	CallID string   `json:"callID"`
	Config OpConfig `json:"config"`
}

// CallIDResult is the result of callAccept and callReject.
type CallIDResult struct {
	CallID string `json:"callID"`
}

// CallingInviteConfig configures callingInvite.
type CallingInviteConfig struct {
	Timeout      int         `json:"timeout,omitempty"`
	ExtendedData string      `json:"extendedData,omitempty"`
	PushConfig   *PushConfig `json:"pushConfig,omitempty"`
}

// CallingInviteData is the data of callingInvite.
type CallingInviteData struct {
	CallID   string              `json:"callID"`
	Invitees []string            `json:"invitees"`
	Config   CallingInviteConfig `json:"config"`
}

// CallingInviteResult is the result of callingInvite.
type CallingInviteResult struct {
	CallID        string          `json:"callID"`
	ErrorUserList []ErrorUserInfo `json:"errorUserList"`
}

// CallJoinResult is the result of callJoin. ExtendedData is the call's.
type CallJoinResult struct {
	CallID       string         `json:"callID"`
	CreateTime   int64          `json:"createTime"`
	JoinTime     int64          `json:"joinTime"`
	CallUserList []CallUserInfo `json:"callUserList"`
	ExtendedData string         `json:"extendedData"`
}

// CallQuitResult is the result of callQuit.
type CallQuitResult struct {
	CallID     string `json:"callID"`
	CreateTime int64  `json:"createTime"`
	AcceptTime int64  `json:"acceptTime"`
	QuitTime   int64  `json:"quitTime"`
}

// CallEndResult is the result of callEnd.
type CallEndResult struct {
	CallID     string `json:"callID"`
	CreateTime int64  `json:"createTime"`
	AcceptTime int64  `json:"acceptTime"`
	EndTime    int64  `json:"endTime"`
}

// CallIDData is the data of callReceived and queryCall.
type CallIDData struct {
	CallID string `json:"callID"`
}

// ListConfig pages queryCallInvitationList: Count 1..100 (larger = 100, 0 = 20); NextFlag 0
// starts from the newest, otherwise continues after the page that returned it.
type ListConfig struct {
	Count    int   `json:"count,omitempty"`
	NextFlag int64 `json:"nextFlag,omitempty"`
}

// QueryCallInvitationListData is the data of queryCallInvitationList.
type QueryCallInvitationListData struct {
	Config ListConfig `json:"config"`
}

// QueryCallInvitationListResult is the result of queryCallInvitationList; NextFlag 0 means
// nothing older.
type QueryCallInvitationListResult struct {
	CallList []CallInfo `json:"callList"`
	NextFlag int64      `json:"nextFlag"`
}

// QueryCallResult is the result of queryCall.
type QueryCallResult struct {
	CallInfo CallInfo `json:"callInfo"`
}
