package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

// userIn returns userID's entry in list, failing the test when there is none.
func userIn(t *testing.T, list []client.CallUserInfo, userID string) client.CallUserInfo {
	t.Helper()
	for _, u := range list {
		if u.UserID == userID {
			return u
		}
	}
	t.Fatalf("%s not in callUserList %+v", userID, list)
	return client.CallUserInfo{}
}

// wantCode checks that err carries the wire code want (0 for success).
func wantCode(t *testing.T, what string, err error, want client.ErrorCode) {
	t.Helper()
	if got := code(err); got != want {
		t.Errorf("%s: got %v (code %d), want %d", what, err, got, want)
	}
}

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

// R3.1, §8: each bad callInvite gets exactly its code, and §8's order decides between codes.
func TestE2EInviteRefusals(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "1000")
	alice := ts.login(t, "alice", "a")
	ten := []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"}
	badTen := []string{"a b", "c d", "e f", "g h", "i j", "k l", "m n", "o p", "q r", "s t"}
	long := strings.Repeat("x", 2049)
	for _, c := range []struct {
		name     string
		invitees []string
		cfg      client.InviteConfig
		want     client.ErrorCode
	}{
		{"no invitees", []string{}, client.InviteConfig{}, client.CodeInvalidParameter},
		{"null invitees", nil, client.InviteConfig{}, client.CodeInvalidParameter},
		{"timeout 601", []string{"bob"}, client.InviteConfig{Timeout: 601}, client.CodeInvalidParameter},
		{"timeout -1", []string{"bob"}, client.InviteConfig{Timeout: -1}, client.CodeInvalidParameter},
		{"mode 2", []string{"bob"}, client.InviteConfig{Mode: 2}, client.CodeInvalidParameter},
		{"extendedData 2049 bytes", []string{"bob"}, client.InviteConfig{ExtendedData: long}, client.CodeInvalidParameter},
		{"push title 257 bytes", []string{"bob"}, client.InviteConfig{PushConfig: &client.PushConfig{Title: long[:257]}}, client.CodeInvalidParameter},
		{"push content 257 bytes", []string{"bob"}, client.InviteConfig{PushConfig: &client.PushConfig{Content: long[:257]}}, client.CodeInvalidParameter},
		{"push payload 2049 bytes", []string{"bob"}, client.InviteConfig{PushConfig: &client.PushConfig{Payload: long}}, client.CodeInvalidParameter},
		{"push resourcesID 33 bytes", []string{"bob"}, client.InviteConfig{PushConfig: &client.PushConfig{ResourcesID: long[:33]}}, client.CodeInvalidParameter},
		{"only the caller", []string{"alice"}, client.InviteConfig{}, client.CodeNoValidInvitee},
		{"only invalid and repeated", []string{"a b", "", strings.Repeat("x", 33)}, client.InviteConfig{}, client.CodeNoValidInvitee},
		{"10 invitees", ten, client.InviteConfig{}, client.CodeTooManyUsers},
		{"10 invalid invitees: 6000272 before 6000281", badTen, client.InviteConfig{}, client.CodeTooManyUsers},
		{"10 invitees and too long extendedData: 6000001 first", ten, client.InviteConfig{ExtendedData: long}, client.CodeInvalidParameter},
	} {
		_, err := alice.CallInvite(t.Context(), c.invitees, c.cfg)
		wantCode(t, c.name, err, c.want)
	}
	if list, err := alice.QueryCallInvitationList(t.Context(), 0, 0); err != nil || len(list.CallList) != 0 {
		t.Errorf("refused invites left calls: %+v, %v", list.CallList, err)
	}

	// Invalid, self and repeated entries go to errorUserList, in request order, with 6000001.
	res, err := alice.CallInvite(t.Context(), []string{"alice", "bob", "bob", "a b", "carol"},
		client.InviteConfig{Timeout: 30, Mode: client.ModeAdvanced, ExtendedData: "call data"})
	must(t, err)
	var errs []string
	for _, e := range res.ErrorUserList {
		errs = append(errs, fmt.Sprint(e.UserID, "/", e.Reason))
	}
	if want := []string{"alice/6000001", "bob/6000001", "a b/6000001"}; !slices.Equal(errs, want) {
		t.Errorf("errorUserList = %q, want %q", errs, want)
	}
	ci := res.CallInfo
	if res.Timeout != 30 || ci.CallID != res.CallID || ci.Caller != "alice" || ci.Inviter != "alice" ||
		ci.Mode != client.ModeAdvanced || ci.State != client.CallStarted || ci.ExtendedData != "call data" ||
		ci.CreateTime == 0 || ci.EndTime != 0 || ci.Version < 1 || len(ci.CallUserList) != 3 {
		t.Errorf("callInvite result = %+v", res)
	}
	if a := userIn(t, ci.CallUserList, "alice"); a.State != client.StateAccepted || a.AcceptTime != ci.CreateTime ||
		a.Inviter != "" || a.Deadline != 0 {
		t.Errorf("caller entry = %+v (§10b: acceptTime = createTime, no deadline)", a)
	}
	for _, u := range []string{"bob", "carol"} {
		if e := userIn(t, ci.CallUserList, u); e.State != client.StateInviting || e.Inviter != "alice" ||
			e.Deadline != ci.CreateTime+30_000 || e.AcceptTime != 0 || e.ExtendedData != "" {
			t.Errorf("invitee entry = %+v", e)
		}
	}

	// The caller is now in a call: §8 order puts 6000272 and 6000281 before 6000290.
	bob := ts.login(t, "bob", "b")
	must(t, second(bob.CallAccept(t.Context(), res.CallID, client.OpConfig{})))
	wantCode(t, "busy caller, 10 invitees", second(alice.CallInvite(t.Context(), ten, client.InviteConfig{})), client.CodeTooManyUsers)
	wantCode(t, "busy caller, no valid invitee", second(alice.CallInvite(t.Context(), []string{"alice"}, client.InviteConfig{})), client.CodeNoValidInvitee)
	wantCode(t, "busy caller", second(alice.CallInvite(t.Context(), []string{"dave"}, client.InviteConfig{})), client.CodeBusy)
}

