package restapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/restapi"
	"github.com/dialtone/dialtone/internal/servertest"
	"github.com/dialtone/dialtone/protocol"
)

const apiKey = "conformance-api-key-0123456789"

// call makes one API request and returns its status and error code (0 for a result).
func call(t *testing.T, srv *servertest.Server, method, path, body string) (int, protocol.Code) {
	t.Helper()
	resp, raw := do(t, srv, method, path, body)
	var b struct{ Error *protocol.Error }
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("%s %s: body %q is not JSON", method, path, raw)
	}
	if b.Error == nil {
		return resp.StatusCode, 0
	}
	return resp.StatusCode, b.Error.Code
}

// do makes one API request with the API key and the headers hdr (name, value pairs: the
// first of a name replaces the header, Authorization included, a later one is added to it)
// and returns the response and its body.
func do(t *testing.T, srv *servertest.Server, method, path, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+srv.Addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	given := map[string]bool{}
	for i := 0; i+1 < len(hdr); i += 2 {
		if given[hdr[i]] {
			req.Header.Add(hdr[i], hdr[i+1])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		given[hdr[i]] = true
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp, raw
}

// wsReply logs user in on a WebSocket of its own, sends op with data and returns the reply's
// code (0 for a result).
func wsReply(t *testing.T, srv *servertest.Server, user, op, data string) protocol.Code {
	t.Helper()
	code, _ := wsResult(t, srv, user, op, data)
	return code
}

// wsResult is wsReply that also returns the reply's result (nil for an error).
func wsResult(t *testing.T, srv *servertest.Server, user, op, data string) (protocol.Code, json.RawMessage) {
	t.Helper()
	conn, code := wsLogin(t, srv, servertest.Token(t, user), "d1")
	defer conn.CloseNow()
	if code != 0 {
		t.Fatalf("login of %s: %d", user, code)
	}
	wsSend(t, conn, `{"id":2,"op":"`+op+`","data":`+data+`}`)
	return wsAwait(t, conn, 2)
}

// wsLogin opens a WebSocket and logs in with token as deviceID; it returns the connection,
// which the caller closes, and the login reply's code (0 for a result).
func wsLogin(t *testing.T, srv *servertest.Server, token, deviceID string) (*websocket.Conn, protocol.Code) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(protocol.MaxServerFrameBytes)
	wsSend(t, conn, `{"id":1,"op":"login","data":{"token":"`+token+`","deviceID":"`+deviceID+`"}}`)
	code, _ := wsAwait(t, conn, 1)
	return conn, code
}

// wsSend writes one text frame.
func wsSend(t *testing.T, conn *websocket.Conn, frame string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

// wsAwait reads frames, skipping events, until the reply to request id, and returns its code
// (0 for a result) and result.
func wsAwait(t *testing.T, conn *websocket.Conn, id int64) (protocol.Code, json.RawMessage) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		_, raw, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("no reply to request %d: %v", id, err)
		}
		var f protocol.Frame
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatalf("frame %q: %v", raw, err)
		}
		switch {
		case f.Event != "" || f.ID != id:
		case f.Error != nil:
			return f.Error.Code, nil
		default:
			return 0, f.Result
		}
	}
}

