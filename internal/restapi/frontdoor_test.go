package restapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/auth"
	"github.com/dialtone/dialtone/internal/restapi"
	"github.com/dialtone/dialtone/internal/servertest"
	"github.com/dialtone/dialtone/protocol"
)

// errorOf decodes an API answer's coded error (nil for a result).
func errorOf(t *testing.T, raw []byte) *protocol.Error {
	t.Helper()
	var b struct{ Error *protocol.Error }
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("answer %q is not JSON", raw)
	}
	return b.Error
}

// docs/api.md: a query parameter given more than once is 400, 6000001, and so is a query that
// does not parse (a malformed percent-encoding, a ";" between parameters): neither is read in
// part, which would answer a page or a call the client did not ask for.
func TestRESTMalformedQueryIsRefused(t *testing.T) {
	srv := servertest.Start(t, "--api-key", apiKey)
	for _, path := range []string{
		"/v1/api/users/alice/calls?count=%zz",
		"/v1/api/users/alice/calls?count=1;nextFlag=5",
		"/v1/api/users/alice/calls?count=1&nextFlag=%",
		"/v1/api/users/alice/calls?other=%zz&count=1",
		"/v1/api/calls/nosuch?userID=bob&userID=%zz",
		"/v1/api/calls/nosuch?userID=bob;x",
	} {
		if status, code := call(t, srv, http.MethodGet, path, ""); status != 400 || code != protocol.CodeInvalidParameter {
			t.Errorf("GET %s answered %d %d, want 400 6000001", path, status, code)
		}
	}
	// A well-formed query is read as before: an escaped value, an empty one (absent).
	for path, want := range map[string]int{
		"/v1/api/users/alice/calls?count=%31":        200,
		"/v1/api/users/alice/calls?count=&nextFlag=": 200,
		"/v1/api/calls/nosuch?userID=%62ob":          404,
	} {
		if status, _ := call(t, srv, http.MethodGet, path, ""); status != want {
			t.Errorf("GET %s answered %d, want %d", path, status, want)
		}
	}
}

