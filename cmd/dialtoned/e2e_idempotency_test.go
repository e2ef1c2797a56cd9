package main

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/dialtone/dialtone/protocol"
)

// keyedRequest sends one request with the idempotency key over r and returns its reply.
func keyedRequest(r *rawConn, id int64, op, data, key string) protocol.Frame {
	r.t.Helper()
	r.send(`{"id":` + strconv.FormatInt(id, 10) + `,"op":"` + op + `","data":` + data + `,"idem":"` + key + `"}`)
	return r.reply(id)
}

// sameFrame reports a repeat whose reply is not the first one byte for byte (R7.3).
func sameFrame(t *testing.T, what string, first, again protocol.Frame) {
	t.Helper()
	if first.Error != nil {
		t.Fatalf("%s, the first request: %v", what, first.Error)
	}
	if again.Error != nil || string(again.Result) != string(first.Result) {
		t.Errorf("%s: %s %v, want the first reply %s", what, again.Result, again.Error, first.Result)
	}
}

// sameAnswer reports a REST repeat whose answer is not the first one byte for byte (R7.3).
func sameAnswer(t *testing.T, what string, firstStatus int, first []byte, status int, again []byte) {
	t.Helper()
	if firstStatus != 200 {
		t.Fatalf("%s, the first request: %d %s", what, firstStatus, first)
	}
	if status != 200 || string(again) != string(first) {
		t.Errorf("%s: %d %s, want the first answer %s", what, status, again, first)
	}
}

// callIDOf returns the callID of a callInvite's reply.
func callIDOf(t *testing.T, result []byte) string {
	t.Helper()
	var res protocol.CallInviteResult
	if err := json.Unmarshal(result, &res); err != nil || res.CallID == "" {
		t.Fatalf("callInvite result %s: %v", result, err)
	}
	return res.CallID
}

// R7.3, docs/behaviour.md §12 ("The same parameters"): a repeat that writes out the defaults
// the first request left out (timeout 90, mode -1, an empty extendedData, a null pushConfig,
// enableNotReceivedCheck false, a callCancel's empty invitees), or leaves out what the first
// wrote, is the same request: it gets the first reply byte for byte, over the WebSocket and
// over the REST API.
func TestE2EIdempotentRepeatSpelledWithDefaults(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	alice, _ := ts.rawLogin(t, "alice", "a", -1)
	const defaults = `"config":{"timeout":90,"mode":-1,"extendedData":"","pushConfig":null,"enableNotReceivedCheck":false}`
	first := keyedRequest(alice, 2, "callInvite", `{"invitees":["bob"]}`, "ws-invite-0123456789")
	sameFrame(t, "callInvite with the defaults written out", first,
		keyedRequest(alice, 3, "callInvite", `{"invitees":["bob"],`+defaults+`}`, "ws-invite-0123456789"))
	callID := callIDOf(t, first.Result)
	cancel := keyedRequest(alice, 4, "callCancel", `{"callID":"`+callID+`","invitees":[],"config":{}}`, "ws-cancel-0123456789")
	sameFrame(t, "callCancel without its empty invitees and config", cancel,
		keyedRequest(alice, 5, "callCancel", `{"callID":"`+callID+`"}`, "ws-cancel-0123456789"))

	first = keyedRequest(alice, 6, "callInvite", `{"invitees":["bob"],"config":{"mode":1,"timeout":90}}`, "ws-advanced-0123456789")
	callID = callIDOf(t, first.Result)
	bob, _ := ts.rawLogin(t, "bob", "b", -1)
	if f := keyedRequest(bob, 2, "callAccept", `{"callID":"`+callID+`"}`, "ws-accept-0123456789"); f.Error != nil {
		t.Fatalf("bob's accept: %v", f.Error)
	}
	more := keyedRequest(alice, 7, "callingInvite", `{"callID":"`+callID+`","invitees":["carol"],"config":{"timeout":90}}`, "ws-calling-0123456789")
	sameFrame(t, "callingInvite without its timeout of 90", more,
		keyedRequest(alice, 8, "callingInvite", `{"callID":"`+callID+`","invitees":["carol"]}`, "ws-calling-0123456789"))

	inviteKey := []string{"Idempotency-Key", "rest-invite-0123456789"}
	st, inv := apiRaw(t, ts, "POST", "/v1/api/calls", apiKey, `{"userID":"dave","invitees":["erin"],`+defaults+`}`, inviteKey...)
	st2, again := apiRaw(t, ts, "POST", "/v1/api/calls", apiKey, `{"userID":"dave","invitees":["erin"]}`, inviteKey...)
	sameAnswer(t, "REST invite without the defaults", st, inv, st2, again)
	path := "/v1/api/calls/" + callIDOf(t, inv) + "/cancel"
	cancelKey := []string{"Idempotency-Key", "rest-cancel-0123456789"}
	st, cnl := apiRaw(t, ts, "POST", path, apiKey, `{"userID":"dave"}`, cancelKey...)
	st2, again = apiRaw(t, ts, "POST", path, apiKey, `{"userID":"dave","invitees":[],"config":{"pushConfig":null}}`, cancelKey...)
	sameAnswer(t, "REST cancel with empty invitees written out", st, cnl, st2, again)
}

// R7.3, docs/behaviour.md §12 ("Invite limit and idempotency", "The same parameters"): past
// the invites-per-minute limit, a repeat of an invite carried out is found by what it means,
// so one that writes out the timeout the first left out still gets the first reply; the key
// with another timeout is refused with 6000292.
func TestE2EIdempotentRepeatSpelledWithDefaultsPastTheLimit(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "1")
	alice, _ := ts.rawLogin(t, "alice", "a", -1)
	const key = "limit-spelling-0123456789"
	first := keyedRequest(alice, 2, "callInvite", `{"invitees":["bob"]}`, key)
	sameFrame(t, "the repeat past the limit with its timeout of 90 written out", first,
		keyedRequest(alice, 3, "callInvite", `{"invitees":["bob"],"config":{"timeout":90}}`, key))
	if f := keyedRequest(alice, 4, "callInvite", `{"invitees":["bob"],"config":{"timeout":91}}`, key); f.Error == nil || f.Error.Code != protocol.CodeRateLimited {
		t.Errorf("the key with another timeout past the limit: %s %v, want 6000292", f.Result, f.Error)
	}
}
