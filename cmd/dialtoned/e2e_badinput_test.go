package main

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/auth"
	"github.com/dialtone/dialtone/protocol"
)

// rawConn is a bare WebSocket for sending what no SDK would.
type rawConn struct {
	t    *testing.T
	conn *websocket.Conn
}

func (ts *testServer) raw(t *testing.T) *rawConn {
	t.Helper()
	return ts.rawWith(t, nil)
}

// rawWith dials with opts (nil for the defaults).
func (ts *testServer) rawWith(t *testing.T, opts *websocket.DialOptions) *rawConn {
	t.Helper()
	conn, _, err := websocket.Dial(t.Context(), ts.URL, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	return &rawConn{t: t, conn: conn}
}

func (r *rawConn) send(frame string) {
	r.t.Helper()
	if err := r.conn.Write(r.t.Context(), websocket.MessageText, []byte(frame)); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// next reads the next frame; it fails the test on a close or after waitFor.
func (r *rawConn) next() protocol.Frame {
	r.t.Helper()
	data := r.nextBytes()
	var f protocol.Frame
	if err := json.Unmarshal(data, &f); err != nil {
		r.t.Fatalf("server sent non-JSON %q", data)
	}
	return f
}

// nextBytes reads the next frame as the server wrote it; it fails the test on a close or after
// waitFor.
func (r *rawConn) nextBytes() []byte {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), waitFor)
	defer cancel()
	_, data, err := r.conn.Read(ctx)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return data
}

// read reads the next frame, or returns the error that ended the connection.
func (r *rawConn) read() (protocol.Frame, error) {
	ctx, cancel := context.WithTimeout(r.t.Context(), waitFor)
	defer cancel()
	_, data, err := r.conn.Read(ctx)
	if err != nil {
		return protocol.Frame{}, err
	}
	var f protocol.Frame
	err = json.Unmarshal(data, &f)
	return f, err
}

// reply reads frames up to the reply to request id, skipping events.
func (r *rawConn) reply(id int64) protocol.Frame {
	r.t.Helper()
	for {
		if f := r.next(); f.Event == "" && f.ID == id {
			return f
		}
	}
}

// errorCode reads the next frame and returns its error code (0 when it is not an error).
func (r *rawConn) errorCode() protocol.Code {
	r.t.Helper()
	f := r.next()
	if f.Error == nil {
		return 0
	}
	return f.Error.Code
}

// closed waits for the server to close the connection and returns the close code.
func (r *rawConn) closed() websocket.StatusCode {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), waitFor)
	defer cancel()
	for {
		if _, _, err := r.conn.Read(ctx); err != nil {
			if ctx.Err() != nil {
				r.t.Fatal("connection not closed")
			}
			return websocket.CloseStatus(err)
		}
	}
}

func (r *rawConn) login(user string) {
	r.t.Helper()
	r.send(`{"id":1,"op":"login","data":{"token":"` + token(r.t, user) + `","deviceID":"raw"}}`)
	if f := r.next(); f.Error != nil {
		r.t.Fatalf("login: %v", f.Error)
	}
}

