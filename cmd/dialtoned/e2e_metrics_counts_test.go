package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dialtone/dialtone/client"
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

// Each commit of a change is timed once in dialtone_commit_seconds and counted once in the sum
// of dialtone_commit_batch_changes, before its reply; a fired ring deadline is timed once in
// dialtone_deadline_lateness_seconds. bob is offline, so nothing but alice's invitation and its
// timeout commits.
func TestE2EMetricsCommitsAndDeadlinesMove(t *testing.T) {
	ts := startServer(t)
	alice := ts.login(t, "alice", "a")
	commits := func() float64 { return sample(t, ts, "dialtone_commit_seconds_count") }
	changes := func() float64 { return sample(t, ts, "dialtone_commit_batch_changes_sum") }
	c0, s0 := commits(), changes()
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 1})
	must(t, err)
	if got := commits(); got != c0+1 {
		t.Errorf("dialtone_commit_seconds_count = %v after one invitation, want %v", got, c0+1)
	}
	if got := changes(); got != s0+1 {
		t.Errorf("dialtone_commit_batch_changes_sum = %v after one invitation, want %v", got, s0+1)
	}
	if got := sample(t, ts, "dialtone_deadline_lateness_seconds_count"); got != 0 {
		t.Errorf("dialtone_deadline_lateness_seconds_count = %v before the deadline, want 0", got)
	}
	alice.wait(res.CallID, "changed bob=Timeout (call ended)")
	waitMetric(t, ts, "dialtone_deadline_lateness_seconds_count ", "dialtone_deadline_lateness_seconds_count 1")
	if got := changes(); got != s0+2 {
		t.Errorf("dialtone_commit_batch_changes_sum = %v after the timeout, want %v", got, s0+2)
	}
}

// dialtone_sessions comes back down after the kicks of a connection that never logged in
// (badFrames) and of a device past --max-devices-per-user (tooManyDevices), each counted
// under its reason.
func TestE2EMetricsSessionsAfterRefusingKicks(t *testing.T) {
	ts := startServer(t, "--max-devices-per-user", "1")
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 0")
	garbled := ts.raw(t)
	for range 5 {
		garbled.send(`not json`)
	}
	garbled.closed()
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 0")
	waitMetric(t, ts, `dialtone_kicks_total{reason="badFrames"}`, `dialtone_kicks_total{reason="badFrames"} 1`)

	ts.rawLogin(t, "alice", "a", -1)
	second := ts.raw(t)
	second.send(`{"id":1,"op":"login","data":{"token":"` + token(t, "alice") + `","deviceID":"b"}}`)
	if c := second.errorCode(); c != protocol.CodeTooManyDevices {
		t.Fatalf("second device: code %d, want %d", c, protocol.CodeTooManyDevices)
	}
	second.closed()
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 1")
	waitMetric(t, ts, `dialtone_kicks_total{reason="tooManyDevices"}`, `dialtone_kicks_total{reason="tooManyDevices"} 1`)
}

// dialtone_deadlines_pending comes back down when a call stops ringing by a reject, by the
// caller's logout (R6.1, R4.3: the call ends), and, in a call of two invitees, stays up
// while one still rings after the other accepted.
func TestE2EMetricsDeadlinesPendingAfterRejectLogoutAndGroup(t *testing.T) {
	ts := startServer(t)
	alice, bob, carol := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c")
	pending := func(want string) {
		t.Helper()
		waitMetric(t, ts, "dialtone_deadlines_pending ", "dialtone_deadlines_pending "+want)
	}
	rejected, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 600})
	must(t, err)
	pending("1")
	must(t, second(bob.CallReject(t.Context(), rejected.CallID, client.OpConfig{})))
	pending("0")

	group, err := alice.CallInvite(t.Context(), []string{"bob", "carol"}, client.InviteConfig{Timeout: 600})
	must(t, err)
	must(t, second(bob.CallAccept(t.Context(), group.CallID, client.OpConfig{})))
	pending("1") // carol still rings
	must(t, second(carol.CallReject(t.Context(), group.CallID, client.OpConfig{})))
	pending("0")

	dave := ts.login(t, "dave", "d")
	left, err := dave.CallInvite(t.Context(), []string{"carol"}, client.InviteConfig{Timeout: 600})
	must(t, err)
	pending("1")
	must(t, dave.Logout(t.Context()))
	carol.wait(left.CallID, "cancelled carol=BeCancelled")
	pending("0")
}

// dialtone_outbox_attempts_total counts each webhook attempt once, under its result: an
// attempt the receiver answered with 500 as failed, the retry it then accepted and every
// other callback as delivered; nothing is dropped.
func TestE2EMetricsWebhookAttemptsByResult(t *testing.T) {
	var requests atomic.Int64
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if requests.Add(1) == 1 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(hooks.Close)
	ts := startServer(t, "--webhook-url", hooks.URL, "--webhook-secret", hookSecret)
	alice := ts.login(t, "alice", "a")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 1})
	must(t, err)
	alice.wait(res.CallID, "changed bob=Timeout (call ended)")
	// create, timeout, end: one failed attempt and three deliveries.
	waitMetric(t, ts, `dialtone_outbox_attempts_total{kind="webhook",result="delivered"}`,
		`dialtone_outbox_attempts_total{kind="webhook",result="delivered"} 3`)
	for series, want := range map[string]float64{
		`dialtone_outbox_attempts_total{kind="webhook",result="failed"}`:  1,
		`dialtone_outbox_attempts_total{kind="webhook",result="dropped"}`: 0,
	} {
		if got := sample(t, ts, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if got := requests.Load(); got != 4 {
		t.Errorf("the receiver got %d requests, want 4", got)
	}
}
