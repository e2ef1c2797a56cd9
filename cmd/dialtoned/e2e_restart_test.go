package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/server"
	"github.com/dialtone/dialtone/protocol"
)

// A restart keeps calls, states and pending deadlines; a deadline that passed while the server
// was down fires at start-up (R3.5), and a client that reconnects resumes and gets the event.
func TestE2ERestartKeepsCallsAndFiresDeadlines(t *testing.T) {
	first := startServer(t)
	alice := first.login(t, "alice", "a")
	carol := first.login(t, "carol", "c")
	short, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 2})
	must(t, err)
	long, err := carol.CallInvite(t.Context(), []string{"dave"}, client.InviteConfig{Timeout: 120, Mode: client.ModeAdvanced, ExtendedData: "keep"})
	must(t, err)
	before, err := carol.QueryCall(t.Context(), long.CallID)
	must(t, err)

	first.Stop()
	alice.until("shutdown kick", func() bool { return len(alice.kicks) > 0 && alice.kicks[0].Reason == client.KickShutdown })
	time.Sleep(2500 * time.Millisecond) // downtime longer than the short call's ring

	second := startServerOn(t, first.Data, "--listen", first.Addr)
	// alice's SDK reconnects by itself and resumes from its last seq.
	alice.wait(short.CallID, "changed bob=Timeout (call ended)")
	after, err := second.login(t, "carol", "c2").QueryCall(t.Context(), long.CallID)
	must(t, err)
	if after.State != client.CallStarted || after.ExtendedData != "keep" || after.Version != before.Version {
		t.Errorf("long call after restart = %+v, before %+v", after, before)
	}
	if len(after.CallUserList) != 2 || after.CallUserList[1].Deadline != before.CallUserList[1].Deadline {
		t.Errorf("pending deadline not kept: %+v", after.CallUserList)
	}
}

// R6.1 across a restart: a busy user's main device gets the whole heartbeatTimeout (3 s here)
// from start-up to come back. A caller whose app reconnects keeps its call; one whose app does
// not is lost, and its unanswered call cancelled (R4.3), once that grace has passed.
func TestE2ERestartGivesMainDevicesTheirGrace(t *testing.T) {
	first := startServer(t)
	alice := first.login(t, "alice", "a")
	carol := first.login(t, "carol", "c")
	toBob, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	toDave, err := carol.CallInvite(t.Context(), []string{"dave"}, client.InviteConfig{Timeout: 60})
	must(t, err)

	first.Stop()
	carol.Close() // carol's app is gone; alice's SDK reconnects by itself
	// The grace starts while the server starts up, before it listens: timed from before the
	// start, carol's loss can come no sooner than 3 s later, however long the start-up takes.
	restarted := time.Now()
	second := startServerOn(t, first.Data, "--listen", first.Addr)
	dave := second.login(t, "dave", "d")
	dave.wait(toDave.CallID, "received from carol (synthetic)")
	dave.wait(toDave.CallID, "cancelled dave=BeCancelled")
	if lost := time.Since(restarted); lost < 3*time.Second {
		t.Errorf("carol lost %v after the restart began, before her grace of 3 s", lost)
	}
	info, err := alice.QueryCall(t.Context(), toBob.CallID)
	must(t, err)
	if info.State != client.CallStarted || info.CallUserList[0].State != client.StateAccepted {
		t.Errorf("alice's call after she came back within her grace: %+v", info)
	}
}