// Transport and login errors of protocol.md, each with its code, and the server keeps serving.
func TestE2EBadInput(t *testing.T) {
	ts := startServer(t)
	t.Run("ops before login → 6000121", func(t *testing.T) {
		r := ts.raw(t)
		r.send(`{"id":1,"op":"callInvite","data":{"invitees":["bob"]}}`)
		if c := r.errorCode(); c != protocol.CodeNotLoggedIn {
			t.Errorf("code %d", c)
		}
		r.send(`{"id":2,"op":"noSuchOp"}`)
		if c := r.errorCode(); c != protocol.CodeNotLoggedIn {
			t.Errorf("unknown op before login: code %d, want 6000121 (§8 order)", c)
		}
	})
	t.Run("garbage frames → 6000001 without id; the 5th closes with 4005", func(t *testing.T) {
		r := ts.raw(t)
		for i, frame := range []string{`not json`, `[1,2]`, `{"op":"login"}`, `{"id":-3,"op":"x"}`, `{"id":1.5,"op":"x"}`} {
			r.send(frame)
			f := r.next()
			if i < 4 && (f.Error == nil || f.Error.Code != protocol.CodeInvalidParameter || f.ID != 0) {
				t.Errorf("frame %q: reply %+v", frame, f)
			}
			if i == 4 {
				for f.Event != protocol.EventKicked {
					f = r.next()
				}
				var k protocol.Kicked
				_ = json.Unmarshal(f.Data, &k)
				if k.Reason != protocol.KickBadFrames || !k.Retry {
					t.Errorf("kicked = %+v", k)
				}
			}
		}
		if c := r.closed(); c != 4005 {
			t.Errorf("close code %d, want 4005", c)
		}
	})
	t.Run("binary frame is a bad frame", func(t *testing.T) {
		r := ts.raw(t)
		must(t, r.conn.Write(t.Context(), websocket.MessageBinary, []byte(`{"id":1,"op":"heartbeat"}`)))
		if c := r.errorCode(); c != protocol.CodeInvalidParameter {
			t.Errorf("code %d", c)
		}
	})
	t.Run("oversize frame closes with 1009", func(t *testing.T) {
		r := ts.raw(t)
		big := `{"id":1,"op":"login","data":{"token":"` + strings.Repeat("x", protocol.MaxFrameBytes) + `"}}`
		_ = r.conn.Write(t.Context(), websocket.MessageText, []byte(big))
		if c := r.closed(); c != websocket.StatusMessageTooBig {
			t.Errorf("close code %d, want 1009", c)
		}
	})
	t.Run("malformed login data → 6000001 and the connection stays", func(t *testing.T) {
		r := ts.raw(t)
		r.send(`{"id":1,"op":"login","data":{"deviceID":"d"}}`)
		if c := r.errorCode(); c != protocol.CodeInvalidParameter {
			t.Errorf("missing token: code %d", c)
		}
		r.send(`{"id":2,"op":"login","data":{"token":"x","deviceID":"bad device id with spaces"}}`)
		if c := r.errorCode(); c != protocol.CodeInvalidParameter {
			t.Errorf("bad deviceID: code %d", c)
		}
		r.send(`{"id":3,"op":"login","data":{"token":"x","deviceID":"d","lastSeq":9007199254740992}}`)
		if c := r.errorCode(); c != protocol.CodeInvalidParameter {
			t.Errorf("lastSeq beyond 53 bits: code %d", c)
		}
		r.send(`{"id":4,"op":"login","data":{"token":"x","deviceID":"d","future":[` +
			strings.Repeat("null,", protocol.MaxDataItems) + `null]}}`)
		if c := r.errorCode(); c != protocol.CodeInvalidParameter {
			t.Errorf("more than %d names and values (protocol.md \"Shapes\"): code %d", protocol.MaxDataItems, c)
		}
		r.login("alice")
	})
	for name, tok := range map[string]string{
		"garbage token": "not-a-jwt",
		"wrong secret":  mustMint(t, "some-other-secret-123", "alice", time.Hour, time.Now()),
		"expired token": mustMint(t, testSecret, "alice", time.Minute, time.Now().Add(-time.Hour)),
	} {
		t.Run(name+" → 6000291, kicked authFailed, close 4006", func(t *testing.T) {
			r := ts.raw(t)
			r.send(`{"id":1,"op":"login","data":{"token":"` + tok + `","deviceID":"d"}}`)
			if c := r.errorCode(); c != protocol.CodeAuthFailed {
				t.Errorf("code %d", c)
			}
			if f := r.next(); f.Event != protocol.EventKicked {
				t.Errorf("want kicked, got %+v", f)
			}
			if c := r.closed(); c != 4006 {
				t.Errorf("close code %d", c)
			}
		})
	}
	t.Run("logged in: unknown op, wrong types, bad values", func(t *testing.T) {
		r := ts.raw(t)
		r.login("carol")
		for frame, want := range map[string]protocol.Code{
			`{"id":2,"op":"noSuchOp"}`:                                                                                           protocol.CodeUnknownOp,
			`{"id":3,"op":"callInvite","data":{"invitees":"bob"}}`:                                                               protocol.CodeInvalidParameter,
			`{"id":4,"op":"callInvite","data":{"invitees":["bob"],"config":{"timeout":1.5}}}`:                                    protocol.CodeInvalidParameter,
			`{"id":5,"op":"callInvite","data":{"invitees":["bob"],"config":{"timeout":601}}}`:                                    protocol.CodeInvalidParameter,
			`{"id":6,"op":"callInvite","data":{"invitees":[]}}`:                                                                  protocol.CodeInvalidParameter,
			`{"id":7,"op":"callAccept","data":{"callID":"nope"}}`:                                                                protocol.CodeCallUnavailable,
			`{"id":8,"op":"callAccept","data":[]}`:                                                                               protocol.CodeInvalidParameter,
			`{"id":9,"op":"callInvite","data":{"invitees":["bob"]},"idem":"short"}`:                                              protocol.CodeInvalidParameter,
			`{"id":10,"op":"queryCallInvitationList","data":{"config":{"count":-1}}}`:                                            protocol.CodeInvalidParameter,
			`{"id":11,"op":"callInvite","data":{"invitees":["carol"]}}`:                                                          protocol.CodeNoValidInvitee,
			`{"id":12,"op":"login","data":{"token":"x","deviceID":"d"}}`:                                                         protocol.CodeInvalidParameter,
			`{"id":13,"op":"callInvite","data":{"invitees":["a","b","c","d","e","f","g","h","i","j"]}}`:                          protocol.CodeTooManyUsers,
			`{"id":14,"op":"heartbeat","data":"not an object"}`:                                                                  protocol.CodeInvalidParameter,
			`{"id":15,"op":"logout","data":[]}`:                                                                                  protocol.CodeInvalidParameter,
			`{"id":16,"op":"callReceived","data":{"callID":"nope"},"idem":"short"}`:                                              protocol.CodeInvalidParameter,
			`{"id":17,"op":"callAccept","data":{"callID":"nope","config":{"extendedData":"` + strings.Repeat("x", 2049) + `"}}}`: protocol.CodeInvalidParameter,
		} {
			r.send(frame)
			if c := r.errorCode(); c != want {
				t.Errorf("%s: code %d, want %d", frame, c, want)
			}
		}
	})
	// After all of that the server still serves.
	d := ts.login(t, "dave", "d")
	if _, err := d.QueryCallInvitationList(t.Context(), 1, 0); err != nil {
		t.Errorf("server unusable after bad input: %v", err)
	}
}

