package main

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

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
