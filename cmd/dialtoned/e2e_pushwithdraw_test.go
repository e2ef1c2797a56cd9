package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/push"
)

// forCall returns the pushes of callID received so far, in arrival order (one call's pushes
// are sent in commit order, §9 and docs/push.md).
func (p *pushService) forCall(callID string) []push.WebhookBody {
	var out []push.WebhookBody
	for _, b := range p.all() {
		if b.Message.CallID == callID {
			out = append(out, b)
		}
	}
	return out
}

// pushRecordsHandled waits until the server has handled n push records in all (sent, or
// decided not to send): every push a change asked for has then been sent.
func pushRecordsHandled(t *testing.T, ts *testServer, n int) {
	t.Helper()
	waitMetric(t, ts, `dialtone_outbox_attempts_total{kind="push",result="delivered"}`,
		fmt.Sprintf(`dialtone_outbox_attempts_total{kind="push",result="delivered"} %d`, n))
}

// wantPushes checks the pushes of one call: want lists "kind title" per push, in order, all to
// bob's phone target, from caller, each invitation rung by caller (its inviter).
func (p *pushService) wantPushes(t *testing.T, what, callID, caller string, want ...string) []push.Message {
	t.Helper()
	got := p.forCall(callID)
	var summary []string
	var msgs []push.Message
	for _, b := range got {
		summary = append(summary, b.Message.Kind+" "+b.Message.Title)
		msgs = append(msgs, b.Message)
		if b.Target != (push.WebhookTarget{Provider: "webhook", Token: "bob-phone"}) || b.Message.Caller != caller ||
			b.Message.ServerTime <= 0 || (b.Message.Kind == "invitation") != (b.Message.Deadline != 0) ||
			(b.Message.Kind == "invitation") != (b.Message.Inviter == caller) {
			t.Errorf("%s: push %+v", what, b)
		}
	}
	if strings.Join(summary, "|") != strings.Join(want, "|") {
		t.Errorf("%s: pushes %q, want %q", what, summary, want)
	}
	return msgs
}

