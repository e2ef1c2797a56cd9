package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

// restWSCase is one op made by user ($-prefixed names are per run) with data (protocol.md's
// data, without callID) on the call setup returns ("" for none).
type restWSCase struct {
	name  string
	op    string // invite, accept, reject, cancel, end
	user  string
	setup func(t *testing.T, ts *testServer, p string) string
	data  string
	code  protocol.Code
}

// apiOK makes a REST request that must succeed and returns its result.
func apiOK(t *testing.T, ts *testServer, method, path, body string) map[string]any {
	t.Helper()
	st, m := apiCall(t, ts, method, path, apiKey, body)
	if st != http.StatusOK {
		t.Fatalf("%s %s %s: %d %v", method, path, body, st, m)
	}
	return m
}

// Call setups made through the API, for users p+"a" (caller), p+"b", p+"c".
func ringingGeneral(t *testing.T, ts *testServer, p string) string {
	return apiOK(t, ts, "POST", "/v1/api/calls", fmt.Sprintf(`{"userID":"%sa","invitees":["%sb"]}`, p, p))["callID"].(string)
}

func ringingAdvanced(t *testing.T, ts *testServer, p string) string {
	return apiOK(t, ts, "POST", "/v1/api/calls", fmt.Sprintf(`{"userID":"%sa","invitees":["%sb","%sc"],"config":{"mode":1}}`, p, p, p))["callID"].(string)
}

func answeredAdvanced(t *testing.T, ts *testServer, p string) string {
	id := ringingAdvanced(t, ts, p)
	apiOK(t, ts, "POST", "/v1/api/calls/"+id+"/accept", fmt.Sprintf(`{"userID":"%sb"}`, p))
	return id
}

func endedGeneral(t *testing.T, ts *testServer, p string) string {
	id := ringingGeneral(t, ts, p)
	apiOK(t, ts, "POST", "/v1/api/calls/"+id+"/reject", fmt.Sprintf(`{"userID":"%sb"}`, p))
	return id
}

func unknownCall(*testing.T, *testServer, string) string { return "NoSuchCall0123456789abcd" }

// callSnapshot renders what a call is, for p+"a" (or another member), without times, IDs or
// the per-run prefix: the call's state and each user's state, inviter and extendedData.
func callSnapshot(t *testing.T, ts *testServer, callID, p string) string {
	t.Helper()
	if callID == "" {
		return ""
	}
	for _, u := range []string{"a", "b", "c", "d"} {
		st, m := apiCall(t, ts, "GET", "/v1/api/calls/"+callID+"?userID="+p+u, apiKey, "")
		if st != http.StatusOK {
			continue
		}
		info := m["callInfo"].(map[string]any)
		s := fmt.Sprintf("state=%v ext=%v", info["state"], info["extendedData"])
		for _, x := range info["callUserList"].([]any) {
			cu := x.(map[string]any)
			s += fmt.Sprintf(" %v:%v:%v:%v", cu["userID"], cu["state"], cu["inviter"], cu["extendedData"])
		}
		return strings.ReplaceAll(s, p, "$")
	}
	return "not visible"
}

// callCount returns how many calls user is in.
func callCount(t *testing.T, ts *testServer, user string) int {
	t.Helper()
	return len(apiOK(t, ts, "GET", "/v1/api/users/"+user+"/calls?count=100", "")["callList"].([]any))
}

