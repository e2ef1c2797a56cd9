package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/protocol"
)

// apiResponse makes one REST request with the API key and no body and returns the response,
// whose body is closed when the test ends.
func apiResponse(t *testing.T, ts *testServer, method, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+ts.Addr+path, nil)
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// docs/api.md "Errors": a method that is not in the endpoint table for a path that is an
// endpoint (OPTIONS included) is 405 with the Allow header and 6000002, once the key is
// checked; a GET endpoint also takes HEAD. A path that is no endpoint stays 404.
func TestE2ERestAPIMethodNotAllowed(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	for _, c := range []struct{ method, path, allow string }{
		{"PUT", "/v1/api/calls", "POST"},
		{"GET", "/v1/api/calls", "POST"},
		{"OPTIONS", "/v1/api/calls", "POST"},
		{"DELETE", "/v1/api/calls/c1/accept", "POST"},
		{"GET", "/v1/api/calls/c1/end", "POST"},
		{"POST", "/v1/api/calls/c1", "GET, HEAD"},
		{"DELETE", "/v1/api/users/bob/calls", "GET, HEAD"},
		{"GET", "/v1/api/users/bob/logout", "POST"},
	} {
		st, m := apiCall(t, ts, c.method, c.path, apiKey, "")
		resp := apiResponse(t, ts, c.method, c.path)
		if st != 405 || errCode(m) != 6000002 || resp.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d %v, Allow %q; want 405 6000002, Allow %q", c.method, c.path, st, m, resp.Header.Get("Allow"), c.allow)
		}
	}
	if st, m := apiCall(t, ts, "PUT", "/v1/api/calls", "", ""); st != 401 || errCode(m) != 6000291 {
		t.Errorf("PUT without the key: %d %v, want 401 6000291", st, m)
	}
	if resp := apiResponse(t, ts, "HEAD", "/v1/api/users/bob/calls"); resp.StatusCode != 200 {
		t.Errorf("HEAD of a GET endpoint: %d, want 200", resp.StatusCode)
	}
	for _, p := range []string{"/v1/api/calls/", "/v1/api/calls/c1/ring", "/v1/api/users/bob"} {
		if st, m := apiCall(t, ts, "PUT", p, apiKey, ""); st != 404 || errCode(m) != 6000002 {
			t.Errorf("PUT %s: %d %v, want 404 6000002", p, st, m)
		}
	}
}

// docs/api.md: logout takes no body, so an empty one or {} is taken and any other is 400,
// 6000001 as on every endpoint, before any session is kicked (no half-applied change).
func TestE2ERestAPILogoutBody(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	bob := ts.login(t, "bob", "b")
	for _, body := range []string{"garbage", "[1]", "null", `{"userID":"bob"} x`} {
		if st, m := apiCall(t, ts, "POST", "/v1/api/users/bob/logout", apiKey, body); st != 400 || errCode(m) != 6000001 {
			t.Errorf("logout with body %q: %d %v, want 400 6000001", body, st, m)
		}
	}
	if _, err := bob.QueryCallInvitationList(t.Context(), 1, 0); err != nil || len(bob.kicks) != 0 {
		t.Fatalf("bob after refused logouts: %v, kicks %+v", err, bob.kicks)
	}
	for _, body := range []string{"", "{}"} {
		if st, m := apiCall(t, ts, "POST", "/v1/api/users/carol/logout", apiKey, body); st != 200 {
			t.Errorf("logout with body %q: %d %v, want 200", body, st, m)
		}
	}
}

