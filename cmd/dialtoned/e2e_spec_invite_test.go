package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/client"
)

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
