package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/client"
)

// hookKeys are the fields every webhook body has (§10).
var hookKeys = []string{"eventID", "event", "callID", "timestamp", "caller", "mode"}

// wantHook checks one webhook body: its event, exactly the common fields plus extra (§10
// table), and the values given in fields.
func wantHook(t *testing.T, body map[string]any, event string, fields map[string]any, extra ...string) {
	t.Helper()
	if body["event"] != event {
		t.Errorf("webhook %v, want event %s", body, event)
		return
	}
	keys := slices.Sorted(maps.Keys(body))
	want := slices.Sorted(slices.Values(append(slices.Clone(hookKeys), extra...)))
	if !slices.Equal(keys, want) {
		t.Errorf("%s fields %q, want %q", event, keys, want)
	}
	for k, v := range fields {
		switch n := v.(type) { // JSON numbers decode as float64
		case int:
			v = float64(n)
		case int64:
			v = float64(n)
		}
		if fmt.Sprint(body[k]) != fmt.Sprint(v) {
			t.Errorf("%s.%s = %v, want %v", event, k, body[k], v)
		}
	}
}

// Behaviour §10 through the real server: one body per event kind with exactly its fields, in
// commit order per call, with eventIDs <callID>.<version>.<index>, signed as docs/webhooks.md
// says (the receiver checks each request as an operator would); the first request is refused
// (500) and delivered once more, then the rest follow it in order, each once. Refused ops
// (6000274, 6000273, 6000286) send nothing.
func TestE2EWebhookBodiesPerEvent(t *testing.T) {
	hooks := newHookReceiver(t, 1)
	ts := startServer(t, hookFlags(hooks)...)
	ctx := t.Context()
	alice, bob, carol := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c")
	dave, erin := ts.login(t, "dave", "d"), ts.login(t, "erin", "e")

	res, err := alice.CallInvite(ctx, []string{"bob", "carol"}, client.InviteConfig{Timeout: 60, Mode: client.ModeAdvanced, ExtendedData: "hi"})
	must(t, err)
	id := res.CallID
	carol.wait(id, "received from alice")
	wantCode(t, "caller accepts", second(alice.CallAccept(ctx, id, client.OpConfig{})), client.CodeStateForbids)
	must(t, second(bob.CallAccept(ctx, id, client.OpConfig{ExtendedData: "yes"})))
	must(t, second(carol.CallReject(ctx, id, client.OpConfig{ExtendedData: "no"})))
	must(t, second(bob.CallingInvite(ctx, id, []string{"dave", "erin"}, client.CallingInviteConfig{Timeout: 1, ExtendedData: "join us"})))
	erin.wait(id, "received from bob")
	wantCode(t, "cancel of another's invitee", second(alice.CallCancel(ctx, id, []string{"erin"}, client.OpConfig{})), client.CodeNotInviter)
	must(t, second(bob.CallCancel(ctx, id, []string{"erin"}, client.OpConfig{ExtendedData: "sorry"})))
	dave.wait(id, "timeout")
	must(t, second(carol.CallJoin(ctx, id, client.OpConfig{ExtendedData: "back"})))
	must(t, second(carol.CallQuit(ctx, id, client.OpConfig{ExtendedData: "gone"})))
	must(t, second(bob.CallQuit(ctx, id, client.OpConfig{})))
	end, err := alice.CallEnd(ctx, id, client.OpConfig{ExtendedData: "done"})
	must(t, err)
	wantCode(t, "end of an ended call", second(alice.CallEnd(ctx, id, client.OpConfig{})), client.CodeCallUnavailable)

	// A general call answered, and one whose only invitee times out.
	gen, err := dave.CallInvite(ctx, []string{"erin"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	erin.wait(gen.CallID, "received from dave")
	wantCode(t, "callEnd of a general call", second(dave.CallEnd(ctx, gen.CallID, client.OpConfig{})), client.CodeNotAdvanced)
	must(t, second(erin.CallAccept(ctx, gen.CallID, client.OpConfig{ExtendedData: "ok"})))
	lone, err := carol.CallInvite(ctx, []string{"nobody"}, client.InviteConfig{Timeout: 1})
	must(t, err)
	carol.wait(lone.CallID, "changed nobody=Timeout (call ended)")

	names, bodies := hooks.events(10+3+3, id)
	wantNames := []string{"call_create", "call_accept", "call_reject", "call_invite", "call_cancel", "call_timeout",
		"call_join", "call_quit", "call_quit", "call_end"}
	if !equalStrings(names, wantNames) {
		t.Fatalf("webhooks of the advanced call %v, want %v", names, wantNames)
	}
	common := func(m map[string]any) map[string]any {
		m["callID"], m["caller"], m["mode"] = id, "alice", 1
		return m
	}
	wantHook(t, bodies[0], "call_create", common(map[string]any{"users": []any{"bob", "carol"}, "timeout": 60, "extendedData": "hi"}),
		"users", "timeout", "extendedData")
	wantHook(t, bodies[1], "call_accept", common(map[string]any{"userID": "bob", "extendedData": "yes"}), "userID", "extendedData")
	wantHook(t, bodies[2], "call_reject", common(map[string]any{"userID": "carol", "extendedData": "no"}), "userID", "extendedData")
	wantHook(t, bodies[3], "call_invite", common(map[string]any{"inviter": "bob", "users": []any{"dave", "erin"}, "timeout": 1,
		"extendedData": "join us"}), "inviter", "users", "timeout", "extendedData")
	wantHook(t, bodies[4], "call_cancel", common(map[string]any{"operatedUserID": "bob", "users": []any{"erin"},
		"reason": "caller_cancel", "extendedData": "sorry"}), "operatedUserID", "users", "reason", "extendedData")
	wantHook(t, bodies[5], "call_timeout", common(map[string]any{"users": []any{"dave"}}), "users")
	wantHook(t, bodies[6], "call_join", common(map[string]any{"userID": "carol", "extendedData": "back"}), "userID", "extendedData")
	wantHook(t, bodies[7], "call_quit", common(map[string]any{"userID": "carol", "extendedData": "gone", "lost": false}),
		"userID", "extendedData", "lost")
	wantHook(t, bodies[8], "call_quit", common(map[string]any{"userID": "bob", "extendedData": "", "lost": false}),
		"userID", "extendedData", "lost")
	wantHook(t, bodies[9], "call_end", common(map[string]any{"operatedUserID": "alice", "reason": "ended",
		"endTime": end.EndTime, "timestamp": end.EndTime}), "operatedUserID", "reason", "endTime")
	var last float64
	for i, b := range bodies {
		ts := b["timestamp"].(float64)
		if ts < last || !strings.HasPrefix(b["eventID"].(string), id+".") {
			t.Errorf("webhook %d: eventID %v, timestamp %v after %v", i, b["eventID"], ts, last)
		}
		last = ts
	}
	if bodies[7]["eventID"] == bodies[8]["eventID"] {
		t.Errorf("two webhooks share eventID %v", bodies[7]["eventID"])
	}

	names, bodies = hooks.events(16, gen.CallID)
	if !equalStrings(names, []string{"call_create", "call_accept", "call_end"}) {
		t.Fatalf("webhooks of the general call %v", names)
	}
	wantHook(t, bodies[2], "call_end", map[string]any{"caller": "dave", "mode": 0, "operatedUserID": "erin", "reason": "answered"},
		"operatedUserID", "reason", "endTime")
	// erin's accept ends the call: one change (one version), two webhooks, the accept's first.
	if acc, _ := bodies[1]["eventID"].(string); !strings.HasSuffix(acc, ".0") || bodies[2]["eventID"] != strings.TrimSuffix(acc, "0")+"1" {
		t.Errorf("eventIDs of the accept and the end it caused: %v, %v, want <callID>.<version>.0 and .1", bodies[1]["eventID"], bodies[2]["eventID"])
	}
	names, bodies = hooks.events(16, lone.CallID)
	if !equalStrings(names, []string{"call_create", "call_timeout", "call_end"}) {
		t.Fatalf("webhooks of the call that timed out %v", names)
	}
	wantHook(t, bodies[2], "call_end", map[string]any{"caller": "carol", "operatedUserID": "", "reason": "timeout"},
		"operatedUserID", "reason", "endTime")

	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	for eventID, n := range hooks.tries {
		want := 1
		if eventID == id+".1.0" {
			want = 2 // refused once with 500, then delivered
		}
		if n != want {
			t.Errorf("webhook %s sent %d times, want %d", eventID, n, want)
		}
	}
}