// The server REST API (docs/api.md) against the protocol: each op it offers, made through
// REST on behalf of a user and over the WebSocket by that user, on the same situation, gets the
// same error code (behaviour §8, with §8's order where several apply) and message, the same
// result and the same effect on the call; a refused request changes nothing.
func TestE2ERestAPIMatchesWebSocket(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	long := strings.Repeat("x", 2049)
	cases := []restWSCase{
		{"invite: no invitees", "invite", "a", nil, `{"invitees":[]}`, protocol.CodeInvalidParameter},
		{"invite: invitees not a list", "invite", "a", nil, `{"invitees":"$b"}`, protocol.CodeInvalidParameter},
		{"invite: ten invitees", "invite", "a", nil, `{"invitees":["1","2","3","4","5","6","7","8","9","10"]}`, protocol.CodeTooManyUsers},
		{"invite: none valid", "invite", "a", nil, `{"invitees":["$a","bad user"]}`, protocol.CodeNoValidInvitee},
		{"invite: mode 7", "invite", "a", nil, `{"invitees":["$b"],"config":{"mode":7}}`, protocol.CodeInvalidParameter},
		{"invite: timeout 601", "invite", "a", nil, `{"invitees":["$b"],"config":{"timeout":601}}`, protocol.CodeInvalidParameter},
		{"invite: timeout -1", "invite", "a", nil, `{"invitees":["$b"],"config":{"timeout":-1}}`, protocol.CodeInvalidParameter},
		{"invite: timeout with a fraction", "invite", "a", nil, `{"invitees":["$b"],"config":{"timeout":1.5}}`, protocol.CodeInvalidParameter},
		{"invite: extendedData too long", "invite", "a", nil, `{"invitees":["$b"],"config":{"extendedData":"` + long + `"}}`, protocol.CodeInvalidParameter},
		{"invite: pushConfig payload too long", "invite", "a", nil, `{"invitees":["$b"],"config":{"pushConfig":{"payload":"` + long + `"}}}`, protocol.CodeInvalidParameter},
		{"invite: bad and ten invitees (§8: 6000001 first)", "invite", "a", nil, `{"invitees":["1","2","3","4","5","6","7","8","9","10"],"config":{"mode":9}}`, protocol.CodeInvalidParameter},
		{"invite: busy caller", "invite", "a", answeredAdvanced, `{"invitees":["$d"]}`, protocol.CodeBusy},
		{"invite: errorUserList", "invite", "a", nil, `{"invitees":["$b","$b","bad user","$a"],"config":{"extendedData":"x"}}`, 0},
		{"accept: unknown call", "accept", "b", unknownCall, `{}`, protocol.CodeCallUnavailable},
		{"accept: by the caller", "accept", "a", ringingGeneral, `{}`, protocol.CodeStateForbids},
		{"accept: by a stranger", "accept", "z", ringingGeneral, `{}`, protocol.CodeCallUnavailable},
		{"accept: extendedData too long on an unknown call (§8: 6000001 first)", "accept", "b", unknownCall, `{"config":{"extendedData":"` + long + `"}}`, protocol.CodeInvalidParameter},
		{"accept: ended call", "accept", "b", endedGeneral, `{}`, protocol.CodeCallUnavailable},
		{"accept", "accept", "b", ringingGeneral, `{"config":{"extendedData":"yes"}}`, 0},
		{"accept: busy invitee", "accept", "b", func(t *testing.T, ts *testServer, p string) string {
			answeredAdvanced(t, ts, p)
			return apiOK(t, ts, "POST", "/v1/api/calls", fmt.Sprintf(`{"userID":"%sd","invitees":["%sb"]}`, p, p))["callID"].(string)
		}, `{}`, protocol.CodeBusy},
		{"reject", "reject", "b", ringingGeneral, `{"config":{"extendedData":"no"}}`, 0},
		{"reject: by the caller", "reject", "a", ringingAdvanced, `{}`, protocol.CodeStateForbids},
		{"reject: twice", "reject", "b", endedGeneral, `{}`, protocol.CodeCallUnavailable},
		{"cancel: whole call", "cancel", "a", ringingGeneral, `{"invitees":["$z","bad user"],"config":{"extendedData":"bye"}}`, 0},
		{"cancel: by an invitee", "cancel", "b", ringingGeneral, `{}`, protocol.CodeNotInviter},
		{"cancel: whole answered call", "cancel", "a", answeredAdvanced, `{}`, protocol.CodeCancelAccepted},
		{"cancel: an accepted invitee", "cancel", "a", answeredAdvanced, `{"invitees":["$b","$c"]}`, protocol.CodeCancelAccepted},
		{"cancel: a subset", "cancel", "a", answeredAdvanced, `{"invitees":["$c","$z"]}`, 0},
		{"cancel: by a user no longer active", "cancel", "b", func(t *testing.T, ts *testServer, p string) string {
			id := ringingAdvanced(t, ts, p)
			apiOK(t, ts, "POST", "/v1/api/calls/"+id+"/reject", fmt.Sprintf(`{"userID":"%sb"}`, p))
			return id
		}, `{"invitees":["$c"]}`, protocol.CodeNotInviter},
		{"cancel: whole call by a ringing invitee of an advanced call", "cancel", "c", ringingAdvanced, `{}`, protocol.CodeNotInviter},
		{"end: by a user who rejected", "end", "c", func(t *testing.T, ts *testServer, p string) string {
			id := answeredAdvanced(t, ts, p)
			apiOK(t, ts, "POST", "/v1/api/calls/"+id+"/reject", fmt.Sprintf(`{"userID":"%sc"}`, p))
			return id
		}, `{}`, protocol.CodeStateForbids},
		{"accept: by a user who rejected", "accept", "c", func(t *testing.T, ts *testServer, p string) string {
			id := answeredAdvanced(t, ts, p)
			apiOK(t, ts, "POST", "/v1/api/calls/"+id+"/reject", fmt.Sprintf(`{"userID":"%sc"}`, p))
			return id
		}, `{}`, protocol.CodeStateForbids},
		{"cancel: pushConfig title too long", "cancel", "a", ringingGeneral, `{"config":{"pushConfig":{"title":"` + long[:257] + `"}}}`, protocol.CodeInvalidParameter},
		{"cancel: invitees not a list", "cancel", "a", ringingGeneral, `{"invitees":{"x":1}}`, protocol.CodeInvalidParameter},
		{"end: general call", "end", "a", ringingGeneral, `{}`, protocol.CodeNotAdvanced},
		{"end: by a pending invitee", "end", "b", ringingAdvanced, `{}`, protocol.CodeStateForbids},
		{"end: by a stranger", "end", "z", answeredAdvanced, `{}`, protocol.CodeCallUnavailable},
		{"end: pushConfig resourcesID too long", "end", "b", answeredAdvanced, `{"config":{"pushConfig":{"resourcesID":"` + long[:33] + `"}}}`, protocol.CodeInvalidParameter},
		{"end", "end", "b", answeredAdvanced, `{"config":{"extendedData":"done"}}`, 0},
		{"end: ended call", "end", "a", endedGeneral, `{}`, protocol.CodeCallUnavailable},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			type outcome struct {
				code     protocol.Code
				message  string
				result   string
				snapshot string
				calls    int
			}
			run := func(p string, viaREST bool) outcome {
				var callID string
				if c.setup != nil {
					callID = c.setup(t, ts, p)
				}
				user := p + c.user
				before := callCount(t, ts, p+"a")
				data := strings.ReplaceAll(c.data, "$", p)
				var o outcome
				var raw json.RawMessage
				if viaREST {
					path := "/v1/api/calls"
					if c.op != "invite" {
						path += "/" + callID + "/" + c.op
					}
					st, m := apiCall(t, ts, "POST", path, apiKey, withField("userID", user, data))
					o.code = protocol.Code(errCode(m))
					if e, ok := m["error"].(map[string]any); ok {
						// the message names the REST request's body where the
						// WebSocket's names the op's data
						msg, _ := e["message"].(string)
						o.message = strings.Replace(msg, "invalid body: ", "invalid data: ", 1)
					}
					if o.code == 0 && st != http.StatusOK || o.code != 0 && st != restStatus(o.code) {
						t.Errorf("REST status %d for %v", st, m)
					}
					raw, _ = json.Marshal(m)
				} else {
					r := ts.raw(t)
					r.login(user)
					op := map[string]string{"invite": "callInvite", "accept": "callAccept", "reject": "callReject",
						"cancel": "callCancel", "end": "callEnd"}[c.op]
					if c.op != "invite" {
						data = withField("callID", callID, data)
					}
					r.send(`{"id":2,"op":"` + op + `","data":` + data + `}`)
					f := r.reply(2)
					if f.Error != nil {
						o.code, o.message = f.Error.Code, f.Error.Message
					}
					raw = f.Result
				}
				o.result = resultShape(t, raw, p)
				o.snapshot = callSnapshot(t, ts, callID, p)
				o.calls = callCount(t, ts, p+"a") - before
				return o
			}
			ws, rest := run(fmt.Sprintf("w%d", i), false), run(fmt.Sprintf("r%d", i), true)
			if ws.code != c.code || rest.code != c.code {
				t.Errorf("codes: WebSocket %d, REST %d, want %d", ws.code, rest.code, c.code)
			}
			if ws != rest {
				t.Errorf("outcomes differ:\n WebSocket %+v\n REST      %+v", ws, rest)
			}
			if c.code != 0 && ws.calls != 0 {
				t.Errorf("a refused request created %d calls", ws.calls)
			}
		})
	}
}

