package main

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/client"
)

// rawCallID returns the callID of the reply to request id on r, failing on an error reply.
func rawCallID(t *testing.T, r *rawConn, id int64) string {
	t.Helper()
	f := r.reply(id)
	var res struct {
		CallID string `json:"callID"`
	}
	if f.Error != nil || json.Unmarshal(f.Result, &res) != nil || res.CallID == "" {
		t.Fatalf("reply %d: %+v", id, f)
	}
	return res.CallID
}

// keepAlive sends r's heartbeats (R6.1) until the test ends, with request ids from 1000 on,
// which reply skips.
func (r *rawConn) keepAlive() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for id := 1000; ; id++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if r.conn.Write(ctx, websocket.MessageText, []byte(`{"id":`+strconv.Itoa(id)+`,"op":"heartbeat"}`)) != nil {
				return
			}
		}
	}()
}

// §9 and docs/behaviour.md §12 ("an empty pushConfig object, which asks for pushes where none
// asks for none"): a callInvite whose pushConfig is absent or null pushes nothing to an offline
// invitee with a target, neither the invitation nor its withdrawal; one whose pushConfig is {}
// pushes the invitation and its withdrawal, with empty title, content, payload and resourcesID.
func TestE2EPushEmptyPushConfigAsksForPushesAbsentOrNullForNone(t *testing.T) {
	pushes := newPushService(t)
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL)
	offlineWithTargets(t, ts, client.PushTarget{Provider: "webhook", Token: "bob-phone"})
	alice := ts.raw(t)
	alice.login("alice")

	var none []string
	for i, config := range []string{`{"timeout":60}`, `{"timeout":60,"pushConfig":null}`} {
		id := int64(10 + i)
		alice.send(`{"id":` + strconv.FormatInt(id, 10) + `,"op":"callInvite","data":{"invitees":["bob"],"config":` + config + `}}`)
		callID := rawCallID(t, alice, id)
		alice.send(`{"id":` + strconv.FormatInt(id+10, 10) + `,"op":"callCancel","data":{"callID":"` + callID +
			`","config":{"pushConfig":{"title":"Missed"}}}}`)
		if f := alice.reply(id + 10); f.Error != nil {
			t.Fatalf("cancel of %s: %+v", config, f.Error)
		}
		none = append(none, callID)
	}

	alice.send(`{"id":30,"op":"callInvite","data":{"invitees":["bob"],"config":{"timeout":60,"pushConfig":{}}}}`)
	empty := rawCallID(t, alice, 30)
	pushes.wait(1) // before the cancel, whose withdrawal would supersede an invitation not yet handled
	alice.send(`{"id":31,"op":"callCancel","data":{"callID":"` + empty + `","config":{}}}`)
	if f := alice.reply(31); f.Error != nil {
		t.Fatalf("cancel: %+v", f.Error)
	}
	pushRecordsHandled(t, ts, 2) // the invitation and its withdrawal: the other calls wrote none
	got := pushes.wantPushes(t, "pushConfig {}", empty, "alice", "invitation ", "withdrawal ")
	for _, m := range got {
		if m.Title != "" || m.Content != "" || m.Payload != "" || m.ResourcesID != "" {
			t.Errorf("push of an empty pushConfig carries %+v", m)
		}
	}
	for _, callID := range none {
		pushes.wantPushes(t, "pushConfig absent or null", callID, "alice")
	}
}

