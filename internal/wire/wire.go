// Package wire maps between the domain (internal/call) and the public wire shapes (protocol):
// the one place where a call, a user or an event becomes JSON for clients. The server's
// WebSocket and REST adapters and the switchboard (which stores events already encoded, so a
// delivery is a copy, not a re-encoding) all use it.
package wire

import (
	"encoding/json"
	"fmt"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/protocol"
)

// CallInfo returns the wire CallInfo of c.
func CallInfo(c call.Call) protocol.CallInfo {
	return protocol.CallInfo{
		CallID:       c.ID,
		Caller:       c.Caller,
		Inviter:      c.Caller,
		Mode:         protocol.CallMode(c.Mode),
		State:        protocol.CallState(c.State),
		ExtendedData: c.ExtendedData,
		CreateTime:   c.CreateTime,
		EndTime:      c.EndTime,
		Version:      c.Version,
		CallUserList: Users(c.Users),
	}
}

// Users returns the wire callUserList of users (never nil, so it encodes as []).
func Users(users []call.User) []protocol.CallUserInfo {
	out := make([]protocol.CallUserInfo, len(users))
	for i, u := range users {
		out[i] = protocol.CallUserInfo{
			UserID:       u.ID,
			State:        protocol.CallUserState(u.State),
			Inviter:      u.Inviter,
			ExtendedData: u.ExtendedData,
			Deadline:     u.Deadline,
			AcceptTime:   u.AcceptTime,
			UpdateTime:   u.UpdateTime,
		}
	}
	return out
}

// ErrorUsers returns the wire errorUserList (never nil).
func ErrorUsers(list []call.ErrorUser) []protocol.ErrorUserInfo {
	out := make([]protocol.ErrorUserInfo, len(list))
	for i, e := range list {
		out[i] = protocol.ErrorUserInfo{UserID: e.UserID, Reason: protocol.Code(e.Reason)}
	}
	return out
}

// PushConfig returns the domain push config of p (nil stays nil).
func PushConfig(p *protocol.PushConfig) *call.PushConfig {
	if p == nil {
		return nil
	}
	return &call.PushConfig{Title: p.Title, Content: p.Content, Payload: p.Payload, ResourcesID: p.ResourcesID}
}

// Invite returns the callInvite input of actor for invitees and cfg, as the WebSocket and the
// REST API take it (R3.1): an absent or -1 mode is General; any other mode but 0 and 1 is
// 6000001. Every other bound is the state machine's to check.
func Invite(actor call.Actor, invitees []string, cfg protocol.InviteConfig) (call.Invite, error) {
	mode := cfg.Mode
	if mode == -1 {
		mode = protocol.ModeGeneral
	}
	if mode != protocol.ModeGeneral && mode != protocol.ModeAdvanced {
		return call.Invite{}, &call.Error{Code: call.CodeInvalidParameter, Reason: "mode must be 0 or 1"}
	}
	return call.Invite{
		Actor: actor, Invitees: invitees, Timeout: cfg.Timeout, Mode: call.Mode(mode),
		ExtendedData: cfg.ExtendedData, Push: PushConfig(cfg.PushConfig),
		EnableNotReceivedCheck: cfg.EnableNotReceivedCheck,
	}, nil
}

// EventName returns the protocol name of an event kind.
func EventName(k call.EventKind) string {
	switch k {
	case call.InvitationCreated:
		return protocol.EventCallInvitationCreated
	case call.InvitationReceived:
		return protocol.EventCallInvitationReceived
	case call.InvitationCancelled:
		return protocol.EventCallInvitationCancelled
	case call.InvitationTimeout:
		return protocol.EventCallInvitationTimeout
	case call.InvitationEnded:
		return protocol.EventCallInvitationEnded
	case call.UserStateChanged:
		return protocol.EventCallUserStateChanged
	case call.MainDeviceChanged:
		return protocol.EventCallMainDeviceChanged
	}
	return ""
}

// EventData returns the protocol data value of e (one of the protocol event types).
func EventData(e call.Event) (any, error) {
	mode := protocol.CallMode(e.Mode)
	switch e.Kind {
	case call.InvitationCreated:
		return protocol.CallInvitationCreated{CallID: e.CallID, Version: e.Version, Mode: mode, Caller: e.Caller,
			ExtendedData: e.ExtendedData, Timeout: e.Timeout, CreateTime: e.CreateTime, CallUserList: Users(e.Users)}, nil
	case call.InvitationReceived:
		return protocol.CallInvitationReceived{CallID: e.CallID, Version: e.Version, Mode: mode, Caller: e.Caller,
			Inviter: e.Inviter, ExtendedData: e.ExtendedData, Timeout: e.Timeout, Deadline: e.Deadline,
			CreateTime: e.CreateTime, CallUserList: Users(e.Users)}, nil
	case call.InvitationCancelled:
		return protocol.CallInvitationCancelled{CallID: e.CallID, Version: e.Version, Mode: mode, Inviter: e.Inviter,
			ExtendedData: e.ExtendedData, CallUserList: Users(e.Users)}, nil
	case call.InvitationTimeout:
		return protocol.CallInvitationTimeout{CallID: e.CallID, Version: e.Version, Mode: mode}, nil
	case call.InvitationEnded:
		return protocol.CallInvitationEnded{CallID: e.CallID, Version: e.Version, Mode: mode, Caller: e.Caller,
			OperatedUserID: e.OperatedUserID, ExtendedData: e.ExtendedData, EndTime: e.EndTime}, nil
	case call.UserStateChanged:
		ev := protocol.CallUserStateChanged{CallID: e.CallID, Version: e.Version, CallUserList: Users(e.Users)}
		if e.CallEnded {
			ev.CallState, ev.EndTime = protocol.CallEnded, e.EndTime
		}
		return ev, nil
	case call.MainDeviceChanged:
		return protocol.CallMainDeviceChanged{CallID: e.CallID, Version: e.Version, DeviceID: e.DeviceID}, nil
	}
	return nil, fmt.Errorf("wire: unknown event kind %d", e.Kind)
}

// EncodeEvent returns the protocol name and JSON data of e.
func EncodeEvent(e call.Event) (name string, data []byte, err error) {
	v, err := EventData(e)
	if err != nil {
		return "", nil, err
	}
	data, err = json.Marshal(v)
	return EventName(e.Kind), data, err
}

// Invitation returns the synthesized callInvitationReceived of R5.3 for userID, pending in c,
// at now: the user's own invitation's inviter and extendedData, and the whole seconds left
// rounded up, never more than the invitation's timeout (a clock stepped back since puts the
// deadline further ahead of now). ok is false when the user is not pending or less than a
// second is left.
func Invitation(c call.Call, userID string, now int64) (ev protocol.CallInvitationReceived, ok bool) {
	u := c.User(userID)
	if c.State != call.Started || u == nil || !u.State.Pending() {
		return ev, false
	}
	left := min(u.Deadline-now, int64(u.InviteTimeout)*1000)
	if left < 1000 {
		return ev, false
	}
	return protocol.CallInvitationReceived{
		CallID: c.ID, Version: c.Version, Mode: protocol.CallMode(c.Mode), Caller: c.Caller,
		Inviter: u.Inviter, ExtendedData: u.InviteData, Timeout: int((left + 999) / 1000),
		Deadline: u.Deadline, CreateTime: c.CreateTime, CallUserList: Users(c.Users), Synthetic: true,
	}, true
}