// R3.1, protocol.md "Events": the fields of callInvitationCreated and callInvitationReceived.
func TestE2EInvitationEventFields(t *testing.T) {
	ts := startServer(t)
	alice, bob := ts.login(t, "alice", "a"), ts.login(t, "bob", "b")
	res, err := alice.CallInvite(t.Context(), []string{"bob", "carol"}, client.InviteConfig{Timeout: 45, ExtendedData: "video"})
	must(t, err)
	ci := res.CallInfo
	created := alice.wait(res.CallID, "created").(client.CallInvitationCreated)
	if created.Mode != client.ModeGeneral || created.Caller != "alice" || created.ExtendedData != "video" ||
		created.Timeout != 45 || created.CreateTime != ci.CreateTime || created.Version != ci.Version ||
		!slices.Equal(created.CallUserList, ci.CallUserList) {
		t.Errorf("callInvitationCreated = %+v, want the call %+v", created, ci)
	}
	ring := bob.wait(res.CallID, "received from alice").(client.CallInvitationReceived)
	if ring.Mode != client.ModeGeneral || ring.Caller != "alice" || ring.Inviter != "alice" || ring.ExtendedData != "video" ||
		ring.Timeout != 45 || ring.Deadline != ci.CreateTime+45_000 || ring.CreateTime != ci.CreateTime ||
		ring.Version != ci.Version || ring.Synthetic || !slices.Equal(ring.CallUserList, ci.CallUserList) {
		t.Errorf("callInvitationReceived = %+v, want the call %+v", ring, ci)
	}
	// R3.1: no callUserStateChanged for callInvite itself, on either side.
	alice.wait(res.CallID, "changed bob=Received")
	alice.expect(ts, res.CallID, "created", "changed bob=Received")
	bob.expect(ts, res.CallID, "received from alice", "changed bob=Received")
}

// R3.2, §8: every refusal of callCancel with its code, and the §5 recipients of a subset
// cancel: the cancelled users (all devices), the canceller's other devices, and listeners'
// callUserStateChanged (the canceller's main device stays a listener, docs §12).
func TestE2ECancelRefusalsAndRecipients(t *testing.T) {
	ts := startServer(t)
	alice, alice2 := ts.login(t, "alice", "a"), ts.login(t, "alice", "a2")
	bob, carol, erin := ts.login(t, "bob", "b"), ts.login(t, "carol", "c"), ts.login(t, "erin", "e")
	res, err := alice.CallInvite(t.Context(), []string{"bob", "carol", "dave"}, advanced)
	must(t, err)
	id := res.CallID
	carol.wait(id, "changed carol=Received")
	must(t, second(bob.CallAccept(t.Context(), id, client.OpConfig{})))
	ctx := t.Context()
	cancel := func(d *device, invitees ...string) (client.CallCancelResult, error) {
		return d.CallCancel(ctx, id, invitees, client.OpConfig{ExtendedData: "not you"})
	}
	wantCode(t, "whole cancel of an answered call", second(cancel(alice)), client.CodeCancelAccepted)
	wantCode(t, "whole cancel by a non-caller", second(cancel(bob)), client.CodeNotInviter)
	wantCode(t, "subset cancel of an Accepted user", second(cancel(alice, "bob")), client.CodeCancelAccepted)
	wantCode(t, "subset cancel with one Accepted target", second(cancel(alice, "carol", "bob")), client.CodeCancelAccepted)
	wantCode(t, "subset cancel of someone else's invitee", second(cancel(bob, "carol")), client.CodeNotInviter)
	wantCode(t, "cancel of an unknown call", second(alice.CallCancel(ctx, "0000nosuchcall", nil, client.OpConfig{})), client.CodeCallUnavailable)
	wantCode(t, "cancel without callID", second(alice.CallCancel(ctx, "", nil, client.OpConfig{})), client.CodeInvalidParameter)
	wantCode(t, "cancel by a user not in the call", second(cancel(erin, "carol")), client.CodeCallUnavailable)

	cres, err := cancel(alice, "carol", "zoe", "a b", "zoe")
	must(t, err)
	if cres.CallID != id || !slices.Equal(cres.ErrorInvitees, []string{"zoe", "a b"}) {
		t.Errorf("callCancel result = %+v, want errorInvitees [zoe, a b]", cres)
	}
	got := carol.wait(id, "cancelled carol=BeCancelled").(client.CallInvitationCancelled)
	if got.Inviter != "alice" || got.ExtendedData != "not you" || got.Mode != client.ModeAdvanced ||
		len(got.CallUserList) != 1 || got.CallUserList[0].Deadline != 0 {
		t.Errorf("callInvitationCancelled = %+v", got)
	}
	alice2.wait(id, "cancelled carol=BeCancelled")
	alice.wait(id, "changed carol=BeCancelled") // the acting device: a listener, not the cancel event
	bob.wait(id, "changed carol=BeCancelled")   // the Accepted users' main device
	carol.expectNone(ts, id, "changed carol=BeCancelled")
	alice.expectNone(ts, id, "cancelled carol=BeCancelled")

	// A terminal target is listed and nothing changes.
	cres, err = cancel(alice, "carol")
	if err != nil || !slices.Equal(cres.ErrorInvitees, []string{"carol"}) {
		t.Errorf("cancel of a cancelled user = %+v, %v; want errorInvitees [carol]", cres, err)
	}
	// Only the inviter of a callingInvite may cancel its invitees.
	must(t, second(bob.CallingInvite(ctx, id, []string{"erin"}, client.CallingInviteConfig{})))
	erin.wait(id, "received from bob")
	wantCode(t, "the caller cancels bob's invitee", second(cancel(alice, "erin")), client.CodeNotInviter)
	if cres, err := cancel(bob, "erin"); err != nil || len(cres.ErrorInvitees) != 0 {
		t.Errorf("bob cancels his invitee: %+v, %v", cres, err)
	}
	erin.wait(id, "cancelled erin=BeCancelled")

	// A canceller who is no longer active may cancel nothing (6000273 wins over 6000271).
	must(t, second(alice.CallingInvite(ctx, id, []string{"frank"}, client.CallingInviteConfig{})))
	must(t, second(alice.CallQuit(ctx, id, client.OpConfig{})))
	wantCode(t, "subset cancel by a user who quit", second(cancel(alice, "frank")), client.CodeNotInviter)
	wantCode(t, "whole cancel by a caller who quit", second(cancel(alice)), client.CodeNotInviter)

	// A subset cancel never ends the call.
	info, err := bob.QueryCall(ctx, id)
	must(t, err)
	if info.State != client.CallStarted || userIn(t, info.CallUserList, "dave").State != client.StateInviting ||
		userIn(t, info.CallUserList, "frank").State != client.StateInviting {
		t.Errorf("after the cancels: %+v", info)
	}
	alice2.expect(ts, id, "created", "cancelled carol=BeCancelled", "changed alice=Quit")
}