// restStatus is the HTTP status docs/api.md gives for code.
func restStatus(code protocol.Code) int {
	switch code {
	case protocol.CodeInvalidParameter, protocol.CodeTooManyUsers, protocol.CodeNoValidInvitee:
		return 400
	case protocol.CodeNotInviter:
		return 403
	case protocol.CodeCallUnavailable:
		return 404
	}
	return 409
}

// resultShape renders an op's result without its call IDs and times: its field names, and
// the values of errorUserList and errorInvitees.
func resultShape(t *testing.T, raw json.RawMessage, p string) string {
	t.Helper()
	var m map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil || m["error"] != nil {
		return ""
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	errs, _ := json.Marshal([]any{m["errorUserList"], m["errorInvitees"]})
	return strings.ReplaceAll(strings.Join(keys, ",")+" "+string(errs), p, "$")
}

// withField returns the JSON object obj with the string field k: v added first.
func withField(k, v, obj string) string {
	rest := strings.TrimSpace(strings.TrimPrefix(obj, "{"))
	if rest != "}" {
		rest = "," + rest
	}
	return `{"` + k + `":"` + v + `"` + rest
}

// docs/api.md: every endpoint refuses a missing or wrong API key with 401 and 6000291 before
// looking at the request, and carries out nothing; an unknown endpoint or method is 404 with
// 6000002 once authenticated.
func TestE2ERestAPIAuthFailures(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	bob := ts.login(t, "bob", "b")
	id := ringingGeneral(t, ts, "q9") // q9a rings q9b
	endpoints := [][3]string{
		{"POST", "/v1/api/calls", `{"userID":"alice","invitees":["bob"]}`},
		{"POST", "/v1/api/calls/" + id + "/accept", `{"userID":"q9b"}`},
		{"POST", "/v1/api/calls/" + id + "/reject", `{"userID":"q9b"}`},
		{"POST", "/v1/api/calls/" + id + "/cancel", `{"userID":"q9a"}`},
		{"POST", "/v1/api/calls/" + id + "/end", `{"userID":"q9a"}`},
		{"GET", "/v1/api/calls/" + id + "?userID=q9a", ``},
		{"GET", "/v1/api/users/q9a/calls", ``},
		{"POST", "/v1/api/users/bob/logout", ``},
		{"GET", "/v1/api/nothing", ``},
	}
	for _, e := range endpoints {
		for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong-key-0123456789abcd"},
			{"Authorization", apiKey}, {"Authorization", "Basic " + apiKey}, {"Authorization", "Bearer " + apiKey + "x"}} {
			req := append([]string{"Authorization", ""}, hdr...)
			if st, m := apiCall(t, ts, e[0], e[1], "", e[2], req...); st != http.StatusUnauthorized || errCode(m) != 6000291 {
				t.Errorf("%s %s with %q: %d %v, want 401 and 6000291", e[0], e[1], hdr, st, m)
			}
		}
	}
	if snap := callSnapshot(t, ts, id, "q9"); snap != "state=1 ext= $a:1:: $b:0:$a:" {
		t.Errorf("call after unauthenticated requests: %s", snap)
	}
	if n := callCount(t, ts, "alice"); n != 0 {
		t.Errorf("an unauthenticated invite created %d calls", n)
	}
	for _, e := range [][2]string{{"GET", "/v1/api/calls"}, {"DELETE", "/v1/api/calls/" + id}, {"GET", "/v1/api/calls/" + id + "/accept"}} {
		if st, m := apiCall(t, ts, e[0], e[1], apiKey, ""); st != http.StatusMethodNotAllowed || errCode(m) != 6000002 {
			t.Errorf("%s %s: %d %v, want 405 and 6000002", e[0], e[1], st, m)
		}
	}
	if _, err := bob.QueryCallInvitationList(t.Context(), 1, 0); err != nil || len(bob.kicks) != 0 {
		t.Errorf("bob after an unauthenticated logout: %v, kicks %+v", err, bob.kicks)
	}
}