// Behaviour §12: requests in flight together under one id (the client's error) are each
// carried out and answered under that id, and the connection goes on serving.
func TestE2EDuplicateRequestIDsAreEachAnswered(t *testing.T) {
	ts := startServer(t)
	r := ts.raw(t)
	r.login("alice")
	r.send(`{"id":2,"op":"callInvite","data":{"invitees":["bob"]}}`)
	r.send(`{"id":2,"op":"queryCallInvitationList","data":{}}`)
	r.send(`{"id":2,"op":"heartbeat"}`)
	var results []string
	for len(results) < 3 {
		f := r.next()
		if f.Event != "" {
			continue
		}
		if f.ID != 2 || f.Error != nil {
			t.Fatalf("reply %d %s %v, want a result for id 2", f.ID, f.Result, f.Error)
		}
		var m map[string]json.RawMessage
		must(t, json.Unmarshal(f.Result, &m))
		for _, field := range []string{"callID", "callList", "serverTime"} {
			if m[field] != nil {
				results = append(results, field)
			}
		}
	}
	slices.Sort(results)
	if !slices.Equal(results, []string{"callID", "callList", "serverTime"}) {
		t.Errorf("replies under id 2 hold %v, want one of each request's", results)
	}
	r.send(`{"id":3,"op":"heartbeat"}`)
	if f := r.reply(3); f.Error != nil {
		t.Errorf("heartbeat after the duplicates: %v", f.Error)
	}
}

// R6.2: a second login with the same deviceID replaces the first (kicked replaced, 4001);
// one device more than maxDevicesPerUser is refused with 6000293.
func TestE2EDevicesPerUser(t *testing.T) {
	ts := startServer(t, "--max-devices-per-user", "2")
	first := ts.raw(t)
	first.login("alice")
	second := ts.raw(t)
	second.login("alice") // same deviceID "raw"
	for f := first.next(); f.Event != protocol.EventKicked; f = first.next() {
	}
	if c := first.closed(); c != 4001 {
		t.Errorf("replaced session closed with %d, want 4001", c)
	}
	ts.login(t, "alice", "phone")
	r := ts.raw(t)
	r.send(`{"id":1,"op":"login","data":{"token":"` + token(t, "alice") + `","deviceID":"third"}}`)
	if c := r.errorCode(); c != protocol.CodeTooManyDevices {
		t.Errorf("third device: code %d, want 6000293", c)
	}
}

