package main

import (
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// Behaviour §10 for the changes the server makes itself and those made through the REST API:
// glare (R3.3b), a caller's loss (R4.3) and an Accepted member's (R6.4) send call_cancel,
// call_quit with lost true and the call_end of their reason; a pending user's callJoin is a
// call_accept; receipts (R5.1) and a device switch (R3.7) send nothing; the REST API's accept,
// reject, cancel and end send the same webhooks as a device's.
func TestE2EWebhooksOfServerAndRESTChanges(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), "--api-key", apiKey)...)
	ctx := t.Context()
	alice, bob := ts.login(t, "alice", "a"), ts.login(t, "bob", "b")
	carol, dave := ts.login(t, "carol", "c"), ts.login(t, "dave", "d")
	erin, frank := ts.login(t, "erin", "e"), ts.login(t, "frank", "f1")

	// Glare: bob answers alice while his own call to her rings.
	toBob, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	toAlice, err := bob.CallInvite(ctx, []string{"alice"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	alice.wait(toAlice.CallID, "received from bob")
	bob.wait(toBob.CallID, "received from alice")
	must(t, second(bob.CallAccept(ctx, toBob.CallID, client.OpConfig{ExtendedData: "yes"})))
	names, bodies := hooks.call(toAlice.CallID, "call_end")
	if !equalStrings(names, []string{"call_create", "call_cancel", "call_end"}) {
		t.Fatalf("webhooks of the call cancelled by glare %v", names)
	}
	wantHook(t, bodies[1], "call_cancel", map[string]any{"caller": "bob", "operatedUserID": "bob", "users": []any{"alice"},
		"reason": "caller_cancel", "extendedData": ""}, "operatedUserID", "users", "reason", "extendedData")
	wantHook(t, bodies[2], "call_end", map[string]any{"operatedUserID": "bob", "reason": "cancelled"},
		"operatedUserID", "reason", "endTime")
	names, bodies = hooks.call(toBob.CallID, "call_end")
	if !equalStrings(names, []string{"call_create", "call_accept", "call_end"}) {
		t.Fatalf("webhooks of the call answered in glare %v", names)
	}
	wantHook(t, bodies[2], "call_end", map[string]any{"operatedUserID": "bob", "reason": "answered"},
		"operatedUserID", "reason", "endTime")

	// R4.3: the caller logs out (a loss at once) before anyone answers.
	lost, err := carol.CallInvite(ctx, []string{"dave"}, client.InviteConfig{Timeout: 60, ExtendedData: "x"})
	must(t, err)
	dave.wait(lost.CallID, "received from carol")
	must(t, carol.Logout(ctx))
	names, bodies = hooks.call(lost.CallID, "call_end")
	if !equalStrings(names, []string{"call_create", "call_cancel", "call_end"}) {
		t.Fatalf("webhooks of the call whose caller was lost %v", names)
	}
	wantHook(t, bodies[1], "call_cancel", map[string]any{"operatedUserID": "carol", "users": []any{"dave"},
		"reason": "caller_cancel", "extendedData": ""}, "operatedUserID", "users", "reason", "extendedData")
	wantHook(t, bodies[2], "call_end", map[string]any{"operatedUserID": "carol", "reason": "cancelled"},
		"operatedUserID", "reason", "endTime")

	// R6.4: frank joins while pending (an accept), switches device (no webhook), then both
	// members' main devices are lost; the last loss ends the call.
	adv, err := erin.CallInvite(ctx, []string{"frank"}, advanced)
	must(t, err)
	frank.wait(adv.CallID, "received from erin")
	must(t, second(frank.CallJoin(ctx, adv.CallID, client.OpConfig{ExtendedData: "in"})))
	frank2 := ts.login(t, "frank", "f2")
	must(t, second(frank2.CallJoin(ctx, adv.CallID, client.OpConfig{})))
	frank2.wait(adv.CallID, "main device f2")
	must(t, erin.Logout(ctx))
	frank2.wait(adv.CallID, "changed erin=Quit")
	must(t, frank2.Logout(ctx))
	names, bodies = hooks.call(adv.CallID, "call_end")
	if !equalStrings(names, []string{"call_create", "call_accept", "call_quit", "call_quit", "call_end"}) {
		t.Fatalf("webhooks of the advanced call left by losses %v", names)
	}
	wantHook(t, bodies[1], "call_accept", map[string]any{"userID": "frank", "extendedData": "in"}, "userID", "extendedData")
	wantHook(t, bodies[2], "call_quit", map[string]any{"userID": "erin", "extendedData": "", "lost": true},
		"userID", "extendedData", "lost")
	wantHook(t, bodies[3], "call_quit", map[string]any{"userID": "frank", "extendedData": "", "lost": true},
		"userID", "extendedData", "lost")
	wantHook(t, bodies[4], "call_end", map[string]any{"caller": "erin", "mode": 1, "operatedUserID": "frank",
		"reason": "everyone_left"}, "operatedUserID", "reason", "endTime")

	// The REST API: a group call answered by one and rejected by the other, and an advanced
	// call with a subset cancel, then ended.
	rest := func(path, body string) map[string]any {
		t.Helper()
		st, m := apiCall(t, ts, "POST", path, apiKey, body)
		if st != 200 {
			t.Fatalf("POST %s: %d %v", path, st, m)
		}
		return m
	}
	group := rest("/v1/api/calls", `{"userID":"gina","invitees":["hank","ivan"],"config":{"timeout":60,"extendedData":"g"}}`)["callID"].(string)
	rest("/v1/api/calls/"+group+"/accept", `{"userID":"hank","config":{"extendedData":"h"}}`)
	rest("/v1/api/calls/"+group+"/reject", `{"userID":"ivan","config":{"extendedData":"i"}}`)
	names, bodies = hooks.call(group, "call_end")
	if !equalStrings(names, []string{"call_create", "call_accept", "call_reject", "call_end"}) {
		t.Fatalf("webhooks of the REST API's group call %v", names)
	}
	wantHook(t, bodies[0], "call_create", map[string]any{"caller": "gina", "users": []any{"hank", "ivan"}, "timeout": 60,
		"extendedData": "g"}, "users", "timeout", "extendedData")
	wantHook(t, bodies[2], "call_reject", map[string]any{"userID": "ivan", "extendedData": "i"}, "userID", "extendedData")
	wantHook(t, bodies[3], "call_end", map[string]any{"operatedUserID": "ivan", "reason": "answered"},
		"operatedUserID", "reason", "endTime")

	ended := rest("/v1/api/calls", `{"userID":"jack","invitees":["kim","lea"],"config":{"timeout":60,"mode":1}}`)["callID"].(string)
	rest("/v1/api/calls/"+ended+"/cancel", `{"userID":"jack","invitees":["lea"],"config":{"extendedData":"no"}}`)
	rest("/v1/api/calls/"+ended+"/accept", `{"userID":"kim"}`)
	rest("/v1/api/calls/"+ended+"/end", `{"userID":"kim","config":{"extendedData":"bye"}}`)
	names, bodies = hooks.call(ended, "call_end")
	if !equalStrings(names, []string{"call_create", "call_cancel", "call_accept", "call_end"}) {
		t.Fatalf("webhooks of the REST API's advanced call %v", names)
	}
	wantHook(t, bodies[1], "call_cancel", map[string]any{"operatedUserID": "jack", "users": []any{"lea"},
		"reason": "caller_cancel", "extendedData": "no"}, "operatedUserID", "users", "reason", "extendedData")
	wantHook(t, bodies[3], "call_end", map[string]any{"operatedUserID": "kim", "reason": "ended"},
		"operatedUserID", "reason", "endTime")
}

// R3.5 and §10 across a restart: a ring deadline that passed while the server was down fires at
// start-up, and its call_timeout and the call_end it causes carry the deadline as their time
// (docs/behaviour.md §12, time of a deadline's change), not the start-up's.
func TestE2EWebhooksOfADeadlineThatPassedWhileDown(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	flags := append(hookFlags(hooks), "--api-key", apiKey)
	first := startServer(t, flags...)
	st, m := apiCall(t, first, "POST", "/v1/api/calls", apiKey, `{"userID":"alice","invitees":["bob"],"config":{"timeout":1}}`)
	if st != 200 {
		t.Fatalf("invite: %d %v", st, m)
	}
	id := m["callID"].(string)
	users := m["callInfo"].(map[string]any)["callUserList"].([]any)
	deadline := int64(users[1].(map[string]any)["deadline"].(float64))
	hooks.call(id, "call_create")
	first.Stop()
	time.Sleep(time.Until(time.UnixMilli(deadline)) + 100*time.Millisecond) // down past the deadline

	startServerOn(t, first.Data, flags...)
	names, bodies := hooks.call(id, "call_end")
	if !equalStrings(names, []string{"call_create", "call_timeout", "call_end"}) {
		t.Fatalf("webhooks %v", names)
	}
	wantHook(t, bodies[1], "call_timeout", map[string]any{"users": []any{"bob"}, "timestamp": deadline}, "users")
	wantHook(t, bodies[2], "call_end", map[string]any{"operatedUserID": "", "reason": "timeout", "timestamp": deadline,
		"endTime": deadline}, "operatedUserID", "reason", "endTime")
}

// R3.5, R3.2 and §10: an advanced call whose only invitee timed out is still unanswered, and
// its caller's whole cancel sends call_cancel with an empty users list, before call_end
// (docs/behaviour.md §12, a whole cancel with nobody pending).
func TestE2EWebhookOfAWholeCancelAfterEveryoneTimedOut(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, hookFlags(hooks)...)
	alice := ts.login(t, "alice", "a")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 1, Mode: client.ModeAdvanced})
	must(t, err)
	alice.wait(res.CallID, "changed bob=Timeout")
	must(t, second(alice.CallCancel(t.Context(), res.CallID, nil, client.OpConfig{})))
	names, bodies := hooks.call(res.CallID, "call_end")
	if !equalStrings(names, []string{"call_create", "call_timeout", "call_cancel", "call_end"}) {
		t.Fatalf("webhooks %v", names)
	}
	wantHook(t, bodies[2], "call_cancel", map[string]any{"operatedUserID": "alice", "users": []any{},
		"reason": "caller_cancel", "extendedData": ""}, "operatedUserID", "users", "reason", "extendedData")
	wantHook(t, bodies[3], "call_end", map[string]any{"operatedUserID": "alice", "reason": "cancelled"},
		"operatedUserID", "reason", "endTime")
}
