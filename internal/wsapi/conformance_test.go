package wsapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/servertest"
	"github.com/dialtone/dialtone/protocol"
)

// wsClient is a raw protocol connection to a real server: frames in, frames out.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
	kept []json.RawMessage // frames read but not yet asked for (until)
}

// dialRaw opens a WebSocket to srv; it is closed when the test ends.
func dialRaw(t *testing.T, srv *servertest.Server) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(protocol.MaxServerFrameBytes)
	t.Cleanup(func() { conn.CloseNow() })
	return &wsClient{t: t, conn: conn}
}

// loggedIn returns a connection of user on device, logged in.
func loggedIn(t *testing.T, srv *servertest.Server, user, device string) *wsClient {
	t.Helper()
	c := dialRaw(t, srv)
	login := `{"id":1,"op":"login","data":{"token":"` + servertest.Token(t, user) + `","deviceID":"` + device + `"}}`
	if f := c.request(1, login); f.Error != nil {
		t.Fatalf("login of %s: %+v", user, f.Error)
	}
	return c
}

// send writes one text frame.
func (c *wsClient) send(frame string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 10*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next frame as raw JSON, within 10 s; err is the close when the server
// closed the connection.
func (c *wsClient) next() (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(c.t.Context(), 10*time.Second)
	defer cancel()
	_, data, err := c.conn.Read(ctx)
	return data, err
}

// until returns the first frame for which match holds, failing the test if none comes.
// Frames read before it are kept, in order, for the next call: a reply may come before or
// after the events its request caused.
func (c *wsClient) until(what string, match func(protocol.Frame) bool) (protocol.Frame, json.RawMessage) {
	c.t.Helper()
	for i, raw := range c.kept {
		var f protocol.Frame
		json.Unmarshal(raw, &f)
		if match(f) {
			c.kept = append(c.kept[:i:i], c.kept[i+1:]...)
			return f, raw
		}
	}
	for {
		data, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		var f protocol.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			c.t.Fatalf("frame %s: %v", data, err)
		}
		if match(f) {
			return f, data
		}
		c.kept = append(c.kept, data)
	}
}

// request sends frame and returns the reply to id, skipping events.
func (c *wsClient) request(id int64, frame string) protocol.Frame {
	c.t.Helper()
	c.send(frame)
	f, _ := c.until("the reply to "+frame, func(f protocol.Frame) bool { return f.Event == "" && f.ID == id })
	return f
}

// wsCase is one request and the code of its reply (0 for a result); bad marks a bad frame,
// answered without an id.
type wsCase struct {
	name  string
	frame string
	code  protocol.Code
	bad   bool
}

// runWSCases sends each case's frame and checks the reply. A request's frame has the id
// replyID (ops run concurrently, so its reply is told from others by its id); a bad frame is
// followed by a heartbeat, and its error, which has no id, must come before the heartbeat's
// reply. Cases are run perConn at a time (at most 4, so that bad frames never add up to the
// fifth that closes a connection) on a connection connect makes.
func runWSCases(t *testing.T, connect func() *wsClient, perConn int, cases []wsCase) {
	t.Helper()
	var c *wsClient
	for i, tc := range cases {
		if i%perConn == 0 {
			c = connect()
		}
		if !tc.bad {
			f := c.request(replyID, tc.frame)
			if got := frameCode(f); got != tc.code {
				b, _ := json.Marshal(f)
				t.Errorf("%s: %s answered %s, want code %d", tc.name, tc.frame, b, tc.code)
			}
			continue
		}
		c.send(tc.frame)
		c.send(`{"id":424242,"op":"heartbeat"}`)
		_, beat := c.until("the heartbeat after "+tc.name, func(f protocol.Frame) bool { return f.ID == 424242 })
		var before []string // the replies without id read before the heartbeat's
		for _, raw := range c.kept {
			if f := decodeFrame(raw); f.Event == "" && f.ID == 0 {
				before = append(before, string(raw))
			}
		}
		c.kept = nil
		if len(before) != 1 || frameCode(decodeFrame(json.RawMessage(before[0]))) != protocol.CodeInvalidParameter {
			t.Errorf("%s: %s answered %v before %s, want one bad frame's 6000001 without id", tc.name, tc.frame, before, beat)
		}
	}
}

// decodeFrame decodes a server frame; one that is not JSON decodes as the zero Frame.
func decodeFrame(raw json.RawMessage) protocol.Frame {
	var f protocol.Frame
	json.Unmarshal(raw, &f)
	return f
}

// replyID is the id of the request of a wsCase that is not a bad frame.
const replyID = 7

// frameCode returns the error code of a reply, 0 for a result.
func frameCode(f protocol.Frame) protocol.Code {
	if f.Error == nil {
		return 0
	}
	return f.Error.Code
}

// quiet are the flags of a server on which connections may stay silent for the length of a
// test run on a loaded machine: the heartbeat defaults.
var quiet = []string{"--heartbeat-interval", "10s", "--heartbeat-timeout", "35s"}

// closeCode returns the WebSocket close code of err, -1 when err is no close.
func closeCode(err error) int {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return int(ce.Code)
	}
	return -1
}

