package main

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/client"
)

// protocol.md "Transport": strings are UTF-8, and a message that is not is refused, over the
// WebSocket (close 1007) as through the server REST API, which validates as the protocol does
// (docs/api.md: 400, 6000001). Nothing is decoded with U+FFFD in place of the bad bytes: no
// call is made, for the invitee or anyone.
func TestE2ENotUTF8IsRefusedOverTheWireAndREST(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	const invite = "{\"userID\":\"alice\",\"invitees\":[\"bob\"],\"config\":{\"extendedData\":\"caf\xe9\"}}"
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, invite); st != 400 || errCode(m) != 6000001 {
		t.Errorf("REST invite with extendedData not UTF-8: %d %v, want 400 6000001", st, m)
	}
	r := ts.raw(t)
	r.login("carol")
	r.send("{\"id\":2,\"op\":\"callInvite\",\"data\":{\"invitees\":[\"bob\"],\"config\":{\"extendedData\":\"caf\xe9\"}}}")
	if c := r.closed(); c != websocket.StatusInvalidFramePayloadData {
		t.Errorf("callInvite with extendedData not UTF-8: close %d, want 1007", c)
	}
	if st, m := apiCall(t, ts, "GET", "/v1/api/users/bob/calls", apiKey, ""); st != 200 || len(m["callList"].([]any)) != 0 {
		t.Errorf("bob's calls after both were refused: %d %v, want none", st, m)
	}
}

// Behaviour §1 allows every userID "." and "..", and each names a user the server REST API
// reaches in a path as any other (docs/api.md): with its dots percent-encoded, since a path
// segment "." or ".." as written is no user's but an unknown endpoint (404, 6000002). Every
// other character of the charset, percent-encoded where a path or query needs it, reaches its
// user too.
func TestE2ERestAPIUserIDsInPaths(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	for _, u := range []string{".", "..", "...", "a?b", "a#b", "a%b", "a%2Eb", "a&b", "a+b", "a;b", "[a]", "a=b"} {
		t.Run(u, func(t *testing.T) {
			st, inv := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, `{"userID":"`+u+`","invitees":["bob"]}`)
			if st != 200 {
				t.Fatalf("invite by %q: %d %v", u, st, inv)
			}
			callID := inv["callID"].(string)
			seg := strings.ReplaceAll(url.PathEscape(u), ".", "%2E")
			if u == "..." {
				seg = u // only a segment of one or two dots needs its dots encoded
			}
			st, m := apiCall(t, ts, "GET", "/v1/api/calls/"+callID+"?userID="+url.QueryEscape(u), apiKey, "")
			if st != 200 || m["callInfo"].(map[string]any)["caller"] != u {
				t.Errorf("GET the call as %q: %d %v", u, st, m)
			}
			st, m = apiCall(t, ts, "GET", "/v1/api/users/"+seg+"/calls", apiKey, "")
			if list, _ := m["callList"].([]any); st != 200 || len(list) != 1 || list[0].(map[string]any)["callID"] != callID {
				t.Errorf("GET /v1/api/users/%s/calls: %d %v, want %q's call", seg, st, m, u)
			}
			if st, m = apiCall(t, ts, "POST", "/v1/api/users/"+seg+"/logout", apiKey, ""); st != 200 {
				t.Errorf("POST /v1/api/users/%s/logout: %d %v", seg, st, m)
			}
			st, m = apiCall(t, ts, "POST", "/v1/api/calls/"+callID+"/cancel", apiKey, `{"userID":"`+u+`"}`)
			if st != 200 {
				t.Errorf("cancel by %q: %d %v", u, st, m)
			}
		})
	}
	for _, p := range []string{"/v1/api/users/./calls", "/v1/api/users/../calls", "/v1/api/users/../logout"} {
		if st, m := apiCall(t, ts, "POST", p, apiKey, ""); st != 404 || errCode(m) != 6000002 {
			t.Errorf("POST %s: %d %v, want 404 6000002", p, st, m)
		}
	}
}

// Webhook and push bodies are JSON whatever users send: userIDs with < > & ; { } (behaviour
// §1), and extendedData and pushConfig fields with quotes, backslashes, line and paragraph
// separators, control characters, markup and characters beyond the BMP decode to exactly what
// was sent, and each webhook's signature, which the receiver checks, is over the bytes sent
// (docs/webhooks.md, docs/push.md).
func TestE2EWebhookAndPushBodiesCarryAnyString(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	pushes := newPushService(t)
	ts := startServer(t, append(hookFlags(hooks), "--push-webhook-url", pushes.srv.URL)...)
	const callee, caller = "<i>&amp;{x}", "a;b=<c>"
	phone := ts.login(t, callee, "phone")
	must(t, phone.PushRegister(t.Context(), client.PushTarget{Provider: "webhook", Token: "tok\"\\\n"}))
	phone.Close()
	alice := ts.login(t, caller, "a")
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 1")

	const data = "\"quoted\" \\back\\slash\u2028\u2029</script><!-- \x00\x01\x1b\x7f é 😀 \\u0041"
	pc := &client.PushConfig{Title: data[:40], Content: "\u2028" + data[:20], Payload: data}
	res, err := alice.CallInvite(t.Context(), []string{callee}, client.InviteConfig{Timeout: 30, ExtendedData: data, PushConfig: pc})
	must(t, err)
	_, bodies := hooks.call(res.CallID, "call_create")
	if b := bodies[0]; b["caller"] != caller || b["extendedData"] != data || b["users"].([]any)[0] != callee {
		t.Errorf("call_create = %v, want caller %q, users [%q], extendedData %q", b, caller, callee, data)
	}
	got := pushes.wait(1)
	if got.Target.Token != "tok\"\\\n" || got.Message.Caller != caller || got.Message.Title != pc.Title ||
		got.Message.Content != pc.Content || got.Message.Payload != pc.Payload {
		t.Errorf("push = %+v, want the token, caller and pushConfig as sent", got)
	}
}

