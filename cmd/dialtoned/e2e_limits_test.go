package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/protocol"
)

// multiByte returns n bytes of text ending in a two-byte character, so a limit counted in
// characters rather than bytes shows.
func multiByte(n int) string { return strings.Repeat("k", n-2) + "é" }

// protocol.md "Envelopes", R7.3: an idempotency key is 16–64 bytes on every op, whether the op
// keeps it or not: one of 15 or 65 bytes is 6000001, as a key that is not a string is, on the
// login, heartbeat, queries and logout as on the ops that change calls; 16 and 64 bytes pass.
func TestE2EIdempotencyKeyBoundsOnEveryOp(t *testing.T) {
	ts := startServer(t)
	r := ts.raw(t)
	id := int64(0)
	send := func(op, data, idem string) *protocol.Error {
		t.Helper()
		id++
		r.send(`{"id":` + strconv.FormatInt(id, 10) + `,"op":"` + op + `","data":` + data + `,"idem":"` + idem + `"}`)
		return r.reply(id).Error
	}
	login := `{"token":"` + token(t, "alice") + `","deviceID":"a"}`
	for _, n := range []int{15, 65} {
		if e := send(protocol.OpLogin, login, multiByte(n)); e == nil || e.Code != protocol.CodeInvalidParameter {
			t.Errorf("login with a key of %d bytes: %v, want 6000001", n, e)
		}
	}
	if e := send(protocol.OpLogin, login, multiByte(64)); e != nil {
		t.Fatalf("login with a key of 64 bytes: %v", e)
	}
	ops := []struct{ op, data string }{
		{protocol.OpHeartbeat, `{}`},
		{protocol.OpQueryCallInvitationList, `{"config":{"count":1}}`},
		{protocol.OpQueryCall, `{"callID":"NoSuchCall0123456789abcd"}`},
		{protocol.OpCallAccept, `{"callID":"NoSuchCall0123456789abcd"}`},
		{protocol.OpLogout, `{}`},
	}
	for _, o := range ops {
		for _, n := range []int{15, 65} {
			if e := send(o.op, o.data, multiByte(n)); e == nil || e.Code != protocol.CodeInvalidParameter {
				t.Errorf("%s with a key of %d bytes: %v, want 6000001", o.op, n, e)
			}
		}
	}
	for _, o := range ops[:4] {
		for _, n := range []int{16, 64} {
			if e := send(o.op, o.data, multiByte(n)); e != nil && e.Code == protocol.CodeInvalidParameter {
				t.Errorf("%s with a key of %d bytes: %v", o.op, n, e)
			}
		}
	}
}