// TestEnvelopeConformance: protocol.md "Transport" and "Envelopes": a frame that is not a
// JSON object, or has no positive integer id of at most 53 bits or no string op, is a bad
// frame (6000001 without id); a known op with invalid data or idem is 6000001 with the id; an
// unknown op is 6000002; unknown envelope fields are ignored and data null is absent.
func TestEnvelopeConformance(t *testing.T) {
	srv := servertest.Start(t, quiet...)
	runWSCases(t, func() *wsClient { return loggedIn(t, srv, "alice", "a1") }, 4, []wsCase{
		{"array", `[]`, 0, true},
		{"string", `"x"`, 0, true},
		{"null", `null`, 0, true},
		{"not JSON", `{"id":1,`, 0, true},
		{"no id", `{"op":"heartbeat"}`, 0, true},
		{"id zero", `{"id":0,"op":"heartbeat"}`, 0, true},
		{"id negative", `{"id":-3,"op":"heartbeat"}`, 0, true},
		{"id fraction", `{"id":1.5,"op":"heartbeat"}`, 0, true},
		{"id zero fraction", `{"id":2.0,"op":"heartbeat"}`, 0, true},
		{"id exponent", `{"id":1e2,"op":"heartbeat"}`, 0, true},
		{"id string", `{"id":"7","op":"heartbeat"}`, 0, true},
		{"id over 53 bits", `{"id":9007199254740992,"op":"heartbeat"}`, 0, true},
		{"id null", `{"id":null,"op":"heartbeat"}`, 0, true},
		{"id in other case", `{"ID":7,"op":"heartbeat"}`, 0, true},
		{"no op", `{"id":7}`, 0, true},
		{"op number", `{"id":7,"op":5}`, 0, true},
		{"op null", `{"id":7,"op":null}`, 0, true},
		{"op object", `{"id":7,"op":{}}`, 0, true},
		{"op in other case", `{"id":7,"Op":"heartbeat"}`, 0, true},
		{"unknown op", `{"id":7,"op":"callTeleport"}`, protocol.CodeUnknownOp, false},
		{"op in wrong case", `{"id":7,"op":"HeartBeat"}`, protocol.CodeUnknownOp, false},
		{"unknown op with bad idem", `{"id":7,"op":"callTeleport","idem":"short"}`, protocol.CodeUnknownOp, false},
		{"unknown fields", `{"id":7,"op":"heartbeat","future":{"x":[1]}}`, 0, false},
		{"data null", `{"id":7,"op":"heartbeat","data":null}`, 0, false},
		{"data array", `{"id":7,"op":"heartbeat","data":[]}`, protocol.CodeInvalidParameter, false},
		{"data string", `{"id":7,"op":"queryCall","data":"c1"}`, protocol.CodeInvalidParameter, false},
		{"data number", `{"id":7,"op":"heartbeat","data":1}`, protocol.CodeInvalidParameter, false},
		{"idem short", `{"id":7,"op":"heartbeat","idem":"0123456789abcde"}`, protocol.CodeInvalidParameter, false},
		{"idem long", `{"id":7,"op":"heartbeat","idem":"` + strings.Repeat("k", 65) + `"}`, protocol.CodeInvalidParameter, false},
		{"idem number", `{"id":7,"op":"heartbeat","idem":1234567890123456}`, protocol.CodeInvalidParameter, false},
		{"idem 16 bytes", `{"id":7,"op":"heartbeat","idem":"0123456789abcdef"}`, 0, false},
		{"repeated op takes the last", `{"id":7,"op":"callTeleport","op":"heartbeat"}`, 0, false},
		{"second login", `{"id":7,"op":"login","data":{"token":"x","deviceID":"a1"}}`, protocol.CodeInvalidParameter, false},
	})
	c := loggedIn(t, srv, "alice", "a1")
	if f := c.request(protocol.MaxInteger, `{"id":9007199254740991,"op":"heartbeat"}`); f.Error != nil {
		t.Errorf("the largest id answered %+v, want a result", f.Error)
	}
	// Neither invalid data, nor a bad idem, nor an unknown op is a bad frame: many of them
	// within a minute leave the connection open.
	for i := range 6 {
		c.request(replyID, `{"id":7,"op":"heartbeat","data":[]}`)
		c.request(replyID, `{"id":7,"op":"heartbeat","idem":"short"}`)
		if f := c.request(replyID, `{"id":7,"op":"callTeleport"}`); frameCode(f) != protocol.CodeUnknownOp {
			t.Fatalf("unknown op %d answered %+v, want 6000002", i, f.Error)
		}
	}
}

// inviteFrame is a callInvite request (id replyID) with data.
func opFrame(op, data string) string {
	return `{"id":7,"op":"` + op + `","data":` + data + `}`
}