// docs/api.md: without --api-key the API is off and every /v1/api/ path answers 404, also a
// path that is not clean, which Go's router would otherwise redirect to its clean form, and
// /v1/api itself.
func TestRESTDisabledAnswers404Everywhere(t *testing.T) {
	h := restapi.Routes(http.NewServeMux(), restapi.Config{})
	for _, path := range []string{"/v1/api/calls", "/v1/api/calls//accept", "/v1/api/./calls", "/v1/api/calls/x/../y", "/v1/api"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{}`)))
		if rec.Code != http.StatusNotFound {
			t.Errorf("POST %s with the API off answered %d (Location %q), want 404", path, rec.Code, rec.Header().Get("Location"))
		}
	}
}

// docs/api.md "Authentication": the API takes its key only. A user's login token (protocol.md
// Login) opens no door to it, whether valid, expired or signed with another secret, whatever
// user it names: 401, 6000291, with the Bearer challenge. Nor is the key a login token: a
// login with it is 6000291.
func TestRESTUserTokensAreNoAPIKey(t *testing.T) {
	srv := servertest.Start(t, "--api-key", apiKey)
	now := time.Now()
	mint := func(secret, user string, at time.Time) string {
		tok, err := auth.Mint([]byte(secret), user, time.Hour, at, "")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for name, tok := range map[string]string{
		"valid":        mint(servertest.Secret, "alice", now),
		"expired":      mint(servertest.Secret, "alice", now.Add(-2*time.Hour)),
		"wrong secret": mint("another-secret-0123456789", "alice", now),
		"another user": mint(servertest.Secret, "bob", now),
	} {
		resp, raw := do(t, srv, http.MethodGet, "/v1/api/users/alice/calls", "", "Authorization", "Bearer "+tok)
		if e := errorOf(t, raw); resp.StatusCode != 401 || e == nil || e.Code != protocol.CodeAuthFailed ||
			!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s login token as the API key: %d %+v, WWW-Authenticate %q; want 401 6000291 and a challenge",
				name, resp.StatusCode, e, resp.Header.Get("WWW-Authenticate"))
		}
	}
	conn, code := wsLogin(t, srv, apiKey, "d1")
	conn.CloseNow()
	if code != protocol.CodeAuthFailed {
		t.Errorf("login with the API key as token answered %d, want 6000291", code)
	}
}

// docs/api.md: Content-Type is not read; a body is JSON whatever type it declares (curl -d
// declares a form), or none.
func TestRESTContentTypeIsNotRead(t *testing.T) {
	srv := servertest.Start(t, "--api-key", apiKey)
	for i, ct := range []string{"", "application/json", "application/json; charset=utf-8",
		"application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"} {
		caller := "ct" + string(rune('a'+i))
		resp, raw := do(t, srv, http.MethodPost, "/v1/api/calls", `{"userID":"`+caller+`","invitees":["bob"]}`,
			"Content-Type", ct)
		if e := errorOf(t, raw); resp.StatusCode != 200 || e != nil {
			t.Errorf("invite with Content-Type %q answered %d %+v, want 200", ct, resp.StatusCode, e)
		}
		if got := resp.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("the answer to Content-Type %q has Content-Type %q, want application/json", ct, got)
		}
	}
}

// docs/api.md: an empty body reads as {}; anything after the JSON object but white space is
// not JSON (400, 6000001), and the request changes nothing.
func TestRESTEmptyBodyAndTrailingBytes(t *testing.T) {
	srv := servertest.Start(t, "--api-key", apiKey)
	const bad = protocol.CodeInvalidParameter
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             protocol.Code
	}{
		{"empty accept: no userID", "/v1/api/calls/nosuch/accept", ``, 400, bad},
		{"empty invite: no userID", "/v1/api/calls", ``, 400, bad},
		{"white space after the object", "/v1/api/calls/nosuch/accept", "{\"userID\":\"bob\"}\r\n\t ", 404, protocol.CodeCallUnavailable},
		{"a word after the object", "/v1/api/calls", `{"userID":"tr","invitees":["bob"]} x`, 400, bad},
		{"a second object", "/v1/api/calls", `{"userID":"tr","invitees":["bob"]}{"userID":"tr"}`, 400, bad},
		{"a second object on its own line", "/v1/api/calls", "{\"userID\":\"tr\",\"invitees\":[\"bob\"]}\n{}", 400, bad},
		{"a NUL after the object", "/v1/api/calls", "{\"userID\":\"tr\",\"invitees\":[\"bob\"]}\x00", 400, bad},
		{"an object cut short", "/v1/api/calls", `{"userID":"tr","invitees":["bob"]`, 400, bad},
		{"only white space", "/v1/api/calls", "  \n", 400, bad},
	} {
		if status, code := call(t, srv, http.MethodPost, tc.path, tc.body); status != tc.status || code != tc.code {
			t.Errorf("%s: POST %s %q answered %d %d, want %d %d", tc.name, tc.path, tc.body, status, code, tc.status, tc.code)
		}
	}
	_, raw := do(t, srv, http.MethodGet, "/v1/api/users/tr/calls", "")
	var page protocol.QueryCallInvitationListResult
	if err := json.Unmarshal(raw, &page); err != nil || len(page.CallList) != 0 {
		t.Errorf("tr's calls after refused invites: %s (%v), want none", raw, err)
	}
}

// R7.3 over REST (docs/api.md "Idempotency-Key"): a refusal is not remembered, so the key may
// be used again once the request can succeed; a success is, and its repeat gets the first
// answer; the key of a request a device made over the WebSocket is not the API's request (the
// device is a parameter, docs/behaviour.md §12): 400, 6000001, and nothing changes.
func TestRESTIdempotencyKeyRefusalsAreNotRemembered(t *testing.T) {
	srv := servertest.Start(t, "--api-key", apiKey)
	const key = "rest-idem-key-0123456789"
	_, raw := do(t, srv, http.MethodPost, "/v1/api/calls", `{"userID":"alice","invitees":["bob"]}`)
	var first protocol.CallInviteResult
	if err := json.Unmarshal(raw, &first); err != nil || first.CallID == "" {
		t.Fatalf("invite: %s", raw)
	}
	invite := `{"userID":"alice","invitees":["carol"]}`
	if resp, raw := do(t, srv, http.MethodPost, "/v1/api/calls", invite, "Idempotency-Key", key); resp.StatusCode != 409 ||
		errorOf(t, raw) == nil || errorOf(t, raw).Code != protocol.CodeBusy {
		t.Fatalf("invite by busy alice: %d %s, want 409 6000290", resp.StatusCode, raw)
	}
	if status, code := call(t, srv, http.MethodPost, "/v1/api/calls/"+first.CallID+"/cancel", `{"userID":"alice"}`); status != 200 {
		t.Fatalf("cancel: %d %d", status, code)
	}
	resp, made := do(t, srv, http.MethodPost, "/v1/api/calls", invite, "Idempotency-Key", key)
	if resp.StatusCode != 200 {
		t.Fatalf("the refused invite's key once alice is free: %d %s, want 200", resp.StatusCode, made)
	}
	resp, again := do(t, srv, http.MethodPost, "/v1/api/calls", invite, "Idempotency-Key", key)
	if resp.StatusCode != 200 || string(again) != string(made) {
		t.Errorf("repeat: %d %s, want 200 and the first answer %s", resp.StatusCode, again, made)
	}

	const wsKey = "ws-idem-key-0123456789ab"
	conn, code := wsLogin(t, srv, servertest.Token(t, "dave"), "d1")
	defer conn.CloseNow()
	if code != 0 {
		t.Fatalf("login of dave: %d", code)
	}
	wsSend(t, conn, `{"id":2,"op":"callInvite","idem":"`+wsKey+`","data":{"invitees":["erin"]}}`)
	if code, _ := wsAwait(t, conn, 2); code != 0 {
		t.Fatalf("dave's invite: %d", code)
	}
	if status, code := inviteWithKey(t, srv, `{"userID":"dave","invitees":["erin"]}`, wsKey); status != 400 || code != protocol.CodeInvalidParameter {
		t.Errorf("dave's WebSocket key on the API: %d %d, want 400 6000001", status, code)
	}
	_, raw = do(t, srv, http.MethodGet, "/v1/api/users/dave/calls", "")
	var page protocol.QueryCallInvitationListResult
	if err := json.Unmarshal(raw, &page); err != nil || len(page.CallList) != 1 {
		t.Errorf("dave's calls: %s (%v), want the one of the WebSocket", raw, err)
	}
}

// inviteWithKey is an invite with body and the Idempotency-Key key; it returns the status and code.
func inviteWithKey(t *testing.T, srv *servertest.Server, body, key string) (int, protocol.Code) {
	t.Helper()
	resp, raw := do(t, srv, http.MethodPost, "/v1/api/calls", body, "Idempotency-Key", key)
	if e := errorOf(t, raw); e != nil {
		return resp.StatusCode, e.Code
	}
	return resp.StatusCode, 0
}

// docs/api.md: the API has no rate limits, and its invites spend none of the invites per
// minute the protocol allows a user's devices (6000292): past the limit through the API, the
// user's device still invites.
func TestRESTHasNoRateLimits(t *testing.T) {
	srv := servertest.Start(t, "--api-key", apiKey, "--max-invites-per-minute", "1")
	for i := range 3 {
		_, raw := do(t, srv, http.MethodPost, "/v1/api/calls", `{"userID":"alice","invitees":["bob"]}`)
		var res protocol.CallInviteResult
		if err := json.Unmarshal(raw, &res); err != nil || res.CallID == "" {
			t.Fatalf("API invite %d: %s", i+1, raw)
		}
		if status, code := call(t, srv, http.MethodPost, "/v1/api/calls/"+res.CallID+"/cancel", `{"userID":"alice"}`); status != 200 {
			t.Fatalf("cancel %d: %d %d", i+1, status, code)
		}
	}
	if code := wsReply(t, srv, "alice", "callInvite", `{"invitees":["bob"]}`); code != 0 {
		t.Errorf("alice's device invites after the API's invites: %d, want a result", code)
	}
}

// docs/api.md logout, R6.1, R6.2: the API's logout kicks every session of the user with
// logout (close 4002) and frees each device's place before it answers, so a device logging in
// right after the answer is not refused for the limit (6000293).
func TestRESTLogoutFreesTheDevicesPlaces(t *testing.T) {
	srv := servertest.Start(t, "--api-key", apiKey, "--max-devices-per-user", "1")
	old, code := wsLogin(t, srv, servertest.Token(t, "bob"), "phone")
	defer old.CloseNow()
	if code != 0 {
		t.Fatalf("login of bob's phone: %d", code)
	}
	if status, code := call(t, srv, http.MethodPost, "/v1/api/users/bob/logout", ""); status != 200 || code != 0 {
		t.Fatalf("logout: %d %d", status, code)
	}
	fresh, code := wsLogin(t, srv, servertest.Token(t, "bob"), "laptop")
	fresh.CloseNow()
	if code != 0 {
		t.Errorf("login of bob's laptop right after the API's logout: %d, want a result", code)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var kick protocol.Kicked
	for {
		_, raw, err := old.Read(ctx)
		if err != nil {
			if status := websocket.CloseStatus(err); status != 4002 || kick.Reason != protocol.KickLogout {
				t.Errorf("bob's phone ended with close %d after kick %+v (%v), want kicked logout and 4002", status, kick, err)
			}
			return
		}
		var f protocol.Frame
		if json.Unmarshal(raw, &f) == nil && f.Event == protocol.EventKicked {
			_ = json.Unmarshal(f.Data, &kick)
		}
	}
}

// docs/api.md: the two queries answer as their WebSocket twins (queryCall,
// queryCallInvitationList): the same result for the same user and call, the same codes for
// the same bad input (R3.10, §8).
func TestRESTQueriesAgreeWithWebSocket(t *testing.T) {
	srv := servertest.Start(t, "--api-key", apiKey)
	_, raw := do(t, srv, http.MethodPost, "/v1/api/calls", `{"userID":"alice","invitees":["bob"],"config":{"extendedData":"q"}}`)
	var inv protocol.CallInviteResult
	if err := json.Unmarshal(raw, &inv); err != nil || inv.CallID == "" {
		t.Fatalf("invite: %s", raw)
	}
	id := inv.CallID
	for _, tc := range []struct {
		name, user, op, data, path string
	}{
		{"queryCall by the caller", "alice", "queryCall", `{"callID":"` + id + `"}`, "/v1/api/calls/" + id + "?userID=alice"},
		{"queryCall by the invitee", "bob", "queryCall", `{"callID":"` + id + `"}`, "/v1/api/calls/" + id + "?userID=bob"},
		{"queryCall by a stranger", "zed", "queryCall", `{"callID":"` + id + `"}`, "/v1/api/calls/" + id + "?userID=zed"},
		{"queryCall of an unknown call", "alice", "queryCall", `{"callID":"nosuch"}`, "/v1/api/calls/nosuch?userID=alice"},
		{"list", "bob", "queryCallInvitationList", `{"config":{"count":5}}`, "/v1/api/users/bob/calls?count=5"},
		{"list: default count", "alice", "queryCallInvitationList", `{}`, "/v1/api/users/alice/calls"},
		{"list: count -1", "bob", "queryCallInvitationList", `{"config":{"count":-1}}`, "/v1/api/users/bob/calls?count=-1"},
		{"list: count past 53 bits", "bob", "queryCallInvitationList", `{"config":{"count":9007199254740993}}`, "/v1/api/users/bob/calls?count=9007199254740993"},
		{"list: nextFlag 2^53", "bob", "queryCallInvitationList", `{"config":{"nextFlag":9007199254740992}}`, "/v1/api/users/bob/calls?nextFlag=9007199254740992"},
		{"list: nextFlag -1", "bob", "queryCallInvitationList", `{"config":{"nextFlag":-1}}`, "/v1/api/users/bob/calls?nextFlag=-1"},
		{"list: past the last call", "bob", "queryCallInvitationList", `{"config":{"nextFlag":1}}`, "/v1/api/users/bob/calls?nextFlag=1"},
	} {
		wsCode, wsRes := wsResult(t, srv, tc.user, tc.op, tc.data)
		resp, raw := do(t, srv, http.MethodGet, tc.path, "")
		var restCode protocol.Code
		if e := errorOf(t, raw); e != nil {
			restCode = e.Code
			raw = nil
		}
		if restCode != wsCode || resp.StatusCode != restStatus(restCode) {
			t.Errorf("%s: REST %d %d, WebSocket %d", tc.name, resp.StatusCode, restCode, wsCode)
		}
		if !sameJSON(raw, wsRes) {
			t.Errorf("%s: REST %s, WebSocket %s", tc.name, raw, wsRes)
		}
	}
}

// restStatus is the status of docs/api.md for code, 200 for none.
func restStatus(code protocol.Code) int {
	if code == 0 {
		return http.StatusOK
	}
	return restapi.Status(code)
}

// sameJSON reports whether a and b are the same JSON value (both empty counts as the same).
func sameJSON(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

// R7.3 over REST: requests with one Idempotency-Key sent at once are one request: the
// duplicates wait for the first and get its answer, and one call is made.
func TestRESTDuplicatesInFlightAreOneRequest(t *testing.T) {
	srv := servertest.Start(t, "--api-key", apiKey)
	const key = "rest-dup-key-0123456789"
	answers := make(chan string, 4)
	var wg sync.WaitGroup
	for range cap(answers) {
		wg.Go(func() { // no t.Fatal off the test's goroutine: a failure is an answer that differs
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+srv.Addr+"/v1/api/calls",
				strings.NewReader(`{"userID":"alice","invitees":["bob"]}`))
			if err != nil {
				answers <- err.Error()
				return
			}
			req.Header.Set("Authorization", "Bearer "+apiKey)
			req.Header.Set("Idempotency-Key", key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- err.Error()
				return
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			answers <- fmt.Sprint(resp.StatusCode, " ", string(raw), err)
		})
	}
	wg.Wait()
	close(answers)
	first := <-answers
	if !strings.HasPrefix(first, "200 ") || !strings.HasSuffix(first, "<nil>") {
		t.Fatalf("invite: %s", first)
	}
	for a := range answers {
		if a != first {
			t.Errorf("a duplicate got %s, want the first answer %s", a, first)
		}
	}
	_, raw := do(t, srv, http.MethodGet, "/v1/api/users/alice/calls", "")
	var page protocol.QueryCallInvitationListResult
	if err := json.Unmarshal(raw, &page); err != nil || len(page.CallList) != 1 {
		t.Errorf("alice's calls: %s (%v), want one", raw, err)
	}
}
