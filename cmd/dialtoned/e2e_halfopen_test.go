package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

// The tests of this file run the server with heartbeats of 1s and a timeout of 3s (servertest)
// and make a network go silent with cutProxy.hold: nothing arrives either way, and nothing is
// closed, as when a phone loses its signal.

const (
	hbEvery   = time.Second
	hbTimeout = 3 * time.Second
)

// heldDevice logs user's device id in through proxy with the SDK, and waits until it has
// nothing in flight that a hold could catch half-way: its login's catch-up is over.
func heldDevice(t *testing.T, proxy *cutProxy, user, id string, opts client.Options) *device {
	t.Helper()
	d := dialAt(t, proxy.URL(), user, id, opts)
	must(t, second(d.Login(t.Context(), token(t, user), id)))
	must(t, second(d.QueryCallInvitationList(t.Context(), 1, 0)))
	return d
}

// lossWindow checks, for something that happened by now because a device silent behind proxy
// since silent was lost (R6.1), that it did not happen early: not before 2×heartbeatTimeout
// after the server last heard from the device. It reports false while it may still happen in
// time, and fails the test once it is late: a little after 2×heartbeatTimeout after silent.
func lossWindow(t *testing.T, proxy *cutProxy, silent time.Time, happened bool) bool {
	t.Helper()
	if happened {
		if heard := proxy.sinceLastUp(); heard < 2*hbTimeout-50*time.Millisecond {
			t.Errorf("lost %v after the server last heard from the device, want not before %v (R6.1)", heard.Round(time.Millisecond), 2*hbTimeout)
		}
		return true
	}
	if waited := time.Since(silent); waited > 2*hbTimeout+2*time.Second {
		t.Fatalf("not lost %v after its network went silent, want about %v (R6.1)", waited.Round(time.Millisecond), 2*hbTimeout)
	}
	time.Sleep(50 * time.Millisecond)
	return false
}

// R6.1, R4.3: a caller whose network goes silent while its invitation rings is lost when its
// device has had no session for heartbeatTimeout after the server closed the silent
// connection: the call is cancelled between 2×3s after its last frame (the last heartbeat went
// out at most 1s before the silence) and a little after 2×3s after the silence; not before,
// while the connection might still come back, and not never, although the SDK keeps trying to
// reconnect through the silent network. A device back after its loss does not undo it.
func TestE2ESilentCallerCancelsAfterTwiceTheTimeout(t *testing.T) {
	ts := startServer(t)
	proxy := newCutProxy(t, ts.Addr)
	bob := ts.login(t, "bob", "b")
	alice := heldDevice(t, proxy, "alice", "a", client.Options{})
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	bob.wait(res.CallID, "received from alice")

	silent := time.Now()
	proxy.hold()
	var info client.CallInfo
	for ended := false; !lossWindow(t, proxy, silent, ended); ended = info.State == client.CallEnded {
		info, err = bob.QueryCall(t.Context(), res.CallID)
		must(t, err)
	}
	if a := userIn(t, info.CallUserList, "alice"); a.State != client.StateCancelled {
		t.Errorf("alice after her loss: %+v, want Cancelled (R4.3)", a)
	}
	bob.wait(res.CallID, "cancelled bob=BeCancelled")

	// Back, alice's SDK resumes and learns of the cancel of her call by her loss (§5, R4.3);
	// the call stays cancelled.
	proxy.release()
	alice.wait(res.CallID, "cancelled bob=BeCancelled")
	info, err = alice.QueryCall(t.Context(), res.CallID)
	must(t, err)
	if a := userIn(t, info.CallUserList, "alice"); info.State != client.CallEnded || a.State != client.StateCancelled {
		t.Errorf("after alice's device came back: call %v, alice %+v; want ended, alice Cancelled", info.State, a)
	}
}

