package wsapi

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/internal/wire"
	"github.com/dialtone/dialtone/protocol"
)

// opFunc carries out one logged-in op and returns its result (nil when it replied itself).
type opFunc func(ctx context.Context, s *session, req protocol.Request) (any, error)

// invalid is the error of a known op whose data is malformed (6000001).
func invalid(reason string) error {
	return &call.Error{Code: call.CodeInvalidParameter, Reason: reason}
}

var errRateLimited = errors.New("too many invitations")

// spendsInvite reports whether op spends one of the user's invites per minute (takeInvite),
// however malformed the request: callInvite and callingInvite.
func spendsInvite(op string) bool {
	return op == protocol.OpCallInvite || op == protocol.OpCallingInvite
}

// errorCode maps an op's error to its wire code and a message safe to show (one table:
// domain codes are the wire codes; anything else is internal and logged, never leaked:
// internalMessage).
func (srv *Server) errorCode(err error) (protocol.Code, string) {
	var ce *call.Error
	switch {
	case errors.As(err, &ce):
		return protocol.Code(ce.Code), ce.Reason
	case errors.Is(err, errRateLimited):
		return protocol.CodeRateLimited, err.Error()
	case errors.Is(err, switchboard.ErrClosed):
		return protocol.CodeInternal, wire.MsgShuttingDown
	}
	srv.log.Error("op failed", "err", err)
	return protocol.CodeInternal, internalMessage(err)
}

// internalMessage is the message of a 6000270 reply to err, an error of the server's own:
// wire.MsgStorageUnavailable when the store could not write, wire.MsgInternal otherwise.
func internalMessage(err error) string {
	if errors.Is(err, switchboard.ErrStorageUnavailable) {
		return wire.MsgStorageUnavailable
	}
	return wire.MsgInternal
}

// decode parses an op's data strictly; a failure is 6000001.
func decode(data json.RawMessage, v any) error {
	if err := protocol.DecodeData(data, v); err != nil {
		return invalid("invalid data: " + err.Error())
	}
	return nil
}

// callOp decodes data holding a callID into v and checks the ID is present.
func callOp(data json.RawMessage, v any, callID *string) error {
	if err := decode(data, v); err != nil {
		return err
	}
	if *callID == "" {
		return invalid("callID is required")
	}
	return nil
}

func (srv *Server) opHandlers() map[string]opFunc {
	ops := map[string]opFunc{
		protocol.OpHeartbeat: func(ctx context.Context, s *session, req protocol.Request) (any, error) {
			if err := decode(req.Data, &struct{}{}); err != nil {
				return nil, err
			}
			return protocol.HeartbeatResult{ServerTime: srv.now().UnixMilli()}, nil
		},
		protocol.OpLogin: func(ctx context.Context, s *session, req protocol.Request) (any, error) {
			return nil, invalid("already logged in")
		},
		protocol.OpLogout:     srv.logout,
		protocol.OpCallInvite: srv.callInvite,
		protocol.OpCallCancel: srv.callCancel,
		protocol.OpCallAccept: srv.simpleOp(func(a call.Actor, c protocol.OpConfig) call.Input {
			return call.Accept{Actor: a, ExtendedData: c.ExtendedData}
		}),
		protocol.OpCallReject: srv.simpleOp(func(a call.Actor, c protocol.OpConfig) call.Input {
			return call.Reject{Actor: a, ExtendedData: c.ExtendedData}
		}),
		protocol.OpCallingInvite:           srv.callingInvite,
		protocol.OpCallJoin:                srv.callJoin,
		protocol.OpCallQuit:                srv.callQuit,
		protocol.OpCallEnd:                 srv.callEnd,
		protocol.OpCallReceived:            srv.callReceived,
		protocol.OpQueryCallInvitationList: srv.queryList,
		protocol.OpQueryCall:               srv.queryCall,
	}
	if srv.cfg.PushTargets != nil {
		ops[protocol.OpPushRegister] = srv.pushRegister
		ops[protocol.OpPushUnregister] = srv.pushUnregister
	}
	return ops
}