// R3.6: callingInvite's refusals and errorUserList reasons, the invitation's fields, and §5:
// the new invitees get their invitation, not callUserStateChanged; the listeners get the change.
func TestE2ECallingInviteRefusalsAndFields(t *testing.T) {
	ts := startServer(t)
	alice, bob, carol, mallory := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c"), ts.login(t, "mallory", "m")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
	must(t, err)
	id := res.CallID
	bob.wait(id, "received from alice")
	must(t, second(bob.CallAccept(t.Context(), id, client.OpConfig{})))
	ctx := t.Context()
	inv := func(d *device, cfg client.CallingInviteConfig, invitees ...string) (client.CallingInviteResult, error) {
		return d.CallingInvite(ctx, id, invitees, cfg)
	}
	none := client.CallingInviteConfig{}
	ten := []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"}
	wantCode(t, "no invitees", second(inv(bob, none)), client.CodeInvalidParameter)
	wantCode(t, "timeout 601", second(inv(bob, client.CallingInviteConfig{Timeout: 601}, "carol")), client.CodeInvalidParameter)
	wantCode(t, "extendedData 2049 bytes", second(inv(bob, client.CallingInviteConfig{ExtendedData: strings.Repeat("x", 2049)}, "carol")), client.CodeInvalidParameter)
	wantCode(t, "10 invitees", second(inv(bob, none, ten...)), client.CodeTooManyUsers)
	wantCode(t, "only itself", second(inv(bob, none, "bob")), client.CodeNoValidInvitee)
	wantCode(t, "only active users", second(inv(bob, none, "alice")), client.CodeNoValidInvitee)
	wantCode(t, "a user not in the call", second(inv(mallory, none, "carol")), client.CodeCallUnavailable)
	wantCode(t, "an unknown call", second(mallory.CallingInvite(ctx, "0000nosuchcall", []string{"carol"}, none)), client.CodeCallUnavailable)

	r, err := inv(bob, client.CallingInviteConfig{Timeout: 20, ExtendedData: "join us"}, "bob", "alice", "a b", "carol", "carol")
	must(t, err)
	var errs []string
	for _, e := range r.ErrorUserList {
		errs = append(errs, fmt.Sprint(e.UserID, "/", e.Reason))
	}
	if want := []string{"bob/6000001", "alice/6000283", "a b/6000001", "carol/6000001"}; r.CallID != id || !slices.Equal(errs, want) {
		t.Errorf("callingInvite result = %+v, errorUserList %q, want %q", r, errs, want)
	}
	ring := carol.wait(id, "received from bob").(client.CallInvitationReceived)
	if ring.Caller != "alice" || ring.Inviter != "bob" || ring.ExtendedData != "join us" || ring.Timeout != 20 ||
		ring.Mode != client.ModeAdvanced || ring.Deadline != userIn(t, ring.CallUserList, "carol").Deadline ||
		ring.CreateTime != res.CallInfo.CreateTime || len(ring.CallUserList) != 3 {
		t.Errorf("carol's invitation = %+v", ring)
	}
	if c := userIn(t, ring.CallUserList, "carol"); c.State != client.StateInviting || c.Inviter != "bob" || c.ExtendedData != "" {
		t.Errorf("carol's entry = %+v", c)
	}
	wantCode(t, "callingInvite by a pending user", second(inv(carol, none, "dave")), client.CodeStateForbids)
	alice.wait(id, "changed carol=Inviting")
	bob.wait(id, "changed carol=Inviting")
	carol.wait(id, "changed carol=Received")
	carol.expect(ts, id, "received from bob", "changed carol=Received")
}

// R3.5, §5, §10b: in advanced mode an invitee whose own ring times out goes alone: it gets
// callInvitationTimeout, the listeners (pending users, Accepted users' main devices) get its
// change, timed at its deadline, and the call goes on for everyone else.
func TestE2EAdvancedInviteeTimesOutAlone(t *testing.T) {
	ts := startServer(t)
	alice, alice2 := ts.login(t, "alice", "a"), ts.login(t, "alice", "a2")
	bob, carol, dave := ts.login(t, "bob", "b"), ts.login(t, "carol", "c"), ts.login(t, "dave", "d")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
	must(t, err)
	id := res.CallID
	bob.wait(id, "received from alice")
	must(t, second(bob.CallAccept(t.Context(), id, client.OpConfig{})))
	must(t, second(alice.CallingInvite(t.Context(), id, []string{"dave"}, client.CallingInviteConfig{Timeout: 60})))
	dave.wait(id, "changed dave=Received")
	must(t, second(bob.CallingInvite(t.Context(), id, []string{"carol"}, client.CallingInviteConfig{Timeout: 1})))
	ring := carol.wait(id, "received from bob").(client.CallInvitationReceived)

	timeout := carol.wait(id, "timeout").(client.CallInvitationTimeout)
	if timeout.Mode != client.ModeAdvanced || timeout.Version <= ring.Version {
		t.Errorf("callInvitationTimeout = %+v", timeout)
	}
	for _, d := range []*device{alice, bob, dave} {
		ev := d.wait(id, "changed carol=Timeout").(client.CallUserStateChanged)
		c := ev.CallUserList[0]
		if ev.Version != timeout.Version || ev.CallState != 0 || ev.EndTime != 0 || c.Deadline != 0 || c.UpdateTime != ring.Deadline {
			t.Errorf("%s: callUserStateChanged = %+v, want version %d, the call going on, carol's change at her deadline %d",
				d.user, ev, timeout.Version, ring.Deadline)
		}
	}
	alice2.expectNone(ts, id, "changed carol=Timeout") // not the main device (R6.3)
	carol.expect(ts, id, "received from bob", "changed carol=Received", "timeout")

	info, err := alice.QueryCall(t.Context(), id)
	must(t, err)
	if info.State != client.CallStarted || userIn(t, info.CallUserList, "dave").State != client.StateReceived ||
		userIn(t, info.CallUserList, "dave").Deadline == 0 || userIn(t, info.CallUserList, "bob").State != client.StateAccepted {
		t.Errorf("after carol's timeout: %+v", info)
	}
	wantCode(t, "carol accepts after her timeout", second(carol.CallAccept(t.Context(), id, client.OpConfig{})), client.CodeCallUnavailable)

	// R3.6, §10b: a timed-out user invited again rings anew, with the re-inviter as inviter.
	must(t, second(alice.CallingInvite(t.Context(), id, []string{"carol"}, client.CallingInviteConfig{Timeout: 60, ExtendedData: "again"})))
	again := carol.wait(id, "received from alice").(client.CallInvitationReceived)
	if c := userIn(t, again.CallUserList, "carol"); again.ExtendedData != "again" || c.State != client.StateInviting ||
		c.Inviter != "alice" || c.Deadline != again.Deadline || c.Deadline <= ring.Deadline {
		t.Errorf("re-invitation = %+v, carol's entry %+v", again, c)
	}
}

