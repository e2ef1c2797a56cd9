package client

import (
	"context"

	"github.com/dialtone/dialtone/protocol"
)

// Every operation below waits for a logged-in connection, sends its request and returns the
// server's reply. A refusal is returned as an error wrapping *protocol.Error (see Code). When
// the connection drops before the reply, the operation is sent again after the reconnection,
// until ctx ends (or Options.RequestTimeout when ctx has no deadline); mutating operations
// carry one idempotency key across these attempts, so they take effect at most once (R7.3).
// Operations may be called from any goroutine, including from inside an EventHandler method.

// CallInvite creates a call and invites invitees (behaviour R3.1). Invalid invitees are listed
// in the result's ErrorUserList rather than failing the call.
func (c *Client) CallInvite(ctx context.Context, invitees []string, cfg InviteConfig) (CallInviteResult, error) {
	data := protocol.CallInviteData{Invitees: invitees, Config: cfg}
	return roundTrip[CallInviteResult](ctx, c, protocol.OpCallInvite, data, true)
}

// CallCancel withdraws invitations (behaviour R3.2): the whole call for a general-mode call or
// empty invitees, otherwise the listed invitees of an advanced-mode call.
func (c *Client) CallCancel(ctx context.Context, callID string, invitees []string,
	cfg OpConfig) (CallCancelResult, error) {
	if invitees == nil {
		invitees = []string{}
	}
	data := protocol.CallCancelData{CallID: callID, Invitees: invitees, Config: cfg}
	return roundTrip[CallCancelResult](ctx, c, protocol.OpCallCancel, data, true)
}

// CallAccept accepts an invitation (behaviour R3.3); this device becomes the user's main device
// in the call. A refusal with CodeCallUnavailable or CodeStateForbids tells that the ring may
// be over without its event having reached the application (cancelled or timed out while the
// connection was down): read the call (QueryCall) to show its state, as the browser SDK's demo
// page does. The same holds for CallReject.
func (c *Client) CallAccept(ctx context.Context, callID string, cfg OpConfig) (CallIDResult, error) {
	return callOp[CallIDResult](ctx, c, protocol.OpCallAccept, callID, cfg)
}

// CallReject rejects an invitation (behaviour R3.4).
func (c *Client) CallReject(ctx context.Context, callID string, cfg OpConfig) (CallIDResult, error) {
	return callOp[CallIDResult](ctx, c, protocol.OpCallReject, callID, cfg)
}

// CallingInvite invites more users into an advanced-mode call the user is in (behaviour R3.6).
func (c *Client) CallingInvite(ctx context.Context, callID string, invitees []string,
	cfg CallingInviteConfig) (CallingInviteResult, error) {
	data := protocol.CallingInviteData{CallID: callID, Invitees: invitees, Config: cfg}
	return roundTrip[CallingInviteResult](ctx, c, protocol.OpCallingInvite, data, true)
}

// CallJoin joins an advanced-mode call, or moves the user's main device in it to this device
// (behaviour R3.7).
func (c *Client) CallJoin(ctx context.Context, callID string, cfg OpConfig) (CallJoinResult, error) {
	return callOp[CallJoinResult](ctx, c, protocol.OpCallJoin, callID, cfg)
}

// CallQuit leaves an advanced-mode call (behaviour R3.8); the call ends when nobody Accepted is
// left.
func (c *Client) CallQuit(ctx context.Context, callID string, cfg OpConfig) (CallQuitResult, error) {
	return callOp[CallQuitResult](ctx, c, protocol.OpCallQuit, callID, cfg)
}

// CallEnd ends an advanced-mode call for everyone (behaviour R3.9).
func (c *Client) CallEnd(ctx context.Context, callID string, cfg OpConfig) (CallEndResult, error) {
	return callOp[CallEndResult](ctx, c, protocol.OpCallEnd, callID, cfg)
}

// CallReceived acknowledges an invitation (behaviour R3.11, R5.1). The client already sends it
// for every CallInvitationReceived it delivers; call it only to acknowledge an invitation
// learnt otherwise (for example from a push). It is idempotent by nature and carries no key.
func (c *Client) CallReceived(ctx context.Context, callID string) error {
	return c.call(ctx, protocol.OpCallReceived, protocol.CallIDData{CallID: callID}, false, nil)
}

// QueryCallInvitationList returns a page of the user's calls, newest first (behaviour R3.10).
// count is 1..100 (0 = 20); nextFlag is 0 for the first page, then the previous page's
// NextFlag; a returned NextFlag of 0 means there is nothing older.
func (c *Client) QueryCallInvitationList(ctx context.Context, count int,
	nextFlag int64) (CallInvitationListResult, error) {
	data := protocol.QueryCallInvitationListData{Config: protocol.ListConfig{Count: count, NextFlag: nextFlag}}
	return roundTrip[CallInvitationListResult](ctx, c, protocol.OpQueryCallInvitationList, data, false)
}

// QueryCall returns a call the user is in (behaviour R3.10), for example to check whether an
// invitation learnt from a push still rings.
func (c *Client) QueryCall(ctx context.Context, callID string) (CallInfo, error) {
	var r protocol.QueryCallResult
	err := c.call(ctx, protocol.OpQueryCall, protocol.CallIDData{CallID: callID}, false, &r)
	return r.CallInfo, err
}

// PushTarget is this device's push registration (protocol.md "Extensions: push targets"):
// Provider is "webhook", "fcm" or "apns"; BundleID is required for apns (letters, digits, "-"
// and ".", as Apple forms bundle IDs); BundleID and AppID are at most 255 bytes.
type PushTarget = protocol.PushRegisterData

// PushRegister registers this device's push target for offline pushes (behaviour §9). The
// target belongs to the logged-in user until PushUnregister, until another user registers the
// same token, or until this device logs out. A server without push support refuses it with
// ErrorCode 6000002.
func (c *Client) PushRegister(ctx context.Context, t PushTarget) error {
	return c.call(ctx, protocol.OpPushRegister, t, false, nil)
}

// PushUnregister removes a push target registered by this user; removing one that is not
// registered succeeds.
func (c *Client) PushUnregister(ctx context.Context, provider, token string) error {
	return c.call(ctx, protocol.OpPushUnregister, protocol.PushUnregisterData{Provider: provider, Token: token}, false, nil)
}

// roundTrip performs op (see Client.call) and returns its result decoded as R.
func roundTrip[R any](ctx context.Context, c *Client, op string, data any, idempotent bool) (R, error) {
	var r R
	err := c.call(ctx, op, data, idempotent, &r)
	return r, err
}

// callOp performs a mutating op whose data is a callID and an OpConfig.
func callOp[R any](ctx context.Context, c *Client, op, callID string, cfg OpConfig) (R, error) {
	return roundTrip[R](ctx, c, op, protocol.CallOpData{CallID: callID, Config: cfg}, true)
}