// docs/api.md logout: every session of the user is kicked with logout and each device is lost
// at once (R6.1): the user's unanswered call is cancelled (R4.3), its Accepted main device in
// an advanced call quits (R6.4); and the user's push targets are dropped.
func TestE2ERestAPILogoutLosesDevices(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey, "--push-webhook-url", "http://127.0.0.1:1/unused")
	ctx := t.Context()
	alice, bob := ts.login(t, "alice", "a"), ts.login(t, "bob", "b")
	carol, dave := ts.login(t, "carol", "c"), ts.login(t, "dave", "d")
	must(t, alice.PushRegister(ctx, client.PushTarget{Provider: "webhook", Token: "alice-phone"}))
	ringing, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	bob.wait(ringing.CallID, "received from alice")
	answered, err := carol.CallInvite(ctx, []string{"dave"}, advanced)
	must(t, err)
	dave.wait(answered.CallID, "received from carol")
	must(t, second(dave.CallAccept(ctx, answered.CallID, client.OpConfig{})))

	for _, user := range []string{"alice", "dave"} {
		if st, m := apiCall(t, ts, "POST", "/v1/api/users/"+user+"/logout", apiKey, ""); st != 200 || len(m) != 0 {
			t.Fatalf("logout %s: %d %v", user, st, m)
		}
	}
	alice.until("logout kick", func() bool { return len(alice.kicks) > 0 && alice.kicks[0].Reason == client.KickLogout })
	dave.until("logout kick", func() bool { return len(dave.kicks) > 0 && dave.kicks[0].Reason == client.KickLogout })
	bob.wait(ringing.CallID, "cancelled bob=BeCancelled")
	carol.wait(answered.CallID, "changed dave=Quit")
	if targets := storedPushTargets(t, ts, "alice"); len(targets) != 0 {
		t.Errorf("alice's push targets after the API logout: %+v", targets)
	}
}