// Behaviour §12: a JSON string escape of a lone UTF-16 surrogate ("\ud800", which
// JSON.stringify writes for a JavaScript string cut inside a pair) stands for U+FFFD, as a
// WebSocket or TextEncoder turns such a string into UTF-8; a pair stands for its character.
func TestE2ELoneSurrogateEscapesAreReplacementCharacters(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	r := ts.raw(t)
	r.login("carol")
	r.send(`{"id":2,"op":"callInvite","data":{"invitees":["bob"],"config":{"extendedData":"a\ud800b\udc00c\ud83d\ude00"}}}`)
	f := r.reply(2)
	var res struct{ CallInfo struct{ ExtendedData string } }
	if f.Error != nil || json.Unmarshal(f.Result, &res) != nil || res.CallInfo.ExtendedData != "a\uFFFDb\uFFFDc😀" {
		t.Errorf("callInvite reply %+v %s: want extendedData %q", f.Error, f.Result, "a\uFFFDb\uFFFDc😀")
	}
	st, m := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, `{"userID":"dave","invitees":["erin"],"config":{"extendedData":"\udbff!"}}`)
	if info, _ := m["callInfo"].(map[string]any); st != 200 || info["extendedData"] != "\uFFFD!" {
		t.Errorf("REST invite: %d %v, want extendedData %q", st, m, "\uFFFD!")
	}
}

// docs/api.md "Errors": a path with a malformed percent-encoding is not HTTP; the HTTP server
// answers it with a plain 400 and closes the connection, before the key check.
func TestE2ERestAPIMalformedPercentEncoding(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	c, err := net.Dial("tcp", ts.Addr)
	must(t, err)
	defer c.Close()
	_, err = c.Write([]byte("GET /v1/api/users/a%zz/calls HTTP/1.1\r\nHost: x\r\n\r\n"))
	must(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || !resp.Close {
		t.Errorf("answer %d %q, close %v; want a plain 400 and the connection closed", resp.StatusCode, resp.Header, resp.Close)
	}
}

// protocol.md "Shapes": field names are exactly as written, and a field a client does not name
// as written is one the server does not know, so it is ignored (protocol.md: the protocol
// grows by optional fields), over the WebSocket as through the server REST API: "Invitees" is
// no invitee list, "Mode" no mode, "UserID" no acting user, and a "CALLID" next to "callID"
// does not replace it.
func TestE2EFieldNamesAreExactlyAsWritten(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	r := ts.raw(t)
	r.login("alice")
	r.send(`{"id":2,"op":"callInvite","data":{"Invitees":["bob"]}}`)
	if f := r.reply(2); f.Error == nil || f.Error.Code != 6000001 {
		t.Errorf(`callInvite with "Invitees" only: %+v %s, want 6000001 (no invitees)`, f.Error, f.Result)
	}
	r.send(`{"id":3,"op":"callInvite","data":{"invitees":["bob"],"config":{"Mode":1,"ExtendedData":"x"}}}`)
	f := r.reply(3)
	var res struct {
		CallInfo struct {
			CallID, ExtendedData string
			Mode                 int
		}
	}
	if f.Error != nil || json.Unmarshal(f.Result, &res) != nil || res.CallInfo.Mode != 0 || res.CallInfo.ExtendedData != "" {
		t.Errorf(`callInvite with "Mode" and "ExtendedData": %+v %s, want a general call without extendedData`, f.Error, f.Result)
	}
	r.send(`{"id":4,"op":"queryCall","data":{"callID":"` + res.CallInfo.CallID + `","CALLID":"NoSuchCall0123456789abcd"}}`)
	if f := r.reply(4); f.Error != nil {
		t.Errorf(`queryCall of a call by "callID", with a "CALLID" after it: %v, want the call`, f.Error)
	}
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, `{"UserID":"carol","invitees":["dave"]}`); st != 400 || errCode(m) != 6000001 {
		t.Errorf(`REST invite with "UserID": %d %v, want 400 6000001 (no userID)`, st, m)
	}
	st, m := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, `{"userID":"carol","invitees":["dave"],"config":{"Mode":1}}`)
	if info, _ := m["callInfo"].(map[string]any); st != 200 || info["mode"] != float64(0) {
		t.Errorf(`REST invite with "Mode": %d %v, want a general call`, st, m)
	}
}