// R4.4, §5, R3.9: after callEnd every operation but callReceived and the queries gets 6000276;
// callInvitationEnded went, with the ending op's fields, to all devices of every user active
// just before the end (the ender's own included) and to nobody else; states stay as they were.
func TestE2EEndedCallRefusesEveryOp(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "1000")
	alice, alice2 := ts.login(t, "alice", "a"), ts.login(t, "alice", "a2")
	bob, bob2 := ts.login(t, "bob", "b"), ts.login(t, "bob", "b2")
	carol, dave, erin := ts.login(t, "carol", "c"), ts.login(t, "dave", "d"), ts.login(t, "erin", "e")
	res, err := alice.CallInvite(t.Context(), []string{"bob", "carol", "dave", "erin"}, advanced)
	must(t, err)
	id := res.CallID
	for _, d := range []*device{bob2, carol, dave, erin} {
		d.wait(id, "changed "+d.user+"=Received")
	}
	ctx := t.Context()
	must(t, second(bob.CallAccept(ctx, id, client.OpConfig{})))
	must(t, second(dave.CallReject(ctx, id, client.OpConfig{})))
	must(t, second(erin.CallAccept(ctx, id, client.OpConfig{})))
	must(t, second(erin.CallQuit(ctx, id, client.OpConfig{})))

	e, err := alice.CallEnd(ctx, id, client.OpConfig{ExtendedData: "bye"})
	must(t, err)
	if e.CallID != id || e.CreateTime != res.CallInfo.CreateTime || e.AcceptTime != res.CallInfo.CreateTime || e.EndTime < e.CreateTime {
		t.Errorf("callEnd result = %+v", e)
	}
	for _, d := range []*device{alice, alice2, bob, bob2, carol} {
		ev := d.wait(id, "ended by alice").(client.CallInvitationEnded)
		if ev.Mode != client.ModeAdvanced || ev.Caller != "alice" || ev.OperatedUserID != "alice" ||
			ev.ExtendedData != "bye" || ev.EndTime != e.EndTime {
			t.Errorf("%s@%s: callInvitationEnded = %+v", d.user, d.id, ev)
		}
	}

	refusals := map[string]error{
		"accept":              second(carol.CallAccept(ctx, id, client.OpConfig{})),
		"reject":              second(carol.CallReject(ctx, id, client.OpConfig{})),
		"pending user's join": second(carol.CallJoin(ctx, id, client.OpConfig{})),
		"whole cancel":        second(alice.CallCancel(ctx, id, nil, client.OpConfig{})),
		"subset cancel":       second(alice.CallCancel(ctx, id, []string{"carol"}, client.OpConfig{})),
		"callingInvite":       second(bob.CallingInvite(ctx, id, []string{"frank"}, client.CallingInviteConfig{})),
		"quit":                second(bob.CallQuit(ctx, id, client.OpConfig{})),
		"end again":           second(alice.CallEnd(ctx, id, client.OpConfig{})),
		"switch device":       second(bob2.CallJoin(ctx, id, client.OpConfig{})),
		"rejoin after reject": second(dave.CallJoin(ctx, id, client.OpConfig{})),
		"rejoin after quit":   second(erin.CallJoin(ctx, id, client.OpConfig{})),
	}
	for name, err := range refusals {
		wantCode(t, name+" on an ended call", err, client.CodeCallUnavailable)
	}
	wantCode(t, "callReceived on an ended call", carol.CallReceived(ctx, id), 0)
	info, err := dave.QueryCall(ctx, id)
	must(t, err)
	want := map[string]client.CallUserState{"alice": client.StateAccepted, "bob": client.StateAccepted,
		"carol": client.StateReceived, "dave": client.StateRejected, "erin": client.StateQuit}
	if info.State != client.CallEnded || info.EndTime != e.EndTime {
		t.Errorf("queryCall after the end = %+v", info)
	}
	for _, u := range info.CallUserList {
		if u.State != want[u.UserID] || u.Deadline != 0 {
			t.Errorf("%s after the end: state %d deadline %d, want state %d and no deadline (R3.9)", u.UserID, u.State, u.Deadline, want[u.UserID])
		}
	}
	// Nothing after the end (R4.4), and the users who had left get no end.
	for _, d := range []*device{alice, alice2, bob, bob2, carol} {
		ts.barrier(t, d)
		d.mu.Lock()
		got := d.summaries(id)
		d.mu.Unlock()
		if got[len(got)-1] != "ended by alice" || slices.Index(got, "ended by alice") != len(got)-1 {
			t.Errorf("%s@%s: events %q, want one end, last", d.user, d.id, got)
		}
	}
	dave.expectNone(ts, id, "ended by alice")
	erin.expectNone(ts, id, "ended by alice")
	// Nobody is in the call any more (§1): both may call again.
	must(t, second(alice.CallInvite(ctx, []string{"frank"}, advanced)))
	must(t, second(bob.CallInvite(ctx, []string{"frank"}, advanced)))
}