func mustMint(t *testing.T, secret, user string, ttl time.Duration, now time.Time) string {
	t.Helper()
	tok, err := auth.Mint([]byte(secret), user, ttl, now, "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// R6.2: of two connections of one device, the one opened later wins whatever the order of the
// logins: a login that arrives late on a connection the client already gave up must not kick
// the client's new connection.
func TestE2EStaleLoginDoesNotReplaceNewerConnection(t *testing.T) {
	ts := startServer(t)
	stale := ts.raw(t) // opened first, logs in last
	fresh := ts.raw(t)
	fresh.login("alice")
	stale.send(`{"id":1,"op":"login","data":{"token":"` + token(t, "alice") + `","deviceID":"raw"}}`)
	if f := stale.reply(1); f.Error == nil {
		t.Fatalf("stale login accepted: %+v", f)
	}
	if c := stale.closed(); c != 4001 {
		t.Errorf("stale connection closed with %d, want 4001 (replaced)", c)
	}
	fresh.send(`{"id":2,"op":"heartbeat"}`)
	if f := fresh.reply(2); f.Error != nil {
		t.Errorf("the newer connection was disturbed: %v", f.Error)
	}
}

// spentInviteLimit starts a server allowing one invite per user and minute and returns alice's
// connection after she made hers.
func spentInviteLimit(t *testing.T) (*testServer, *rawConn) {
	t.Helper()
	ts := startServer(t, "--max-invites-per-minute", "1")
	r := ts.raw(t)
	r.login("alice")
	r.send(`{"id":2,"op":"callInvite","data":{"invitees":["bob"]}}`)
	if f := r.reply(2); f.Error != nil {
		t.Fatalf("first invite: %v", f.Error)
	}
	return ts, r
}

// wantRateLimited sends frame, whose id is id, and checks it is refused with 6000292.
func (r *rawConn) wantRateLimited(id int64, frame string) {
	r.t.Helper()
	r.send(frame)
	if f := r.reply(id); f.Error == nil || f.Error.Code != protocol.CodeRateLimited {
		r.t.Errorf("%s past the invite limit: %+v, want 6000292", frame, f.Error)
	}
}

// Behaviour §8: past the invites-per-minute limit, every callInvite and callingInvite is
// refused with 6000292, which wins over 6000001 however malformed the request is.
func TestE2EInviteRateLimit(t *testing.T) {
	_, r := spentInviteLimit(t)
	for i, data := range []string{
		`{"invitees":["carol"]}`,
		`{"invitees":["carol"],"config":{"mode":7}}`,
		`{"invitees":"carol"}`,
		`{"invitees":["carol"],"config":{"extendedData":"` + strings.Repeat("x", 3000) + `"}}`,
	} {
		id := int64(10 + i)
		r.wantRateLimited(id, `{"id":`+strconv.FormatInt(id, 10)+`,"op":"callInvite","data":`+data+`}`)
	}
	r.wantRateLimited(20, `{"id":20,"op":"callingInvite","data":{"invitees":["carol"]}}`)       // no callID either
	r.wantRateLimited(22, `{"id":22,"op":"callInvite","data":{"invitees":["carol"]},"idem":5}`) // idem not a string
	r.wantRateLimited(23, `{"id":23,"op":"callingInvite","data":{"invitees":["carol"]},"idem":{}}`)
	r.send(`{"id":21,"op":"queryCallInvitationList","data":{"count":1}}`) // other ops are not limited
	if f := r.reply(21); f.Error != nil {
		t.Errorf("query past the invite limit: %v", f.Error)
	}
}

// Transport limits are per user: logging in again does not give a user new invites this minute.
func TestE2EInviteLimitSurvivesReconnect(t *testing.T) {
	ts, r := spentInviteLimit(t)
	r.conn.CloseNow()
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 0") // alice has no session left
	r = ts.raw(t)
	r.login("alice")
	r.wantRateLimited(2, `{"id":2,"op":"callInvite","data":{"invitees":["carol"]}}`)
}

// protocol.md "Transport": the requests per second are a limit per connection, logins before
// the connection is logged in included; past it a login is refused with 6000292, which wins
// over 6000001 (behaviour §8), and the connection stays open for a later login.
func TestE2ERequestLimitCountsLoginsBeforeLogin(t *testing.T) {
	ts := startServer(t, "--max-requests-per-second", "2")
	r := ts.raw(t)
	const n = 6
	for i := 1; i <= n; i++ {
		r.send(`{"id":` + strconv.Itoa(i) + `,"op":"login","data":{"deviceID":"d"}}`) // no token: 6000001
	}
	codes := map[protocol.Code]int{}
	for range n {
		codes[r.errorCode()]++
	}
	if codes[protocol.CodeRateLimited] == 0 || codes[protocol.CodeInvalidParameter]+codes[protocol.CodeRateLimited] != n {
		t.Errorf("%d malformed logins at once with 2 requests/s allowed: codes %v, want 6000001 then 6000292", n, codes)
	}
	time.Sleep(time.Second) // the limit refills
	r.login("alice")
}

// Behaviour §8 orders 6000292 before 6000002: past the requests-per-second limit an unknown op
// is refused as rate limited (and, like any unknown op, is not a bad frame); once the limit has
// refilled it is 6000002 again. Past the invite limit an invite is 6000292 however malformed
// (TestE2EInviteRateLimit), while an unknown op, which is no invite, stays 6000002.
func TestE2ERateLimitWinsOverUnknownOp(t *testing.T) {
	_, r := spentInviteLimit(t)
	r.send(`{"id":3,"op":"noSuchOp","data":{"invitees":["carol"]}}`)
	if f := r.reply(3); f.Error == nil || f.Error.Code != protocol.CodeUnknownOp {
		t.Errorf("unknown op past the invite limit: %+v, want 6000002", f.Error)
	}
	r.wantRateLimited(4, `{"id":4,"op":"callInvite","data":{"invitees":["carol"]}}`)

	ts := startServer(t, "--max-requests-per-second", "1", "--heartbeat-interval", "2s", "--heartbeat-timeout", "6s") // heartbeats may take half the budget
	r = ts.raw(t)
	r.login("alice") // takes the second's one request
	const n = 6
	for i := 2; i < 2+n; i++ {
		r.send(`{"id":` + strconv.Itoa(i) + `,"op":"noSuchOp"}`)
	}
	limited := 0
	for i := 2; i < 2+n; i++ {
		f := r.reply(int64(i))
		if f.Error == nil || f.Error.Code != protocol.CodeRateLimited && f.Error.Code != protocol.CodeUnknownOp {
			t.Fatalf("unknown op %d: %+v", i, f.Error)
		}
		if f.Error.Code == protocol.CodeRateLimited {
			limited++
		}
	}
	if limited == 0 {
		t.Errorf("%d unknown ops at once with 1 request/s allowed: all 6000002, want 6000292 past the limit (§8: before 6000002)", n)
	}
	r.send(`{"id":20,"op":"heartbeat"}`) // the connection stays open: none was a bad frame
	for f := r.next(); f.ID != 20; f = r.next() {
	}
}

// Behaviour §12: an address holding maxUnauthenticatedPerIP connections not yet logged in has
// its next connection refused with one 6000292 frame and close 1008, which the SDK's Login
// reports as that code, so an app can back off. A login and a close each free a place.
func TestE2EUnauthenticatedPerIPLimit(t *testing.T) {
	ts := startServer(t, "--max-unauthenticated-per-ip", "2")
	first, second := ts.raw(t), ts.raw(t)
	refused := ts.raw(t)
	if c := refused.errorCode(); c != protocol.CodeRateLimited {
		t.Errorf("third connection not logged in: code %d, want 6000292", c)
	}
	if c := refused.closed(); c != 1008 {
		t.Errorf("third connection closed with %d, want 1008", c)
	}
	sdk := ts.dial(t, "alice", "a", client.Options{})
	if _, err := sdk.Login(t.Context(), token(t, "alice"), "a"); client.Code(err) != protocol.CodeRateLimited {
		t.Errorf("SDK login past the limit: %v, want code 6000292", err)
	}

	first.login("alice") // frees its place
	ts.login(t, "bob", "b")
	second.conn.CloseNow()
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 2") // first and bob's
	third, fourth := ts.raw(t), ts.raw(t)
	third.login("carol")
	fourth.login("dave")
}
