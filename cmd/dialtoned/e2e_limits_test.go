package main

import (
	"strconv"
	"strings"
	"testing"

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