// The size limits of behaviour R3.1 and §9 at n−1, n and n+1 bytes, each ending in a two-byte
// character (sizes are bytes, not characters), on every op that takes the field: n passes
// validation, n+1 is 6000001, which §8 puts before the unknown call's 6000276 and the busy
// caller's 6000290. The other numeric fields at their edges, integers written with a fraction
// or an exponent included (protocol.md "Shapes"), and the frame limit at exactly 64 KiB.
func TestE2ESizeAndRangeLimitsAtTheirEdges(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "1000", "--max-requests-per-second", "1000")
	r := ts.raw(t)
	r.login("carol")
	id := int64(1)
	code := func(op, data string) protocol.Code {
		t.Helper()
		id++
		r.send(`{"id":` + strconv.FormatInt(id, 10) + `,"op":"` + op + `","data":` + data + `}`)
		if f := r.reply(id); f.Error != nil {
			return f.Error.Code
		}
		return 0
	}
	check := func(what, op, data string, n int, refused bool) {
		t.Helper()
		c := code(op, data)
		if got := c == protocol.CodeInvalidParameter; got != refused {
			t.Errorf("%s %s of %d bytes: code %d, refused %v, want refused %v", op, what, n, c, got, refused)
		}
	}
	const unknown = `"callID":"NoSuchCall0123456789abcd"`
	pushOps := map[string]string{ // op → its data, with the config to fill in
		protocol.OpCallInvite:    `{"invitees":["bob"],"config":%s}`,
		protocol.OpCallingInvite: `{` + unknown + `,"invitees":["bob"],"config":%s}`,
		protocol.OpCallCancel:    `{` + unknown + `,"config":%s}`,
		protocol.OpCallQuit:      `{` + unknown + `,"config":%s}`,
		protocol.OpCallEnd:       `{` + unknown + `,"config":%s}`,
	}
	extOps := map[string]string{
		protocol.OpCallAccept: `{` + unknown + `,"config":%s}`,
		protocol.OpCallReject: `{` + unknown + `,"config":%s}`,
		protocol.OpCallJoin:   `{` + unknown + `,"config":%s}`,
	}
	for op, data := range pushOps {
		extOps[op] = data
	}
	fill := func(data, config string) string { return strings.Replace(data, "%s", config, 1) }
	for op, data := range extOps {
		for _, n := range []int{2047, 2048, 2049} {
			check("extendedData", op, fill(data, `{"extendedData":"`+multiByte(n)+`"}`), n, n > 2048)
		}
	}
	for op, data := range pushOps {
		for field, max := range map[string]int{"title": 256, "content": 256, "payload": 2048, "resourcesID": 32} {
			for _, n := range []int{max - 1, max, max + 1} {
				check("pushConfig."+field, op, fill(data, `{"pushConfig":{"`+field+`":"`+multiByte(n)+`"}}`), n, n > max)
			}
		}
	}
	// Ring timeouts of callInvite and callingInvite: 1..600, 0 = 90; -0 is 0.
	for _, op := range []string{protocol.OpCallInvite, protocol.OpCallingInvite} {
		for v, refused := range map[string]bool{"-1": true, "-0": false, "0": false, "1": false, "600": false,
			"601": true, "1.0": true, "1e2": true, "9223372036854775808": true} {
			if c := code(op, fill(pushOps[op], `{"timeout":`+v+`}`)); (c == protocol.CodeInvalidParameter) != refused {
				t.Errorf("%s timeout %s: code %d, want refused %v", op, v, c, refused)
			}
		}
	}
	// R3.10 paging: count 1..100, larger = 100, 0 = 20; nextFlag below 2^53.
	for config, refused := range map[string]bool{
		`{"count":-1}`: true, `{"count":-0}`: false, `{"count":0}`: false, `{"count":100}`: false,
		`{"count":101}`: false, `{"count":1.0}`: true, `{"count":1e2}`: true,
		`{"nextFlag":-1}`: true, `{"nextFlag":9007199254740991}`: false, `{"nextFlag":9007199254740992}`: true,
		`{"nextFlag":1.0}`: true,
	} {
		if c := code(protocol.OpQueryCallInvitationList, `{"config":`+config+`}`); (c == protocol.CodeInvalidParameter) != refused {
			t.Errorf("queryCallInvitationList %s: code %d, want refused %v", config, c, refused)
		}
	}
	// A request id of 2^53 − 1 is answered under it; 2^53, 1.0, 1e2 and -0 are bad frames.
	r.send(`{"id":9007199254740991,"op":"heartbeat"}`)
	if f := r.next(); f.ID != protocol.MaxInteger || f.Error != nil {
		t.Errorf("id 2^53 − 1: %+v", f)
	}
	for _, v := range []string{"9007199254740992", "1.0", "1e2", "-0"} {
		r.send(`{"id":` + v + `,"op":"heartbeat"}`)
		if f := r.next(); f.ID != 0 || f.Error == nil || f.Error.Code != protocol.CodeInvalidParameter {
			t.Errorf("id %s: %+v, want a bad frame", v, f)
		}
	}
	// A frame of exactly 64 KiB is read; one byte more closes the connection with 1009.
	frame := func(size int) string {
		head, tail := `{"id":99,"op":"heartbeat","data":{"pad":"`, `"}}`
		return head + strings.Repeat("p", size-len(head)-len(tail)) + tail
	}
	fresh := ts.raw(t)
	fresh.login("dave")
	fresh.send(frame(protocol.MaxFrameBytes))
	if f := fresh.reply(99); f.Error != nil {
		t.Errorf("a frame of exactly 64 KiB: %v", f.Error)
	}
	// The server may close before the frame is written whole.
	_ = fresh.conn.Write(t.Context(), websocket.MessageText, []byte(frame(protocol.MaxFrameBytes+1)))
	if c := fresh.closed(); c != 1009 {
		t.Errorf("a frame of 64 KiB + 1: close %d, want 1009", c)
	}
}

// docs/api.md: the server REST API's limits at their edges, as the protocol's: a body of
// exactly 64 KiB is read and one byte more is 6000001 (413: TestE2ERestAPIBodyTooLarge); an Idempotency-Key of 16 and 64
// bytes passes and 15 or 65 do not; count and nextFlag are paged as queryCallInvitationList.
func TestE2ERestAPILimitsAtTheirEdges(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	const accept = "/v1/api/calls/NoSuchCall0123456789abcd/accept"
	body := func(size int) string {
		head, tail := `{"userID":"bob","pad":"`, `"}`
		return head + strings.Repeat("p", size-len(head)-len(tail)) + tail
	}
	for size, want := range map[int]float64{protocol.MaxFrameBytes: 6000276, protocol.MaxFrameBytes + 1: 6000001} {
		if _, m := apiCall(t, ts, "POST", accept, apiKey, body(size)); errCode(m) != want {
			t.Errorf("a body of %d bytes: %v, want %v", size, m, want)
		}
	}
	for n, want := range map[int]float64{15: 6000001, 16: 6000276, 64: 6000276, 65: 6000001} {
		if _, m := apiCall(t, ts, "POST", accept, apiKey, `{"userID":"bob"}`, "Idempotency-Key", multiByte(n)); errCode(m) != want {
			t.Errorf("an Idempotency-Key of %d bytes: %v, want %v", n, m, want)
		}
	}
	for query, ok := range map[string]bool{
		"count=-1": false, "count=-0": true, "count=0": true, "count=100": true, "count=101": true,
		"count=1.0": false, "count=1e2": false, "count=99999999999999999999": false,
		"nextFlag=-1": false, "nextFlag=9007199254740991": true, "nextFlag=9007199254740992": false,
	} {
		st, m := apiCall(t, ts, "GET", "/v1/api/users/alice/calls?"+query, apiKey, "")
		if (st == 200) != ok || !ok && (st != 400 || errCode(m) != 6000001) {
			t.Errorf("%s: %d %v, want accepted %v", query, st, m, ok)
		}
	}
}