// TestOpDataConformance: each op's data (protocol.md "Ops" and "Shapes", behaviour §3, §8,
// §9, docs/protocol.md): a wrong JSON type, a fraction or exponent where an integer goes, an
// integer past 53 bits, a value out of range, a string over its limit, or a null in a list of
// userIDs is 6000001 (§8: before every code that depends on the call); a null member is
// absent; a repeated name takes its last value, whole; the bounds themselves are taken.
func TestOpDataConformance(t *testing.T) {
	srv := servertest.Start(t, quiet...)
	long := func(n int) string { return strings.Repeat("x", n) }
	euro2049 := strings.Repeat("€", 683) // 2049 bytes in 683 characters
	ten := `["b0","b1","b2","b3","b4","b5","b6","b7","b8","b9"]`
	invite := func(data string) string { return opFrame("callInvite", data) }
	const bad = protocol.CodeInvalidParameter
	// Each case on a connection of its own user, whom no earlier case left in a call.
	users := 0
	connect := func() *wsClient {
		users++
		return loggedIn(t, srv, fmt.Sprint("user", users), "d1")
	}
	runWSCases(t, connect, 1, []wsCase{
		{"invite: no invitees", invite(`{}`), bad, false},
		{"invite: invitees null", invite(`{"invitees":null}`), bad, false},
		{"invite: invitees empty", invite(`{"invitees":[]}`), bad, false},
		{"invite: invitees a string", invite(`{"invitees":"bob"}`), bad, false},
		{"invite: invitee a number", invite(`{"invitees":[7]}`), bad, false},
		{"invite: invitee null", invite(`{"invitees":[null]}`), bad, false},
		{"invite: invitee null among valid", invite(`{"invitees":["bob",null]}`), bad, false},
		{"cancel: invitee null", opFrame("callCancel", `{"callID":"nosuch","invitees":[null]}`), bad, false},
		{"invite: ten invitees", invite(`{"invitees":` + ten + `}`), protocol.CodeTooManyUsers, false},
		{"invite: ten invitees and long extendedData", invite(`{"invitees":` + ten + `,"config":{"extendedData":"` + long(2049) + `"}}`), bad, false},
		{"invite: invalid userID only", invite(`{"invitees":["b b"]}`), protocol.CodeNoValidInvitee, false},
		{"invite: repeated config takes the last whole", invite(`{"invitees":["bob"],"config":{"timeout":601},"config":{"mode":1}}`), 0, false},
		{"invite: config null", invite(`{"invitees":["bob"],"config":null}`), 0, false},
		{"invite: config an array", invite(`{"invitees":["bob"],"config":[]}`), bad, false},
		{"invite: config a string", invite(`{"invitees":["bob"],"config":"x"}`), bad, false},
		{"invite: timeout 601", invite(`{"invitees":["bob"],"config":{"timeout":601}}`), bad, false},
		{"invite: timeout -1", invite(`{"invitees":["bob"],"config":{"timeout":-1}}`), bad, false},
		{"invite: timeout fraction", invite(`{"invitees":["bob"],"config":{"timeout":1.5}}`), bad, false},
		{"invite: timeout exponent", invite(`{"invitees":["bob"],"config":{"timeout":3e1}}`), bad, false},
		{"invite: timeout past 64 bits", invite(`{"invitees":["bob"],"config":{"timeout":18446744073709551616}}`), bad, false},
		{"invite: timeout past 53 bits", invite(`{"invitees":["bob"],"config":{"timeout":9007199254740993}}`), bad, false},
		{"invite: timeout a string", invite(`{"invitees":["bob"],"config":{"timeout":"30"}}`), bad, false},
		{"invite: timeout null", invite(`{"invitees":["bob"],"config":{"timeout":null}}`), 0, false},
		{"invite: mode 2", invite(`{"invitees":["bob"],"config":{"mode":2}}`), bad, false},
		{"invite: mode -2", invite(`{"invitees":["bob"],"config":{"mode":-2}}`), bad, false},
		{"invite: mode a string", invite(`{"invitees":["bob"],"config":{"mode":"1"}}`), bad, false},
		{"invite: mode a bool", invite(`{"invitees":["bob"],"config":{"mode":true}}`), bad, false},
		{"invite: check a string", invite(`{"invitees":["bob"],"config":{"enableNotReceivedCheck":"true"}}`), bad, false},
		{"invite: extendedData 2049 bytes", invite(`{"invitees":["bob"],"config":{"extendedData":"` + long(2049) + `"}}`), bad, false},
		{"invite: extendedData 2049 bytes of 683 characters", invite(`{"invitees":["bob"],"config":{"extendedData":"` + euro2049 + `"}}`), bad, false},
		{"invite: extendedData a number", invite(`{"invitees":["bob"],"config":{"extendedData":5}}`), bad, false},
		{"invite: extendedData an object", invite(`{"invitees":["bob"],"config":{"extendedData":{}}}`), bad, false},
		{"invite: pushConfig title 257 bytes", invite(`{"invitees":["bob"],"config":{"pushConfig":{"title":"` + long(257) + `"}}}`), bad, false},
		{"invite: pushConfig content 257 bytes", invite(`{"invitees":["bob"],"config":{"pushConfig":{"content":"` + long(257) + `"}}}`), bad, false},
		{"invite: pushConfig payload 2049 bytes", invite(`{"invitees":["bob"],"config":{"pushConfig":{"payload":"` + long(2049) + `"}}}`), bad, false},
		{"invite: pushConfig resourcesID 33 bytes", invite(`{"invitees":["bob"],"config":{"pushConfig":{"resourcesID":"` + long(33) + `"}}}`), bad, false},
		{"invite: pushConfig a string", invite(`{"invitees":["bob"],"config":{"pushConfig":"x"}}`), bad, false},
		{"invite: pushConfig title a number", invite(`{"invitees":["bob"],"config":{"pushConfig":{"title":1}}}`), bad, false},

		{"accept: no callID", opFrame("callAccept", `{}`), bad, false},
		{"accept: callID empty", opFrame("callAccept", `{"callID":""}`), bad, false},
		{"accept: callID null", opFrame("callAccept", `{"callID":null}`), bad, false},
		{"accept: callID a number", opFrame("callAccept", `{"callID":5}`), bad, false},
		{"accept: repeated config, the first too long", opFrame("callAccept", `{"callID":"nosuch","config":{"extendedData":"`+long(2049)+`"},"config":{}}`), protocol.CodeCallUnavailable, false},
		{"accept: repeated config, the last too long", opFrame("callAccept", `{"callID":"nosuch","config":{},"config":{"extendedData":"`+long(2049)+`"}}`), bad, false},
		{"accept: unknown call", opFrame("callAccept", `{"callID":"nosuch"}`), protocol.CodeCallUnavailable, false},
		{"accept: unknown call, long extendedData", opFrame("callAccept", `{"callID":"nosuch","config":{"extendedData":"`+long(2049)+`"}}`), bad, false},
		{"accept: unknown call, config an array", opFrame("callAccept", `{"callID":"nosuch","config":[]}`), bad, false},
		{"reject: unknown call", opFrame("callReject", `{"callID":"nosuch","config":{"extendedData":"`+long(2048)+`"}}`), protocol.CodeCallUnavailable, false},
		{"cancel: invitees a string", opFrame("callCancel", `{"callID":"nosuch","invitees":"bob"}`), bad, false},
		{"cancel: unknown call, long pushConfig", opFrame("callCancel", `{"callID":"nosuch","config":{"pushConfig":{"title":"`+long(257)+`"}}}`), bad, false},
		{"cancel: unknown call", opFrame("callCancel", `{"callID":"nosuch","invitees":[]}`), protocol.CodeCallUnavailable, false},
		{"callingInvite: no invitees", opFrame("callingInvite", `{"callID":"nosuch"}`), bad, false},
		{"callingInvite: unknown call, ten invitees", opFrame("callingInvite", `{"callID":"nosuch","invitees":`+ten+`}`), protocol.CodeCallUnavailable, false},
		{"callingInvite: timeout 601", opFrame("callingInvite", `{"callID":"nosuch","invitees":["bob"],"config":{"timeout":601}}`), bad, false},
		{"join: unknown call", opFrame("callJoin", `{"callID":"nosuch"}`), protocol.CodeCallUnavailable, false},
		{"quit: unknown call, long extendedData", opFrame("callQuit", `{"callID":"nosuch","config":{"extendedData":"`+long(2049)+`"}}`), bad, false},
		{"end: unknown call", opFrame("callEnd", `{"callID":"nosuch"}`), protocol.CodeCallUnavailable, false},
		{"received: no callID", opFrame("callReceived", `{}`), bad, false},
		{"received: unknown call", opFrame("callReceived", `{"callID":"nosuch"}`), protocol.CodeCallUnavailable, false},
		{"queryCall: no callID", opFrame("queryCall", `{}`), bad, false},
		{"queryCall: unknown call", opFrame("queryCall", `{"callID":"nosuch"}`), protocol.CodeCallUnavailable, false},

		{"list: count -1", opFrame("queryCallInvitationList", `{"config":{"count":-1}}`), bad, false},
		{"list: count fraction", opFrame("queryCallInvitationList", `{"config":{"count":2.5}}`), bad, false},
		{"list: count a string", opFrame("queryCallInvitationList", `{"config":{"count":"5"}}`), bad, false},
		{"list: count 1000", opFrame("queryCallInvitationList", `{"config":{"count":1000}}`), 0, false},
		{"list: count past 53 bits", opFrame("queryCallInvitationList", `{"config":{"count":9007199254740993}}`), bad, false},
		{"list: nextFlag -1", opFrame("queryCallInvitationList", `{"config":{"nextFlag":-1}}`), bad, false},
		{"list: nextFlag past 53 bits", opFrame("queryCallInvitationList", `{"config":{"nextFlag":9007199254740992}}`), bad, false},
		{"list: nextFlag exponent", opFrame("queryCallInvitationList", `{"config":{"nextFlag":1e3}}`), bad, false},
		{"list: config null", opFrame("queryCallInvitationList", `{"config":null}`), 0, false},
		{"list: no data", `{"id":7,"op":"queryCallInvitationList"}`, 0, false},
		{"heartbeat: unknown data fields", opFrame("heartbeat", `{"x":1}`), 0, false},
		{"logout: data an array", opFrame("logout", `[]`), bad, false},

		{"pushRegister: unknown provider", opFrame("pushRegister", `{"provider":"gcm","token":"t"}`), bad, false},
		{"pushRegister: provider in other case", opFrame("pushRegister", `{"provider":"FCM","token":"t"}`), bad, false},
		{"pushRegister: no token", opFrame("pushRegister", `{"provider":"fcm"}`), bad, false},
		{"pushRegister: token 4097 bytes", opFrame("pushRegister", `{"provider":"fcm","token":"`+long(4097)+`"}`), bad, false},
		{"pushRegister: token 4096 bytes", opFrame("pushRegister", `{"provider":"fcm","token":"`+long(4096)+`"}`), 0, false},
		{"pushRegister: token a number", opFrame("pushRegister", `{"provider":"fcm","token":5}`), bad, false},
		{"pushRegister: voip a string", opFrame("pushRegister", `{"provider":"apns","token":"t","bundleID":"a.b","voip":"true"}`), bad, false},
		{"pushRegister: apns without bundleID", opFrame("pushRegister", `{"provider":"apns","token":"t"}`), bad, false},
		{"pushRegister: bundleID with a line break", opFrame("pushRegister", `{"provider":"apns","token":"t","bundleID":"a.b\n"}`), bad, false},
		{"pushRegister: appID 256 bytes", opFrame("pushRegister", `{"provider":"fcm","token":"t","appID":"`+long(256)+`"}`), bad, false},
		{"pushRegister: apns", opFrame("pushRegister", `{"provider":"apns","token":"t","bundleID":"com.example.app","voip":true}`), 0, false},
		{"pushUnregister: unknown provider", opFrame("pushUnregister", `{"provider":"gcm","token":"t"}`), bad, false},
		{"pushUnregister: not registered", opFrame("pushUnregister", `{"provider":"fcm","token":"never"}`), 0, false},
	})
}