// R3.5, R6.4 across a restart: a ring deadline still ahead when the server comes back fires at
// its time, as the change of that instant, and an Accepted member whose app never comes back
// quits once its grace (3s from start-up) has passed; the caller, back in time, stays.
func TestE2ERestartFiresFutureDeadlinesAndLosesMembersAfterTheirGrace(t *testing.T) {
	first := startServer(t)
	carol := first.login(t, "carol", "c")
	dave := first.login(t, "dave", "d")
	erin := first.login(t, "erin", "e")
	res, err := carol.CallInvite(t.Context(), []string{"dave", "erin"},
		client.InviteConfig{Timeout: 3, Mode: client.ModeAdvanced})
	must(t, err)
	must(t, second(erin.CallAccept(t.Context(), res.CallID, client.OpConfig{})))
	dave.wait(res.CallID, "changed erin=Accepted")
	deadline := userIn(t, res.CallInfo.CallUserList, "dave").Deadline

	first.Stop()
	erin.Close() // erin's app is gone; carol's and dave's SDKs reconnect by themselves
	restarted := time.Now()
	startServerOn(t, first.Data, "--listen", first.Addr)
	if restarted.UnixMilli() >= deadline {
		t.Fatalf("the restart took until %d, past dave's deadline %d", restarted.UnixMilli(), deadline)
	}
	dave.wait(res.CallID, "timeout")
	if now := time.Now().UnixMilli(); now < deadline {
		t.Errorf("dave timed out at %d, before his deadline %d", now, deadline)
	}
	timedOut := carol.wait(res.CallID, "changed dave=Timeout").(client.CallUserStateChanged)
	if got := timedOut.CallUserList[0].UpdateTime; got != deadline {
		t.Errorf("dave's Timeout at %d, want his deadline %d", got, deadline)
	}
	carol.wait(res.CallID, "changed erin=Quit")
	if lost := time.Since(restarted); lost < 3*time.Second {
		t.Errorf("erin lost %v after the restart began, before her grace of 3 s", lost)
	}
	info, err := carol.QueryCall(t.Context(), res.CallID)
	must(t, err)
	if info.State != client.CallStarted || userIn(t, info.CallUserList, "carol").State != client.StateAccepted {
		t.Errorf("call after erin's loss: %+v, want carol still in it", info)
	}
}

// R6.1, R4.3: a graceful shutdown is not a loss, however long its drain takes. A peer that
// keeps sending heartbeats but does not answer the shutdown kick's close holds the drain for
// longer than heartbeatTimeout (1s here); the caller whose SDK closed at once keeps its
// unanswered call, and finds it ringing when it reconnects after the restart.
func TestE2EShutdownLongerThanTheGraceIsNotALoss(t *testing.T) {
	flags := []string{"--heartbeat-interval", "300ms", "--heartbeat-timeout", "1s"}
	first := startServer(t, flags...)
	alice := first.login(t, "alice", "a")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	slow := first.raw(t)
	slow.login("carol")
	stopBeating := make(chan struct{})
	var beating sync.WaitGroup
	beating.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for id := 2; ; id++ {
			frame := fmt.Sprintf(`{"id":%d,"op":"heartbeat"}`, id)
			if slow.conn.Write(t.Context(), websocket.MessageText, []byte(frame)) != nil {
				return
			}
			select {
			case <-stopBeating:
				return
			case <-tick.C:
			}
		}
	})

	stopped := make(chan struct{})
	go func() { defer close(stopped); first.Stop() }()
	for {
		f := slow.next() // the kicked event comes before the close frame, which stays unread
		if f.Event != protocol.EventKicked {
			continue
		}
		var k protocol.Kicked
		if err := json.Unmarshal(f.Data, &k); err != nil || k.Reason != protocol.KickShutdown || !k.Retry {
			t.Errorf("kicked %s, want reason shutdown with retry (protocol.md)", f.Data)
		}
		break
	}
	time.Sleep(2 * time.Second) // the drain goes on for twice heartbeatTimeout
	close(stopBeating)
	beating.Wait()
	if code := slow.closed(); code != 4003 {
		t.Errorf("close code %d after the shutdown kick, want 4003", code)
	}
	<-stopped

	startServerOn(t, first.Data, append([]string{"--listen", first.Addr}, flags...)...)
	info, err := alice.QueryCall(t.Context(), res.CallID) // once alice's SDK has reconnected
	must(t, err)
	if info.State != client.CallStarted || userIn(t, info.CallUserList, "alice").State != client.StateAccepted ||
		userIn(t, info.CallUserList, "bob").State != client.StateInviting {
		t.Errorf("call after a graceful shutdown: %+v, want still ringing", info)
	}
}

