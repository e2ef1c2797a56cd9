package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// exampleConn reads the frames of protocol.md's example on one connection, checking that the
// seqs of its events grow (protocol.md "Envelopes").
type exampleConn struct {
	*rawConn
	lastSeq int64
}

// read reads n frames and returns them by what they are: "reply N", or an event's name and
// version ("callUserStateChanged v2"). Each event's seq is checked to be greater than the
// connection's previous one, then removed: the example leaves its value open.
func (c *exampleConn) read(n int) map[string]map[string]any {
	c.t.Helper()
	got := map[string]map[string]any{}
	for range n {
		f := decodeNumbers(c.t, c.nextBytes())
		key := fmt.Sprint("reply ", f["id"])
		if name, ok := f["event"].(string); ok {
			data, _ := f["data"].(map[string]any)
			key = fmt.Sprint(name, " v", data["version"])
			seq := exampleInt(c.t, key+" seq", f["seq"])
			if seq <= c.lastSeq {
				c.t.Errorf("%s: seq %d after seq %d, want a greater one", key, seq, c.lastSeq)
			}
			c.lastSeq = seq
			delete(f, "seq")
		}
		if _, dup := got[key]; dup {
			c.t.Fatalf("%s twice", key)
		}
		got[key] = f
	}
	return got
}

// decodeNumbers decodes a JSON object, keeping numbers as written.
func decodeNumbers(t *testing.T, data []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	return v
}

// exampleInt returns v, a JSON integer, failing the test when it is not a positive one.
func exampleInt(t *testing.T, what string, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	i, err := strconv.ParseInt(string(n), 10, 64)
	if !ok || err != nil || i <= 0 {
		t.Fatalf("%s = %v, want a positive integer", what, v)
	}
	return i
}