// §8 order: on an ended general-mode call the advanced-mode ops get 6000276, which comes
// before 6000286.
func TestE2EEndedGeneralCallIsUnavailableFirst(t *testing.T) {
	ts := startServer(t)
	alice, bob := ts.login(t, "alice", "a"), ts.login(t, "bob", "b")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	bob.wait(res.CallID, "received from alice")
	must(t, second(bob.CallReject(t.Context(), res.CallID, client.OpConfig{})))
	ctx := t.Context()
	for name, err := range map[string]error{
		"callingInvite": second(alice.CallingInvite(ctx, res.CallID, []string{"carol"}, client.CallingInviteConfig{})),
		"callQuit":      second(alice.CallQuit(ctx, res.CallID, client.OpConfig{})),
		"callEnd":       second(alice.CallEnd(ctx, res.CallID, client.OpConfig{})),
		"callJoin":      second(bob.CallJoin(ctx, res.CallID, client.OpConfig{})),
	} {
		wantCode(t, name+" on an ended general call", err, client.CodeCallUnavailable)
	}
}

// R3.7, R3.8, R3.9, §10b: the results of callJoin, callQuit and callEnd, and the times and
// extendedData they leave in the callUserList; a device switch notifies only the user's devices.
func TestE2EJoinQuitEndResults(t *testing.T) {
	ts := startServer(t)
	alice, bob, carol, mallory := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c"), ts.login(t, "mallory", "m")
	cfg := advanced
	cfg.ExtendedData = "room"
	res, err := alice.CallInvite(t.Context(), []string{"bob", "carol"}, cfg)
	must(t, err)
	id := res.CallID
	ctx := t.Context()
	carol.wait(id, "received from alice")
	must(t, second(bob.CallAccept(ctx, id, client.OpConfig{ExtendedData: "hi"})))
	must(t, second(carol.CallReject(ctx, id, client.OpConfig{})))
	wantCode(t, "join by a user never in the call", second(mallory.CallJoin(ctx, id, client.OpConfig{})), client.CodeCallUnavailable)

	j, err := carol.CallJoin(ctx, id, client.OpConfig{ExtendedData: "back"})
	must(t, err)
	c := userIn(t, j.CallUserList, "carol")
	if j.CallID != id || j.CreateTime != res.CallInfo.CreateTime || j.JoinTime < j.CreateTime || j.ExtendedData != "room" ||
		c.State != client.StateAccepted || c.ExtendedData != "back" || c.AcceptTime != j.JoinTime || c.Inviter != "alice" || len(j.CallUserList) != 3 {
		t.Errorf("callJoin result = %+v", j)
	}
	ev := alice.wait(id, "changed carol=Accepted").(client.CallUserStateChanged)
	if ev.CallUserList[0].AcceptTime != j.JoinTime || ev.CallUserList[0].ExtendedData != "back" {
		t.Errorf("carol's join as alice sees it: %+v", ev)
	}

	laptop := ts.login(t, "carol", "c-laptop")
	sw, err := laptop.CallJoin(ctx, id, client.OpConfig{})
	must(t, err)
	if sw.JoinTime < j.JoinTime || userIn(t, sw.CallUserList, "carol").AcceptTime != j.JoinTime || sw.ExtendedData != "room" {
		t.Errorf("device switch result = %+v; acceptTime must stay that of the join", sw)
	}
	for _, d := range []*device{carol, laptop} {
		if got := d.wait(id, "main device c-laptop").(client.CallMainDeviceChanged); got.DeviceID != "c-laptop" || got.Version <= ev.Version {
			t.Errorf("callMainDeviceChanged = %+v", got)
		}
	}
	alice.expectNone(ts, id, "main device c-laptop")
	bob.expectNone(ts, id, "main device c-laptop")

	q, err := bob.CallQuit(ctx, id, client.OpConfig{ExtendedData: "bye bob"})
	must(t, err)
	quit := alice.wait(id, "changed bob=Quit").(client.CallUserStateChanged).CallUserList[0]
	if q.CallID != id || q.CreateTime != res.CallInfo.CreateTime || q.AcceptTime == 0 || q.QuitTime < q.AcceptTime ||
		quit.ExtendedData != "bye bob" || quit.UpdateTime != q.QuitTime || quit.AcceptTime != q.AcceptTime {
		t.Errorf("callQuit result = %+v; bob's entry %+v", q, quit)
	}
	laptop.wait(id, "changed bob=Quit") // carol's main device is now the laptop (R6.3)
	carol.expectNone(ts, id, "changed bob=Quit")

	e, err := laptop.CallEnd(ctx, id, client.OpConfig{})
	must(t, err)
	if e.AcceptTime != j.JoinTime || e.CreateTime != res.CallInfo.CreateTime || e.EndTime < q.QuitTime {
		t.Errorf("callEnd result = %+v, want carol's acceptTime %d", e, j.JoinTime)
	}
}

