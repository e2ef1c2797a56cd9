package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/protocol"
)

// sample returns the value of the series of /metrics that is exactly series (a name with its
// labels as /metrics writes them), 0 when it is not shown.
func sample(t *testing.T, ts *testServer, series string) float64 {
	t.Helper()
	line := metric(t, ts, series+" ")
	if line == "" {
		return 0
	}
	v, err := strconv.ParseFloat(strings.TrimPrefix(line, series+" "), 64)
	must(t, err)
	return v
}

// countingReply reads r's frames up to the reply to request id and returns it, with the call
// events read before it (kicked is not a call event).
func (r *rawConn) countingReply(id int64) (reply protocol.Frame, events int) {
	r.t.Helper()
	for {
		f := r.next()
		switch {
		case strings.HasPrefix(f.Event, "call"):
			events++
		case f.Event == "" && f.ID == id:
			return f, events
		}
	}
}

// dialtone_events_delivered_total counts each call event frame written to a connection once:
// live events, a login's replayed ones and its synthesized invitations (R7.2, R5.3), and not
// the kicked event. Every frame a client reads before a reply was written before it, so after
// each connection's heartbeat reply the metric holds exactly what the clients received.
func TestE2EMetricsEventsDeliveredOncePerFrame(t *testing.T) {
	ts := startServer(t)
	delivered := func() float64 { return sample(t, ts, "dialtone_events_delivered_total") }
	if got := delivered(); got != 0 {
		t.Fatalf("dialtone_events_delivered_total before any call = %v, want 0", got)
	}
	alice, _ := ts.rawLogin(t, "alice", "a", -1)
	bob, _ := ts.rawLogin(t, "bob", "b", -1)
	alice.send(`{"id":2,"op":"callInvite","data":{"invitees":["bob"],"config":{"timeout":60}}}`)
	var invited protocol.CallInviteResult
	f, received := alice.countingReply(2)
	if f.Error != nil || json.Unmarshal(f.Result, &invited) != nil {
		t.Fatalf("callInvite: %+v", f)
	}
	bob.send(`{"id":2,"op":"callReject","data":{"callID":"` + invited.CallID + `"}}`)
	f, n := bob.countingReply(2)
	if f.Error != nil {
		t.Fatalf("callReject: %+v", f.Error)
	}
	received += n
	for _, r := range []*rawConn{alice, bob} {
		r.send(`{"id":3,"op":"heartbeat"}`)
		_, n := r.countingReply(3)
		received += n
	}
	if received == 0 {
		t.Fatal("no event received") // the count below would hold nothing
	}
	if got := delivered(); got != float64(received) {
		t.Errorf("dialtone_events_delivered_total = %v after the clients received %d events", got, received)
	}

	// A second device of bob's resumes from the start of his log: the replayed events count.
	replay := ts.raw(t)
	replay.send(`{"id":1,"op":"login","data":{"token":"` + token(t, "bob") + `","deviceID":"b2","lastSeq":0}}`)
	f, replayed := replay.countingReply(1)
	if f.Error != nil {
		t.Fatalf("login: %+v", f.Error)
	}
	replay.send(`{"id":3,"op":"heartbeat"}`)
	_, n = replay.countingReply(3)
	replayed += n
	if replayed == 0 {
		t.Fatal("no event replayed")
	}
	if got := delivered(); got != float64(received+replayed) {
		t.Errorf("dialtone_events_delivered_total = %v after %d live and %d replayed events", got, received, replayed)
	}

	// A logout's kicked event is no call event.
	replay.send(`{"id":4,"op":"logout"}`)
	replay.closed()
	bob.send(`{"id":4,"op":"heartbeat"}`)
	bob.reply(4)
	if got := delivered(); got != float64(received+replayed) {
		t.Errorf("dialtone_events_delivered_total = %v after a logout's kicked event, want %d", got, received+replayed)
	}
}

// A refused request is counted under its op and its error code, and its latency under its op:
// a refusal by the call (6000276), a bad parameter (6000001), and a bad frame, which has no
// op (op="unknown", 6000001): a client whose frames the server cannot read is seen by its
// code, not only once it is kicked for badFrames.
func TestE2EMetricsRefusalsCountedUnderTheirCode(t *testing.T) {
	ts := startServer(t)
	r, _ := ts.rawLogin(t, "alice", "a", -1)
	r.send(`{"id":2,"op":"callAccept","data":{"callID":"no-such-call"}}`)
	if c := r.errorCode(); c != protocol.CodeCallUnavailable {
		t.Fatalf("callAccept of no call: code %d", c)
	}
	r.send(`{"id":3,"op":"callInvite","data":{"invitees":"bob"}}`)
	if c := r.errorCode(); c != protocol.CodeInvalidParameter {
		t.Fatalf("callInvite with bad data: code %d", c)
	}
	r.send(`not json`)
	if c := r.errorCode(); c != protocol.CodeInvalidParameter {
		t.Fatalf("bad frame: code %d", c)
	}
	r.send(`{"id":4,"op":"heartbeat"}`)
	r.reply(4)
	for series, want := range map[string]float64{
		`dialtone_operations_total{code="6000276",op="callAccept"}`: 1,
		`dialtone_operations_total{code="6000001",op="callInvite"}`: 1,
		`dialtone_operations_total{code="6000001",op="unknown"}`:    1,
		`dialtone_operations_total{code="0",op="login"}`:            1,
		`dialtone_operations_total{code="0",op="heartbeat"}`:        1,
		`dialtone_operation_seconds_count{op="callAccept"}`:         1,
		`dialtone_operation_seconds_count{op="callInvite"}`:         1,
	} {
		waitMetric(t, ts, series+" ", series+" "+strconv.FormatFloat(want, 'f', -1, 64))
	}
}
