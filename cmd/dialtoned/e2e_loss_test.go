package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

// R6.4: an Accepted member of an advanced call whose app dies is Quit for everyone else after
// heartbeatTimeout; when nobody is left Accepted the call ends (R3.8).
func TestE2EAcceptedMemberLostQuits(t *testing.T) {
	ts := startServer(t)
	alice, bob, carol := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c")
	res, err := alice.CallInvite(t.Context(), []string{"bob", "carol"}, advanced)
	must(t, err)
	must(t, second(bob.CallAccept(t.Context(), res.CallID, client.OpConfig{})))
	must(t, second(carol.CallAccept(t.Context(), res.CallID, client.OpConfig{})))
	alice.wait(res.CallID, "changed carol=Accepted")

	bob.Close() // killed: no logout
	alice.wait(res.CallID, "changed bob=Quit")
	carol.wait(res.CallID, "changed bob=Quit")
	info, err := alice.QueryCall(t.Context(), res.CallID)
	must(t, err)
	if info.State != client.CallStarted {
		t.Errorf("call ended after one member was lost: %+v", info)
	}
	// The others leave too: alice logs out (a loss at once), carol is killed; the call ends.
	must(t, alice.Logout(t.Context()))
	carol.wait(res.CallID, "changed alice=Quit")
	carol.Close()
	watcher := ts.login(t, "bob", "b2")
	for {
		info, err := watcher.QueryCall(t.Context(), res.CallID)
		must(t, err)
		if info.State == client.CallEnded {
			if q := info.CallUserList[2]; q.UserID != "carol" || q.State != client.StateQuit {
				t.Errorf("carol after her loss: %+v", q)
			}
			break
		}
		time.Sleep(100 * time.Millisecond) // carol's loss takes heartbeatTimeout (3s)
	}
}

// R6.1: logout is a loss at once: a caller who logs out before anyone answers cancels the call
// (R4.3) without waiting for heartbeatTimeout.
func TestE2ELogoutCancelsAtOnce(t *testing.T) {
	ts := startServer(t, "--heartbeat-interval", "10s", "--heartbeat-timeout", "60s")
	alice, bob := ts.login(t, "alice", "a"), ts.login(t, "bob", "b")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	bob.wait(res.CallID, "received from alice")
	must(t, alice.Logout(t.Context()))
	bob.wait(res.CallID, "cancelled bob=BeCancelled") // within waitFor, long before 60 s
}

