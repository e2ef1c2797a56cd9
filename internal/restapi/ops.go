package restapi

import (
	"context"
	"net/http"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/internal/wire"
	"github.com/dialtone/dialtone/protocol"
)

// inviteBody is POST /calls: callInvite's data on behalf of userID.
type inviteBody struct {
	UserID   string                `json:"userID"`
	Invitees []string              `json:"invitees"`
	Config   protocol.InviteConfig `json:"config"`
}

// opBody is POST /calls/{callID}/accept|reject|cancel|end.
type opBody struct {
	UserID   string            `json:"userID"`
	Invitees []string          `json:"invitees"` // cancel only
	Config   protocol.OpConfig `json:"config"`
}

// actor is a user acting without a device (behaviour §1).
func actor(userID string) call.Actor { return call.Actor{UserID: userID} }

func (a *api) invite(r *http.Request, key string) (any, error) {
	var b inviteBody
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	user, err := a.user(b.UserID)
	if err != nil {
		return nil, err
	}
	in, err := wire.Invite(actor(user), b.Invitees, b.Config)
	if err != nil {
		return nil, err
	}
	res, err := a.Backend.Invite(r.Context(), in, key)
	if err != nil {
		return nil, err
	}
	return protocol.CallInviteResult{CallID: res.Call.ID, Timeout: res.Timeout,
		ErrorUserList: wire.ErrorUsers(res.ErrorUsers), CallInfo: wire.CallInfo(res.Call)}, nil
}

// op decodes an op body and runs the input it makes, with the request's idempotency key.
func (a *api) op(r *http.Request, key string, input func(b opBody) call.Input) (switchboard.Result, error) {
	var b opBody
	if err := decode(r, &b); err != nil {
		return switchboard.Result{}, err
	}
	if _, err := a.user(b.UserID); err != nil {
		return switchboard.Result{}, err
	}
	if r.PathValue("callID") == "" {
		return switchboard.Result{}, invalid("callID is required")
	}
	return a.Backend.Do(r.Context(), r.PathValue("callID"), input(b), key)
}

func (a *api) accept(r *http.Request, key string) (any, error) {
	if _, err := a.op(r, key, func(b opBody) call.Input {
		return call.Accept{Actor: actor(b.UserID), ExtendedData: b.Config.ExtendedData}
	}); err != nil {
		return nil, err
	}
	return protocol.CallIDResult{CallID: r.PathValue("callID")}, nil
}

func (a *api) reject(r *http.Request, key string) (any, error) {
	if _, err := a.op(r, key, func(b opBody) call.Input {
		return call.Reject{Actor: actor(b.UserID), ExtendedData: b.Config.ExtendedData}
	}); err != nil {
		return nil, err
	}
	return protocol.CallIDResult{CallID: r.PathValue("callID")}, nil
}

func (a *api) cancel(r *http.Request, key string) (any, error) {
	res, err := a.op(r, key, func(b opBody) call.Input {
		return call.Cancel{Actor: actor(b.UserID), Invitees: b.Invitees, ExtendedData: b.Config.ExtendedData,
			Push: wire.PushConfig(b.Config.PushConfig)}
	})
	if err != nil {
		return nil, err
	}
	errorInvitees := res.ErrorInvitees
	if errorInvitees == nil {
		errorInvitees = []string{}
	}
	return protocol.CallCancelResult{CallID: r.PathValue("callID"), ErrorInvitees: errorInvitees}, nil
}

func (a *api) end(r *http.Request, key string) (any, error) {
	var user string
	res, err := a.op(r, key, func(b opBody) call.Input {
		user = b.UserID
		return call.End{Actor: actor(b.UserID), ExtendedData: b.Config.ExtendedData, Push: wire.PushConfig(b.Config.PushConfig)}
	})
	if err != nil {
		return nil, err
	}
	c := res.Call
	return protocol.CallEndResult{CallID: c.ID, CreateTime: c.CreateTime, AcceptTime: c.AcceptTimeOf(user), EndTime: c.EndTime}, nil
}

func (a *api) queryCall(r *http.Request, _ string) (any, error) {
	id, err := queryParam(r, "userID")
	if err != nil {
		return nil, err
	}
	user, err := a.user(id)
	if err != nil {
		return nil, err
	}
	c, err := a.Backend.QueryCall(r.Context(), user, r.PathValue("callID"))
	if err != nil {
		return nil, err
	}
	return protocol.QueryCallResult{CallInfo: wire.CallInfo(c)}, nil
}

func (a *api) listCalls(r *http.Request, _ string) (any, error) {
	user, err := a.user(r.PathValue("userID"))
	if err != nil {
		return nil, err
	}
	count, err := queryInt(r, "count")
	if err != nil {
		return nil, err
	}
	next, err := queryInt(r, "nextFlag")
	if err != nil {
		return nil, err
	}
	return wire.CallPage(int(min(count, 1000)), func(count int) ([]call.Call, int64, error) {
		return a.Backend.ListCalls(r.Context(), user, count, next)
	})
}

// logout takes no body: an empty one or an object (whose fields are unknown, so ignored), as
// every endpoint; anything else is refused before any session is kicked. The user's push
// targets are dropped first (§9): when they cannot be, nothing is changed and the request
// fails, so a logged-out user is never left with devices that are pushed its invitations.
// They are dropped again once the sessions are logged out: a registration a session had in
// flight when it was kicked is carried out before Sessions.LogoutUser returns, and must not
// outlive the logout either.
func (a *api) logout(r *http.Request, _ string) (any, error) {
	user, err := a.user(r.PathValue("userID"))
	if err != nil {
		return nil, err
	}
	if err := decode(r, &struct{}{}); err != nil {
		return nil, err
	}
	if err := a.dropPushTargets(r.Context(), user); err != nil {
		return nil, err
	}
	a.Sessions.LogoutUser(r.Context(), user)
	if err := a.dropPushTargets(r.Context(), user); err != nil {
		return nil, err
	}
	if err := a.Backend.LogoutUser(r.Context(), user); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// dropPushTargets removes every push registration of user (none to remove without PushTargets).
func (a *api) dropPushTargets(ctx context.Context, user string) error {
	if a.PushTargets == nil {
		return nil
	}
	return a.PushTargets.DeletePushTargets(ctx, user, "")
}
