package protocol

// Kick reasons, sent in a kicked event before the server closes a connection with the reason's
// WebSocket close code.
const (
	KickReplaced       = "replaced"
	KickLogout         = "logout"
	KickShutdown       = "shutdown"
	KickSlowConsumer   = "slowConsumer"
	KickBadFrames      = "badFrames"
	KickAuthFailed     = "authFailed"
	KickLoginTimeout   = "loginTimeout"
	KickTooManyDevices = "tooManyDevices"
	KickHeartbeat      = "heartbeatTimeout"
)

// Kick describes one kick reason: its close code and whether the client should reconnect.
type Kick struct {
	Reason    string
	CloseCode int
	Retry     bool
}

// KickFor returns the kick for a reason of the table in protocol.md (Events).
func KickFor(reason string) (Kick, bool) {
	for _, k := range kicks() {
		if k.Reason == reason {
			return k, true
		}
	}
	return Kick{}, false
}

// KickReasons returns every kick reason, in the order of the table in protocol.md.
func KickReasons() []string {
	var reasons []string
	for _, k := range kicks() {
		reasons = append(reasons, k.Reason)
	}
	return reasons
}

// KickByCloseCode returns the kick whose close code is code.
func KickByCloseCode(code int) (Kick, bool) {
	for _, k := range kicks() {
		if k.CloseCode == code {
			return k, true
		}
	}
	return Kick{}, false
}

func kicks() [9]Kick {
	return [9]Kick{
		{KickReplaced, 4001, false},
		{KickLogout, 4002, false},
		{KickShutdown, 4003, true},
		{KickSlowConsumer, 4004, true},
		{KickBadFrames, 4005, true},
		{KickAuthFailed, 4006, false},
		{KickLoginTimeout, 4007, true},
		{KickTooManyDevices, 4008, false},
		{KickHeartbeat, 4009, true},
	}
}