// A restart while requests are in flight (R7.1, R7.3): each request is either answered before
// its connection is kicked with shutdown or sent again by the SDK once it has reconnected, with
// its idempotency key, so none fails because the server was stopping (6000270).
func TestE2ERestartWhileRequestsInFlight(t *testing.T) {
	first := startServer(t)
	const callers = 8
	var done atomic.Int64
	var stop atomic.Bool
	failures := make(chan error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		caller := first.login(t, fmt.Sprintf("caller%d", i), "phone")
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				ctx, cancel := context.WithTimeout(t.Context(), waitFor)
				res, err := caller.CallInvite(ctx, []string{fmt.Sprintf("callee%d-%d", i, n)},
					client.InviteConfig{Mode: client.ModeAdvanced})
				if err == nil {
					_, err = caller.CallEnd(ctx, res.CallID, client.OpConfig{})
				}
				cancel()
				if err != nil {
					failures <- fmt.Errorf("caller%d, call %d: %w", i, n, err)
					return
				}
				done.Add(1)
			}
		})
	}
	waitUntil := func(what string, n int64) {
		t.Helper()
		for deadline := time.Now().Add(waitFor); done.Load() < n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) || len(failures) > 0 {
				t.Errorf("%s: %d calls made and ended", what, done.Load())
				return
			}
		}
	}
	waitUntil("before the restart", 40)
	first.Stop()
	startServerOn(t, first.Data, "--listen", first.Addr)
	waitUntil("after the restart", done.Load()+40)
	stop.Store(true)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
}

// R7.1, R7.3: idempotency records are durable. After a restart, a request repeated with its
// key gets the first reply and creates nothing, and the key with other parameters is still
// refused with 6000001.
func TestE2EIdempotentRepeatAfterRestart(t *testing.T) {
	first := startServer(t)
	invite := `{"id":%d,"op":"callInvite","data":{"invitees":["bob","alice"],"config":{"timeout":%d}},"idem":"k-restart-0123456789"}`
	r, _ := first.rawLogin(t, "alice", "a", -1)
	r.send(fmt.Sprintf(invite, 2, 60))
	reply := r.reply(2)
	var res protocol.CallInviteResult
	if reply.Error != nil || json.Unmarshal(reply.Result, &res) != nil {
		t.Fatalf("invite: %+v", reply)
	}
	r.conn.CloseNow()
	first.Stop()

	ts := startServerOn(t, first.Data)
	r, _ = ts.rawLogin(t, "alice", "a", -1)
	r.send(fmt.Sprintf(invite, 2, 60))
	if f := r.reply(2); f.Error != nil || string(f.Result) != string(reply.Result) {
		t.Errorf("repeat after the restart: %s %v, want the first reply %s", f.Result, f.Error, reply.Result)
	}
	r.send(fmt.Sprintf(invite, 3, 59))
	if f := r.reply(3); f.Error == nil || f.Error.Code != protocol.CodeInvalidParameter {
		t.Errorf("the key with other parameters after the restart: %s %v, want 6000001", f.Result, f.Error)
	}
	list, err := ts.login(t, "alice", "a2").QueryCallInvitationList(t.Context(), 100, 0)
	must(t, err)
	if len(list.CallList) != 1 || list.CallList[0].CallID != res.CallID {
		t.Errorf("%d calls after the repeat, want exactly call %s", len(list.CallList), res.CallID)
	}
}

// A second server started on the data directory of a running one (a rolling restart that
// starts the new process first, a copy-pasted unit) would decide on stale copies of the calls
// and busy records the first keeps in memory (R7.1): it stops at start-up with a message
// naming --data, and the first one goes on serving.
func TestE2ESecondServerOnTheSameDataRefused(t *testing.T) {
	first := startServer(t)
	args := []string{"--dev", "--data", first.Data, "--listen", "127.0.0.1:0"}
	err := server.Run(t.Context(), args, nil, io.Discard, io.Discard,
		func(string) { t.Error("a second server started on a data directory in use") })
	if err == nil || !strings.Contains(err.Error(), "--data") || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second server on %s: %v, want an error naming --data and saying it is in use", first.Data, err)
	}
	alice := first.login(t, "alice", "a")
	if _, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{}); err != nil {
		t.Fatalf("the first server after the refused second one: %v", err)
	}
}

// A signal during start-up (an operator's Ctrl-C while the database opens) stops the server
// before it serves, which is no failure: Run returns nil, and dialtoned exits 0, as after a
// drain, instead of reporting "context canceled".
func TestE2EStoppedDuringStartUpIsNoFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	args := []string{"--dev", "--data", t.TempDir(), "--listen", "127.0.0.1:0"}
	err := server.Run(ctx, args, nil, io.Discard, io.Discard, nil)
	if err != nil {
		t.Fatalf("Run stopped before it served: %v, want nil", err)
	}
}
