package main

import (
	"slices"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// answerer is a device whose handler answers each invitation from inside the handler, after
// cutting its own connection: the accept waits there for the reconnection, with the handler,
// and so every later event, held until it returns.
type answerer struct {
	*device
	proxy    *cutProxy
	accepted chan error
}

func (a *answerer) OnCallInvitationReceived(ev client.CallInvitationReceived) {
	a.device.OnCallInvitationReceived(ev)
	a.proxy.cutAll()
	_, err := a.CallAccept(a.t.Context(), ev.CallID, client.OpConfig{})
	a.accepted <- err
}

// R7.2, R7.3: a handler that calls a blocking operation while the connection is down gets its
// reply after the reconnection, and the events that came meanwhile follow it, each once, in
// order (the Go SDK's EventHandler contract).
func TestE2EHandlerOperationAcrossAReconnection(t *testing.T) {
	ts := startServer(t)
	proxy := newCutProxy(t, ts.Addr)
	a := &answerer{proxy: proxy, accepted: make(chan error, 1)}
	a.device = &device{t: t, user: "bob", id: "b", notify: make(chan struct{}, 1)}
	c, err := client.Dial(t.Context(), proxy.URL(), client.Options{EventHandler: a,
		MinBackoff: 20e6, MaxBackoff: 200e6})
	must(t, err)
	t.Cleanup(func() { c.Close() })
	a.Client = c
	must(t, second(c.Login(t.Context(), token(t, "bob"), "b")))

	alice := ts.login(t, "alice", "a")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	select {
	case err := <-a.accepted:
		if err != nil {
			t.Fatalf("accept from inside the handler: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("the accept from inside the handler did not return")
	}
	alice.wait(res.CallID, "changed bob=Accepted (call ended)")
	a.wait(res.CallID, "changed bob=Accepted (call ended)")
	a.mu.Lock()
	defer a.mu.Unlock()
	var got []string
	for _, e := range a.events {
		got = append(got, e.summary)
	}
	if len(got) == 0 || got[0] != "received from alice" || got[len(got)-1] != "changed bob=Accepted (call ended)" ||
		len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("bob's events %q, want the invitation first and his accept last, each once", got)
	}
}