// R6.1, R6.4: the main device of an Accepted member of an advanced call goes silent: it is
// Quit, between 2×3s after its last frame and a little after 2×3s after the silence. When its
// network comes back, the SDK resumes and learns of its own Quit; the lost device is not
// brought back into the call.
func TestE2ESilentAcceptedMemberQuitsAfterTwiceTheTimeout(t *testing.T) {
	ts := startServer(t)
	proxy := newCutProxy(t, ts.Addr)
	alice, carol := ts.login(t, "alice", "a"), ts.login(t, "carol", "c")
	bob := heldDevice(t, proxy, "bob", "b", client.Options{})
	res, err := alice.CallInvite(t.Context(), []string{"bob", "carol"}, advanced)
	must(t, err)
	id := res.CallID
	must(t, second(bob.CallAccept(t.Context(), id, client.OpConfig{})))
	alice.wait(id, "changed bob=Accepted")

	silent := time.Now()
	proxy.hold()
	for quit := false; !lossWindow(t, proxy, silent, quit); {
		info, err := alice.QueryCall(t.Context(), id)
		must(t, err)
		quit = userIn(t, info.CallUserList, "bob").State == client.StateQuit
	}
	alice.wait(id, "changed bob=Quit")
	carol.wait(id, "changed bob=Quit")

	proxy.release()
	bob.wait(id, "changed bob=Quit") // replayed on resume: his own change (§5)
	info, err := bob.QueryCall(t.Context(), id)
	must(t, err)
	if b := userIn(t, info.CallUserList, "bob"); b.State != client.StateQuit || info.State != client.CallStarted {
		t.Errorf("after bob's device came back: call %v, bob %+v; want the call going on, bob Quit", info.State, b)
	}
	ts.barrier(t, alice)
	alice.mu.Lock()
	got := alice.summaries(id)
	alice.mu.Unlock()
	if after := got[slices.Index(got, "changed bob=Quit")+1:]; len(after) != 0 {
		t.Errorf("alice's events after bob's Quit: %q, want none", after)
	}
}

// R6.1, R7.2, client docs: the SDK of a callee whose network goes silent while it rings drops
// the connection once nothing arrived for heartbeatTimeout, and reconnects with backoff
// through the silent network; the caller cancels meanwhile. When the network comes back, the
// SDK resumes from its lastSeq and gets the cancellation: the invitation stops ringing, and
// nothing rings it again (no ghost ring).
func TestE2ESilentCalleeLearnsOfTheCancelWhenBack(t *testing.T) {
	ts := startServer(t)
	proxy := newCutProxy(t, ts.Addr)
	alice := ts.login(t, "alice", "a")
	bob := heldDevice(t, proxy, "bob", "b", client.Options{})
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	id := res.CallID
	alice.wait(id, "changed bob=Received")
	bob.wait(id, "changed bob=Received")

	silent := time.Now()
	proxy.hold()
	bob.until("the SDK to drop the silent connection", func() bool { return slices.Contains(bob.states, client.Reconnecting) })
	if waited := time.Since(silent); waited > hbTimeout+1500*time.Millisecond {
		t.Errorf("the SDK dropped the silent connection %v after the silence, want within about %v", waited.Round(time.Millisecond), hbTimeout)
	}
	if !errors.Is(bob.Err(), nil) {
		t.Fatalf("bob's client ended: %v", bob.Err())
	}
	must(t, second(alice.CallCancel(t.Context(), id, nil, client.OpConfig{})))

	proxy.release()
	bob.wait(id, "cancelled bob=BeCancelled")
	bob.expect(ts, id, "received from alice", "changed bob=Received", "cancelled bob=BeCancelled")
}

// R6.1, R7.2, R3.5, protocol "Ring time": a callee whose network is silent from before it is
// invited until after its invitation timed out gets, when back, the invitation and its
// timeout; the invitation's ring time is then over: it must not ring at all.
func TestE2ESilentCalleeBackAfterTheDeadlineDoesNotRing(t *testing.T) {
	ts := startServer(t)
	proxy := newCutProxy(t, ts.Addr)
	alice := ts.login(t, "alice", "a")
	bob := heldDevice(t, proxy, "bob", "b", client.Options{})

	proxy.hold()
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 1})
	must(t, err)
	alice.wait(res.CallID, "changed bob=Timeout (call ended)")
	proxy.release()
	ev := bob.wait(res.CallID, "received from alice").(client.CallInvitationReceived)
	if left := bob.RemainingRingTime(ev.Deadline); left != 0 {
		t.Errorf("an invitation timed out while bob was away rings for %v", left)
	}
	bob.wait(res.CallID, "timeout")
}