// TestLoginConformance: protocol.md "Login": before a login every op is 6000121 (§8: first of
// all codes), a login whose data is malformed is 6000001 and leaves the connection open for
// another try, 6000001 winning over a token that does not verify (§8 order); a token that
// does not verify is 6000291, then kicked authFailed (retry false) and close 4006.
func TestLoginConformance(t *testing.T) {
	srv := servertest.Start(t, quiet...)
	tok := servertest.Token(t, "alice")
	login := func(data string) string { return opFrame("login", data) }
	const bad = protocol.CodeInvalidParameter
	cases := []wsCase{
		{"op before login", opFrame("heartbeat", `{}`), protocol.CodeNotLoggedIn, false},
		{"unknown op before login", opFrame("callTeleport", `{}`), protocol.CodeNotLoggedIn, false},
		{"invalid data before login", opFrame("callAccept", `[]`), protocol.CodeNotLoggedIn, false},
		{"bad frame before login", `{"id":"1","op":"login"}`, 0, true},
		{"data a string", login(`"x"`), bad, false},
		{"data null", login(`null`), bad, false},
		{"no token", login(`{"deviceID":"a1"}`), bad, false},
		{"token a number", login(`{"token":5,"deviceID":"a1"}`), bad, false},
		{"no deviceID", login(`{"token":"` + tok + `"}`), bad, false},
		{"deviceID with a space", login(`{"token":"` + tok + `","deviceID":"a 1"}`), bad, false},
		{"deviceID 65 bytes", login(`{"token":"` + tok + `","deviceID":"` + strings.Repeat("d", 65) + `"}`), bad, false},
		{"deviceID a lone surrogate", login(`{"token":"` + tok + `","deviceID":"\ud800"}`), bad, false},
		{"lastSeq -1", login(`{"token":"` + tok + `","deviceID":"a1","lastSeq":-1}`), bad, false},
		{"lastSeq fraction", login(`{"token":"` + tok + `","deviceID":"a1","lastSeq":1.5}`), bad, false},
		{"lastSeq a string", login(`{"token":"` + tok + `","deviceID":"a1","lastSeq":"1"}`), bad, false},
		{"lastSeq past 53 bits", login(`{"token":"` + tok + `","deviceID":"a1","lastSeq":9007199254740992}`), bad, false},
		{"bad deviceID and bad token", login(`{"token":"nonsense","deviceID":"a 1"}`), bad, false},
		{"bad idem", `{"id":7,"op":"login","idem":"short","data":{"token":"` + tok + `","deviceID":"a1"}}`, bad, false},
	}
	// All on one connection, which stays open after each (no more than 4 bad frames).
	c := dialRaw(t, srv)
	runWSCases(t, func() *wsClient { return c }, len(cases), cases)

	f := c.request(replyID, login(`{"token":"nonsense","deviceID":"a1"}`))
	if got := frameCode(f); got != protocol.CodeAuthFailed {
		t.Errorf("a token that does not verify answered %d, want 6000291", got)
	}
	expectKick(t, c, protocol.KickAuthFailed, false, 4006)
}

