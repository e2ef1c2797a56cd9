package main

import (
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

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
	// the switch comes a few milliseconds after the join, so its joinTime is its own
	// (docs/behaviour.md §12, "joinTime")
	time.Sleep(5 * time.Millisecond)
	key := client.NewIdempotencyKey()
	sw, err := laptop.CallJoin(client.WithIdempotencyKey(ctx, key), id, client.OpConfig{})
	must(t, err)
	if sw.JoinTime <= j.JoinTime || userIn(t, sw.CallUserList, "carol").AcceptTime != j.JoinTime || sw.ExtendedData != "room" {
		t.Errorf("device switch result = %+v; want the switch's own joinTime, after %d, and acceptTime that of the join", sw, j.JoinTime)
	}
	time.Sleep(5 * time.Millisecond)
	again, err := laptop.CallJoin(client.WithIdempotencyKey(ctx, key), id, client.OpConfig{})
	must(t, err)
	if again.JoinTime != sw.JoinTime {
		t.Errorf("repeat of the switch with its key: joinTime %d, want the first reply's %d (R7.3)", again.JoinTime, sw.JoinTime)
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

// R3.7 with --join-policy anyone: a user never in the call joins with inviter "" and acceptTime
// and updateTime the joinTime (§10b); it could not query the call before (R3.10: 6000276), and
// now finds it by queryCall and first in its queryCallInvitationList. In general mode a
// member's join is still refused with 6000286, and a newcomer's as an unknown call's (6000276,
// §8, §11: the refusal does not tell it that the call exists, nor its mode).
func TestE2EJoinPolicyAnyone(t *testing.T) {
	ts := startServer(t, "--join-policy", "anyone")
	alice, bob, zed := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "zed", "z")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
	must(t, err)
	bob.wait(res.CallID, "received from alice")
	wantCode(t, "a newcomer's queryCall before its join", second(zed.QueryCall(t.Context(), res.CallID)), client.CodeCallUnavailable)
	j, err := zed.CallJoin(t.Context(), res.CallID, client.OpConfig{ExtendedData: "hello"})
	must(t, err)
	z := userIn(t, j.CallUserList, "zed")
	if z.State != client.StateAccepted || z.Inviter != "" || z.ExtendedData != "hello" || z.Deadline != 0 ||
		z.AcceptTime != j.JoinTime || z.UpdateTime != j.JoinTime {
		t.Errorf("joiner's entry = %+v, joinTime %d", z, j.JoinTime)
	}
	info, err := zed.QueryCall(t.Context(), res.CallID)
	must(t, err)
	list, err := zed.QueryCallInvitationList(t.Context(), 0, 0)
	must(t, err)
	if len(list.CallList) != 1 || list.NextFlag != 0 || list.CallList[0].CallID != res.CallID ||
		userIn(t, list.CallList[0].CallUserList, "zed") != z || userIn(t, info.CallUserList, "zed") != z {
		t.Errorf("the joiner's calls %+v and queryCall %+v, want the joined call with its entry %+v", list, info, z)
	}
	alice.wait(res.CallID, "changed zed=Accepted")
	bob.wait(res.CallID, "changed zed=Accepted")

	general, err := bob.CallInvite(t.Context(), []string{"carol"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	carol := ts.login(t, "carol", "c")
	wantCode(t, "a member's join of a general call", second(carol.CallJoin(t.Context(), general.CallID, client.OpConfig{})), client.CodeNotAdvanced)
	wantCode(t, "a newcomer's join of a general call", second(ts.login(t, "yan", "y").CallJoin(t.Context(), general.CallID, client.OpConfig{})), client.CodeCallUnavailable)
}