// R3.7 with --join-policy anyone: a user never in the call joins with inviter ""; in general
// mode the join is still refused with 6000286.
func TestE2EJoinPolicyAnyone(t *testing.T) {
	ts := startServer(t, "--join-policy", "anyone")
	alice, bob, zed := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "zed", "z")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
	must(t, err)
	bob.wait(res.CallID, "received from alice")
	j, err := zed.CallJoin(t.Context(), res.CallID, client.OpConfig{ExtendedData: "hello"})
	must(t, err)
	if z := userIn(t, j.CallUserList, "zed"); z.State != client.StateAccepted || z.Inviter != "" || z.ExtendedData != "hello" {
		t.Errorf("joiner's entry = %+v", z)
	}
	alice.wait(res.CallID, "changed zed=Accepted")
	bob.wait(res.CallID, "changed zed=Accepted")

	general, err := bob.CallInvite(t.Context(), []string{"carol"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	wantCode(t, "join of a general call", second(ts.login(t, "yan", "y").CallJoin(t.Context(), general.CallID, client.OpConfig{})), client.CodeNotAdvanced)
}

// R4.1, §5: a general group call that goes on after an answer ends when the last invitee
// times out: that user gets its callInvitationTimeout, every device of every other user active
// just before gets the change with callState 2, and a user who had rejected gets nothing. Until
// then the non-main device of the Accepted user gets only its user's own changes (R6.3).
func TestE2EGeneralGroupEndsByTimeout(t *testing.T) {
	ts := startServer(t)
	alice := ts.login(t, "alice", "a")
	bob, bob2 := ts.login(t, "bob", "b"), ts.login(t, "bob", "b2")
	carol := ts.login(t, "carol", "c")
	// dave has no device: he stays Inviting until the ring times out.
	res, err := alice.CallInvite(t.Context(), []string{"bob", "carol", "dave"}, client.InviteConfig{Timeout: 3})
	must(t, err)
	id := res.CallID
	carol.wait(id, "received from alice")
	bob.wait(id, "received from alice")
	must(t, second(bob.CallAccept(t.Context(), id, client.OpConfig{})))
	must(t, second(carol.CallReject(t.Context(), id, client.OpConfig{})))
	wantCode(t, "the caller of a group call that goes on invites", second(alice.CallInvite(t.Context(), []string{"erin"}, client.InviteConfig{})), client.CodeBusy)

	var ends []client.CallUserStateChanged
	for _, d := range []*device{alice, bob, bob2} {
		ends = append(ends, d.wait(id, "changed dave=Timeout (call ended)").(client.CallUserStateChanged))
	}
	info, err := alice.QueryCall(t.Context(), id)
	must(t, err)
	dave := userIn(t, info.CallUserList, "dave")
	for _, ev := range ends {
		if ev.EndTime != info.EndTime || ev.EndTime != res.CallInfo.CreateTime+3000 || ev.Version != info.Version ||
			len(ev.CallUserList) != 1 || ev.CallUserList[0] != dave {
			t.Errorf("final change = %+v, want the call %+v ended at dave's deadline", ev, info)
		}
	}
	if info.State != client.CallEnded || dave.State != client.StateTimeout || userIn(t, info.CallUserList, "bob").State != client.StateAccepted {
		t.Errorf("after the timeout: %+v", info)
	}
	carol.expectNone(ts, id, "changed dave=Timeout (call ended)")
	bob2.mu.Lock()
	got := bob2.summaries(id)
	bob2.mu.Unlock()
	if slices.Contains(got, "changed carol=Rejected") || !slices.Contains(got, "changed bob=Accepted") {
		t.Errorf("bob's other device: events %q; want his own accept and not carol's reject", got)
	}
	// The users are free again.
	must(t, second(alice.CallInvite(t.Context(), []string{"erin"}, client.InviteConfig{})))
}

// R3.10, docs/behaviour.md §12: a user's calls are listed newest first by when the user entered
// each one (a callingInvite into an older call puts it first); pages stay stable while new calls
// arrive (no repeat, no gap); nextFlag is a positive integer below 2^53, 0 at the end; a
// negative count or nextFlag is 6000001.
func TestE2EQueryListEntryOrderAndStablePages(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "1000")
	host, guest, alice := ts.login(t, "host", "h"), ts.login(t, "guest", "g"), ts.login(t, "alice", "a")
	ctx := t.Context()
	older, err := host.CallInvite(ctx, []string{"guest"}, advanced)
	must(t, err)
	guest.wait(older.CallID, "received from host")
	must(t, second(guest.CallAccept(ctx, older.CallID, client.OpConfig{})))
	var ids []string
	for range 5 {
		res, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60})
		must(t, err)
		must(t, second(alice.CallCancel(ctx, res.CallID, nil, client.OpConfig{})))
		ids = append(ids, res.CallID)
	}
	must(t, second(host.CallingInvite(ctx, older.CallID, []string{"bob"}, client.CallingInviteConfig{})))
	bob := ts.login(t, "bob", "b")
	want := []string{older.CallID, ids[4], ids[3], ids[2], ids[1], ids[0]}

	var got []string
	var next int64
	for page := 0; ; page++ {
		res, err := bob.QueryCallInvitationList(ctx, 2, next)
		must(t, err)
		for _, c := range res.CallList {
			got = append(got, c.CallID)
		}
		if res.NextFlag < 0 || res.NextFlag >= 1<<53 {
			t.Fatalf("nextFlag %d out of 0..2^53", res.NextFlag)
		}
		if res.NextFlag == 0 {
			break
		}
		if page == 0 { // a new call arrives between two pages
			newer, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60})
			must(t, err)
			must(t, second(alice.CallCancel(ctx, newer.CallID, nil, client.OpConfig{})))
		}
		if page > 10 {
			t.Fatal("paging does not end")
		}
		next = res.NextFlag
	}
	if !slices.Equal(got, want) {
		t.Errorf("bob's calls by pages of 2:\n got  %q\n want %q", got, want)
	}
	wantCode(t, "negative count", second(bob.QueryCallInvitationList(ctx, -1, 0)), client.CodeInvalidParameter)
	wantCode(t, "negative nextFlag", second(bob.QueryCallInvitationList(ctx, 5, -1)), client.CodeInvalidParameter)
	wantCode(t, "queryCall without callID", second(bob.QueryCall(ctx, "")), client.CodeInvalidParameter)
	wantCode(t, "queryCall of an unknown call", second(bob.QueryCall(ctx, "0000nosuchcall")), client.CodeCallUnavailable)
}

// R5.3, §10b: the invitation synthesized at login for a re-invited user carries that user's own
// invitation: the re-inviter as inviter and the callingInvite's extendedData, and the whole
// seconds left.
func TestE2ESynthesizedInvitationOfAReinvite(t *testing.T) {
	ts := startServer(t)
	alice, carol := ts.login(t, "alice", "a"), ts.login(t, "carol", "c")
	cfg := advanced
	cfg.ExtendedData = "the call's"
	res, err := alice.CallInvite(t.Context(), []string{"bob", "carol"}, cfg)
	must(t, err)
	id := res.CallID
	carol.wait(id, "received from alice")
	must(t, second(carol.CallAccept(t.Context(), id, client.OpConfig{})))
	must(t, second(alice.CallCancel(t.Context(), id, []string{"bob"}, client.OpConfig{})))
	inv, err := carol.CallingInvite(t.Context(), id, []string{"bob"}, client.CallingInviteConfig{Timeout: 40, ExtendedData: "from carol"})
	must(t, err)
	if len(inv.ErrorUserList) != 0 {
		t.Fatalf("re-invite of a cancelled user: %+v", inv)
	}
	bob := ts.login(t, "bob", "b")
	ring := bob.wait(id, "received from carol (synthetic)").(client.CallInvitationReceived)
	if ring.Caller != "alice" || ring.ExtendedData != "from carol" || ring.Timeout < 1 || ring.Timeout > 40 ||
		ring.Deadline != userIn(t, ring.CallUserList, "bob").Deadline || ring.Mode != client.ModeAdvanced ||
		ring.CreateTime != res.CallInfo.CreateTime {
		t.Errorf("synthesized invitation = %+v", ring)
	}
	alice.wait(id, "changed bob=Received")
}

