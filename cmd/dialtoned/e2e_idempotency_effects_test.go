package main

import (
	"slices"
	"sync"
	"testing"

	"github.com/dialtone/dialtone/protocol"
)

// R7.3: a repeat changes nothing. Repeats of an invite and of a cancel, over the WebSocket and
// over the REST API, ring nobody again, cancel nothing again and send no webhook again: each
// invitee hears each change once, and each call's webhooks name each change once.
func TestE2EIdempotentRepeatChangesNothing(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), "--api-key", apiKey)...)
	bob := ts.login(t, "bob", "b")
	alice, _ := ts.rawLogin(t, "alice", "a", -1)
	invite := `{"invitees":["bob"],"config":{"timeout":60}}`
	first := keyedRequest(alice, 2, "callInvite", invite, "changes-invite-0123456789")
	callID := callIDOf(t, first.Result)
	bob.wait(callID, "changed bob=Received") // the SDK's receipt (R3.11) is in before the cancel
	sameFrame(t, "repeated invite", first, keyedRequest(alice, 3, "callInvite", invite, "changes-invite-0123456789"))
	cancel := `{"callID":"` + callID + `"}`
	firstCancel := keyedRequest(alice, 4, "callCancel", cancel, "changes-cancel-0123456789")
	sameFrame(t, "repeated cancel", firstCancel, keyedRequest(alice, 5, "callCancel", cancel, "changes-cancel-0123456789"))
	bob.expect(ts, callID, "received from alice", "changed bob=Received", "cancelled bob=BeCancelled")
	oneEach(t, "the WebSocket's call", hooks, callID)

	key := []string{"Idempotency-Key", "changes-rest-invite-0123456789"}
	body := `{"userID":"carol","invitees":["bob"],"config":{"timeout":60}}`
	st, inv := apiRaw(t, ts, "POST", "/v1/api/calls", apiKey, body, key...)
	restCall := callIDOf(t, inv)
	bob.wait(restCall, "changed bob=Received")
	st2, again := apiRaw(t, ts, "POST", "/v1/api/calls", apiKey, body, key...)
	sameAnswer(t, "repeated REST invite", st, inv, st2, again)
	key = []string{"Idempotency-Key", "changes-rest-cancel-0123456789"}
	st, cnl := apiRaw(t, ts, "POST", "/v1/api/calls/"+restCall+"/cancel", apiKey, `{"userID":"carol"}`, key...)
	st2, again = apiRaw(t, ts, "POST", "/v1/api/calls/"+restCall+"/cancel", apiKey, `{"userID":"carol"}`, key...)
	sameAnswer(t, "repeated REST cancel", st, cnl, st2, again)
	bob.expect(ts, restCall, "received from carol", "changed bob=Received", "cancelled bob=BeCancelled")
	oneEach(t, "the REST API's call", hooks, restCall)
}

// oneEach waits for the call_end webhook of callID and reports a webhook that came twice.
func oneEach(t *testing.T, what string, hooks *hookReceiver, callID string) {
	t.Helper()
	names, _ := hooks.call(callID, "call_end")
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(names) || !slices.Contains(names, "call_create") {
		t.Errorf("webhooks of %s: %q, want call_create and each change once", what, names)
	}
}

// R7.3: failures are not remembered. A request refused (the caller busy, 6000290) and tried
// again with its key once it can succeed is carried out, then remembered; a failed request's
// key is free for another request. Over the WebSocket and over the REST API.
func TestE2EIdempotencyFailureIsNotRemembered(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	alice, _ := ts.rawLogin(t, "alice", "a", -1)
	busy := keyedRequest(alice, 2, "callInvite", `{"invitees":["bob"]}`, "busy-call-0123456789")
	invite := `{"invitees":["carol"]}`
	if f := keyedRequest(alice, 3, "callInvite", invite, "fail-invite-0123456789"); f.Error == nil || f.Error.Code != protocol.CodeBusy {
		t.Fatalf("R3.1 an invite of a busy caller: %s %v, want 6000290", f.Result, f.Error)
	}
	if f := keyedRequest(alice, 4, "callInvite", `{"invitees":["dave"]}`, "fail-other-0123456789"); f.Error == nil || f.Error.Code != protocol.CodeBusy {
		t.Fatalf("R3.1 another invite of a busy caller: %s %v, want 6000290", f.Result, f.Error)
	}
	if f := keyedRequest(alice, 5, "callCancel", `{"callID":"`+callIDOf(t, busy.Result)+`"}`, "fail-other-0123456789"); f.Error != nil {
		t.Errorf("a cancel under the key of a failed invite: %v, want it carried out", f.Error)
	}
	first := keyedRequest(alice, 6, "callInvite", invite, "fail-invite-0123456789")
	if first.Error != nil {
		t.Fatalf("the invite tried again with its key once alice is free: %v, want it carried out", first.Error)
	}
	sameFrame(t, "its repeat", first, keyedRequest(alice, 7, "callInvite", invite, "fail-invite-0123456789"))

	st, m := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, `{"userID":"erin","invitees":["frank"]}`)
	erinsCall, _ := m["callID"].(string)
	if st != 200 {
		t.Fatalf("erin's first call: %d %v", st, m)
	}
	key := []string{"Idempotency-Key", "rest-fail-0123456789"}
	body := `{"userID":"erin","invitees":["gina"]}`
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, body, key...); st != 409 || errCode(m) != float64(protocol.CodeBusy) {
		t.Fatalf("REST invite of a busy caller: %d %v, want 409 6000290", st, m)
	}
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls/"+erinsCall+"/cancel", apiKey, `{"userID":"erin"}`); st != 200 {
		t.Fatalf("erin's cancel: %d %v", st, m)
	}
	st, inv := apiRaw(t, ts, "POST", "/v1/api/calls", apiKey, body, key...)
	if st != 200 {
		t.Fatalf("the REST invite tried again with its key once erin is free: %d %s, want it carried out", st, inv)
	}
	st2, again := apiRaw(t, ts, "POST", "/v1/api/calls", apiKey, body, key...)
	sameAnswer(t, "its REST repeat", st, inv, st2, again)
}

// R7.3 over the REST API: copies of one invite with one Idempotency-Key, sent at once, make
// one call, and every copy is answered with the first answer byte for byte (a copy that
// arrives while the first is carried out waits for it).
func TestE2ERestAPIIdempotentDuplicatesInFlight(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	const copies = 6
	body := `{"userID":"alice","invitees":["bob","alice"],"config":{"timeout":60}}`
	type answer struct {
		status int
		body   []byte
	}
	answers := make(chan answer, copies)
	var wg sync.WaitGroup
	for range copies {
		wg.Go(func() {
			st, b := apiRaw(t, ts, "POST", "/v1/api/calls", apiKey, body, "Idempotency-Key", "rest-in-flight-0123456789")
			answers <- answer{st, b}
		})
	}
	wg.Wait()
	close(answers)
	first := <-answers
	for a := range answers {
		sameAnswer(t, "a copy in flight", first.status, first.body, a.status, a.body)
	}
	st, list := apiCall(t, ts, "GET", "/v1/api/users/alice/calls?count=100", apiKey, "")
	calls, _ := list["callList"].([]any)
	if st != 200 || len(calls) != 1 {
		t.Errorf("alice's calls after %d copies of an invite: %d %v, want exactly one", copies, st, list)
	}
}