// logout drops the device's push targets (§9), loses the device at once (R6.1), answers {}
// and kicks the session with logout. When the targets cannot be dropped it changes nothing
// and fails (6000270), and the session stays logged in for the client to repeat it: a
// logged-out device must not go on being pushed the user's invitations.
func (srv *Server) logout(ctx context.Context, s *session, req protocol.Request) (any, error) {
	if err := decode(req.Data, &struct{}{}); err != nil {
		return nil, err
	}
	if err := srv.dropPushTargets(ctx, s.userID, s.deviceID); err != nil {
		return nil, err
	}
	srv.backend.Logout(ctx, s.userID, s.deviceID)
	// The device is lost (R6.1): it holds no place among its user's devices (R6.2) before its
	// reply goes out, so another device's login right after the reply is not refused for it.
	srv.unregister(s)
	s.reply(req.ID, struct{}{})
	s.kick(protocol.KickLogout)
	return nil, nil
}

func (srv *Server) callInvite(ctx context.Context, s *session, req protocol.Request) (any, error) {
	limited := !srv.takeInvite(s.userID)
	in, err := inviteInput(s.actor(), req.Data)
	var res switchboard.Result
	if limited {
		res, err = srv.overInviteLimit(ctx, s.userID, "", in, err, req.Idem)
	} else if err == nil {
		res, err = srv.backend.Invite(ctx, in, req.Idem)
		srv.refundRepeat(s.userID, res)
	}
	if err != nil {
		return nil, err
	}
	return protocol.CallInviteResult{CallID: res.Call.ID, Timeout: res.Timeout,
		ErrorUserList: wire.ErrorUsers(res.ErrorUsers), CallInfo: wire.CallInfo(res.Call)}, nil
}

// inviteInput decodes callInvite's data for actor; a failure is 6000001.
func inviteInput(actor call.Actor, data json.RawMessage) (call.Invite, error) {
	var d protocol.CallInviteData
	if err := decode(data, &d); err != nil {
		return call.Invite{}, err
	}
	return wire.Invite(actor, d.Invitees, d.Config)
}

// overInviteLimit answers an invite (a callInvite, or a callingInvite on callID) past the
// user's invites per minute: 6000292, which wins over every other refusal, a malformed
// request (decodeErr) included (§8). Only a request that repeats with its idempotency key one
// already carried out gets its first reply instead (R7.3): it rings nobody again.
func (srv *Server) overInviteLimit(ctx context.Context, userID, callID string, in any, decodeErr error, key string) (switchboard.Result, error) {
	if decodeErr == nil && key != "" {
		if res, found, err := srv.backend.Repeat(ctx, userID, callID, in, key); err != nil || found {
			return res, err
		}
	}
	return switchboard.Result{}, errRateLimited
}

func (srv *Server) callCancel(ctx context.Context, s *session, req protocol.Request) (any, error) {
	var d protocol.CallCancelData
	if err := callOp(req.Data, &d, &d.CallID); err != nil {
		return nil, err
	}
	res, err := srv.backend.Do(ctx, d.CallID, call.Cancel{Actor: s.actor(), Invitees: d.Invitees,
		ExtendedData: d.Config.ExtendedData, Push: wire.PushConfig(d.Config.PushConfig)}, req.Idem)
	if err != nil {
		return nil, err
	}
	errorInvitees := res.ErrorInvitees
	if errorInvitees == nil {
		errorInvitees = []string{}
	}
	return protocol.CallCancelResult{CallID: d.CallID, ErrorInvitees: errorInvitees}, nil
}

// simpleOp handles the ops whose data is {callID, config} and whose result is {callID}.
func (srv *Server) simpleOp(input func(call.Actor, protocol.OpConfig) call.Input) opFunc {
	return func(ctx context.Context, s *session, req protocol.Request) (any, error) {
		var d protocol.CallOpData
		if err := callOp(req.Data, &d, &d.CallID); err != nil {
			return nil, err
		}
		if _, err := srv.backend.Do(ctx, d.CallID, input(s.actor(), d.Config), req.Idem); err != nil {
			return nil, err
		}
		return protocol.CallIDResult{CallID: d.CallID}, nil
	}
}