// Client docs: an operation sent while the network is silent fails within its RequestTimeout
// with the context's deadline error; it never hangs, although the SDK notices the silence
// only after heartbeatTimeout. Once the network is back the SDK is connected again and
// operations go through.
func TestE2EOperationIntoASilentNetworkFailsInTime(t *testing.T) {
	ts := startServer(t)
	proxy := newCutProxy(t, ts.Addr)
	alice := ts.login(t, "alice", "a")
	const timeout = 1500 * time.Millisecond
	bob := heldDevice(t, proxy, "bob", "b", client.Options{RequestTimeout: timeout})
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
	must(t, err)
	id := res.CallID
	alice.wait(id, "changed bob=Received")

	proxy.hold()
	start := time.Now()
	_, err = bob.CallReject(context.Background(), id, client.OpConfig{})
	if el := time.Since(start); el > timeout+time.Second {
		t.Errorf("CallReject into a silent network returned after %v, want about %v", el.Round(time.Millisecond), timeout)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CallReject into a silent network: %v, want context.DeadlineExceeded", err)
	}
	bob.until("the SDK to drop the silent connection", func() bool { return slices.Contains(bob.states, client.Reconnecting) })
	proxy.release()
	bob.until("the reconnection", func() bool { return bob.states[len(bob.states)-1] == client.Connected })
	must(t, second(bob.QueryCall(t.Context(), id)))
}

// R6.2, R7.2, protocol "Events": a connection whose network went silent while its device
// logged in again on another (the app reconnected over a new network) comes back when the old
// network returns what it held: the request it sent into the silence is not carried out, and
// it gets its replaced kick and close, not the events meant for the device's new connection.
func TestE2EConnectionBackAfterItWasReplaced(t *testing.T) {
	ts := startServer(t)
	proxy := newCutProxy(t, ts.Addr)
	alice := ts.login(t, "alice", "a")
	conn, _, err := websocket.Dial(t.Context(), proxy.URL(), nil)
	must(t, err)
	t.Cleanup(func() { conn.CloseNow() })
	old := &rawConn{t: t, conn: conn}
	old.send(`{"id":1,"op":"login","data":{"token":"` + token(t, "bob") + `","deviceID":"b"}}`)
	if f := old.reply(1); f.Error != nil {
		t.Fatalf("login: %v", f.Error)
	}
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	if f := old.nextEvent(); f.Event != protocol.EventCallInvitationReceived {
		t.Fatalf("bob's first event: %+v", f)
	}

	proxy.hold()
	old.send(`{"id":2,"op":"callReject","data":{"callID":"` + res.CallID + `"}}`)
	for proxy.heldUp.Load() == 0 { // the reject went out, into the silence
		time.Sleep(5 * time.Millisecond)
	}
	bob := ts.login(t, "bob", "b")
	must(t, second(alice.CallCancel(t.Context(), res.CallID, nil, client.OpConfig{})))
	bob.wait(res.CallID, "cancelled bob=BeCancelled") // not Rejected
	proxy.release()

	var frames []string
	for {
		f, err := old.read()
		if err != nil {
			if c := websocket.CloseStatus(err); c != 4001 {
				t.Errorf("the replaced connection closed with %v, want 4001", err)
			}
			break
		}
		frames = append(frames, fmt.Sprintf("%s %s %s", f.Event, f.Data, f.Error))
	}
	if want := []string{`kicked {"reason":"replaced","retry":false} <nil>`}; !slices.Equal(frames, want) {
		t.Errorf("the replaced connection got %q once back, want only %q", frames, want)
	}
	info, err := bob.QueryCall(t.Context(), res.CallID)
	must(t, err)
	if b := userIn(t, info.CallUserList, "bob"); b.State != client.StateBeCancelled {
		t.Errorf("bob after the held reject came back: %+v, want BeCancelled", b)
	}
}

