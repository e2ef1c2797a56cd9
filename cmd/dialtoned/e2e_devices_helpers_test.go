package main

import (
	"slices"
	"testing"

	"github.com/dialtone/dialtone/client"
)

// count returns how many times d has received summary on callID so far.
func (d *device) count(callID, summary string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, s := range d.summaries(callID) {
		if s == summary {
			n++
		}
	}
	return n
}

// expectIgnoring is expect with the summaries in ignore left out of what the device received:
// events whose order against the others is not the server's to fix (two users' receipts).
func (d *device) expectIgnoring(ts *testServer, callID string, ignore []string, want ...string) {
	d.t.Helper()
	ts.barrier(d.t, d)
	d.mu.Lock()
	got := slices.DeleteFunc(d.summaries(callID), func(s string) bool { return slices.Contains(ignore, s) })
	d.mu.Unlock()
	if !slices.Equal(got, want) {
		d.t.Errorf("%s@%s events of call %s (without %q):\n got  %q\n want %q", d.user, d.id, callID, ignore, got, want)
	}
}

// ringBobAndCarol has d ring bob and carol in an advanced call and returns its ID once both
// received the invitation (R5.1).
func (d *device) ringBobAndCarol(t *testing.T) string {
	t.Helper()
	res, err := d.CallInvite(t.Context(), []string{"bob", "carol"}, advanced)
	must(t, err)
	d.wait(res.CallID, "changed bob=Received")
	d.wait(res.CallID, "changed carol=Received")
	return res.CallID
}

// callBobAnsweredOn has d call bob in an advanced call, answered on bob's device answerer, and
// returns its ID once d saw bob Received, then Accepted (R5.1, R3.3).
func (d *device) callBobAnsweredOn(t *testing.T, answerer *device) string {
	t.Helper()
	res, err := d.CallInvite(t.Context(), []string{"bob"}, advanced)
	must(t, err)
	d.wait(res.CallID, "changed bob=Received")
	must(t, second(answerer.CallAccept(t.Context(), res.CallID, client.OpConfig{})))
	d.wait(res.CallID, "changed bob=Accepted")
	return res.CallID
}