// §9 "no connected device" is per user, and "(or who just became NotYetReceived)": bob's phone
// registered a target and is gone, his tablet is connected. An invitation is not pushed to the
// phone (bob is online on a device); when, with enableNotReceivedCheck, the tablet does not
// acknowledge the invitation and bob becomes NotYetReceived (R5.2), the invitation is pushed to
// the phone all the same, and the tablet's accept then withdraws it there. Once the tablet is
// gone too, an invitation is pushed at once.
func TestE2EPushUserOnlineOnSomeDevicesOnly(t *testing.T) {
	pushes := newPushService(t)
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL, "--not-received-check", "3s")
	ctx := t.Context()
	alice := offlineWithTargets(t, ts, client.PushTarget{Provider: "webhook", Token: "bob-phone"})
	tablet := ts.raw(t) // sends no callReceived: an app that got no event, though connected
	tablet.login("bob")
	tablet.keepAlive()
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 2")

	online, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60, PushConfig: ring})
	must(t, err)
	pushRecordsHandled(t, ts, 1) // before the cancel, whose withdrawal would supersede the invitation's record
	must(t, second(alice.CallCancel(ctx, online.CallID, nil, client.OpConfig{})))
	pushRecordsHandled(t, ts, 2) // invitation (bob online: not sent), withdrawal (not sent: no invitation push)
	pushes.wantPushes(t, "online on the tablet", online.CallID, "alice")

	unack, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60, PushConfig: ring,
		EnableNotReceivedCheck: true})
	must(t, err)
	alice.wait(unack.CallID, "changed bob=NotYetReceived")
	pushRecordsHandled(t, ts, 2+2) // the invitation (not sent), its R5.2 push (sent)
	tablet.send(`{"id":2,"op":"callAccept","data":{"callID":"` + unack.CallID + `"}}`)
	if f := tablet.reply(2); f.Error != nil {
		t.Fatalf("accept on the tablet: %+v", f.Error)
	}
	pushRecordsHandled(t, ts, 2+3)
	pushes.wantPushes(t, "not acknowledged on the tablet", unack.CallID, "alice", "invitation Alice", "withdrawal Alice")

	tablet.send(`{"id":3,"op":"logout"}`)
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 1")
	offline, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60, PushConfig: ring})
	must(t, err)
	pushRecordsHandled(t, ts, 2+3+1)
	pushes.wantPushes(t, "every device gone", offline.CallID, "alice", "invitation Alice")
}

// §9 over the server REST API (docs/api.md: invite, cancel and end take a pushConfig as their
// WebSocket ops do): an invite made for alice pushes the invitation to bob, offline with a
// target; a cancel with its own pushConfig withdraws it with that one. In an advanced call
// bob accepts through the API (no device, none connected): the callEnd made for alice with
// a pushConfig reaches him as the end push.
func TestE2EPushThroughTheRESTAPI(t *testing.T) {
	pushes := newPushService(t)
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL, "--api-key", apiKey)
	offlineWithTargets(t, ts, client.PushTarget{Provider: "webhook", Token: "bob-phone"})
	callID := func(st int, m map[string]any) string {
		t.Helper()
		id, _ := m["callID"].(string)
		if st != 200 || id == "" {
			t.Fatalf("REST call: %d %v", st, m)
		}
		return id
	}

	cancelled := callID(apiCall(t, ts, "POST", "/v1/api/calls", apiKey,
		`{"userID":"carol","invitees":["bob"],"config":{"timeout":60,"pushConfig":{"title":"Carol"}}}`))
	pushRecordsHandled(t, ts, 1) // before the cancel, whose withdrawal would supersede the invitation's record
	callID(apiCall(t, ts, "POST", "/v1/api/calls/"+cancelled+"/cancel", apiKey,
		`{"userID":"carol","config":{"pushConfig":{"title":"Missed"}}}`))
	pushRecordsHandled(t, ts, 2)
	pushes.wantPushes(t, "REST cancel", cancelled, "carol", "invitation Carol", "withdrawal Missed")

	ended := callID(apiCall(t, ts, "POST", "/v1/api/calls", apiKey,
		`{"userID":"carol","invitees":["bob"],"config":{"timeout":60,"mode":1,"pushConfig":{"title":"Carol"}}}`))
	pushRecordsHandled(t, ts, 3)
	callID(apiCall(t, ts, "POST", "/v1/api/calls/"+ended+"/accept", apiKey, `{"userID":"bob"}`))
	callID(apiCall(t, ts, "POST", "/v1/api/calls/"+ended+"/end", apiKey,
		`{"userID":"carol","config":{"pushConfig":{"title":"Over"}}}`))
	pushRecordsHandled(t, ts, 2+4) // the invitation, its withdrawal, the end pushes to bob and carol (no target)
	pushes.wantPushes(t, "REST end", ended, "carol", "invitation Carol", "withdrawal Carol", "end Over")
}