// expectKick reads c up to its close and checks the last frame is kicked with reason and
// retry and without seq, and the close code is code (protocol.md "Events": kick reasons).
func expectKick(t *testing.T, c *wsClient, reason string, retry bool, code int) {
	t.Helper()
	var last json.RawMessage
	for {
		data, err := c.next()
		if err != nil {
			if got := closeCode(err); got != code {
				t.Errorf("%s: closed with %d (%v), want %d", reason, got, err, code)
			}
			break
		}
		last = data
	}
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(last, &ev); err != nil || string(ev["event"]) != `"kicked"` {
		t.Fatalf("%s: last frame before the close %s, want kicked", reason, last)
	}
	if _, has := ev["seq"]; has {
		t.Errorf("%s: kicked %s has a seq", reason, last)
	}
	want := fmt.Sprintf(`{"reason":%q,"retry":%v}`, reason, retry)
	if string(ev["data"]) != want {
		t.Errorf("kicked data %s, want %s", ev["data"], want)
	}
}

// TestKickConformance: protocol.md "Events", the kick reasons with their close codes and
// retry flags, and "Transport": the fifth bad frame within 60 s closes with 4005, a binary
// frame is a bad frame, a frame over 64 KiB closes with 1009 and no reply (one of 64 KiB is
// taken), a text frame that is not UTF-8 closes with 1007 (docs/protocol.md).
func TestKickConformance(t *testing.T) {
	srv := servertest.Start(t, "--max-devices-per-user", "1")

	before := dialRaw(t, srv) // bad frames before login count as bad frames
	for range 5 {
		before.send(`{"op":"login"}`)
	}
	expectKick(t, before, protocol.KickBadFrames, true, 4005)

	c := loggedIn(t, srv, "alice", "a1")
	for range 4 {
		c.send(`[]`)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageBinary, []byte(`{"id":5,"op":"heartbeat"}`)); err != nil {
		t.Fatal(err)
	}
	expectKick(t, c, protocol.KickBadFrames, true, 4005)

	c = loggedIn(t, srv, "alice", "a1")
	f := c.request(replyID, opFrame("logout", `{}`))
	if f.Error != nil || string(f.Result) != `{}` {
		t.Errorf("logout answered %+v %s, want {}", f.Error, f.Result)
	}
	expectKick(t, c, protocol.KickLogout, false, 4002)

	old := loggedIn(t, srv, "bob", "b1")
	loggedIn(t, srv, "bob", "b1")
	expectKick(t, old, protocol.KickReplaced, false, 4001)

	second := dialRaw(t, srv)
	f = second.request(1, `{"id":1,"op":"login","data":{"token":"`+servertest.Token(t, "bob")+`","deviceID":"b2"}}`)
	if got := frameCode(f); got != protocol.CodeTooManyDevices {
		t.Errorf("a login past the devices per user answered %d, want 6000293", got)
	}
	expectKick(t, second, protocol.KickTooManyDevices, false, 4008)

	big := dialRaw(t, srv)
	// The server may close before it has read the whole frame, so the write may fail.
	_ = big.conn.Write(ctx, websocket.MessageText, []byte(`{"id":1,"op":"heartbeat","data":{"x":"`+strings.Repeat("x", protocol.MaxFrameBytes)+`"}}`))
	data, err := big.next()
	if got := closeCode(err); got != int(websocket.StatusMessageTooBig) {
		t.Errorf("a frame over 64 KiB: read %s, %v; want the close 1009 and no reply", data, err)
	}

	exact := loggedIn(t, srv, "erin", "e1")
	frame := `{"id":7,"op":"heartbeat","data":{"x":""}}`
	frame = strings.Replace(frame, `""`, `"`+strings.Repeat("x", protocol.MaxFrameBytes-len(frame))+`"`, 1)
	if f := exact.request(replyID, frame); len(frame) != protocol.MaxFrameBytes || f.Error != nil {
		t.Errorf("a frame of %d bytes answered %+v, want a result", len(frame), f.Error)
	}

	notUTF8 := loggedIn(t, srv, "frank", "f1")
	notUTF8.send("{\"id\":7,\"op\":\"heartbeat\",\"data\":{\"x\":\"\xff\"}}")
	if data, err := notUTF8.next(); closeCode(err) != int(websocket.StatusInvalidFramePayloadData) {
		t.Errorf("a text frame that is not UTF-8: read %s, %v; want the close 1007", data, err)
	}

	silent := loggedIn(t, srv, "carol", "c1") // silent past --heartbeat-timeout 3s
	expectKick(t, silent, protocol.KickHeartbeat, true, 4009)

	last := loggedIn(t, srv, "dave", "d1")
	srv.Stop()
	expectKick(t, last, protocol.KickShutdown, true, 4003)
}