// Behaviour §9 through the real server: bob has no connected device and a registered target;
// dave is connected and has one too. Each way an invitation stops being pending for bob (ring
// timeout, subset cancel, callEnd, the last callQuit, an accept from the server API and an
// accept on another device) sends him one withdrawal push with the invitation's callID, using
// the causing op's pushConfig if it has one, else the invitation's. dave, who was online when
// invited, gets no invitation push and so no withdrawal. callQuit and callEnd push the users
// who get their event and have no connected device; an invitation without pushConfig pushes
// nothing.
func TestE2EPushWithdrawalsAndOpPushes(t *testing.T) {
	pushes := newPushService(t)
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL, "--api-key", apiKey)
	ctx := t.Context()
	alice := offlineWithTargets(t, ts, client.PushTarget{Provider: "webhook", Token: "bob-phone"})
	dave := ts.login(t, "dave", "d-phone")
	must(t, dave.PushRegister(ctx, client.PushTarget{Provider: "webhook", Token: "dave-phone"}))
	ring := &client.PushConfig{Title: "Ring", Content: "incoming", Payload: `{"p":1}`}
	adv := client.InviteConfig{Timeout: 60, Mode: client.ModeAdvanced, PushConfig: ring}
	records := 0

	// A ring timeout (R3.5): the withdrawal uses the invitation's pushConfig.
	before := time.Now().UnixMilli()
	timeout, err := alice.CallInvite(ctx, []string{"bob", "dave"}, client.InviteConfig{Timeout: 1, PushConfig: ring})
	must(t, err)
	deadline := userIn(t, timeout.CallInfo.CallUserList, "bob").Deadline
	alice.wait(timeout.CallID, "changed bob=Timeout,dave=Timeout (call ended)")
	records += 2 + 2 // two invitations, two withdrawals (dave's is not sent)
	pushRecordsHandled(t, ts, records)
	got := pushes.wantPushes(t, "timeout", timeout.CallID, "alice", "invitation Ring", "withdrawal Ring")
	if len(got) == 2 {
		inv, wd := got[0], got[1]
		if inv.Deadline != deadline || inv.ServerTime < before || inv.ServerTime > deadline ||
			inv.Content != "incoming" || inv.Payload != `{"p":1}` || wd.Content != "incoming" || wd.ServerTime < deadline {
			t.Errorf("timeout pushes %+v, want the invitation with deadline %d and its withdrawal at or after it", got, deadline)
		}
	}

	// A subset cancel with its own pushConfig (R3.2).
	cancelled, err := alice.CallInvite(ctx, []string{"bob", "dave"}, adv)
	must(t, err)
	dave.wait(cancelled.CallID, "received from alice")
	must(t, second(alice.CallCancel(ctx, cancelled.CallID, []string{"bob"}, client.OpConfig{PushConfig: &client.PushConfig{Title: "Missed"}})))
	must(t, second(alice.CallEnd(ctx, cancelled.CallID, client.OpConfig{})))
	records += 2 + 1 + 1 // invitations, bob's withdrawal, dave's at the end (not sent)
	pushRecordsHandled(t, ts, records)
	pushes.wantPushes(t, "subset cancel", cancelled.CallID, "alice", "invitation Ring", "withdrawal Missed")

	// callEnd with a pushConfig while bob still rings (R3.9).
	carol := ts.login(t, "carol", "c")
	ended, err := carol.CallInvite(ctx, []string{"bob", "dave"}, adv)
	must(t, err)
	dave.wait(ended.CallID, "received from carol")
	must(t, second(dave.CallAccept(ctx, ended.CallID, client.OpConfig{})))
	must(t, second(dave.CallEnd(ctx, ended.CallID, client.OpConfig{PushConfig: &client.PushConfig{Title: "Over"}})))
	records += 2 + 1 + 1 + 2 // invitations, dave's withdrawal, bob's, end pushes to carol and dave (online)
	pushRecordsHandled(t, ts, records)
	pushes.wantPushes(t, "callEnd", ended.CallID, "carol", "invitation Ring", "withdrawal Over")

	// The last callQuit ends the call (R3.8).
	erin := ts.login(t, "erin", "e")
	quit, err := erin.CallInvite(ctx, []string{"bob", "dave"}, adv)
	must(t, err)
	dave.wait(quit.CallID, "received from erin")
	must(t, second(dave.CallAccept(ctx, quit.CallID, client.OpConfig{})))
	must(t, second(erin.CallQuit(ctx, quit.CallID, client.OpConfig{})))
	must(t, second(dave.CallQuit(ctx, quit.CallID, client.OpConfig{PushConfig: &client.PushConfig{Title: "Left"}})))
	records += 2 + 1 + 1 + 1 // invitations, dave's withdrawal, bob's, dave's own quit push (online)
	pushRecordsHandled(t, ts, records)
	pushes.wantPushes(t, "callQuit", quit.CallID, "erin", "invitation Ring", "withdrawal Left")

	// bob accepts through the server API (no device): a withdrawal; then, Accepted with no
	// connected device, he gets the quit and end pushes of the ops whose events he gets.
	gina := ts.login(t, "gina", "g")
	api, err := gina.CallInvite(ctx, []string{"bob", "dave"}, adv)
	must(t, err)
	dave.wait(api.CallID, "received from gina")
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls/"+api.CallID+"/accept", apiKey, `{"userID":"bob"}`); st != 200 {
		t.Fatalf("accept through the API: %d %v", st, m)
	}
	must(t, second(dave.CallAccept(ctx, api.CallID, client.OpConfig{})))
	must(t, second(gina.CallQuit(ctx, api.CallID, client.OpConfig{PushConfig: &client.PushConfig{Title: "Bye"}})))
	must(t, second(dave.CallEnd(ctx, api.CallID, client.OpConfig{PushConfig: &client.PushConfig{Title: "End"}})))
	records += 2 + 1 + 1 + 3 + 2 // invitations, two withdrawals, quit pushes to gina, bob, dave, end pushes to bob, dave
	pushRecordsHandled(t, ts, records)
	pushes.wantPushes(t, "quit and end", api.CallID, "gina", "invitation Ring", "withdrawal Ring", "quit Bye", "end End")

	// No pushConfig: nothing is pushed, neither the invitation nor its withdrawal.
	plain, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	must(t, second(alice.CallCancel(ctx, plain.CallID, nil, client.OpConfig{PushConfig: &client.PushConfig{Title: "x"}})))

	// bob accepts on another device: the withdrawal reaches his phone's target (the invitation's
	// pushConfig), although he is now connected.
	other, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60, PushConfig: ring})
	must(t, err)
	records++
	pushRecordsHandled(t, ts, records)
	tablet := ts.login(t, "bob", "b-tablet")
	tablet.wait(other.CallID, "received from alice (synthetic)")
	must(t, second(tablet.CallAccept(ctx, other.CallID, client.OpConfig{})))
	records++
	pushRecordsHandled(t, ts, records)
	pushes.wantPushes(t, "accept on another device", other.CallID, "alice", "invitation Ring", "withdrawal Ring")
	pushes.wantPushes(t, "no pushConfig", plain.CallID, "alice")
	for _, b := range pushes.all() {
		if b.Target.Token != "bob-phone" {
			t.Errorf("push to a user who was connected when invited: %+v", b)
		}
	}
}

