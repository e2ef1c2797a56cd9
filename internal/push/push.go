// Package push sends the offline pushes of behaviour §9 (docs/push.md). Providers (the
// application's own push service, FCM HTTP v1, APNs over HTTP/2) share one small interface;
// the Dispatcher turns each push outbox record into sends to the user's registered targets,
// deciding who gets what (no connected device; withdrawals only after an invitation push).
// Ordering, retries and expiry are internal/outbox's.
package push

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dialtone/dialtone/internal/outbox"
)

// Message kinds, as queued by the switchboard (wire.PushMessage.Kind).
const (
	KindInvitation = "invitation"
	KindWithdrawal = "withdrawal"
	KindQuit       = "quit"
	KindEnd        = "end"
)

// Target is one registered device token.
type Target struct {
	Provider string // webhook, fcm or apns
	Token    string
	VoIP     bool   // an APNs PushKit token: accepts only VoIP pushes
	BundleID string // the APNs topic (the app's bundle ID)
}

// Message is one push. Its CollapseKey decides which earlier push of the same call it replaces
// on the device and in the provider's store.
type Message struct {
	Kind   string `json:"kind"` // KindInvitation, KindWithdrawal, KindQuit or KindEnd
	CallID string `json:"callID"`
	Caller string `json:"caller"`
	// Inviter (invitation only) is the member whose invitation rings the user: the caller
	// for callInvite, the inviting member for callingInvite (R3.6).
	Inviter     string  `json:"inviter,omitempty"`
	ServerTime  int64   `json:"serverTime"`         // when the change committed, Unix ms
	Deadline    int64   `json:"deadline,omitempty"` // invitation: absolute ring deadline, Unix ms
	Title       string  `json:"title,omitempty"`
	Content     string  `json:"content,omitempty"`
	Payload     string  `json:"payload,omitempty"`
	ResourcesID string  `json:"resourcesID,omitempty"`
	Profile     Profile `json:"profile,omitzero"` // the profile ResourcesID names; zero when none
	// Truncated marks a push shortened to fit its provider's size limit (docs/push.md "Size
	// limits"): its payload was dropped, and its content and title may be cut. Only APNs and
	// FCM have limits, so the webhook provider never sends it.
	Truncated bool `json:"truncated,omitempty"`
	// BesideRing (quit only) marks a push to a user who was sent an invitation push of the call
	// not yet withdrawn: the ring may still be on the screen, and this push must not replace
	// it (CollapseKey). Not part of the message sent.
	BesideRing bool `json:"-"`
}

// CollapseKey is the key under which m replaces an earlier push on the device and in the
// provider's store for an offline device: the callID, so that a withdrawal or an end takes
// the place of the ring, and an end that of a quit. A quit push beside a ring (BesideRing: it
// also goes to users still ringing for the call, listeners of behaviour §5) has a key of its
// own (callID + ".quit"), so that it does not replace their invitation.
func (m Message) CollapseKey() string {
	if m.Kind == KindQuit && m.BesideRing {
		return m.CallID + ".quit"
	}
	return m.CallID
}

// Provider sends one message to one target. It returns nil when the provider took the
// message (or, by a documented rule, the message is not for this target), an error wrapping
// ErrTokenInvalid when the provider says the token is no longer valid (the target is then
// removed), an error wrapping ErrRejected when retrying cannot help, and any other error when
// a later attempt may succeed (network, 429, 5xx), marked with the wait the provider asked for
// when it sent a Retry-After (outbox.RetryAfter). It must be safe for concurrent use.
type Provider interface {
	Send(ctx context.Context, t Target, m Message) error
}

// Skipper is a Provider with messages it takes without sending them, by a documented rule
// (APNs: no withdrawal to a VoIP target). Skips reports whether Send would return nil for m and
// t without a request; the dispatcher then needs none of the provider's slots for it.
type Skipper interface {
	Skips(t Target, m Message) bool
}

// voipSkips is the VoIP rule of every provider (docs/push.md): only invitations are sent to a
// VoIP target. Any other push is not a new call: never a VoIP push (behaviour §9), and a
// PushKit token takes nothing else.
func voipSkips(t Target, m Message) bool { return t.VoIP && m.Kind != KindInvitation }

// ErrTokenInvalid means the provider no longer accepts the target's token.
var ErrTokenInvalid = errors.New("push: token invalid")

// ErrRejected means the provider refused the message for a reason retrying will not fix.
var ErrRejected = errors.New("push: rejected")

// ErrTooLarge means a message does not fit its provider's size limit even when shortened; it
// is a rejection, refused before any request.
var ErrTooLarge = fmt.Errorf("push: too large for the provider even when shortened: %w", ErrRejected)

// httpError classifies a provider's HTTP answer a, received at now: 429, 5xx and redirects
// (3xx, which the providers' clients do not follow) may succeed later, and a 429 or 5xx carries
// the wait its Retry-After asks for (outbox.HTTPRetryAfter); any other failure status is a
// rejection unless the caller already found the token invalid.
func httpError(provider string, a answer, detail string, now time.Time) error {
	if a.status == 429 || a.status >= 500 || a.status >= 300 && a.status <= 399 {
		return outbox.HTTPRetryAfter(fmt.Errorf("push %s: status %d %s", provider, a.status, detail), a.status, a.header, now)
	}
	return fmt.Errorf("push %s: status %d %s: %w", provider, a.status, detail, ErrRejected)
}
