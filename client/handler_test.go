package client

import (
	"context"
	"fmt"
	"runtime"
	"strings"
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

// R5.1, R5.3: an invitation whose receipt was cut off by a dropped connection is acknowledged
// once after the reconnection, although the invitation synthesized after the login names it
// again (the receipt on its way is sent again after that login, so it reaches the server after
// the snapshot); a later logged invitation of the call (a re-invitation, R3.6) is acknowledged
// again.
func TestReceiptOnItsWayIsNotRepeatedForASynthesizedInvitation(t *testing.T) {
	fs := newFakeServer(t)
	_, first := connect(t, fs, Options{MinBackoff: time.Millisecond})
	fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		if fc == first && req.Op == protocol.OpCallReceived {
			return nil, nil, false // the receipt is cut off with the connection
		}
		return defaultRespond(fc, req)
	})
	fs.mu.Lock()
	fs.pruned = true // the reconnection cannot resume: R5.3's snapshot follows its login
	fs.afterLogin = []protocol.Event{{Event: protocol.EventCallInvitationReceived,
		Data: mustJSON(map[string]any{"callID": "c1", "version": 1, "synthetic": true})}}
	fs.mu.Unlock()
	first.emit(protocol.EventCallInvitationReceived, callEvent("c1"))
	nextOp(t, fs, protocol.OpCallReceived)
	first.drop()
	second := recv(t, fs.conns, "the reconnection")
	receipt := func() string {
		var d protocol.CallIDData
		if err := protocol.DecodeData(nextOp(t, fs, protocol.OpCallReceived).Data, &d); err != nil {
			t.Fatal(err)
		}
		return d.CallID
	}
	if id := receipt(); id != "c1" {
		t.Fatalf("receipt of %s after the reconnection, want c1's", id)
	}
	// Both receipts of c1 the login could cause are sent as it ends, before c2's invitation
	// comes: c2's receipt marks the end of theirs.
	second.emit(protocol.EventCallInvitationReceived, callEvent("c2"))
	var again int
	for receipt() != "c2" {
		again++
	}
	if again != 0 {
		t.Fatalf("%d more receipts of c1 after the reconnection, want the one on its way, once", again)
	}
	second.emit(protocol.EventCallInvitationReceived, callEvent("c1")) // invited again
	if req := nextOp(t, fs, protocol.OpCallReceived); !strings.Contains(string(req.Data), `"c1"`) {
		t.Fatalf("receipt %s, want c1's again", req.Data)
	}
}

// A call event without data, or with null data, has no call (protocol.md "Events": every call
// event's data holds callID and the call's version): it is not delivered, as an event whose data
// does not decode is not, and an invitation without a call is not acknowledged.
func TestCallEventWithoutDataIsNotDelivered(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	_, fc := connect(t, fs, Options{EventHandler: rec})
	fc.writeText([]byte(`{"event":"callInvitationReceived"}`))
	fc.writeText([]byte(`{"event":"callInvitationReceived","data":null}`))
	fc.writeText([]byte(`{"event":"callInvitationCreated","data":"c7"}`))
	fc.emit(protocol.EventCallInvitationReceived, callEvent("c9"))
	if got := recv(t, rec.events, "the invitation with its data"); got != "received:c9" {
		t.Fatalf("the handler got %q first, want received:c9", got)
	}
	req := nextOp(t, fs, protocol.OpCallReceived)
	if d := string(req.Data); d != `{"callID":"c9"}` {
		t.Fatalf("the first callReceived has data %s, want c9's", d)
	}
}

// TestDispatcherReusesItsQueue: a delivery queued and taken at a time, as a handler that keeps
// up with its events sees them, reuses the queue's array instead of allocating one per event.
func TestDispatcherReusesItsQueue(t *testing.T) {
	d := &dispatcher{wake: make(chan struct{}, 1)}
	dl := delivery{seq: 1, event: true, call: func(EventHandler) {}}
	d.push(dl, nil) // the queue's first array
	d.next()
	if allocs := testing.AllocsPerRun(100, func() {
		d.push(dl, nil)
		d.next()
	}); allocs != 0 {
		t.Fatalf("a push and its next allocate %v times; want 0", allocs)
	}
}