// jsonType names the JSON type of a raw value as the shape tables below write it.
func jsonType(v json.RawMessage) string {
	switch s := strings.TrimSpace(string(v)); {
	case s == "true" || s == "false":
		return "bool"
	case strings.HasPrefix(s, `"`):
		return "string"
	case strings.HasPrefix(s, "["):
		return "array"
	case strings.HasPrefix(s, "{"):
		return "object"
	case s == "null":
		return "null"
	case strings.ContainsAny(s, ".eE"):
		return "number"
	}
	return "integer"
}

// checkShape checks that obj has exactly the fields of want, each of its JSON type.
func checkShape(t *testing.T, what string, obj json.RawMessage, want map[string]string) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(obj, &fields); err != nil {
		t.Errorf("%s: %s is not an object", what, obj)
		return
	}
	for name, typ := range want {
		if v, ok := fields[name]; !ok {
			t.Errorf("%s: no field %q in %s", what, name, obj)
		} else if got := jsonType(v); got != typ {
			t.Errorf("%s: %q is a JSON %s (%s), want %s", what, name, got, v, typ)
		}
	}
	for name := range fields {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: field %q is not in protocol.md: %s", what, name, obj)
		}
	}
}

// Shapes of protocol.md "Shapes" and "Events", by field: its JSON type.
var (
	callUserShape = map[string]string{"userID": "string", "state": "integer", "inviter": "string",
		"extendedData": "string", "deadline": "integer", "acceptTime": "integer", "updateTime": "integer"}
	eventShapes = map[string]map[string]string{
		protocol.EventCallInvitationCreated: {"callID": "string", "version": "integer", "mode": "integer",
			"caller": "string", "extendedData": "string", "timeout": "integer", "createTime": "integer", "callUserList": "array"},
		protocol.EventCallInvitationReceived: {"callID": "string", "version": "integer", "mode": "integer",
			"caller": "string", "inviter": "string", "extendedData": "string", "timeout": "integer", "deadline": "integer",
			"createTime": "integer", "callUserList": "array", "synthetic": "bool"},
		protocol.EventCallUserStateChanged:  {"callID": "string", "version": "integer", "callUserList": "array"},
		protocol.EventCallInvitationTimeout: {"callID": "string", "version": "integer", "mode": "integer"},
	}
)

