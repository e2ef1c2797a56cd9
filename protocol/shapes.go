package protocol

// CallUserInfo is one entry of a call's callUserList. Times are Unix milliseconds, 0 when not
// applicable (behaviour §10b).
type CallUserInfo struct {
	UserID       string        `json:"userID"`
	State        CallUserState `json:"state"`
	Inviter      string        `json:"inviter"`
	ExtendedData string        `json:"extendedData"`
	Deadline     int64         `json:"deadline"`
	AcceptTime   int64         `json:"acceptTime"`
	UpdateTime   int64         `json:"updateTime"`
}

// CallInfo describes a call. Inviter equals Caller.
type CallInfo struct {
	CallID       string         `json:"callID"`
	Caller       string         `json:"caller"`
	Inviter      string         `json:"inviter"`
	Mode         CallMode       `json:"mode"`
	State        CallState      `json:"state"`
	ExtendedData string         `json:"extendedData"`
	CreateTime   int64          `json:"createTime"`
	EndTime      int64          `json:"endTime"`
	Version      int64          `json:"version"`
	CallUserList []CallUserInfo `json:"callUserList"`
}

// ErrorUserInfo names a user an op could not apply to, and why (an error code).
type ErrorUserInfo struct {
	UserID string `json:"userID"`
	Reason Code   `json:"reason"`
}

// PushConfig asks for offline pushes (behaviour §9). Sizes: title and content ≤ 256 bytes,
// payload ≤ 2048, resourcesID ≤ 32.
type PushConfig struct {
	Title       string `json:"title,omitempty"`
	Content     string `json:"content,omitempty"`
	Payload     string `json:"payload,omitempty"`
	ResourcesID string `json:"resourcesID,omitempty"`
}
