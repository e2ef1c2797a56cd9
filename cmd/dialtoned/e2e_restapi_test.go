package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/client"
)

const apiKey = "api-key-0123456789abcdef"

// apiCall makes one REST request and decodes the JSON answer.
func apiCall(t *testing.T, ts *testServer, method, path, key, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	status, data := apiRaw(t, ts, method, path, key, body, hdr...)
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	return status, m
}

// apiRaw makes one REST request and returns the answer's status and body as sent.
func apiRaw(t *testing.T, ts *testServer, method, path, key, body string, hdr ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+ts.Addr+path, strings.NewReader(body))
	must(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func errCode(m map[string]any) float64 {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(float64)
	return c
}

func TestE2ERestAPIDisabledWithoutKey(t *testing.T) {
	ts := startServer(t)
	if st, _ := apiCall(t, ts, "POST", "/v1/api/calls", "anything", `{}`); st != http.StatusNotFound {
		t.Errorf("status %d, want 404", st)
	}
}

func TestE2ERestAPI(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	bob := ts.login(t, "bob", "b")

	// Authentication.
	for _, key := range []string{"", "wrong-key-0123456789"} {
		if st, m := apiCall(t, ts, "POST", "/v1/api/calls", key, `{"userID":"alice","invitees":["bob"]}`); st != 401 || errCode(m) != 6000291 {
			t.Errorf("key %q: %d %v", key, st, m)
		}
	}
	// The scheme's name is case-insensitive (RFC 9110 section 11.1): past authentication, the
	// empty body is refused as bad input.
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls", "", `{}`, "Authorization", "bearer "+apiKey); st != 400 {
		t.Errorf("lower-case bearer scheme: %d %v", st, m)
	}
	// Bad input.
	for _, body := range []string{`{"invitees":["bob"]}`, `{"userID":"alice"}`, `[1]`,
		`{"userID":"alice","invitees":["bob"],"config":{"mode":7}}`} {
		if st, m := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, body); st != 400 || (errCode(m) != 6000001 && errCode(m) != 6000281) {
			t.Errorf("body %s: %d %v", body, st, m)
		}
	}
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, `{"userID":"alice","invitees":["bob"]}`, "Idempotency-Key", "short"); st != 400 || errCode(m) != 6000001 {
		t.Errorf("short idempotency key: %d %v", st, m)
	}

	// Invite on behalf of alice, idempotently.
	body := `{"userID":"alice","invitees":["bob"],"config":{"timeout":60,"extendedData":"rest"}}`
	st, inv := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, body, "Idempotency-Key", "idem-key-0123456789")
	if st != 200 || inv["callID"] == "" || inv["timeout"] != float64(60) {
		t.Fatalf("invite: %d %v", st, inv)
	}
	callID := inv["callID"].(string)
	if _, again := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, body, "Idempotency-Key", "idem-key-0123456789"); again["callID"] != callID {
		t.Errorf("idempotent repeat: %v", again)
	}
	bob.wait(callID, "received from alice")
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, `{"userID":"alice","invitees":["carol"]}`); st != 409 || errCode(m) != 6000290 {
		t.Errorf("busy caller: %d %v", st, m)
	}

	// Queries.
	if st, m := apiCall(t, ts, "GET", "/v1/api/calls/"+callID+"?userID=bob", apiKey, ""); st != 200 || m["callInfo"].(map[string]any)["extendedData"] != "rest" {
		t.Errorf("get call: %d %v", st, m)
	}
	if st, m := apiCall(t, ts, "GET", "/v1/api/calls/"+callID+"?userID=zed", apiKey, ""); st != 404 || errCode(m) != 6000276 {
		t.Errorf("get call by a stranger: %d %v", st, m)
	}
	if st, m := apiCall(t, ts, "GET", "/v1/api/users/alice/calls?count=1", apiKey, ""); st != 200 || len(m["callList"].([]any)) != 1 {
		t.Errorf("list: %d %v", st, m)
	}
	if st, m := apiCall(t, ts, "GET", "/v1/api/users/alice/calls?count=x", apiKey, ""); st != 400 || errCode(m) != 6000001 {
		t.Errorf("list with a bad count: %d %v", st, m)
	}

	// State conflicts, then a reject on behalf of bob, then the call is over.
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls/"+callID+"/accept", apiKey, `{"userID":"alice"}`); st != 409 || errCode(m) != 6000274 {
		t.Errorf("caller accepts: %d %v", st, m)
	}
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls/"+callID+"/end", apiKey, `{"userID":"alice"}`); st != 409 || errCode(m) != 6000286 {
		t.Errorf("end of a general call: %d %v", st, m)
	}
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls/"+callID+"/reject", apiKey, `{"userID":"bob","config":{"extendedData":"no"}}`); st != 200 || m["callID"] != callID {
		t.Errorf("reject: %d %v", st, m)
	}
	bob.wait(callID, "changed bob=Rejected (call ended)")
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls/"+callID+"/cancel", apiKey, `{"userID":"alice"}`); st != 404 || errCode(m) != 6000276 {
		t.Errorf("cancel of an ended call: %d %v", st, m)
	}
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls/nope/accept", apiKey, `{"userID":"bob"}`); st != 404 || errCode(m) != 6000276 {
		t.Errorf("unknown call: %d %v", st, m)
	}

	// Advanced call: bob accepts from the API, then ends it; cancel of a fresh call.
	_, adv := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, `{"userID":"alice","invitees":["bob"],"config":{"mode":1}}`)
	advID := adv["callID"].(string)
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls/"+advID+"/accept", apiKey, `{"userID":"bob"}`); st != 200 {
		t.Fatalf("accept: %d %v", st, m)
	}
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls/"+advID+"/end", apiKey, `{"userID":"bob"}`); st != 200 || m["endTime"].(float64) <= 0 {
		t.Errorf("end: %d %v", st, m)
	}
	_, c3 := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, `{"userID":"alice","invitees":["bob","carol"]}`)
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls/"+c3["callID"].(string)+"/cancel", apiKey, `{"userID":"alice","invitees":["zed"]}`); st != 200 {
		t.Errorf("cancel: %d %v", st, m)
	}

	// Logout on every device: bob's session is kicked with logout.
	if st, m := apiCall(t, ts, "POST", "/v1/api/users/bob/logout", apiKey, ""); st != 200 {
		t.Errorf("logout: %d %v", st, m)
	}
	bob.until("logout kick", func() bool { return len(bob.kicks) > 0 && bob.kicks[0].Reason == client.KickLogout })
	if st, _ := apiCall(t, ts, "GET", "/v1/api/nothing", apiKey, ""); st != 404 {
		t.Errorf("unknown endpoint: %d", st)
	}
}