// checkEvent checks an event frame: its event, an integer seq unless synthetic, and its
// data's shape (with the extra fields given), every callUserList entry a CallUserInfo.
func checkEvent(t *testing.T, frame json.RawMessage, name string, seq bool, extra map[string]string) {
	t.Helper()
	var f map[string]json.RawMessage
	if err := json.Unmarshal(frame, &f); err != nil {
		t.Fatal(err)
	}
	if _, has := f["seq"]; has != seq || seq && jsonType(f["seq"]) != "integer" {
		t.Errorf("%s: seq %s, want present: %v", name, f["seq"], seq)
	}
	want := map[string]string{}
	for k, v := range eventShapes[name] {
		want[k] = v
	}
	for k, v := range extra {
		want[k] = v
	}
	checkShape(t, name, f["data"], want)
	var data struct{ CallUserList []json.RawMessage }
	json.Unmarshal(f["data"], &data)
	for _, u := range data.CallUserList {
		checkShape(t, name+" callUserList", u, callUserShape)
	}
}

// nextEvent returns the next event frame named name, skipping replies.
func (c *wsClient) nextEvent(name string) json.RawMessage {
	c.t.Helper()
	_, raw := c.until(name, func(f protocol.Frame) bool { return f.Event == name })
	return raw
}

// TestEventConformance: protocol.md "Events" and "Shapes": each event's data holds exactly
// its fields, of their JSON types, zero and empty values included: synthetic is a bool on
// every callInvitationReceived (false but for R5.3, whose invitation has no seq), and
// callState and endTime are in a callUserStateChanged only when its change ended the call.
func TestEventConformance(t *testing.T) {
	srv := servertest.Start(t, quiet...)
	alice := loggedIn(t, srv, "alice", "a1")
	bob := loggedIn(t, srv, "bob", "b1")
	f := alice.request(replyID, opFrame("callInvite", `{"invitees":["bob"],"config":{"timeout":30}}`))
	if f.Error != nil {
		t.Fatal(f.Error)
	}
	var res struct{ CallID string }
	json.Unmarshal(f.Result, &res)
	checkEvent(t, alice.nextEvent(protocol.EventCallInvitationCreated), protocol.EventCallInvitationCreated, true, nil)
	checkEvent(t, bob.nextEvent(protocol.EventCallInvitationReceived), protocol.EventCallInvitationReceived, true, nil)

	again := loggedIn(t, srv, "bob", "b2") // no lastSeq: the invitation is synthesized (R5.3)
	checkEvent(t, again.nextEvent(protocol.EventCallInvitationReceived), protocol.EventCallInvitationReceived, false, nil)

	if f := bob.request(replyID, opFrame("callReceived", `{"callID":"`+res.CallID+`"}`)); f.Error != nil {
		t.Fatal(f.Error)
	}
	checkEvent(t, alice.nextEvent(protocol.EventCallUserStateChanged), protocol.EventCallUserStateChanged, true, nil)
	if f := bob.request(replyID, opFrame("callReject", `{"callID":"`+res.CallID+`"}`)); f.Error != nil {
		t.Fatal(f.Error)
	}
	checkEvent(t, alice.nextEvent(protocol.EventCallUserStateChanged), protocol.EventCallUserStateChanged, true,
		map[string]string{"callState": "integer", "endTime": "integer"})
}

// Result shapes of protocol.md "Ops" and "Shapes", by field: its JSON type.
var (
	callInfoShape = map[string]string{"callID": "string", "caller": "string", "inviter": "string", "mode": "integer",
		"state": "integer", "extendedData": "string", "createTime": "integer", "endTime": "integer", "version": "integer",
		"callUserList": "array"}
	errorUserShape = map[string]string{"userID": "string", "reason": "integer"}
	callIDShape    = map[string]string{"callID": "string"}
)

