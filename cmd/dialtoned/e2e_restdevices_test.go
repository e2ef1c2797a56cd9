package main

import (
	"testing"

	"github.com/dialtone/dialtone/client"
)

// §1, §5, R3.7, R6.3 with users acting through the server REST API, which have no device: the
// caller hears its call's creation and the receipts on all its devices; a user Accepted
// through the API hears every change on all its devices, as no device is its main one, until
// a callJoin from a device makes that device its main one (callMainDeviceChanged to all its
// devices), after which only that device hears the others' changes; the end reaches every
// device of every user active before it. A whole cancel through the API reaches all the
// canceller's devices: no device made the request.
func TestE2ERestAPIActorsHaveNoMainDevice(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	a1, a2 := ts.login(t, "alice", "a1"), ts.login(t, "alice", "a2")
	b1, b2 := ts.login(t, "bob", "b1"), ts.login(t, "bob", "b2")
	c1, c2 := ts.login(t, "carol", "c1"), ts.login(t, "carol", "c2")
	ctx := t.Context()

	// A general call made and cancelled through the API (R3.2, §5).
	g := apiOK(t, ts, "POST", "/v1/api/calls", `{"userID":"alice","invitees":["bob"]}`)["callID"].(string)
	b1.wait(g, "changed bob=Received")
	apiOK(t, ts, "POST", "/v1/api/calls/"+g+"/cancel", `{"userID":"alice","config":{"extendedData":"bye"}}`)
	received := []string{"changed bob=Received", "changed carol=Received"}
	for _, d := range []*device{a1, a2} {
		d.expectIgnoring(ts, g, received, "created", "cancelled bob=BeCancelled")
		d.waitCount(g, "changed bob=Received", 1)
	}
	for _, d := range []*device{b1, b2} {
		d.expectIgnoring(ts, g, received, "received from alice", "cancelled bob=BeCancelled")
	}

	// An advanced call made through the API; bob accepts through it; carol rejects, then
	// alice takes the call to a2 and carol joins again; bob ends it through the API.
	id := apiOK(t, ts, "POST", "/v1/api/calls", `{"userID":"alice","invitees":["bob","carol"],"config":{"mode":1}}`)["callID"].(string)
	b1.wait(id, "changed bob=Received")
	c1.wait(id, "changed carol=Received")
	apiOK(t, ts, "POST", "/v1/api/calls/"+id+"/accept", `{"userID":"bob"}`)
	c1.wait(id, "changed bob=Accepted")
	must(t, second(c1.CallReject(ctx, id, client.OpConfig{})))
	b2.wait(id, "changed carol=Rejected")
	must(t, second(a2.CallJoin(ctx, id, client.OpConfig{})))
	a1.wait(id, "main device a2")
	must(t, second(c2.CallJoin(ctx, id, client.OpConfig{})))
	b1.wait(id, "changed carol=Accepted")
	apiOK(t, ts, "POST", "/v1/api/calls/"+id+"/end", `{"userID":"bob","config":{"extendedData":"done"}}`)

	for _, c := range []struct {
		d    *device
		want []string
	}{
		{a1, []string{"created", "changed bob=Accepted", "changed carol=Rejected", "main device a2", "ended by bob"}},
		{a2, []string{"created", "changed bob=Accepted", "changed carol=Rejected", "main device a2", "changed carol=Accepted", "ended by bob"}},
		{b1, []string{"received from alice", "changed bob=Accepted", "changed carol=Rejected", "changed carol=Accepted", "ended by bob"}},
		{b2, []string{"received from alice", "changed bob=Accepted", "changed carol=Rejected", "changed carol=Accepted", "ended by bob"}},
		{c1, []string{"received from alice", "changed bob=Accepted", "changed carol=Rejected", "changed carol=Accepted", "ended by bob"}},
		{c2, []string{"received from alice", "changed bob=Accepted", "changed carol=Rejected", "changed carol=Accepted", "ended by bob"}},
	} {
		c.d.expectIgnoring(ts, id, received, c.want...)
		// the receipts reach every device of the ringing users and of the caller, who
		// has no main device until its join
		for _, r := range received {
			if n := c.d.count(id, r); n != 1 {
				t.Errorf("%s@%s got %q %d times, want once", c.d.user, c.d.id, r, n)
			}
		}
	}
}