// R7.3 through the REST API (docs/api.md): a request repeated with its Idempotency-Key gets
// the first answer whole, errorUserList and errorInvitees included, also once the call has
// moved on; the key with other parameters or another op is 400 with 6000001; keys are per
// acting user.
func TestE2ERestAPIIdempotencyKey(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	same := func(what string, st int, m map[string]any, wantSt int, want map[string]any) {
		t.Helper()
		got, _ := json.Marshal(m)
		first, _ := json.Marshal(want)
		if st != wantSt || string(got) != string(first) {
			t.Errorf("%s: %d %s, want the first answer %d %s", what, st, got, wantSt, first)
		}
	}
	const inviteKey = "rest-invite-0123456789"
	body := `{"userID":"alice","invitees":["bob","carol","alice"],"config":{"timeout":60}}`
	st, inv := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, body, "Idempotency-Key", inviteKey)
	if st != 200 || len(inv["errorUserList"].([]any)) != 1 {
		t.Fatalf("invite: %d %v", st, inv)
	}
	callID := inv["callID"].(string)
	again, m := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, body, "Idempotency-Key", inviteKey)
	same("repeated invite", again, m, st, inv)
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, strings.Replace(body, "60", "61", 1), "Idempotency-Key", inviteKey); st != 400 || errCode(m) != 6000001 {
		t.Errorf("the invite's key with another timeout: %d %v, want 400 6000001", st, m)
	}
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, `{"userID":"dave","invitees":["erin"]}`, "Idempotency-Key", inviteKey); st != 200 || m["callID"] == callID {
		t.Errorf("alice's key used by dave: %d %v, want a call of dave's", st, m)
	}

	const rejectKey = "rest-reject-0123456789"
	st, rej := apiCall(t, ts, "POST", "/v1/api/calls/"+callID+"/reject", apiKey, `{"userID":"bob"}`, "Idempotency-Key", rejectKey)
	if st != 200 {
		t.Fatalf("reject: %d %v", st, rej)
	}
	const cancelKey = "rest-cancel-0123456789"
	cancel := `{"userID":"alice","invitees":["bob","zed"]}`
	st, cnl := apiCall(t, ts, "POST", "/v1/api/calls/"+callID+"/cancel", apiKey, cancel, "Idempotency-Key", cancelKey)
	if st != 200 || len(cnl["errorInvitees"].([]any)) != 2 {
		t.Fatalf("cancel: %d %v", st, cnl)
	}
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls/"+callID+"/end", apiKey, `{"userID":"alice"}`, "Idempotency-Key", cancelKey); st != 400 || errCode(m) != 6000001 {
		t.Errorf("the cancel's key on an end: %d %v, want 400 6000001", st, m)
	}
	// The cancel ended the call: without their keys, the same requests are refused.
	for _, c := range []struct {
		path, body, key string
		want            map[string]any
	}{
		{"/cancel", cancel, cancelKey, cnl},
		{"/reject", `{"userID":"bob"}`, rejectKey, rej},
	} {
		if st, m := apiCall(t, ts, "POST", "/v1/api/calls/"+callID+c.path, apiKey, c.body); st == 200 {
			t.Errorf("%s without its key after the call ended: %d %v", c.path, st, m)
		}
		st, m := apiCall(t, ts, "POST", "/v1/api/calls/"+callID+c.path, apiKey, c.body, "Idempotency-Key", c.key)
		same("repeated "+c.path, st, m, 200, c.want)
	}
}
