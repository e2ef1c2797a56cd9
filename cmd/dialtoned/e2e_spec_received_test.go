package main

import (
	"fmt"
	"slices"
	"testing"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

// R3.11, R5.1: callReceived always succeeds for a user in the call, whatever its state, and
// also once the call ended (R4.4); it changes only an Inviting user (→ Received), once. An
// unknown call or a user not in it gets 6000276; a request without a callID 6000001.
func TestE2ECallReceivedR3_11(t *testing.T) {
	ts := startServer(t)
	alice, mallory := ts.login(t, "alice", "a"), ts.login(t, "mallory", "m")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
	must(t, err)
	id := res.CallID

	// bob logs in on a bare connection, which does not acknowledge its invitation by itself.
	r := ts.raw(t)
	r.login("bob")
	if f := r.next(); f.Event != protocol.EventCallInvitationReceived {
		t.Fatalf("after login: %+v, want the synthesized invitation (R5.3)", f)
	}
	info, err := alice.QueryCall(t.Context(), id)
	must(t, err)
	if st := userIn(t, info.CallUserList, "bob").State; st != client.StateInviting {
		t.Fatalf("bob before his receipt: state %d, want Inviting", st)
	}
	receipt := func(reqID int) protocol.Frame {
		r.send(fmt.Sprintf(`{"id":%d,"op":"callReceived","data":{"callID":%q}}`, reqID, id))
		return r.reply(int64(reqID))
	}
	for i := range 2 { // the second receipt succeeds and changes nothing
		if f := receipt(10 + i); f.Error != nil || string(f.Result) != "{}" {
			t.Errorf("receipt %d: %+v, want result {}", i+1, f)
		}
	}
	alice.wait(id, "changed bob=Received")
	wantCode(t, "receipt of the Accepted caller", alice.CallReceived(t.Context(), id), 0)
	wantCode(t, "receipt of a user not in the call", mallory.CallReceived(t.Context(), id), client.CodeCallUnavailable)
	wantCode(t, "receipt of an unknown call", alice.CallReceived(t.Context(), "0000nosuchcall"), client.CodeCallUnavailable)
	r.send(`{"id":20,"op":"callReceived","data":{}}`)
	if f := r.reply(20); f.Error == nil || f.Error.Code != protocol.CodeInvalidParameter {
		t.Errorf("receipt without callID: %+v, want 6000001", f)
	}

	_, err = alice.CallEnd(t.Context(), id, client.OpConfig{})
	must(t, err)
	if f := receipt(30); f.Error != nil {
		t.Errorf("receipt on an ended call: %+v, want success (R4.4)", f)
	}
	wantCode(t, "the caller's receipt on an ended call", alice.CallReceived(t.Context(), id), 0)
	// Exactly one Received change, and nothing after the end (R4.4).
	alice.expect(ts, id, "created", "changed bob=Received", "ended by alice")
}

// R3.11, R5.1: in a Started call, callReceived from a user who is Rejected, BeCancelled, Quit
// or Timeout succeeds and changes nothing: no state moves back to Received and nobody gets an
// event.
func TestE2ECallReceivedInTerminalStates(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	alice := ts.login(t, "alice", "a")
	users := map[string]*device{}
	for _, u := range []string{"bob", "carol", "dave", "erin"} {
		users[u] = ts.login(t, u, u[:1])
	}
	res, err := alice.CallInvite(ctx, []string{"bob", "carol", "dave"}, advanced)
	must(t, err)
	id := res.CallID
	for _, u := range []string{"bob", "carol", "dave"} {
		alice.wait(id, "changed "+u+"=Received")
	}
	must(t, second(users["bob"].CallReject(ctx, id, client.OpConfig{})))
	must(t, second(alice.CallCancel(ctx, id, []string{"carol"}, client.OpConfig{})))
	must(t, second(users["dave"].CallAccept(ctx, id, client.OpConfig{})))
	must(t, second(users["dave"].CallQuit(ctx, id, client.OpConfig{})))
	must(t, second(alice.CallingInvite(ctx, id, []string{"erin"}, client.CallingInviteConfig{Timeout: 1})))
	users["erin"].wait(id, "timeout")
	alice.wait(id, "changed erin=Timeout")

	users["alice"] = alice
	seen := map[string]int{}
	for u, d := range users {
		ts.barrier(t, d)
		d.mu.Lock()
		seen[u] = len(d.summaries(id))
		d.mu.Unlock()
	}
	before, err := alice.QueryCall(ctx, id)
	must(t, err)
	for _, u := range []string{"bob", "carol", "dave", "erin"} {
		wantCode(t, u+"'s receipt", users[u].CallReceived(ctx, id), 0)
	}
	after, err := alice.QueryCall(ctx, id)
	must(t, err)
	if after.Version != before.Version || !slices.Equal(after.CallUserList, before.CallUserList) {
		t.Errorf("receipts of users in terminal states changed the call:\n before %+v\n after  %+v", before, after)
	}
	for u, d := range users {
		ts.barrier(t, d)
		d.mu.Lock()
		if got := d.summaries(id); len(got) != seen[u] {
			t.Errorf("%s got events after the receipts: %q", u, got[seen[u]:])
		}
		d.mu.Unlock()
	}
}