// docs/api.md: a query parameter given more than once is ambiguous and is 400, 6000001, not
// read as its first value.
func TestE2ERestAPIRepeatedQueryParameter(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	for _, q := range []string{
		"/v1/api/users/alice/calls?count=1&count=x",
		"/v1/api/users/alice/calls?nextFlag=0&nextFlag=0",
		"/v1/api/calls/c1?userID=alice&userID=bob",
	} {
		if st, m := apiCall(t, ts, "GET", q, apiKey, ""); st != 400 || errCode(m) != 6000001 || !strings.Contains(m["error"].(map[string]any)["message"].(string), "more than once") {
			t.Errorf("GET %s: %d %v, want 400 6000001 naming the repeat", q, st, m)
		}
	}
}

// docs/api.md: an Idempotency-Key that is not 16–64 bytes is 400, 6000001 on every endpoint,
// as the WebSocket refuses a bad idem whatever the op (protocol.md "Envelopes"), and so is the
// header given twice; neither changes anything.
func TestE2ERestAPIBadIdempotencyKeyOnEveryEndpoint(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	bob := ts.login(t, "bob", "b")
	for _, e := range [][2]string{
		{"GET", "/v1/api/users/alice/calls"},
		{"GET", "/v1/api/calls/c1?userID=alice"},
		{"POST", "/v1/api/users/bob/logout"},
	} {
		if st, m := apiCall(t, ts, e[0], e[1], apiKey, "", "Idempotency-Key", "short"); st != 400 || errCode(m) != 6000001 {
			t.Errorf("%s %s with a short Idempotency-Key: %d %v, want 400 6000001", e[0], e[1], st, m)
		}
	}
	if _, err := bob.QueryCallInvitationList(t.Context(), 1, 0); err != nil || len(bob.kicks) != 0 {
		t.Fatalf("bob after a refused logout: %v, kicks %+v", err, bob.kicks)
	}
	req, err := http.NewRequestWithContext(t.Context(), "POST", "http://"+ts.Addr+"/v1/api/calls",
		strings.NewReader(`{"userID":"alice","invitees":["bob"]}`))
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Add("Idempotency-Key", "first-key-0123456789")
	req.Header.Add("Idempotency-Key", "second-key-0123456789")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("invite with two Idempotency-Keys: %d, want 400", resp.StatusCode)
	}
	if n := callCount(t, ts, "alice"); n != 0 {
		t.Errorf("a refused invite created %d calls", n)
	}
}

// docs/api.md "Authentication": the Authorization header given more than once is not one
// credential, so it is 401, 6000291, whichever of its values is the key.
func TestE2ERestAPIRepeatedAuthorization(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	for _, pair := range [][2]string{{apiKey, "wrong-key-0123456789"}, {"wrong-key-0123456789", apiKey}, {apiKey, apiKey}} {
		req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+ts.Addr+"/v1/api/users/alice/calls", nil)
		must(t, err)
		req.Header.Add("Authorization", "Bearer "+pair[0])
		req.Header.Add("Authorization", "Bearer "+pair[1])
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q then %q: %d %q, want 401 with a challenge", pair[0], pair[1], resp.StatusCode, resp.Header)
		}
	}
}

// docs/api.md: a body is at most 64 KiB, as a client frame (protocol.md); one byte more is 413
// (RFC 9110 section 15.5.14) with 6000001, on every endpoint that reads a body, and changes
// nothing. The limit itself is read (TestE2ERestAPILimitsAtTheirEdges).
func TestE2ERestAPIBodyTooLarge(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	big := `{"userID":"alice","invitees":["bob"],"pad":"` + strings.Repeat("p", protocol.MaxFrameBytes) + `"}`
	for _, p := range []string{"/v1/api/calls", "/v1/api/calls/c1/accept", "/v1/api/calls/c1/end", "/v1/api/users/alice/logout"} {
		if st, m := apiCall(t, ts, "POST", p, apiKey, big); st != 413 || errCode(m) != 6000001 {
			t.Errorf("POST %s with a body of %d bytes: %d %v, want 413 6000001", p, len(big), st, m)
		}
	}
	if n := callCount(t, ts, "alice"); n != 0 {
		t.Errorf("a refused invite created %d calls", n)
	}
}
