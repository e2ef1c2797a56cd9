package switchboard

import (
	"testing"

	"github.com/dialtone/dialtone/internal/call"
)

// R7.3 across an upgrade: the records made before defaults were applied hold the fingerprint
// of the request as written. A repeat spelled as the recorded request was still matches
// them, and a request whose defaults are all written out keeps the fingerprint it had then;
// a request that means something else matches neither.
func TestFingerprintOfRecordsAsWritten(t *testing.T) {
	alice := call.Actor{UserID: "alice", DeviceID: "phone"}
	omitted := request{in: call.Invite{Actor: alice, Invitees: []string{"bob"}}}
	written := request{in: call.Invite{Actor: alice, Invitees: []string{"bob"}, Timeout: 90}}
	emptyCancel := request{callID: "c1", in: call.Cancel{Actor: alice, Invitees: []string{}}}
	for _, c := range []struct {
		name string
		req  request
		old  string // the fingerprint an earlier version recorded
		want bool
	}{
		{"timeout absent, recorded absent", omitted, hashInput("", omitted.in), true},
		{"timeout 90, recorded 90", written, hashInput("", written.in), true},
		{"timeout absent, recorded 90", omitted, hashInput("", written.in), true},
		{"empty invitees, recorded empty", emptyCancel, hashInput("c1", emptyCancel.in), true},
		{"timeout 91, recorded 90", request{in: call.Invite{Actor: alice, Invitees: []string{"bob"}, Timeout: 91}},
			hashInput("", written.in), false},
		{"timeout 90 on another call", request{callID: "c2", in: written.in}, hashInput("", written.in), false},
	} {
		if got := c.req.matches(c.old); got != c.want {
			t.Errorf("%s: matches = %v, want %v", c.name, got, c.want)
		}
	}
	if written.fingerprint() != hashInput("", written.in) {
		t.Error("a request with its defaults written out changed its fingerprint")
	}
}

// R7.3 across an upgrade: a fingerprint is stored in idempotency records, so the same request
// keeps the same fingerprint from one version of the server to the next. These are the
// fingerprints that the server of 2026-12-07 records for these requests.
func TestFingerprintsAreStableAcrossVersions(t *testing.T) {
	alice := call.Actor{UserID: "alice", DeviceID: "phone"}
	for _, c := range []struct {
		req  request
		want string
	}{
		{request{in: call.Invite{Actor: alice, Invitees: []string{"bob"}, Mode: call.Advanced, Timeout: 60}}, "79c8c124445b427d8089f3546fca9270c98a6aac83b020f2379a8ef116b4caae"},
		{request{callID: "c1", in: call.Accept{Actor: alice, ExtendedData: "<&>"}}, "2a869f8c76125c5b8b1958f27b7fe2a9013eb88cb9dc49d54ea81ce46dcfa355"},
		{request{callID: "c1", in: call.Receipt{Actor: alice}}, "0dcb516ba1124624cd7863850154fc7850b3791d8f351d8bab1b7a80102e7523"},
	} {
		if got := c.req.fingerprint(); got != c.want {
			t.Errorf("fingerprint of %T on %q = %s, want %s", c.req.in, c.req.callID, got, c.want)
		}
	}
}