// field returns the value at path in the decoded frame f: names of object members, and
// indexes into lists (nil where there is none).
func field(f map[string]any, path ...string) any {
	var v any = f
	for _, p := range path {
		switch c := v.(type) {
		case map[string]any:
			v = c[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// exactFrame checks that got holds exactly the JSON text want: the same fields, the same values.
func exactFrame(t *testing.T, what string, got map[string]any, want string) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: not received", what)
		return
	}
	if w := decodeNumbers(t, []byte(want)); !reflect.DeepEqual(got, w) {
		g, _ := json.Marshal(got)
		t.Errorf("%s:\n got  %s\n want %s", what, g, want)
	}
}

// quiet checks that c has nothing more to read before the reply to a heartbeat.
func (c *exampleConn) quiet(who string) {
	c.t.Helper()
	c.send(`{"id":99,"op":"heartbeat"}`)
	if f := c.next(); f.ID != 99 {
		c.t.Errorf("%s got a frame the example does not show: %+v", who, f)
	}
}

// protocol.md "Example: a 1:1 call in general mode", run as written against the server with the
// example's (the default) heartbeat settings. Every frame of the example arrives and carries
// exactly the fields that protocol.md's Ops, Events and Shapes give its message, with the
// example's values; what the example leaves open is checked against the rules that fix it: a
// deadline timeout seconds after createTime (R3.1), times of the server clock that follow the
// changes, seqs that grow on each connection (docs/behaviour.md §12: from the server's start
// time, not 1). A reply may come before or after the events of its request, so each step reads
// both, in either order; a heartbeat then shows that nothing else was sent.
func TestE2EProtocolExampleOneToOneGeneral(t *testing.T) {
	ts := startServer(t, "--heartbeat-interval", "10s", "--heartbeat-timeout", "35s")
	a, b := &exampleConn{rawConn: ts.raw(t)}, &exampleConn{rawConn: ts.raw(t)}
	before := time.Now().UnixMilli()
	login := func(c *exampleConn, user, deviceID string) {
		t.Helper()
		c.send(`{"id":1,"op":"login","data":{"token":"` + token(t, user) + `","deviceID":"` + deviceID + `"}}`)
		got := c.read(1)["reply 1"]
		now := exampleInt(t, user+"'s serverTime", field(got, "result", "serverTime"))
		if now < before || now > time.Now().UnixMilli() {
			t.Errorf("%s's serverTime %d is not the server clock's now", user, now)
		}
		exactFrame(t, user+"'s login reply", got, fmt.Sprintf(`{"id":1,"result":{"userID":%q,"deviceID":%q,"headSeq":0,`+
			`"caughtUp":false,"heartbeatIntervalMs":10000,"heartbeatTimeoutMs":35000,"serverTime":%d}}`, user, deviceID, now))
	}
	login(a, "alice", "a-phone")
	login(b, "bob", "b-phone")

	a.send(`{"id":2,"op":"callInvite","data":{"invitees":["bob"],"config":{"timeout":30}}}`)
	invited := a.read(2)
	reply := invited["reply 2"]
	id, _ := field(reply, "result", "callID").(string)
	created := exampleInt(t, "createTime", field(reply, "result", "callInfo", "createTime"))
	if created < before || created > time.Now().UnixMilli() {
		t.Errorf("createTime %d is not the server clock's now", created)
	}
	users := fmt.Sprintf(`[{"userID":"alice","state":1,"inviter":"","extendedData":"","deadline":0,"acceptTime":%[1]d,"updateTime":%[1]d},`+
		`{"userID":"bob","state":0,"inviter":"alice","extendedData":"","deadline":%[2]d,"acceptTime":0,"updateTime":%[1]d}]`,
		created, created+30_000)
	exactFrame(t, "callInvite reply", reply, fmt.Sprintf(`{"id":2,"result":{"callID":%q,"timeout":30,"errorUserList":[],`+
		`"callInfo":{"callID":%[1]q,"caller":"alice","inviter":"alice","mode":0,"state":1,"extendedData":"","createTime":%d,`+
		`"endTime":0,"version":1,"callUserList":%s}}}`, id, created, users))
	exactFrame(t, "alice's callInvitationCreated", invited["callInvitationCreated v1"], fmt.Sprintf(`{"event":"callInvitationCreated",`+
		`"data":{"callID":%q,"version":1,"mode":0,"caller":"alice","extendedData":"","timeout":30,"createTime":%d,"callUserList":%s}}`,
		id, created, users))
	exactFrame(t, "bob's callInvitationReceived", b.read(1)["callInvitationReceived v1"], fmt.Sprintf(`{"event":"callInvitationReceived",`+
		`"data":{"callID":%q,"version":1,"mode":0,"caller":"alice","inviter":"alice","extendedData":"","timeout":30,"deadline":%d,`+
		`"createTime":%d,"callUserList":%s,"synthetic":false}}`, id, created+30_000, created, users))

	b.send(`{"id":5,"op":"callReceived","data":{"callID":"` + id + `"}}`)
	received := b.read(2)
	exactFrame(t, "callReceived reply", received["reply 5"], `{"id":5,"result":{}}`)
	receivedAt := exampleInt(t, "bob's updateTime on receipt", field(received["callUserStateChanged v2"], "data", "callUserList", "0", "updateTime"))
	if receivedAt < created {
		t.Errorf("receipt at %d, before createTime %d", receivedAt, created)
	}
	receipt := fmt.Sprintf(`{"event":"callUserStateChanged","data":{"callID":%q,"version":2,"callUserList":[{"userID":"bob","state":5,`+
		`"inviter":"alice","extendedData":"","deadline":%d,"acceptTime":0,"updateTime":%d}]}}`, id, created+30_000, receivedAt)
	exactFrame(t, "bob's callUserStateChanged of his receipt", received["callUserStateChanged v2"], receipt)
	exactFrame(t, "alice's callUserStateChanged of bob's receipt", a.read(1)["callUserStateChanged v2"], receipt)

	b.send(`{"id":6,"op":"callAccept","data":{"callID":"` + id + `"}}`)
	accepted := b.read(2)
	exactFrame(t, "callAccept reply", accepted["reply 6"], fmt.Sprintf(`{"id":6,"result":{"callID":%q}}`, id))
	acceptedAt := exampleInt(t, "endTime", field(accepted["callUserStateChanged v3"], "data", "endTime"))
	if acceptedAt < receivedAt {
		t.Errorf("accept at %d, before the receipt at %d", acceptedAt, receivedAt)
	}
	answer := fmt.Sprintf(`{"event":"callUserStateChanged","data":{"callID":%q,"version":3,"callUserList":[{"userID":"bob","state":1,`+
		`"inviter":"alice","extendedData":"","deadline":0,"acceptTime":%[2]d,"updateTime":%[2]d}],"callState":2,"endTime":%[2]d}}`,
		id, acceptedAt)
	exactFrame(t, "bob's final callUserStateChanged", accepted["callUserStateChanged v3"], answer)
	exactFrame(t, "alice's final callUserStateChanged", a.read(1)["callUserStateChanged v3"], answer)
	a.quiet("alice")
	b.quiet("bob")
}