func (srv *Server) callingInvite(ctx context.Context, s *session, req protocol.Request) (any, error) {
	limited := !srv.takeInvite(s.userID)
	var d protocol.CallingInviteData
	err := callOp(req.Data, &d, &d.CallID)
	in := call.CallingInvite{Actor: s.actor(), Invitees: d.Invitees, Timeout: d.Config.Timeout,
		ExtendedData: d.Config.ExtendedData, Push: wire.PushConfig(d.Config.PushConfig)}
	var res switchboard.Result
	if limited {
		res, err = srv.overInviteLimit(ctx, s.userID, d.CallID, in, err, req.Idem)
	} else if err == nil {
		res, err = srv.backend.Do(ctx, d.CallID, in, req.Idem)
		srv.refundRepeat(s.userID, res)
	}
	if err != nil {
		return nil, err
	}
	return protocol.CallingInviteResult{CallID: d.CallID, ErrorUserList: wire.ErrorUsers(res.ErrorUsers)}, nil
}

func (srv *Server) callJoin(ctx context.Context, s *session, req protocol.Request) (any, error) {
	var d protocol.CallOpData
	if err := callOp(req.Data, &d, &d.CallID); err != nil {
		return nil, err
	}
	res, err := srv.backend.Do(ctx, d.CallID, call.Join{Actor: s.actor(), ExtendedData: d.Config.ExtendedData}, req.Idem)
	if err != nil {
		return nil, err
	}
	return protocol.CallJoinResult{CallID: d.CallID, CreateTime: res.Call.CreateTime, JoinTime: res.Now,
		CallUserList: wire.Users(res.Call.Users), ExtendedData: res.Call.ExtendedData}, nil
}

func (srv *Server) callQuit(ctx context.Context, s *session, req protocol.Request) (any, error) {
	var d protocol.CallOpData
	if err := callOp(req.Data, &d, &d.CallID); err != nil {
		return nil, err
	}
	res, err := srv.backend.Do(ctx, d.CallID, call.QuitCall{Actor: s.actor(), ExtendedData: d.Config.ExtendedData,
		Push: wire.PushConfig(d.Config.PushConfig)}, req.Idem)
	if err != nil {
		return nil, err
	}
	return protocol.CallQuitResult{CallID: d.CallID, CreateTime: res.Call.CreateTime,
		AcceptTime: res.Call.AcceptTimeOf(s.userID), QuitTime: res.Now}, nil
}

func (srv *Server) callEnd(ctx context.Context, s *session, req protocol.Request) (any, error) {
	var d protocol.CallOpData
	if err := callOp(req.Data, &d, &d.CallID); err != nil {
		return nil, err
	}
	res, err := srv.backend.Do(ctx, d.CallID, call.End{Actor: s.actor(), ExtendedData: d.Config.ExtendedData,
		Push: wire.PushConfig(d.Config.PushConfig)}, req.Idem)
	if err != nil {
		return nil, err
	}
	return protocol.CallEndResult{CallID: d.CallID, CreateTime: res.Call.CreateTime,
		AcceptTime: res.Call.AcceptTimeOf(s.userID), EndTime: res.Call.EndTime}, nil
}

func (srv *Server) callReceived(ctx context.Context, s *session, req protocol.Request) (any, error) {
	var d protocol.CallIDData
	if err := callOp(req.Data, &d, &d.CallID); err != nil {
		return nil, err
	}
	if _, err := srv.backend.Do(ctx, d.CallID, call.Receipt{Actor: s.actor()}, req.Idem); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// queryList answers a page of the user's calls (R3.10) that fits in one frame a client takes
// (wire.CallPage).
func (srv *Server) queryList(ctx context.Context, s *session, req protocol.Request) (any, error) {
	var d protocol.QueryCallInvitationListData
	if err := decode(req.Data, &d); err != nil {
		return nil, err
	}
	return wire.CallPage(d.Config.Count, func(count int) ([]call.Call, int64, error) {
		return srv.backend.ListCalls(ctx, s.userID, count, d.Config.NextFlag)
	})
}

func (srv *Server) queryCall(ctx context.Context, s *session, req protocol.Request) (any, error) {
	var d protocol.CallIDData
	if err := callOp(req.Data, &d, &d.CallID); err != nil {
		return nil, err
	}
	c, err := srv.backend.QueryCall(ctx, s.userID, d.CallID)
	if err != nil {
		return nil, err
	}
	return protocol.QueryCallResult{CallInfo: wire.CallInfo(c)}, nil
}

func (s *session) actor() call.Actor { return call.Actor{UserID: s.userID, DeviceID: s.deviceID} }