// §9 with R7.3: a repeat of a callInvite, and of a callCancel, with the same idempotency key
// returns the first reply and changes nothing, so it pushes nothing either: bob, offline with
// a target, gets one invitation push and one withdrawal.
func TestE2EPushNotRepeatedByAnIdempotentRepeat(t *testing.T) {
	pushes := newPushService(t)
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL)
	offlineWithTargets(t, ts, client.PushTarget{Provider: "webhook", Token: "bob-phone"})
	alice := ts.raw(t)
	alice.login("alice")
	const invite = `"op":"callInvite","idem":"k-invite-0123456789abcdef","data":{"invitees":["bob"],"config":{"timeout":60,"pushConfig":{"title":"Alice"}}}}`
	alice.send(`{"id":2,` + invite)
	callID := rawCallID(t, alice, 2)
	pushes.wait(1) // before the cancel, whose withdrawal would supersede an invitation not yet handled
	alice.send(`{"id":3,` + invite)
	if again := rawCallID(t, alice, 3); again != callID {
		t.Fatalf("repeated invite: call %s, want %s", again, callID)
	}
	cancel := `"op":"callCancel","idem":"k-cancel-0123456789abcdef","data":{"callID":"` + callID + `","config":{"pushConfig":{"title":"Missed"}}}}`
	alice.send(`{"id":4,` + cancel)
	rawCallID(t, alice, 4)
	alice.send(`{"id":5,` + cancel)
	rawCallID(t, alice, 5)
	// Records a repeat wrote would be committed before this call's and handled with it: the
	// server handles three records in all, and pushes nothing more for the first call.
	alice.send(`{"id":6,"op":"callInvite","data":{"invitees":["bob"],"config":{"timeout":60,"pushConfig":{"title":"Later"}}}}`)
	later := rawCallID(t, alice, 6)
	pushRecordsHandled(t, ts, 3)
	pushes.wantPushes(t, "repeated requests", callID, "alice", "invitation Alice", "withdrawal Missed")
	pushes.wantPushes(t, "a later call", later, "alice", "invitation Later")
}

// §9 and protocol.md "Extensions: push targets": a device's targets are dropped at its logout,
// not at its loss. bob's phone, in an advanced call, registers a target and is killed: once
// lost (R6.1) it quits the call (R6.4), and the next invitation is pushed to its target all
// the same, so an app the system killed is still woken for calls.
func TestE2EPushTargetOfALostDeviceIsKept(t *testing.T) {
	pushes := newPushService(t)
	ts := startServer(t, "--push-webhook-url", pushes.srv.URL)
	ctx := t.Context()
	alice, bob := ts.login(t, "alice", "a"), ts.login(t, "bob", "b-phone")
	must(t, bob.PushRegister(ctx, client.PushTarget{Provider: "webhook", Token: "bob-phone"}))
	first, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Mode: client.ModeAdvanced})
	must(t, err)
	must(t, second(bob.CallAccept(ctx, first.CallID, client.OpConfig{})))
	bob.Close() // killed: no logout
	alice.wait(first.CallID, "changed bob=Quit")
	must(t, second(alice.CallEnd(ctx, first.CallID, client.OpConfig{})))

	next, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60, PushConfig: ring})
	must(t, err)
	pushRecordsHandled(t, ts, 1)
	pushes.wantPushes(t, "after the loss", next.CallID, "alice", "invitation Alice")
}

// §9 and docs/push.md across a restart, for an invitation: the push service refuses bob's
// invitation push until the server stops; the next process sends it once, with the deadline
// of the invitation, and the cancel's withdrawal after it.
func TestE2EPushInvitationRefusedBeforeARestartIsSentOnceAfterIt(t *testing.T) {
	pushes := newPushService(t)
	pushes.fail = 1 << 30 // refuse every push
	first := startServer(t, "--push-webhook-url", pushes.srv.URL)
	alice := offlineWithTargets(t, first, client.PushTarget{Provider: "webhook", Token: "bob-phone"})
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60, PushConfig: ring})
	must(t, err)
	deadline := userIn(t, res.CallInfo.CallUserList, "bob").Deadline
	pushes.waitRefused(1)
	first.Stop()

	pushes.setFail(0)
	next := startServerOn(t, first.Data, "--push-webhook-url", pushes.srv.URL)
	pushRecordsHandled(t, next, 1)
	alice = next.login(t, "alice", "a")
	must(t, second(alice.CallCancel(t.Context(), res.CallID, nil, client.OpConfig{PushConfig: &client.PushConfig{Title: "Missed"}})))
	pushRecordsHandled(t, next, 2)
	got := pushes.wantPushes(t, "after the restart", res.CallID, "alice", "invitation Alice", "withdrawal Missed")
	if len(got) == 2 && got[0].Deadline != deadline {
		t.Errorf("invitation pushed after the restart with deadline %d, want %d", got[0].Deadline, deadline)
	}
}