// R6.1, R4.3: a logout lost with its connection (the network dropped it, then the connection)
// is sent again once the SDK has reconnected, so the device is still lost at once: Logout
// succeeds and the call it was making is cancelled long before heartbeatTimeout.
func TestE2ELogoutLostWithTheConnectionIsSentAgain(t *testing.T) {
	ts := startServer(t, "--heartbeat-interval", "10s", "--heartbeat-timeout", "60s")
	proxy := newCutProxy(t, ts.Addr)
	bob := ts.login(t, "bob", "b")
	alice := dialAt(t, proxy.URL(), "alice", "a", client.Options{})
	must(t, second(alice.Login(t.Context(), token(t, "alice"), "a")))
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	bob.wait(res.CallID, "received from alice")

	proxy.freeze.Store(true)
	loggedOut := make(chan error, 1)
	go func() { loggedOut <- alice.Logout(t.Context()) }()
	for proxy.lostUp.Load() == 0 { // the logout went out, into the void
		time.Sleep(5 * time.Millisecond)
	}
	proxy.freeze.Store(false)
	proxy.cutAll()
	select {
	case err := <-loggedOut:
		if err != nil {
			t.Errorf("Logout: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Logout did not return")
	}
	bob.wait(res.CallID, "cancelled bob=BeCancelled") // within waitFor, long before 60 s
	if !errors.Is(alice.Err(), client.ErrLoggedOut) {
		t.Errorf("alice's client ended with %v, want ErrLoggedOut", alice.Err())
	}
}

// R6.1, R4.3: requests pipelined around a logout. An invite sent before it is carried out
// first, then cancelled by the device's loss; one sent after it is not carried out. A call
// never outlives the device that made it.
func TestE2ELogoutAfterPipelinedInvite(t *testing.T) {
	ts := startServer(t, "--heartbeat-interval", "10s", "--heartbeat-timeout", "60s")
	bob := ts.login(t, "bob", "b")
	r := ts.raw(t)
	r.login("alice")
	r.send(`{"id":2,"op":"callInvite","data":{"invitees":["bob"],"config":{"timeout":60}}}`)
	r.send(`{"id":3,"op":"logout"}`)
	r.send(`{"id":4,"op":"callInvite","data":{"invitees":["carol"],"config":{"timeout":60}}}`)
	if code := r.closed(); code != 4002 {
		t.Errorf("close code %d, want 4002 (logout)", code)
	}
	var callID string
	bob.until("alice's invitation", func() bool {
		for _, e := range bob.events {
			if e.summary == "received from alice" {
				callID = e.callID
				return true
			}
		}
		return false
	})
	bob.wait(callID, "cancelled bob=BeCancelled") // within waitFor, long before 60 s
	carol := ts.login(t, "carol", "c")
	if calls, err := carol.QueryCallInvitationList(t.Context(), 10, 0); err != nil || len(calls.CallList) != 0 {
		t.Errorf("carol's calls after alice's logout: %+v, %v; want none", calls, err)
	}
}

// R7.2: an app that persists its last seq (Options.SeqStore) and restarts catches up on what it
// missed while it was closed; beyond the log's retention it gets the invitations still ringing
// instead (R5.3).
func TestE2ERestartedAppCatchesUp(t *testing.T) {
	ts := startServer(t, "--log-retention", "3s")
	store := &memorySeqs{}
	bob := ts.dial(t, "bob", "b", client.Options{SeqStore: store})
	must(t, second(bob.Login(t.Context(), token(t, "bob"), "b")))
	alice := ts.login(t, "alice", "a")
	first, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	bob.wait(first.CallID, "received from alice")
	bob.wait(first.CallID, "changed bob=Received") // its acknowledgement, the last event before closing
	closeSaved(bob)

	must(t, second(alice.CallCancel(t.Context(), first.CallID, nil, client.OpConfig{}))) // missed while closed
	again := ts.dial(t, "bob", "b", client.Options{SeqStore: store})
	login, err := again.Login(t.Context(), token(t, "bob"), "b")
	must(t, err)
	if !login.CaughtUp {
		t.Errorf("login after a short absence: caughtUp false")
	}
	again.wait(first.CallID, "cancelled bob=BeCancelled")
	if got := again.summaries(first.CallID); len(got) != 1 {
		t.Errorf("replay after the persisted seq: %q, want only the cancellation", got)
	}
	closeSaved(again)

	// Past retention: the log no longer reaches back, so the still-ringing call is synthesized.
	// dave, invited with bob and never connected, shows when retention has pruned the call's
	// invitations: from lastSeq 0 he can no longer resume.
	second, err := alice.CallInvite(t.Context(), []string{"bob", "dave"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	alice.wait(second.CallID, "created")
	for deadline := time.Now().Add(waitFor); ts.canResume(t, "dave", 0); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("retention (3s) never pruned the invitation")
		}
	}
	retention := ts.dial(t, "bob", "b", client.Options{SeqStore: store})
	login, err = retention.Login(t.Context(), token(t, "bob"), "b")
	must(t, err)
	if login.CaughtUp {
		t.Errorf("login beyond retention: caughtUp true")
	}
	retention.wait(second.CallID, "received from alice (synthetic)")
}

// memorySeqs is an app's persisted seq, shared by the app's successive clients.
type memorySeqs struct {
	mu   sync.Mutex
	seqs map[client.SeqKey]int64
}

func (m *memorySeqs) Load(_ context.Context, k client.SeqKey) (int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.seqs[k]
	return v, ok, nil
}

func (m *memorySeqs) Save(_ context.Context, k client.SeqKey, v int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seqs == nil {
		m.seqs = map[client.SeqKey]int64{}
	}
	m.seqs[k] = v
	return nil
}

// canResume reports whether a login of user from lastSeq is answered caughtUp (R7.2), from a
// connection of its own that leaves nothing behind.
func (ts *testServer) canResume(t *testing.T, user string, lastSeq int64) bool {
	t.Helper()
	r := ts.raw(t)
	defer r.conn.CloseNow()
	r.send(`{"id":1,"op":"login","data":{"token":"` + token(t, user) + `","deviceID":"probe","lastSeq":` +
		strconv.FormatInt(lastSeq, 10) + `}}`)
	var lr protocol.LoginResult
	if f := r.reply(1); f.Error != nil || json.Unmarshal(f.Result, &lr) != nil {
		t.Fatalf("probe login of %s: %+v", user, f)
	}
	return lr.CaughtUp
}

// R6.1, R4.3: a caller whose network vanishes (nothing arrives any more, not even a close) is
// silent, so its connection is closed heartbeatTimeout (3s here) after its last frame, and its
// device is lost heartbeatTimeout later: the call is cancelled about 6s after that frame, not
// later because the server waited for a close answer the silent peer cannot send.
func TestE2EVanishedCallerLostAfterTwiceTheTimeout(t *testing.T) {
	ts := startServer(t)
	proxy := newCutProxy(t, ts.Addr)
	bob := ts.login(t, "bob", "b")
	conn, _, err := websocket.Dial(t.Context(), proxy.URL(), nil)
	must(t, err)
	alice := &rawConn{t: t, conn: conn}
	alice.login("alice")
	lastFrame := time.Now()
	alice.send(`{"id":2,"op":"callInvite","data":{"invitees":["bob"],"config":{"timeout":60}}}`)
	var res protocol.CallInviteResult
	must(t, json.Unmarshal(alice.reply(2).Result, &res))
	proxy.freeze.Store(true) // alice's network vanishes: no heartbeat, no close answer
	const want = 2 * 3 * time.Second
	for {
		info, err := bob.QueryCall(t.Context(), res.CallID)
		must(t, err)
		if info.State == client.CallEnded {
			break
		}
		if waited := time.Since(lastFrame); waited > want+2*time.Second {
			t.Fatalf("caller still not lost %v after her last frame, want about %v", waited.Round(time.Millisecond), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	bob.wait(res.CallID, "cancelled bob=BeCancelled")
}

// protocol.md "Events": a connection silent for heartbeatTimeout still gets its kicked event
// (heartbeatTimeout, retry) and close code 4009 when it can carry them.
func TestE2ESilentConnectionKicked(t *testing.T) {
	ts := startServer(t)
	r := ts.raw(t)
	r.login("alice")
	f := r.next()
	var k protocol.Kicked
	if f.Event != protocol.EventKicked || json.Unmarshal(f.Data, &k) != nil || k.Reason != protocol.KickHeartbeat || !k.Retry {
		t.Errorf("silent connection got %+v, want kicked heartbeatTimeout (retry)", f)
	}
	if c := r.closed(); c != 4009 {
		t.Errorf("silent connection closed with %d, want 4009", c)
	}
}

// R7.2, R5.3, §5: an app that logged in on a device and handled no event yet has a position
// all the same, the login's headSeq. Closed while a call rang its user, and restarted, it
// resumes from that position: it catches up on the invitation and its user's own changes,
// which target all devices, and not on the changes only the main device gets (R6.3), rather
// than starting over without the missed events.
func TestE2ERestartedAppCatchesUpWithoutAnEventBefore(t *testing.T) {
	ts := startServer(t)
	store := &memorySeqs{}
	alice, carol := ts.login(t, "alice", "a"), ts.login(t, "carol", "c")
	phone := ts.login(t, "bob", "phone")
	laptop := ts.dial(t, "bob", "laptop", client.Options{SeqStore: store})
	must(t, second(laptop.Login(t.Context(), token(t, "bob"), "laptop")))
	// The SDK records the position before it tells the handler it is connected.
	laptop.until("connected", func() bool { return slices.Contains(laptop.states, client.Connected) })
	laptop.Close()

	res, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
	must(t, err)
	id := res.CallID
	alice.wait(id, "changed bob=Received")
	must(t, second(phone.CallAccept(t.Context(), id, client.OpConfig{})))
	must(t, second(alice.CallingInvite(t.Context(), id, []string{"carol"}, client.CallingInviteConfig{Timeout: 60})))
	carol.wait(id, "received from alice")
	must(t, second(carol.CallReject(t.Context(), id, client.OpConfig{})))
	phone.wait(id, "changed carol=Rejected")

	again := ts.dial(t, "bob", "laptop", client.Options{SeqStore: store})
	login, err := again.Login(t.Context(), token(t, "bob"), "laptop")
	must(t, err)
	if !login.CaughtUp {
		t.Errorf("restarted app's login: caughtUp false, want the events missed since its first login")
	}
	again.expect(ts, id, "received from alice", "changed bob=Received", "changed bob=Accepted")
}

// R4.3, §5: the caller's main device logs out of an unanswered call; the caller's other
// devices, which made no request, are told of the cancel like the callee (all of them, not all
// but the acting one).
func TestE2ECallerMainDeviceLostTellsItsOtherDevices(t *testing.T) {
	ts := startServer(t, "--heartbeat-interval", "10s", "--heartbeat-timeout", "60s")
	phone, laptop := ts.login(t, "alice", "phone"), ts.login(t, "alice", "laptop")
	bob := ts.login(t, "bob", "b")
	res, err := phone.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	phone.wait(res.CallID, "changed bob=Received")
	must(t, laptop.Logout(t.Context())) // not the main device: changes nothing
	tablet := ts.login(t, "alice", "tablet")
	bob.expect(ts, res.CallID, "received from alice", "changed bob=Received")

	must(t, phone.Logout(t.Context()))
	bob.wait(res.CallID, "cancelled bob=BeCancelled")
	tablet.expect(ts, res.CallID, "cancelled bob=BeCancelled")
	info, err := bob.QueryCall(t.Context(), res.CallID)
	must(t, err)
	if info.State != client.CallEnded || info.CallUserList[0].State != client.StateCancelled {
		t.Errorf("after the caller's main device logged out: %+v", info)
	}
}

// R6.4, R6.3, R3.7: in an advanced call only the loss of an Accepted user's main device quits
// it: its other devices' logouts change nothing, also the old main device's after a device
// switch. The user's devices still connected then get its own Quit; the call goes on for the
// others.
func TestE2EOnlyTheMainDeviceLossQuits(t *testing.T) {
	ts := startServer(t, "--heartbeat-interval", "10s", "--heartbeat-timeout", "60s")
	alice := ts.login(t, "alice", "a")
	phone, laptop, tablet := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop"), ts.login(t, "bob", "tablet")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, advanced)
	must(t, err)
	id := res.CallID
	alice.wait(id, "changed bob=Received")
	must(t, second(phone.CallAccept(t.Context(), id, client.OpConfig{})))
	must(t, laptop.Logout(t.Context()))
	must(t, second(tablet.CallJoin(t.Context(), id, client.OpConfig{}))) // the tablet becomes the main device
	phone.wait(id, "main device tablet")
	must(t, phone.Logout(t.Context())) // the main device no more
	watcher := ts.login(t, "bob", "watch")
	alice.expectNone(ts, id, "changed bob=Quit")

	must(t, tablet.Logout(t.Context()))
	alice.wait(id, "changed bob=Quit")
	watcher.expect(ts, id, "changed bob=Quit")
	info, err := alice.QueryCall(t.Context(), id)
	must(t, err)
	if b := userIn(t, info.CallUserList, "bob"); info.State != client.CallStarted || b.State != client.StateQuit {
		t.Errorf("after the main device's logout: %+v", info)
	}
}

// R6.1: silence is the absence of any frame from the client, not only of heartbeats. A
// connection that sends other requests and no heartbeat for longer than heartbeatTimeout (3 s
// here) stays open; once it sends nothing at all, it is kicked with heartbeatTimeout.
func TestE2EAnyRequestKeepsAConnectionAlive(t *testing.T) {
	ts := startServer(t)
	r := ts.raw(t)
	r.login("alice")
	start := time.Now()
	for id := int64(2); time.Since(start) < 4*time.Second; id++ {
		time.Sleep(500 * time.Millisecond)
		r.send(`{"id":` + strconv.FormatInt(id, 10) + `,"op":"queryCallInvitationList","data":{}}`)
		if f := r.next(); f.ID != id || f.Error != nil {
			t.Fatalf("%v after the login, without heartbeats but with a request every 500ms: %+v", time.Since(start).Round(time.Millisecond), f)
		}
	}
	if f := r.next(); f.Event != protocol.EventKicked {
		t.Errorf("a connection silent after its last request got %+v, want the heartbeatTimeout kick", f)
	}
	if c := r.closed(); c != 4009 {
		t.Errorf("closed with %d, want 4009", c)
	}
}
