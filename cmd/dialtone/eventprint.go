package main

import (
	"errors"
	"strings"
	"time"

	"github.com/dialtone/dialtone/client"
)

// eventPrinter prints an interactive client's events as readable lines.
type eventPrinter struct {
	client.BaseHandler
	con  *console
	lost bool // the connection dropped: print the next Connected
}

func (h *eventPrinter) OnCallInvitationCreated(ev client.CallInvitationCreated) {
	h.con.book.remember(ev.CallID, ev.CallUserList)
	h.con.out.event("call %s created (%s mode, %ds): %s", short(ev.CallID), modeName(ev.Mode),
		ev.Timeout, strings.Join(userStates(ev.CallUserList), ", "))
}

func (h *eventPrinter) OnCallInvitationReceived(ev client.CallInvitationReceived) {
	h.con.book.remember(ev.CallID, ev.CallUserList)
	who := ev.Inviter + " is calling you"
	if ev.Inviter != ev.Caller {
		who = ev.Inviter + " invites you into " + ev.Caller + "'s call"
	}
	left := int(h.con.client().RemainingRingTime(ev.Deadline).Round(time.Second) / time.Second)
	id := short(ev.CallID)
	h.con.out.event("☎ %s (call %s, %s, %ds left) — accept %s / reject %s", who, id,
		modeName(ev.Mode), left, id, id)
	if ev.ExtendedData != "" {
		h.con.out.line("  data: %q", ev.ExtendedData)
	}
}

func (h *eventPrinter) OnCallInvitationCancelled(ev client.CallInvitationCancelled) {
	h.con.book.remember(ev.CallID, ev.CallUserList)
	h.con.out.event("call %s: %s cancelled the invitation of %s", short(ev.CallID), ev.Inviter,
		strings.Join(userIDs(ev.CallUserList), ", "))
}

func (h *eventPrinter) OnCallInvitationTimeout(ev client.CallInvitationTimeout) {
	h.con.out.event("call %s: your invitation timed out", short(ev.CallID))
}

func (h *eventPrinter) OnCallInvitationEnded(ev client.CallInvitationEnded) {
	h.con.out.event("call %s ended by %s", short(ev.CallID), ev.OperatedUserID)
}

func (h *eventPrinter) OnCallUserStateChanged(ev client.CallUserStateChanged) {
	for _, t := range h.con.book.transitions(ev.CallID, ev.CallUserList) {
		h.con.out.event("call %s: %s", short(ev.CallID), t)
	}
	if ev.CallState == client.CallEnded {
		h.con.out.event("call %s ended", short(ev.CallID))
	}
}

func (h *eventPrinter) OnCallMainDeviceChanged(ev client.CallMainDeviceChanged) {
	h.con.out.event("call %s: your main device is now %s", short(ev.CallID), ev.DeviceID)
}

func (h *eventPrinter) OnKicked(ev client.Kicked) {
	h.con.out.event("kicked by the server: %s (reconnect: %v)", ev.Reason, ev.Retry)
}

func (h *eventPrinter) OnConnectionStateChanged(state client.ConnectionState, reason error) {
	switch {
	case state == client.Connecting, state == client.Connected && !h.lost,
		errors.Is(reason, client.ErrClosed):
		return
	case state == client.Reconnecting:
		h.lost = true
	case state == client.Connected:
		h.lost = false
	}
	if reason != nil {
		h.con.out.event("connection %s: %v", state, reason)
		return
	}
	h.con.out.event("connection %s", state)
}

func userIDs(users []client.CallUserInfo) []string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = u.UserID
	}
	return out
}

func userStates(users []client.CallUserInfo) []string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = u.UserID + " " + stateName(u.State)
	}
	return out
}