// R5.2 for the invitees of a callingInvite (R3.6: the call's enableNotReceivedCheck applies
// to them): carol, with no connected device, is sent the invitation push at once and, still
// Inviting after the check delay, becomes NotYetReceived and is pushed again (§9) with the
// same deadline; dave, connected, acknowledges his invitation and stays Received.
func TestE2ENotReceivedCheckOnCallingInviteR5_2(t *testing.T) {
	pushes := newPushService(t)
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL, "--not-received-check", "3s")
	ctx := t.Context()
	carolPhone := ts.login(t, "carol", "c-phone")
	must(t, carolPhone.PushRegister(ctx, client.PushTarget{Provider: "webhook", Token: "carol-phone"}))
	carolPhone.Close()
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 0")
	alice, bob, dave := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "dave", "d")

	res, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60, Mode: client.ModeAdvanced,
		EnableNotReceivedCheck: true})
	must(t, err)
	bob.wait(res.CallID, "changed bob=Received") // his SDK's receipt is in before his accept
	must(t, second(bob.CallAccept(ctx, res.CallID, client.OpConfig{})))
	invited := time.Now()
	must(t, second(bob.CallingInvite(ctx, res.CallID, []string{"carol", "dave"}, client.CallingInviteConfig{
		Timeout: 30, PushConfig: &client.PushConfig{Title: "Bob"}})))
	first := pushes.wait(1).Message
	if first.Kind != "invitation" || first.CallID != res.CallID || first.Caller != "alice" || first.Title != "Bob" {
		t.Errorf("invitation push %+v", first)
	}
	if first.Inviter != "bob" {
		t.Errorf("invitation push names inviter %q, want bob, whose callingInvite rings carol (R3.6, §9)", first.Inviter)
	}
	dave.wait(res.CallID, "received from bob")
	bob.wait(res.CallID, "changed dave=Received")

	alice.wait(res.CallID, "changed carol=NotYetReceived")
	if waited := time.Since(invited); waited < 3*time.Second {
		t.Errorf("carol became NotYetReceived after %v, before the 3s check", waited)
	}
	again := pushes.wait(2).Message
	if again.Kind != "invitation" || again.CallID != res.CallID || again.Deadline != first.Deadline || again.Title != "Bob" ||
		again.Inviter != "bob" {
		t.Errorf("R5.2 push %+v, want the invitation again (deadline %d, inviter bob)", again, first.Deadline)
	}
	info, err := alice.QueryCall(ctx, res.CallID)
	must(t, err)
	if c, d := userIn(t, info.CallUserList, "carol"), userIn(t, info.CallUserList, "dave"); c.State != client.StateNotYetReceived ||
		c.Inviter != "bob" || d.State != client.StateReceived {
		t.Errorf("after the check: carol %+v, dave %+v", c, d)
	}
	bob.expect(ts, res.CallID, "received from alice", "changed bob=Received", "changed bob=Accepted",
		"changed carol=Inviting,dave=Inviting", "changed dave=Received", "changed carol=NotYetReceived")
}

// §9 and docs/push.md across a restart: a withdrawal the push service refused is still in the
// outbox when the server stops, and the next process sends it, once, because the mark of the
// invitation push sent by the first process is in the store.
func TestE2EPushWithdrawalSurvivesRestart(t *testing.T) {
	pushes := newPushService(t)
	first := startServer(t, "--push-webhook-url", pushes.srv.URL)
	ctx := t.Context()
	alice := offlineWithTargets(t, first, client.PushTarget{Provider: "webhook", Token: "bob-phone"})
	res, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60, PushConfig: ring})
	must(t, err)
	pushes.wait(1)

	pushes.setFail(1 << 30) // refuse every push from now on
	must(t, second(alice.CallCancel(ctx, res.CallID, nil, client.OpConfig{PushConfig: &client.PushConfig{Title: "Missed"}})))
	pushes.waitRefused(1)
	first.Stop()

	pushes.setFail(0)
	next := startServerOn(t, first.Data, "--push-webhook-url", pushes.srv.URL)
	pushRecordsHandled(t, next, 1)
	pushes.wantPushes(t, "after the restart", res.CallID, "alice", "invitation Alice", "withdrawal Missed")
}