// R6.1, R7.3, client docs: the network drops everything the server sends while the server
// still hears the client. The SDK notices within heartbeatTimeout that no reply comes, drops
// the connection and reconnects, and sends the operation waiting for its reply again with the
// same idempotency key: the operation succeeds, with the first reply, and is applied once.
func TestE2ERepliesLostSilentlyRetriedOnce(t *testing.T) {
	ts := startServer(t)
	proxy := newCutProxy(t, ts.Addr)
	alice := ts.login(t, "alice", "a")
	// The first reconnection waits at least 250ms: time to let the network work again.
	bob := heldDevice(t, proxy, "bob", "b", client.Options{MinBackoff: 500 * time.Millisecond, MaxBackoff: time.Second})
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
	must(t, err)
	id := res.CallID
	alice.wait(id, "changed bob=Received")

	silent := time.Now()
	proxy.discard.Store(true)
	accepted := make(chan error, 1)
	go func() { accepted <- second(bob.CallAccept(t.Context(), id, client.OpConfig{})) }()
	alice.wait(id, "changed bob=Accepted")
	bob.until("the SDK to drop the silent connection", func() bool { return slices.Contains(bob.states, client.Reconnecting) })
	if waited := time.Since(silent); waited > hbTimeout+time.Second {
		t.Errorf("the SDK dropped the connection %v after the replies stopped, want within about %v", waited.Round(time.Millisecond), hbTimeout)
	}
	proxy.discard.Store(false)
	select {
	case err := <-accepted:
		must(t, err)
	case <-time.After(waitFor):
		t.Fatal("CallAccept did not return after the reconnection")
	}
	alice.expect(ts, id, "created", "changed bob=Received", "changed bob=Accepted")
	bob.expect(ts, id, "received from alice", "changed bob=Received", "changed bob=Accepted")
}

// R6.1, R7.2: a network silent for less than the heartbeat timeout loses nothing and drops
// nothing: the SDK keeps its connection, and what happened meanwhile arrives once it is back,
// once and in order.
func TestE2EShortSilenceKeepsTheConnection(t *testing.T) {
	ts := startServer(t)
	proxy := newCutProxy(t, ts.Addr)
	alice := ts.login(t, "alice", "a")
	bob := heldDevice(t, proxy, "bob", "b", client.Options{})
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	id := res.CallID
	bob.wait(id, "changed bob=Received")

	proxy.hold()
	must(t, second(alice.CallCancel(t.Context(), id, nil, client.OpConfig{})))
	time.Sleep(hbTimeout - hbEvery - 800*time.Millisecond) // the silence lasts, short of the timeout
	proxy.release()
	bob.wait(id, "cancelled bob=BeCancelled")
	bob.expect(ts, id, "received from alice", "changed bob=Received", "cancelled bob=BeCancelled")
	bob.mu.Lock()
	defer bob.mu.Unlock()
	if slices.Contains(bob.states, client.Reconnecting) {
		t.Errorf("bob's connection was dropped by a silence shorter than the timeout: states %v", bob.states)
	}
}

// Client docs: Dial into a silent network (the connection is taken, its handshake never
// answered) with a context without deadline fails after RequestTimeout, as Login and every
// operation do; it never hangs.
func TestE2EDialIntoASilentNetworkFailsInTime(t *testing.T) {
	ts := startServer(t)
	proxy := newCutProxy(t, ts.Addr)
	proxy.hold()
	const timeout = 500 * time.Millisecond
	dialed := make(chan error, 1)
	start := time.Now()
	go func() {
		c, err := client.Dial(context.Background(), proxy.URL(), client.Options{RequestTimeout: timeout})
		if err == nil {
			c.Close()
		}
		dialed <- err
	}()
	select {
	case err := <-dialed:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Dial into a silent network: %v, want context.DeadlineExceeded", err)
		}
		if el := time.Since(start); el > timeout+time.Second {
			t.Errorf("Dial into a silent network returned after %v, want about %v", el.Round(time.Millisecond), timeout)
		}
	case <-time.After(waitFor):
		t.Fatalf("Dial into a silent network still waits after %v (RequestTimeout %v)", waitFor, timeout)
	}
}
