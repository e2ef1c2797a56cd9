package call

import (
	"strconv"
	"strings"
	"testing"
)

// harness drives one call through ops the way the shell does: Expire at the op's time, then
// Apply, keeping the effects of both (the last step) for inspection.
type harness struct {
	t    testing.TB
	cfg  Config
	call Call
	last Outcome // Expire's and the op's effects merged, in order
	err  error   // the op's error
}

func newHarness(t testing.TB) *harness { return &harness{t: t, cfg: DefaultConfig()} }

// create runs Create.
func (h *harness) create(in Invite, now int64) {
	h.t.Helper()
	out, err := Create(in, h.cfg, now)
	h.err = err
	if err == nil {
		h.call, h.last = out.Call, out
	}
}

// do runs Expire then Apply at now, like the shell (R3 preamble).
func (h *harness) do(in Input, now int64) {
	h.t.Helper()
	exp := Expire(h.call, h.cfg, now)
	out, err := Apply(exp.Call, in, h.cfg, now)
	h.call, h.err, h.last = exp.Call, err, exp
	if err == nil {
		h.call, h.last = out.Call, merge(exp, out)
	}
}

// tick runs Expire alone.
func (h *harness) tick(now int64) {
	h.call, h.err, h.last = Expire(h.call, h.cfg, now).Call, nil, Expire(h.call, h.cfg, now)
}

func merge(a, b Outcome) Outcome {
	b.Events = append(append([]Event(nil), a.Events...), b.Events...)
	b.Webhooks = append(append([]Webhook(nil), a.Webhooks...), b.Webhooks...)
	b.Pushes = append(append([]Push(nil), a.Pushes...), b.Pushes...)
	b.Busy = append(append([]Busy(nil), a.Busy...), b.Busy...)
	b.Changed = a.Changed || b.Changed
	return b
}

// code returns the code of the last error, 0 for none.
func (h *harness) code() Code {
	if e, ok := h.err.(*Error); ok {
		return e.Code
	}
	if h.err != nil {
		h.t.Fatalf("error %v is not a *Error", h.err)
	}
	return 0
}

func (h *harness) state(user string) UserState {
	if u := h.call.User(user); u != nil {
		return u.State
	}
	return Unknown
}

var stateNames = map[string]UserState{
	"Unknown": Unknown, "Inviting": Inviting, "Accepted": Accepted, "Rejected": Rejected, "Cancelled": Cancelled,
	"Received": Received, "Timeout": Timeout, "Quit": Quit, "NotYetReceived": NotYetReceived, "BeCancelled": BeCancelled,
}

func (s UserState) String() string {
	for n, v := range stateNames {
		if v == s {
			return n
		}
	}
	return strconv.Itoa(int(s))
}

var kindNames = map[EventKind]string{
	InvitationCreated: "callInvitationCreated", InvitationReceived: "callInvitationReceived",
	InvitationCancelled: "callInvitationCancelled", InvitationTimeout: "callInvitationTimeout",
	InvitationEnded: "callInvitationEnded", UserStateChanged: "callUserStateChanged",
	MainDeviceChanged: "callMainDeviceChanged",
}

func (k EventKind) String() string { return kindNames[k] }

// String renders a recipient as the scenario files write it: bob:all, bob:only=b1, bob:but=b1.
func (r Recipient) String() string {
	switch r.Target {
	case OnlyDevice:
		return r.UserID + ":only=" + r.DeviceID
	case AllButDevice:
		return r.UserID + ":but=" + r.DeviceID
	}
	return r.UserID + ":all"
}

// recipients renders a recipient list.
func recipients(to []Recipient) string {
	parts := make([]string, len(to))
	for i, r := range to {
		parts[i] = r.String()
	}
	return strings.Join(parts, " ")
}