// §9: callEnd's push goes to every user who gets its callInvitationEnded and has no connected
// device, and so does the push of the callQuit that ends the call (R3.8). bob was online when
// invited, so he was sent no invitation push and his withdrawal is not sent; once his app is
// gone while he still rings, the end of the call reaches him as the op's push (with the op's
// pushConfig), and as nothing else.
func TestE2EPushEndReachesAPendingUserWhoWasOnlineWhenInvited(t *testing.T) {
	ends := []struct {
		kind string
		op   func(ctx context.Context, alice *device, callID string, cfg client.OpConfig) error
	}{
		{"end", func(ctx context.Context, alice *device, callID string, cfg client.OpConfig) error {
			return second(alice.CallEnd(ctx, callID, cfg))
		}},
		{"quit", func(ctx context.Context, alice *device, callID string, cfg client.OpConfig) error {
			return second(alice.CallQuit(ctx, callID, cfg))
		}},
	}
	for _, end := range ends {
		kind := end.kind
		t.Run(kind, func(t *testing.T) {
			pushes := newPushService(t)
			ts := startServer(t, "--push-webhook-url", pushes.srv.URL)
			ctx := t.Context()
			bobPhone := ts.login(t, "bob", "b-phone")
			must(t, bobPhone.PushRegister(ctx, client.PushTarget{Provider: "webhook", Token: "bob-phone"}))
			alice := ts.login(t, "alice", "a")
			res, err := alice.CallInvite(ctx, []string{"bob"},
				client.InviteConfig{Timeout: 60, Mode: client.ModeAdvanced, PushConfig: &client.PushConfig{Title: "Ring"}})
			must(t, err)
			bobPhone.wait(res.CallID, "received from alice")
			// Whether a user is online is asked when a push record is handled: bob goes offline
			// only once his invitation's record found him online.
			pushRecordsHandled(t, ts, 1)
			bobPhone.Close()
			waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 1")
			must(t, end.op(ctx, alice, res.CallID, client.OpConfig{PushConfig: &client.PushConfig{Title: "Over"}}))
			pushRecordsHandled(t, ts, 1+2) // bob's invitation (not sent: online), bob's withdrawal (sent as the op's push), alice's (online)
			pushes.wantPushes(t, kind, res.CallID, "alice", kind+" Over")
		})
	}
}

// §9 and R3.6 for a re-invited user: bob, offline, is pushed the invitation; a subset cancel
// withdraws it; alice's callingInvite rings him again, with a new invitation push carrying the
// new deadline and that callingInvite's pushConfig, and its withdrawal uses that pushConfig.
// Re-invited while he is online, he is pushed nothing, so his reject withdraws nothing. Each
// invitation is handled before the op that withdraws it: a withdrawal supersedes an invitation
// still waiting in the outbox, which is then never sent (docs/push.md).
func TestE2EPushReinvitedUser(t *testing.T) {
	pushes := newPushService(t)
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL)
	ctx := t.Context()
	alice := offlineWithTargets(t, ts, client.PushTarget{Provider: "webhook", Token: "bob-phone"})
	carol := ts.login(t, "carol", "c")
	res, err := alice.CallInvite(ctx, []string{"bob", "carol"},
		client.InviteConfig{Timeout: 60, Mode: client.ModeAdvanced, PushConfig: &client.PushConfig{Title: "Ring"}})
	must(t, err)
	records := 2 // invitations (carol's not sent: online)
	pushRecordsHandled(t, ts, records)
	first := userIn(t, res.CallInfo.CallUserList, "bob").Deadline
	carol.wait(res.CallID, "received from alice")
	must(t, second(carol.CallAccept(ctx, res.CallID, client.OpConfig{})))
	must(t, second(alice.CallCancel(ctx, res.CallID, []string{"bob"}, client.OpConfig{})))
	records += 1 + 1 // carol's withdrawal (none sent), bob's
	pushRecordsHandled(t, ts, records)

	before := time.Now().UnixMilli()
	must(t, second(alice.CallingInvite(ctx, res.CallID, []string{"bob"},
		client.CallingInviteConfig{Timeout: 90, PushConfig: &client.PushConfig{Title: "Again"}})))
	records++
	pushRecordsHandled(t, ts, records)
	must(t, second(alice.CallCancel(ctx, res.CallID, []string{"bob"}, client.OpConfig{})))
	records++
	pushRecordsHandled(t, ts, records)
	got := pushes.wantPushes(t, "re-invited", res.CallID, "alice",
		"invitation Ring", "withdrawal Ring", "invitation Again", "withdrawal Again")
	if len(got) == 4 && (got[0].Deadline != first || got[2].Deadline < before+90_000 || got[2].Deadline > got[2].ServerTime+90_000) {
		t.Errorf("invitation deadlines %d then %d; want %d, then 90 s after the callingInvite", got[0].Deadline, got[2].Deadline, first)
	}

	tablet := ts.login(t, "bob", "b-tablet")
	must(t, second(alice.CallingInvite(ctx, res.CallID, []string{"bob"},
		client.CallingInviteConfig{Timeout: 90, PushConfig: &client.PushConfig{Title: "Online"}})))
	records++ // the invitation, not sent: online
	pushRecordsHandled(t, ts, records)
	tablet.wait(res.CallID, "received from alice")
	must(t, second(tablet.CallReject(ctx, res.CallID, client.OpConfig{})))
	records++
	pushRecordsHandled(t, ts, records)
	pushes.wantPushes(t, "re-invited online", res.CallID, "alice",
		"invitation Ring", "withdrawal Ring", "invitation Again", "withdrawal Again")
}
