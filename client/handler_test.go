package client

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/dialtone/dialtone/protocol"
)

func TestEventsInOrderNeverConcurrent(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	_, fc := connect(t, fs, Options{EventHandler: rec})
	const n = 60
	kinds := []string{protocol.EventCallInvitationCreated, protocol.EventCallUserStateChanged}
	names := []string{"created", "stateChanged"}
	for i := range n {
		fc.emit(kinds[i%2], callEvent(fmt.Sprint("c", i)))
	}
	for i := range n {
		want := fmt.Sprintf("%s:c%d", names[i%2], i)
		if got := recv(t, rec.events, want); got != want {
			t.Fatalf("event %d = %q, want %q", i, got, want)
		}
		runtime.Gosched() // give a concurrent delivery the chance to overlap
	}
	if rec.overlapped.Load() {
		t.Fatal("handler methods ran concurrently")
	}
}

func TestAutomaticCallReceivedWhileHandlerBlocks(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	release := make(chan struct{})
	rec.onReceived = func(CallInvitationReceived) { <-release }
	c, fc := connect(t, fs, Options{EventHandler: rec})
	defer close(release)

	fc.emit(protocol.EventCallInvitationReceived, callEvent("live"))
	fc.sendUnlogged(protocol.EventCallInvitationReceived,
		map[string]any{"callID": "synth", "version": 1, "synthetic": true})
	// The acks are sent concurrently, so in either order, while the handler still blocks on
	// the first invitation.
	acked := map[string]bool{}
	for range 2 {
		req := nextOp(t, fs, protocol.OpCallReceived)
		var d protocol.CallIDData
		if err := protocol.DecodeData(req.Data, &d); err != nil {
			t.Fatal(err)
		}
		if req.Idem != "" {
			t.Fatalf("callReceived carries an idem key %q", req.Idem)
		}
		acked[d.CallID] = true
	}
	if !acked["live"] || !acked["synth"] {
		t.Fatalf("acknowledged %v, want live and synth", acked)
	}
	if _, err := c.QueryCall(testCtx(t), "c1"); err != nil {
		t.Fatalf("a reply while the handler blocks: %v", err)
	}
}

func TestInvitationRightAfterLoginIsAcknowledged(t *testing.T) {
	fs := newFakeServer(t)
	fs.afterLogin = []protocol.Event{{
		Event: protocol.EventCallInvitationReceived,
		Data:  mustJSON(map[string]any{"callID": "pending", "version": 3, "synthetic": true}),
	}}
	rec := newRecorder()
	connect(t, fs, Options{EventHandler: rec})
	req := nextOp(t, fs, protocol.OpCallReceived)
	var d protocol.CallIDData
	if err := protocol.DecodeData(req.Data, &d); err != nil || d.CallID != "pending" {
		t.Fatalf("callReceived data %s, %v", req.Data, err)
	}
	if got := recv(t, rec.events, "synthetic invitation"); got != "received:pending" {
		t.Fatalf("got %q", got)
	}
}

func TestHandlerMayCallMethods(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	accepted := make(chan error, 1)
	var c *Client
	ready := make(chan struct{})
	rec.onReceived = func(ev CallInvitationReceived) {
		<-ready
		_, err := c.CallAccept(context.Background(), ev.CallID, OpConfig{})
		accepted <- err
	}
	c, fc := connect(t, fs, Options{EventHandler: rec})
	close(ready)
	fc.emit(protocol.EventCallInvitationReceived, callEvent("c1"))
	if err := recv(t, accepted, "CallAccept from the handler"); err != nil {
		t.Fatal(err)
	}
	recv(t, rec.events, "received")
}

// orderHandler reports invitations and connection states on one channel, in handler order.
type orderHandler struct {
	BaseHandler
	seen chan string
}

func (h *orderHandler) OnCallInvitationReceived(ev CallInvitationReceived) {
	h.seen <- "received:" + ev.CallID
}

func (h *orderHandler) OnConnectionStateChanged(s ConnectionState, _ error) {
	h.seen <- s.String()
}

// The handler gets events in the order they arrived, state changes included: a connection is
// Connected from its login reply on, so the events that follow the reply come after Connected,
// at the first login as after a reconnection.
func TestConnectedComesBeforeTheEventsAfterTheLogin(t *testing.T) {
	want := func(h *orderHandler, names ...string) {
		t.Helper()
		for _, n := range names {
			if got := recv(t, h.seen, n); got != n {
				t.Fatalf("the handler got %q, want %q", got, n)
			}
		}
	}
	for range 10 {
		fs := newFakeServer(t)
		fs.afterLogin = []protocol.Event{{Event: protocol.EventCallInvitationReceived,
			Data: mustJSON(map[string]any{"callID": "s1", "version": 1, "synthetic": true})}}
		h := &orderHandler{seen: make(chan string, 16)}
		_, fc := connect(t, fs, Options{EventHandler: h, MinBackoff: time.Millisecond})
		want(h, "Connecting", "Connected", "received:s1")
		fc.drop()
		want(h, "Reconnecting", "Connected", "received:s1")
	}
}