// docs/api.md: every error is a status with a coded body. A path with an empty segment (an
// empty callID or userID), "." or ".." is no endpoint: after the key check it gets 404 and
// 6000002, not the redirect to its clean form that Go's router would answer, which has no
// coded body and comes before the key is checked.
func TestE2ERestAPIUncleanPaths(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, key string) (int, float64) {
		req, err := http.NewRequestWithContext(t.Context(), method, "http://"+ts.Addr+path, strings.NewReader(`{"userID":"bob"}`))
		must(t, err)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := noRedirects.Do(req)
		must(t, err)
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, errCode(m)
	}
	for _, e := range [][2]string{
		{"POST", "/v1/api/calls//accept"},
		{"GET", "/v1/api/users//calls"},
		{"POST", "/v1/api/calls/x/../y/accept"},
		{"GET", "/v1/api/./calls/x"},
		{"POST", "/v1/api"},
		{"GET", "/v1/api"},
	} {
		if st, code := do(e[0], e[1], apiKey); st != http.StatusNotFound || code != 6000002 {
			t.Errorf("%s %s: %d %v, want 404 and 6000002", e[0], e[1], st, code)
		}
		if st, code := do(e[0], e[1], ""); st != http.StatusUnauthorized || code != 6000291 {
			t.Errorf("%s %s without the key: %d %v, want 401 and 6000291", e[0], e[1], st, code)
		}
	}
}

// docs/api.md: a refused API key is 401, and, as every 401 must (RFC 9110 section 15.5.2), the
// answer names the scheme to use in WWW-Authenticate (RFC 6750 section 3), also for an unknown
// endpoint.
func TestE2ERestAPIRefusalNamesTheBearerScheme(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	for _, path := range []string{"/v1/api/users/alice/calls", "/v1/api/nothing"} {
		req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+ts.Addr+path, nil)
		must(t, err)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(got, "Bearer") {
			t.Errorf("GET %s without a key: %d, WWW-Authenticate %q; want 401 and a Bearer challenge", path, resp.StatusCode, got)
		}
	}
}

// docs/api.md: the key is sent as bearer credentials, which RFC 6750 section 2.1 separates from
// the scheme by one or more spaces.
func TestE2ERestAPIKeyAfterSeveralSpaces(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	for _, h := range []string{"Bearer  " + apiKey, "bearer   " + apiKey} {
		if st, m := apiCall(t, ts, "GET", "/v1/api/users/alice/calls", "", "", "Authorization", h); st != http.StatusOK {
			t.Errorf("Authorization %q: %d %v, want 200", h, st, m)
		}
	}
	for _, h := range []string{"Bearer", "Bearer ", "Bearer" + apiKey, "Bearer\t" + apiKey} {
		if st, m := apiCall(t, ts, "GET", "/v1/api/users/alice/calls", "", "", "Authorization", h); st != http.StatusUnauthorized || errCode(m) != 6000291 {
			t.Errorf("Authorization %q: %d %v, want 401 and 6000291", h, st, m)
		}
	}
}