// result sends op with data on c, fails the test on an error and checks the result's shape.
func (c *wsClient) result(op, data string, shape map[string]string) json.RawMessage {
	c.t.Helper()
	f := c.request(replyID, opFrame(op, data))
	if f.Error != nil {
		c.t.Fatalf("%s %s: %+v", op, data, f.Error)
	}
	checkShape(c.t, op+" result", f.Result, shape)
	return f.Result
}

// TestOpResultAndEventShapes: protocol.md "Ops", "Events" and "Shapes": every result and
// every event of an advanced call's life holds exactly its fields, of their JSON types, lists
// included when empty.
func TestOpResultAndEventShapes(t *testing.T) {
	srv := servertest.Start(t, quiet...)
	alice := loggedIn(t, srv, "alice", "a1")
	bob := loggedIn(t, srv, "bob", "b1")
	carol := loggedIn(t, srv, "carol", "c1")
	dave := loggedIn(t, srv, "dave", "d1")
	erin := loggedIn(t, srv, "erin", "e1")

	raw := alice.result("callInvite", `{"invitees":["bob","carol","alice"],"config":{"mode":1,"timeout":30}}`,
		map[string]string{"callID": "string", "timeout": "integer", "errorUserList": "array", "callInfo": "object"})
	var inv struct {
		CallID        string
		ErrorUserList []json.RawMessage
		CallInfo      json.RawMessage
	}
	json.Unmarshal(raw, &inv)
	checkShape(t, "callInvite callInfo", inv.CallInfo, callInfoShape)
	for _, e := range inv.ErrorUserList {
		checkShape(t, "callInvite errorUserList", e, errorUserShape)
	}
	id := `"callID":"` + inv.CallID + `"`
	bob.nextEvent(protocol.EventCallInvitationReceived)
	bob.result("callReceived", `{`+id+`}`, map[string]string{})
	bob.result("callAccept", `{`+id+`}`, callIDShape)

	bob2 := loggedIn(t, srv, "bob", "b2")
	bob2.result("callJoin", `{`+id+`}`, map[string]string{"callID": "string", "createTime": "integer",
		"joinTime": "integer", "callUserList": "array", "extendedData": "string"})
	checkEvent(t, bob.nextEvent(protocol.EventCallMainDeviceChanged), protocol.EventCallMainDeviceChanged, true,
		map[string]string{"callID": "string", "version": "integer", "deviceID": "string"})

	alice.result("callCancel", `{`+id+`,"invitees":["carol"]}`, map[string]string{"callID": "string", "errorInvitees": "array"})
	checkEvent(t, carol.nextEvent(protocol.EventCallInvitationCancelled), protocol.EventCallInvitationCancelled, true,
		map[string]string{"callID": "string", "version": "integer", "mode": "integer", "inviter": "string",
			"extendedData": "string", "callUserList": "array"})

	alice.result("callingInvite", `{`+id+`,"invitees":["dave"],"config":{"timeout":1}}`,
		map[string]string{"callID": "string", "errorUserList": "array"})
	checkEvent(t, dave.nextEvent(protocol.EventCallInvitationTimeout), protocol.EventCallInvitationTimeout, true, nil)

	alice.result("callingInvite", `{`+id+`,"invitees":["erin"]}`, map[string]string{"callID": "string", "errorUserList": "array"})
	bob2.result("callQuit", `{`+id+`}`, map[string]string{"callID": "string", "createTime": "integer",
		"acceptTime": "integer", "quitTime": "integer"})
	alice.result("queryCall", `{`+id+`}`, map[string]string{"callInfo": "object"})
	alice.result("callEnd", `{`+id+`}`, map[string]string{"callID": "string", "createTime": "integer",
		"acceptTime": "integer", "endTime": "integer"})
	checkEvent(t, erin.nextEvent(protocol.EventCallInvitationEnded), protocol.EventCallInvitationEnded, true,
		map[string]string{"callID": "string", "version": "integer", "mode": "integer", "caller": "string",
			"operatedUserID": "string", "extendedData": "string", "endTime": "integer"})

	raw = erin.result("queryCallInvitationList", `{}`, map[string]string{"callList": "array", "nextFlag": "integer"})
	var list struct{ CallList []json.RawMessage }
	json.Unmarshal(raw, &list)
	for _, c := range list.CallList {
		checkShape(t, "callList", c, callInfoShape)
	}
	erin.result("heartbeat", `{}`, map[string]string{"serverTime": "integer"})

	c := dialRaw(t, srv)
	f := c.request(1, `{"id":1,"op":"login","data":{"token":"`+servertest.Token(t, "frank")+`","deviceID":"f1"}}`)
	checkShape(t, "login result", f.Result, map[string]string{"userID": "string", "deviceID": "string", "headSeq": "integer",
		"caughtUp": "bool", "heartbeatIntervalMs": "integer", "heartbeatTimeoutMs": "integer", "serverTime": "integer"})
}
