package main

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

// rawStateChange reads r's frames up to the next event and checks it is a
// callUserStateChanged of callID listing exactly userID in state.
func rawStateChange(t *testing.T, r *rawConn, callID, userID string, state protocol.CallUserState) {
	t.Helper()
	isStateChange(t, r.nextEvent(), callID, userID, state)
}

// isStateChange checks that f is a callUserStateChanged of callID listing exactly userID in
// state.
func isStateChange(t *testing.T, f protocol.Frame, callID, userID string, state protocol.CallUserState) {
	t.Helper()
	var ev protocol.CallUserStateChanged
	if f.Event != protocol.EventCallUserStateChanged || json.Unmarshal(f.Data, &ev) != nil || ev.CallID != callID ||
		len(ev.CallUserList) != 1 || ev.CallUserList[0].UserID != userID || ev.CallUserList[0].State != state {
		t.Fatalf("got %s %s, want callUserStateChanged of %s listing %s in state %d", f.Event, f.Data, callID, userID, state)
	}
}

// R5.2, R5.1, §5: with enableNotReceivedCheck, an invitee whose device is connected but has
// not acknowledged its invitation becomes NotYetReceived after the check delay (3 s here);
// that change reaches the invitee's own devices (it is still ringing) and the caller's main
// device only. The device's late receipt then makes it Received. Without the check, an
// invitation left unacknowledged stays Inviting.
func TestE2ENotReceivedCheckReachesTheInviteeAndTheCallersMainDevice(t *testing.T) {
	ts := startServer(t, "--not-received-check", "3s", "--heartbeat-interval", "10s", "--heartbeat-timeout", "60s")
	phone, laptop := ts.login(t, "alice", "phone"), ts.login(t, "alice", "laptop")
	dave := ts.login(t, "dave", "d")
	// bob and carol log in on bare connections, which acknowledge nothing by themselves
	bob, _ := ts.rawLogin(t, "bob", "b", -1)
	carol, _ := ts.rawLogin(t, "carol", "c", -1)
	ctx := t.Context()

	checked, err := phone.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60, EnableNotReceivedCheck: true})
	must(t, err)
	unchecked, err := dave.CallInvite(ctx, []string{"carol"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	if f := bob.nextEvent(); f.Event != protocol.EventCallInvitationReceived {
		t.Fatalf("bob: %s, want the invitation", f.Event)
	}
	if f := carol.nextEvent(); f.Event != protocol.EventCallInvitationReceived {
		t.Fatalf("carol: %s, want the invitation", f.Event)
	}

	rawStateChange(t, bob, checked.CallID, "bob", protocol.StateNotYetReceived)
	phone.wait(checked.CallID, "changed bob=NotYetReceived")
	bob.send(fmt.Sprintf(`{"id":2,"op":"callReceived","data":{"callID":%q}}`, checked.CallID))
	// the reply and the change it made come in either order (protocol.md "Envelopes")
	var events []protocol.Frame
	for f := bob.next(); ; f = bob.next() {
		if f.Event != "" {
			events = append(events, f)
			continue
		}
		if f.ID != 2 || f.Error != nil {
			t.Fatalf("bob's late receipt: %+v", f)
		}
		break
	}
	switch len(events) {
	case 0:
		rawStateChange(t, bob, checked.CallID, "bob", protocol.StateReceived)
	case 1:
		isStateChange(t, events[0], checked.CallID, "bob", protocol.StateReceived)
	default:
		t.Fatalf("bob got %d events before the reply to his receipt, want at most its change", len(events))
	}
	phone.wait(checked.CallID, "changed bob=Received")
	phone.expect(ts, checked.CallID, "created", "changed bob=NotYetReceived", "changed bob=Received")
	laptop.expect(ts, checked.CallID, "created")

	// carol's call had no check: past the delay she is still Inviting, and nobody heard of her
	info, err := dave.QueryCall(ctx, unchecked.CallID)
	must(t, err)
	if c := userIn(t, info.CallUserList, "carol"); c.State != client.StateInviting || info.Version != 1 {
		t.Errorf("carol, invited without the check, past its delay: state %d, call version %d; want Inviting, 1", c.State, info.Version)
	}
	dave.expect(ts, unchecked.CallID, "created")
}