// TestRESTAgreesWithWebSocket: docs/api.md: the REST API validates as the protocol does, so
// the same bad input is the same code on both (6000001 with status 400 for a malformed
// input, §8 order where several faults meet), a repeated name taking its last value whole.
func TestRESTAgreesWithWebSocket(t *testing.T) {
	srv := servertest.Start(t, "--api-key", apiKey)
	long := strings.Repeat("x", 2049)
	const bad = protocol.CodeInvalidParameter
	for i, tc := range []struct {
		name       string
		op, data   string // the WebSocket request
		path, body string // the REST request, a POST, userID added
		want       protocol.Code
		status     int
	}{
		{"invite: invitee null", "callInvite", `{"invitees":["bob",null]}`,
			"/v1/api/calls", `{"invitees":["bob",null]}`, bad, 400},
		{"cancel: invitee null", "callCancel", `{"callID":"nosuch","invitees":[null]}`,
			"/v1/api/calls/nosuch/cancel", `{"invitees":[null]}`, bad, 400},
		{"invite: timeout past 53 bits", "callInvite", `{"invitees":["bob"],"config":{"timeout":9007199254740993}}`,
			"/v1/api/calls", `{"invitees":["bob"],"config":{"timeout":9007199254740993}}`, bad, 400},
		{"invite: mode 2", "callInvite", `{"invitees":["bob"],"config":{"mode":2}}`,
			"/v1/api/calls", `{"invitees":["bob"],"config":{"mode":2}}`, bad, 400},
		{"invite: ten invitees, long extendedData", "callInvite",
			`{"invitees":["a","b","c","d","e","f","g","h","i","j"],"config":{"extendedData":"` + long + `"}}`,
			"/v1/api/calls", `{"invitees":["a","b","c","d","e","f","g","h","i","j"],"config":{"extendedData":"` + long + `"}}`, bad, 400},
		{"invite: ten invitees", "callInvite", `{"invitees":["a","b","c","d","e","f","g","h","i","j"]}`,
			"/v1/api/calls", `{"invitees":["a","b","c","d","e","f","g","h","i","j"]}`, protocol.CodeTooManyUsers, 400},
		{"invite: config an array", "callInvite", `{"invitees":["bob"],"config":[]}`,
			"/v1/api/calls", `{"invitees":["bob"],"config":[]}`, bad, 400},
		{"invite: pushConfig title 257 bytes", "callInvite", `{"invitees":["bob"],"config":{"pushConfig":{"title":"` + long[:257] + `"}}}`,
			"/v1/api/calls", `{"invitees":["bob"],"config":{"pushConfig":{"title":"` + long[:257] + `"}}}`, bad, 400},
		{"accept: unknown call", "callAccept", `{"callID":"nosuch"}`,
			"/v1/api/calls/nosuch/accept", `{}`, protocol.CodeCallUnavailable, 404},
		{"accept: unknown call, long extendedData", "callAccept", `{"callID":"nosuch","config":{"extendedData":"` + long + `"}}`,
			"/v1/api/calls/nosuch/accept", `{"config":{"extendedData":"` + long + `"}}`, bad, 400},
		{"accept: unknown call, an unknown field named as extendedData in another case", "callAccept", `{"callID":"nosuch","config":{"ExtendedData":"` + long + `"}}`,
			"/v1/api/calls/nosuch/accept", `{"config":{"ExtendedData":"` + long + `"}}`, protocol.CodeCallUnavailable, 404},
		{"accept: unknown call, repeated config, the first too long", "callAccept", `{"callID":"nosuch","config":{"extendedData":"` + long + `"},"config":{}}`,
			"/v1/api/calls/nosuch/accept", `{"config":{"extendedData":"` + long + `"},"config":{}}`, protocol.CodeCallUnavailable, 404},
		{"cancel: invitees a string", "callCancel", `{"callID":"nosuch","invitees":"bob"}`,
			"/v1/api/calls/nosuch/cancel", `{"invitees":"bob"}`, bad, 400},
		{"end: unknown call, pushConfig a string", "callEnd", `{"callID":"nosuch","config":{"pushConfig":"x"}}`,
			"/v1/api/calls/nosuch/end", `{"config":{"pushConfig":"x"}}`, bad, 400},
	} {
		user := "user" + string(rune('a'+i))
		if got := wsReply(t, srv, user, tc.op, tc.data); got != tc.want {
			t.Errorf("%s: WebSocket %s %.80s answered %d, want %d", tc.name, tc.op, tc.data, got, tc.want)
		}
		body := `{"userID":"` + user + `",` + strings.TrimPrefix(tc.body, "{")
		if tc.body == `{}` {
			body = `{"userID":"` + user + `"}`
		}
		if status, got := call(t, srv, http.MethodPost, tc.path, body); got != tc.want || status != tc.status {
			t.Errorf("%s: POST %s %.80s answered %d %d, want %d %d", tc.name, tc.path, body, status, got, tc.status, tc.want)
		}
	}
}