// §8 order across the call's rules and the busy rule: a callJoin refused for the user's state
// (6000274) or the call's size (6000272) gets that code even when the user is also in another
// call (6000290), which comes after both; callingInvite's 6000274 comes before its 6000272 and
// callCancel's 6000273 before its 6000271. Nothing is changed by any of them.
func TestE2ERefusalOrderOfJoinCallingInviteAndCancel(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "1000", "--max-call-users", "3")
	ctx := t.Context()
	alice, bob, carol, dave := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c"), ts.login(t, "dave", "d")
	res, err := alice.CallInvite(ctx, []string{"bob", "carol"}, advanced)
	must(t, err)
	id := res.CallID
	carol.wait(id, "received from alice")
	must(t, second(bob.CallAccept(ctx, id, client.OpConfig{})))
	must(t, second(carol.CallReject(ctx, id, client.OpConfig{})))
	must(t, second(alice.CallingInvite(ctx, id, []string{"dave"}, client.CallingInviteConfig{})))
	dave.wait(id, "received from alice")
	must(t, second(alice.CallCancel(ctx, id, []string{"dave"}, client.OpConfig{})))
	must(t, second(alice.CallingInvite(ctx, id, []string{"erin"}, client.CallingInviteConfig{}))) // 3 active: full
	// carol (Rejected) and dave (BeCancelled) are each in another call.
	for _, d := range []*device{carol, dave} {
		host := ts.login(t, d.user+"-host", "h")
		other, err := host.CallInvite(ctx, []string{d.user}, advanced)
		must(t, err)
		d.wait(other.CallID, "received from "+host.user)
		must(t, second(d.CallAccept(ctx, other.CallID, client.OpConfig{})))
	}
	before, err := alice.QueryCall(ctx, id)
	must(t, err)

	ten := []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"}
	wantCode(t, "a Rejected user's join of a full call while busy", second(carol.CallJoin(ctx, id, client.OpConfig{})), client.CodeTooManyUsers)
	wantCode(t, "a BeCancelled user's join of a full call while busy", second(dave.CallJoin(ctx, id, client.OpConfig{})), client.CodeStateForbids)
	wantCode(t, "callingInvite of 10 by a Rejected user", second(carol.CallingInvite(ctx, id, ten, client.CallingInviteConfig{})), client.CodeStateForbids)
	wantCode(t, "a Rejected user's cancel of an Accepted user", second(carol.CallCancel(ctx, id, []string{"bob"}, client.OpConfig{})), client.CodeNotInviter)
	if after, err := alice.QueryCall(ctx, id); err != nil || !slices.Equal(after.CallUserList, before.CallUserList) || after.Version != before.Version {
		t.Errorf("refusals changed the call:\n before %+v\n after  %+v (%v)", before, after, err)
	}

	must(t, second(alice.CallCancel(ctx, id, []string{"erin"}, client.OpConfig{}))) // room for one more
	wantCode(t, "a Rejected user's join while busy", second(carol.CallJoin(ctx, id, client.OpConfig{})), client.CodeBusy)
	wantCode(t, "a BeCancelled user's join while busy", second(dave.CallJoin(ctx, id, client.OpConfig{})), client.CodeStateForbids)
}

