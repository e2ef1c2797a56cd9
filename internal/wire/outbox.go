package wire

import (
	"encoding/json"
	"fmt"

	"github.com/dialtone/dialtone/internal/call"
)

// WebhookBody is the JSON body of a server callback (behaviour §10, docs/webhooks.md). The
// common fields are always present; the others only for the events that carry them.
type WebhookBody struct {
	EventID   string `json:"eventID"`
	Event     string `json:"event"`
	CallID    string `json:"callID"`
	Timestamp int64  `json:"timestamp"`
	Caller    string `json:"caller"`
	Mode      int    `json:"mode"`

	Users          []string `json:"users,omitzero"` // [], not absent, when an event that carries it has none
	Timeout        int      `json:"timeout,omitempty"`
	ExtendedData   *string  `json:"extendedData,omitempty"`
	Inviter        string   `json:"inviter,omitempty"`
	UserID         string   `json:"userID,omitempty"`
	OperatedUserID *string  `json:"operatedUserID,omitempty"` // call_end: "" when a timeout ended the call
	Reason         string   `json:"reason,omitempty"`
	Lost           *bool    `json:"lost,omitempty"`
	EndTime        int64    `json:"endTime,omitempty"`
}

// EncodeWebhook returns the body of w. index is w's position among the webhooks of its change,
// so eventID (callID, version, index) is unique and the same on every retry.
func EncodeWebhook(w call.Webhook, index int) ([]byte, error) {
	b := WebhookBody{
		EventID: fmt.Sprintf("%s.%d.%d", w.CallID, w.Version, index), Event: w.Event, CallID: w.CallID,
		Timestamp: w.Timestamp, Caller: w.Caller, Mode: int(w.Mode),
	}
	ext, op := w.ExtendedData, w.OperatedUserID
	switch w.Event {
	case "call_create":
		b.Users, b.Timeout, b.ExtendedData = nonNil(w.Users), w.Timeout, &ext
	case "call_invite":
		b.Inviter, b.Users, b.Timeout, b.ExtendedData = w.Inviter, nonNil(w.Users), w.Timeout, &ext
	case "call_accept", "call_reject", "call_join":
		b.UserID, b.ExtendedData = w.UserID, &ext
	case "call_cancel":
		b.OperatedUserID, b.Users, b.Reason, b.ExtendedData = &op, nonNil(w.Users), w.Reason, &ext
	case "call_timeout":
		b.Users = nonNil(w.Users)
	case "call_quit":
		lost := w.Lost
		b.UserID, b.ExtendedData, b.Lost = w.UserID, &ext, &lost
	case "call_end":
		b.EndTime, b.OperatedUserID, b.Reason = w.EndTime, &op, w.Reason
	default:
		return nil, fmt.Errorf("wire: unknown webhook event %q", w.Event)
	}
	return json.Marshal(b)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Push kinds as stored in the push outbox.
const (
	PushInvitation = "invitation"
	PushWithdrawal = "withdrawal"
	PushQuit       = "quit"
	PushEnd        = "end"
)

// PushMessage is a push as queued in the outbox and handed to the push providers (§9).
type PushMessage struct {
	Kind        string `json:"kind"` // PushInvitation, PushWithdrawal, PushQuit or PushEnd
	UserID      string `json:"userID"`
	CallID      string `json:"callID"` // also the collapse key, but for a quit push beside a ring (push.Message.CollapseKey)
	Caller      string `json:"caller"`
	Inviter     string `json:"inviter,omitempty"`  // invitation: the member whose invitation rings the user
	ServerTime  int64  `json:"serverTime"`         // when the change committed, Unix ms
	Deadline    int64  `json:"deadline,omitempty"` // invitation: absolute ring deadline, Unix ms
	Always      bool   `json:"always,omitempty"`   // send even if the user has a connected device (R5.2)
	Else        string `json:"else,omitempty"`     // withdrawal: PushQuit or PushEnd to send instead when no invitation push was sent (call.Push.Else)
	Title       string `json:"title,omitempty"`
	Content     string `json:"content,omitempty"`
	Payload     string `json:"payload,omitempty"`
	ResourcesID string `json:"resourcesID,omitempty"`
}

// EncodePush returns the outbox body of p, decided at now.
func EncodePush(p call.Push, now int64) ([]byte, error) {
	kinds := map[call.PushKind]string{call.PushInvitation: PushInvitation, call.PushWithdrawal: PushWithdrawal,
		call.PushQuit: PushQuit, call.PushEnd: PushEnd}
	kind := kinds[p.Kind]
	if kind == "" {
		return nil, fmt.Errorf("wire: unknown push kind %d", p.Kind)
	}
	return json.Marshal(PushMessage{Kind: kind, UserID: p.UserID, CallID: p.CallID, Caller: p.Caller,
		Inviter: p.Inviter, ServerTime: now, Deadline: p.Deadline, Always: p.Always, Else: kinds[p.Else], Title: p.Config.Title,
		Content: p.Config.Content, Payload: p.Config.Payload, ResourcesID: p.Config.ResourcesID})
}
