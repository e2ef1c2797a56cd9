package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/protocol"
)

func sampleEvent() call.Event {
	return call.Event{Kind: call.UserStateChanged, CallID: "-4f8Zx0aBcDeFgHiJkLmNoPq", Version: 3,
		Users:     []call.User{{ID: "bob", State: call.Accepted, Inviter: "alice", AcceptTime: 1700000000123, UpdateTime: 1700000000123}},
		CallEnded: true, EndTime: 1700000000123}
}

// The encoded event is the protocol's shape, with callState and endTime when the change ended
// the call.
func TestEncodeEvent(t *testing.T) {
	name, data, err := EncodeEvent(sampleEvent())
	if err != nil {
		t.Fatal(err)
	}
	var got protocol.CallUserStateChanged
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if name != protocol.EventCallUserStateChanged || got.CallState != protocol.CallEnded ||
		got.EndTime != 1700000000123 || len(got.CallUserList) != 1 || got.CallUserList[0].State != protocol.StateAccepted {
		t.Errorf("EncodeEvent = %s %+v", name, got)
	}
}

// BenchmarkEncodeEvent encodes one callUserStateChanged, which the switchboard does once per
// event at commit (deliveries then copy the bytes).
func BenchmarkEncodeEvent(b *testing.B) {
	ev := sampleEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := EncodeEvent(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// R5.3: the invitation synthesized at login carries the user's own invitation (inviter,
// extendedData, deadline) and the whole seconds left rounded up; there is none with less than
// a second left, nor for a user who is not pending or a call that ended.
func TestInvitationR5_3(t *testing.T) {
	const deadline = 1700000060000
	c := call.Call{ID: "X", Mode: call.Advanced, Caller: "alice", ExtendedData: "the call's", CreateTime: 1700000000000,
		State: call.Started, Version: 7, Users: []call.User{
			{ID: "alice", State: call.Accepted, AcceptTime: 1700000000000},
			{ID: "bob", State: call.Received, Inviter: "carol", InviteData: "from carol", InviteTimeout: 60,
				Deadline: deadline},
			{ID: "carol", State: call.Accepted, Inviter: "alice"},
			{ID: "dave", State: call.Timeout, Inviter: "alice"}}}
	for _, tc := range []struct {
		left    int64
		ok      bool
		timeout int
	}{{60000, true, 60}, {1001, true, 2}, {1000, true, 1}, {999, false, 0}, {0, false, 0}, {-5000, false, 0}} {
		ev, ok := Invitation(c, "bob", deadline-tc.left)
		if ok != tc.ok || ok && ev.Timeout != tc.timeout {
			t.Errorf("%d ms left: ok %v, timeout %d; want ok %v, timeout %d", tc.left, ok, ev.Timeout, tc.ok, tc.timeout)
		}
		if ok && (ev.CallID != "X" || ev.Version != 7 || ev.Mode != protocol.ModeAdvanced || ev.Caller != "alice" ||
			ev.Inviter != "carol" || ev.ExtendedData != "from carol" || ev.Deadline != deadline ||
			ev.CreateTime != c.CreateTime || !ev.Synthetic || len(ev.CallUserList) != 4) {
			t.Errorf("%d ms left: synthesized invitation %+v", tc.left, ev)
		}
	}
	for _, user := range []string{"alice", "carol", "dave", "zoe"} {
		if ev, ok := Invitation(c, user, deadline-30000); ok {
			t.Errorf("%s is not pending, yet synthesized %+v", user, ev)
		}
	}
	ended := c.Clone()
	ended.State, ended.EndTime = call.Ended, deadline-40000
	if ev, ok := Invitation(ended, "bob", deadline-30000); ok {
		t.Errorf("ended call synthesized %+v", ev)
	}
}

// The largest call (call.MaxListedUsers users, every text field at its size limit, written in
// characters JSON escapes six-fold) still makes an event, and a reply carrying its CallInfo,
// that a client takes (protocol.MaxServerFrameBytes).
func TestLargestCallFitsInAFrame(t *testing.T) {
	worst := func(n int) string { return strings.Repeat("<", n) } // "\u003c" in JSON
	users := make([]call.User, call.MaxListedUsers)
	for i := range users {
		id := fmt.Sprintf("%032d", i)
		users[i] = call.User{ID: id, State: call.Rejected, Inviter: worst(32), ExtendedData: strings.Repeat("\x01", 2048),
			Deadline: protocol.MaxInteger, AcceptTime: protocol.MaxInteger, UpdateTime: protocol.MaxInteger}
	}
	c := call.Call{ID: strings.Repeat("c", 32), Mode: call.Advanced, Caller: worst(32), ExtendedData: worst(2048),
		CreateTime: protocol.MaxInteger, EndTime: protocol.MaxInteger, Version: protocol.MaxInteger, Users: users}
	_, data, err := EncodeEvent(call.Event{Kind: call.InvitationReceived, CallID: c.ID, Version: c.Version, Mode: c.Mode,
		Caller: c.Caller, Inviter: worst(32), ExtendedData: worst(2048), Timeout: 600, Deadline: protocol.MaxInteger,
		CreateTime: c.CreateTime, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	frame := len(`{"event":"callInvitationReceived","seq":9007199254740991,"data":}`) + len(data)
	if frame > protocol.MaxServerFrameBytes {
		t.Errorf("callInvitationReceived of the largest call: %d bytes, more than the %d a client takes", frame, protocol.MaxServerFrameBytes)
	}
	info, err := json.Marshal(protocol.QueryCallResult{CallInfo: CallInfo(c)})
	if err != nil {
		t.Fatal(err)
	}
	if reply := len(`{"id":9007199254740991,"result":}`) + len(info); reply > protocol.MaxServerFrameBytes {
		t.Errorf("queryCall of the largest call: %d bytes, more than the %d a client takes", reply, protocol.MaxServerFrameBytes)
	}
	t.Logf("largest event %d bytes, queryCall reply about %d bytes", frame, len(info))
}

// R3.1: a callInvite's mode is General when absent or -1, and only 0 or 1 otherwise (6000001);
// the rest of its config is carried as it came.
func TestInvite(t *testing.T) {
	actor := call.Actor{UserID: "alice", DeviceID: "phone"}
	cfg := protocol.InviteConfig{Timeout: 30, ExtendedData: "x", EnableNotReceivedCheck: true,
		PushConfig: &protocol.PushConfig{Title: "t"}}
	for mode, want := range map[protocol.CallMode]call.Mode{-1: call.General, 0: call.General, 1: call.Advanced} {
		cfg.Mode = mode
		in, err := Invite(actor, []string{"bob"}, cfg)
		if err != nil || in.Mode != want || in.Actor != actor || !slices.Equal(in.Invitees, []string{"bob"}) ||
			in.Timeout != 30 || in.ExtendedData != "x" || !in.EnableNotReceivedCheck || in.Push == nil || in.Push.Title != "t" {
			t.Errorf("mode %d: Invite = %+v, %v; want mode %d and the config carried", mode, in, err, want)
		}
	}
	for _, mode := range []protocol.CallMode{2, -2} {
		cfg.Mode = mode
		var ce *call.Error
		if _, err := Invite(actor, []string{"bob"}, cfg); !errors.As(err, &ce) || ce.Code != call.CodeInvalidParameter {
			t.Errorf("mode %d: err = %v, want 6000001", mode, err)
		}
	}
}