// TestRESTBadInput: docs/api.md: the userID, the query parameters and the body are checked
// before the call: 400 and 6000001, whatever else is wrong with the request (§8 order). The
// query's integers are written as JSON writes them, as the same values in an op's data must
// be: no plus sign, no leading zero.
func TestRESTBadInput(t *testing.T) {
	srv := servertest.Start(t, "--api-key", apiKey)
	const bad = protocol.CodeInvalidParameter
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     protocol.Code
	}{
		{"body an array", "POST", "/v1/api/calls", `[]`, 400, bad},
		{"body null", "POST", "/v1/api/calls/nosuch/accept", `null`, 400, bad},
		{"no userID", "POST", "/v1/api/calls/nosuch/accept", `{}`, 400, bad},
		{"userID a number", "POST", "/v1/api/calls/nosuch/accept", `{"userID":5}`, 400, bad},
		{"userID a lone surrogate", "POST", "/v1/api/calls/nosuch/accept", `{"userID":"\ud800"}`, 400, bad},
		{"userID with a space", "POST", "/v1/api/calls/nosuch/accept", `{"userID":"b b"}`, 400, bad},
		{"unknown call", "POST", "/v1/api/calls/nosuch/accept", `{"userID":"bob"}`, 404, protocol.CodeCallUnavailable},
		{"query: no userID", "GET", "/v1/api/calls/nosuch", ``, 400, bad},
		{"query: unknown call", "GET", "/v1/api/calls/nosuch?userID=bob", ``, 404, protocol.CodeCallUnavailable},
		{"list: count -1", "GET", "/v1/api/users/bob/calls?count=-1", ``, 400, bad},
		{"list: count a fraction", "GET", "/v1/api/users/bob/calls?count=1.5", ``, 400, bad},
		{"list: count past 53 bits", "GET", "/v1/api/users/bob/calls?count=9007199254740993", ``, 400, bad},
		{"list: nextFlag past 53 bits", "GET", "/v1/api/users/bob/calls?nextFlag=9007199254740992", ``, 400, bad},
		{"list: count with a plus sign", "GET", "/v1/api/users/bob/calls?count=%2B5", ``, 400, bad},
		{"list: count with a leading zero", "GET", "/v1/api/users/bob/calls?count=05", ``, 400, bad},
		{"list: nextFlag with a plus sign", "GET", "/v1/api/users/bob/calls?nextFlag=%2B1", ``, 400, bad},
		{"list: nextFlag with a leading zero", "GET", "/v1/api/users/bob/calls?nextFlag=01", ``, 400, bad},
		{"list: count 0", "GET", "/v1/api/users/bob/calls?count=0", ``, 200, 0},
		{"list: count 1000", "GET", "/v1/api/users/bob/calls?count=1000", ``, 200, 0},
		{"list: invalid user", "GET", "/v1/api/users/b%20b/calls", ``, 400, bad},
		{"unknown endpoint", "POST", "/v1/api/calls/nosuch/teleport", `{"userID":"bob"}`, 404, protocol.CodeUnknownOp},
	} {
		if status, code := call(t, srv, tc.method, tc.path, tc.body); status != tc.status || code != tc.code {
			t.Errorf("%s: %s %s %s answered %d %d, want %d %d", tc.name, tc.method, tc.path, tc.body, status, code, tc.status, tc.code)
		}
	}
	// A body is at most 64 KiB, as a client frame: one of exactly 64 KiB is read.
	body := `{"userID":"bob","pad":""}`
	body = strings.Replace(body, `""`, `"`+strings.Repeat("x", protocol.MaxFrameBytes-len(body))+`"`, 1)
	if status, code := call(t, srv, "POST", "/v1/api/calls/nosuch/accept", body); status != 404 || code != protocol.CodeCallUnavailable {
		t.Errorf("a body of %d bytes answered %d %d, want 404 6000276", len(body), status, code)
	}
	if status, code := call(t, srv, "POST", "/v1/api/calls/nosuch/accept", body+" "); status != 413 || code != protocol.CodeInvalidParameter {
		t.Errorf("a body of %d bytes answered %d %d, want 413 6000001", len(body)+1, status, code)
	}
	if restapi.Status(protocol.CodeInvalidParameter) != http.StatusBadRequest {
		t.Error("6000001 is not 400")
	}
}