// R3.10, §10b, R5.3: a user re-invited into a call gets the re-inviter as inviter (the caller
// too), an empty extendedData, acceptTime 0 and a new deadline, alike in the callingInvite's
// events, queryCall, the list and a login's synthesized invitation; the end keeps every state,
// sets every deadline to 0 and carries the callEnd's extendedData. Meanwhile the user pages
// through its calls: calls that end, a quit and a re-invite between pages neither repeat nor
// skip a call, and the call it was re-invited into stays where it first entered.
func TestE2EReinviteFieldsAndStableList(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "1000")
	ctx := t.Context()
	alice, bob, carol, dave := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c"), ts.login(t, "dave", "d")
	cfg := advanced
	cfg.ExtendedData = "room"
	res, err := alice.CallInvite(ctx, []string{"bob", "carol"}, cfg)
	must(t, err)
	id := res.CallID
	carol.wait(id, "received from alice")
	must(t, second(bob.CallAccept(ctx, id, client.OpConfig{ExtendedData: "hi"})))
	must(t, second(carol.CallReject(ctx, id, client.OpConfig{ExtendedData: "no"})))
	var newer []string
	for range 2 {
		r, err := dave.CallInvite(ctx, []string{"carol"}, client.InviteConfig{Timeout: 60})
		must(t, err)
		carol.wait(r.CallID, "received from dave")
		newer = append(newer, r.CallID)
		if len(newer) == 1 {
			must(t, second(dave.CallCancel(ctx, r.CallID, nil, client.OpConfig{})))
		}
	}
	want := []string{newer[1], newer[0], id}

	page, err := carol.QueryCallInvitationList(ctx, 1, 0)
	must(t, err)
	got := []string{page.CallList[0].CallID}
	next := page.NextFlag

	// Between pages: the caller quits, bob re-invites carol and the caller, dave's ringing call ends.
	q, err := alice.CallQuit(ctx, id, client.OpConfig{})
	must(t, err)
	inv, err := bob.CallingInvite(ctx, id, []string{"carol", "alice"}, client.CallingInviteConfig{Timeout: 40, ExtendedData: "again"})
	must(t, err)
	if len(inv.ErrorUserList) != 0 {
		t.Fatalf("re-invite of a Rejected and a Quit user: errorUserList %+v", inv.ErrorUserList)
	}
	must(t, second(dave.CallCancel(ctx, newer[1], nil, client.OpConfig{})))

	ring := carol.wait(id, "received from bob").(client.CallInvitationReceived)
	checkReinvited := func(where string, list []client.CallUserInfo) {
		t.Helper()
		for _, u := range []string{"carol", "alice"} {
			if e := userIn(t, list, u); !pending(e.State) || e.Inviter != "bob" || e.ExtendedData != "" ||
				e.AcceptTime != 0 || e.Deadline != ring.Deadline {
				t.Errorf("%s: re-invited %s = %+v, want pending, inviter bob, no extendedData, acceptTime 0, deadline %d",
					where, u, e, ring.Deadline)
			}
		}
	}
	if ring.Inviter != "bob" || ring.ExtendedData != "again" || ring.Timeout != 40 || ring.Caller != "alice" {
		t.Errorf("carol's re-invitation = %+v", ring)
	}
	checkReinvited("carol's callInvitationReceived", ring.CallUserList)
	fresh := ts.login(t, "alice", "a-new") // never logged in: no lastSeq, so R5.3
	synth := fresh.wait(id, "received from bob (synthetic)").(client.CallInvitationReceived)
	if synth.ExtendedData != "again" || synth.Deadline != ring.Deadline || synth.Timeout < 1 || synth.Timeout > 40 {
		t.Errorf("alice's synthesized re-invitation = %+v", synth)
	}
	checkReinvited("alice's synthesized invitation", synth.CallUserList)
	info, err := carol.QueryCall(ctx, id)
	must(t, err)
	checkReinvited("queryCall", info.CallUserList)
	if b := userIn(t, info.CallUserList, "bob"); b.State != client.StateAccepted || b.ExtendedData != "hi" || b.AcceptTime == 0 {
		t.Errorf("bob after re-inviting = %+v", b)
	}

	for next != 0 {
		page, err := carol.QueryCallInvitationList(ctx, 1, next)
		must(t, err)
		for _, c := range page.CallList {
			got = append(got, c.CallID)
			if c.CallID == id {
				checkReinvited("queryCallInvitationList", c.CallUserList)
			}
		}
		if len(got) > len(want) {
			break
		}
		next = page.NextFlag
	}
	if !slices.Equal(got, want) {
		t.Errorf("carol's calls by pages of 1:\n got  %q\n want %q", got, want)
	}

	e, err := bob.CallEnd(ctx, id, client.OpConfig{ExtendedData: "done"})
	must(t, err)
	for _, d := range []*device{carol, alice, fresh} {
		if ev := d.wait(id, "ended by bob").(client.CallInvitationEnded); ev.ExtendedData != "done" || ev.EndTime != e.EndTime {
			t.Errorf("%s@%s: callInvitationEnded = %+v", d.user, d.id, ev)
		}
	}
	list, err := carol.QueryCallInvitationList(ctx, 0, 0)
	must(t, err)
	if len(list.CallList) != 3 || list.NextFlag != 0 || list.CallList[2].CallID != id {
		t.Fatalf("carol's calls after the end: %+v", list)
	}
	ended := list.CallList[2]
	if ended.State != client.CallEnded || ended.EndTime != e.EndTime {
		t.Errorf("ended call as listed = %+v", ended)
	}
	wantAccept := map[string]int64{"alice": 0, "bob": userIn(t, info.CallUserList, "bob").AcceptTime, "carol": 0}
	for _, u := range ended.CallUserList {
		if u.Deadline != 0 || u.AcceptTime != wantAccept[u.UserID] || (u.UserID != "bob") != pending(u.State) {
			t.Errorf("%s after the end = %+v: want its state kept, deadline 0, acceptTime %d", u.UserID, u, wantAccept[u.UserID])
		}
	}
	if q.AcceptTime != res.CallInfo.CreateTime {
		t.Errorf("the caller's quit: acceptTime %d, want createTime %d", q.AcceptTime, res.CallInfo.CreateTime)
	}
}

// pending reports whether s is Inviting, NotYetReceived or Received (behaviour §1).
func pending(s client.CallUserState) bool {
	return s == client.StateInviting || s == client.StateNotYetReceived || s == client.StateReceived
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

// R5.3 per device: a new device of a user whose other device already acknowledged the ring
// (Received, still pending) gets the synthesized invitation; a new device of a user who
// accepted the call on another device gets none, since that user is no longer pending.
func TestE2ESynthesizedInvitationPerDevice(t *testing.T) {
	ts := startServer(t)
	alice, phone := ts.login(t, "alice", "a"), ts.login(t, "bob", "b-phone")
	res, err := alice.CallInvite(t.Context(), []string{"bob", "carol"}, advanced)
	must(t, err)
	id := res.CallID
	alice.wait(id, "changed bob=Received")

	// Frames after a fresh login up to the reply of a query: the server reads the query only
	// after the login's synthesized invitations are sent.
	loginFrames := func(deviceID string) []protocol.Frame {
		r, _ := ts.rawLogin(t, "bob", deviceID, -1)
		r.send(`{"id":2,"op":"queryCall","data":{"callID":"` + id + `"}}`)
		var frames []protocol.Frame
		for f := r.next(); f.ID != 2; f = r.next() {
			frames = append(frames, f)
		}
		return frames
	}
	frames := loginFrames("b-tablet")
	if len(frames) != 1 || frames[0].Event != protocol.EventCallInvitationReceived || frames[0].Seq != 0 {
		t.Fatalf("tablet after login: %+v, want one synthesized invitation", frames)
	}
	var ring protocol.CallInvitationReceived
	must(t, json.Unmarshal(frames[0].Data, &ring))
	if b := ring.CallUserList[slices.IndexFunc(ring.CallUserList, func(u protocol.CallUserInfo) bool { return u.UserID == "bob" })]; !ring.Synthetic ||
		ring.CallID != id || ring.Inviter != "alice" || b.State != protocol.StateReceived || ring.Deadline != b.Deadline {
		t.Errorf("tablet's synthesized invitation %+v", ring)
	}

	must(t, second(phone.CallAccept(t.Context(), id, client.OpConfig{})))
	if frames := loginFrames("b-laptop"); len(frames) != 0 {
		t.Errorf("laptop of a user Accepted on another device: %+v, want no synthesized invitation", frames)
	}
}
