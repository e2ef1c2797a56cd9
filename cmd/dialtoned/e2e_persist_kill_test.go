package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/servertest"
	"github.com/dialtone/dialtone/protocol"
)

// killable is the real server binary run as a child process on a fixed address and data
// directory, so that it can be killed with SIGKILL and started again on the same data.
type killable struct {
	*testServer
	t    *testing.T
	bin  string
	args []string
	proc *exec.Cmd
}

// startKillable builds and starts the server binary with the end-to-end tests' flags plus
// extra; it is killed when the test ends.
func startKillable(t *testing.T, extra ...string) *killable {
	t.Helper()
	data, addr := t.TempDir(), freeAddr(t)
	k := &killable{
		testServer: &testServer{Server: &servertest.Server{URL: "ws://" + addr + "/v1/ws", Addr: addr, Data: data}},
		t:          t,
		bin:        buildServer(t),
		args: append([]string{"--dev", "--data", data, "--secret", servertest.Secret,
			"--heartbeat-interval", "1s", "--heartbeat-timeout", "3s", "--log-level", "error"}, extra...),
	}
	k.restart()
	t.Cleanup(k.kill)
	return k
}

// restart starts the binary on the data directory and returns once it is ready.
func (k *killable) restart() {
	k.proc = startBinary(k.t, k.bin, k.Addr, nil, k.args...)
}

// kill kills the running binary with SIGKILL and waits for it to exit; no-op if none runs.
func (k *killable) kill() {
	if k.proc != nil {
		_ = k.proc.Process.Signal(syscall.SIGKILL)
		_ = k.proc.Wait()
		k.proc = nil
	}
}

// retried is a callInvite with an idempotency key, sent again after a kill (R7.3).
const retried = `{"id":%d,"op":"callInvite","data":{"invitees":["frank"],"config":{"timeout":60}},"idem":"k-kill-0123456789ab"}`

// R7.1, R7.2, R7.3, R3.5, §10 across a hard kill: the real binary is killed with SIGKILL while a call
// rings, and restarted only after the ring's deadline. At start-up the deadline fires at once
// (the Timeout dated at the deadline, not at the start-up); the callee's device, resuming with
// the seq of the last event it saw, gets exactly the events it missed, once and in order, with
// seqs above every seq given before the kill; a user Accepted in an advanced call is still
// busy; an invite committed just before the kill, repeated with its key, gets its first reply and
// makes no second call; and the webhooks of the call, committed before and after the kill, arrive in order.
func TestE2EPersistKillMidRing(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startKillable(t, hookFlags(hooks)...)

	bob, _ := ts.rawLogin(t, "bob", "b", -1)
	alice, _ := ts.rawLogin(t, "alice", "a", -1)
	alice.send(`{"id":2,"op":"callInvite","data":{"invitees":["bob"],"config":{"timeout":1}}}`)
	var res protocol.CallInviteResult
	if f := alice.reply(2); f.Error != nil || json.Unmarshal(f.Result, &res) != nil {
		t.Fatalf("invite: %+v", f)
	}
	received := bob.nextEvent()
	if received.Event != protocol.EventCallInvitationReceived {
		t.Fatalf("bob's first event %s, want %s", received.Event, protocol.EventCallInvitationReceived)
	}
	deadline := res.CallInfo.CallUserList[1].Deadline

	carol, _ := ts.rawLogin(t, "carol", "c", -1)
	carol.send(`{"id":2,"op":"callInvite","data":{"invitees":["dave"],"config":{"timeout":60,"mode":1}}}`)
	var adv protocol.CallInviteResult
	if f := carol.reply(2); f.Error != nil || json.Unmarshal(f.Result, &adv) != nil {
		t.Fatalf("advanced invite: %+v", f)
	}
	dave, _ := ts.rawLogin(t, "dave", "d", -1)
	dave.send(fmt.Sprintf(`{"id":2,"op":"callAccept","data":{"callID":%q}}`, adv.CallID))
	if f := dave.reply(2); f.Error != nil {
		t.Fatalf("accept: %+v", f)
	}
	hooks.call(res.CallID, "call_create")
	erin, _ := ts.rawLogin(t, "erin", "e", -1)
	erin.send(fmt.Sprintf(retried, 2))
	first := erin.reply(2) // committed; as if lost with the kill, the SDK sends it again (R7.3)

	ts.kill()
	for time.Now().UnixMilli() <= deadline+500 { // the deadline passes while the server is down
		time.Sleep(50 * time.Millisecond)
	}
	restarted := time.Now().UnixMilli()
	ts.restart()

	bob, login := ts.rawLogin(t, "bob", "b", received.Seq)
	if !login.CaughtUp || login.HeadSeq <= received.Seq {
		t.Fatalf("bob's resume from %d: caughtUp %v headSeq %d, want caught up past it (R7.2)", received.Seq, login.CaughtUp, login.HeadSeq)
	}
	timeout := bob.nextEvent()
	if timeout.Event != protocol.EventCallInvitationTimeout || timeout.Seq <= received.Seq || timeout.Seq != login.HeadSeq {
		t.Errorf("bob's missed event %s seq %d, want %s seq %d (> %d, R7.2)", timeout.Event, timeout.Seq,
			protocol.EventCallInvitationTimeout, login.HeadSeq, received.Seq)
	}
	bob.send(`{"id":2,"op":"heartbeat"}`) // anything replayed twice would come before this reply
	for f := bob.next(); f.ID != 2; f = bob.next() {
		t.Errorf("bob got %s seq %d again or out of place after the catch-up", f.Event, f.Seq)
	}
	if since := time.Now().UnixMilli() - restarted; since > 5000 {
		t.Errorf("the passed deadline fired %d ms after the restart began, want at start-up (R3.5)", since)
	}

	names, bodies := hooks.call(res.CallID, "call_end")
	if want := []string{"call_create", "call_timeout", "call_end"}; !equalStrings(names, want) {
		t.Errorf("webhooks of the call %v, want %v (§10)", names, want)
	}
	if at, _ := bodies[len(bodies)-1]["endTime"].(float64); int64(at) != deadline {
		t.Errorf("call_end endTime %v, want the deadline %d (R3.5)", bodies[len(bodies)-1]["endTime"], deadline)
	}

	erin, _ = ts.rawLogin(t, "erin", "e", -1)
	erin.send(fmt.Sprintf(retried, 2))
	if again := erin.reply(2); first.Error != nil || again.Error != nil || string(again.Result) != string(first.Result) {
		t.Errorf("retry after the kill: %s %+v, want the first reply %s %+v (R7.3)", again.Result, again.Error, first.Result, first.Error)
	}
	erin.send(`{"id":3,"op":"queryCallInvitationList","data":{"config":{"count":10}}}`)
	var list protocol.QueryCallInvitationListResult
	if f := erin.reply(3); f.Error != nil || json.Unmarshal(f.Result, &list) != nil || len(list.CallList) != 1 {
		t.Errorf("erin's calls after the retry: %s %+v, want exactly one", f.Result, f.Error)
	}

	dave, _ = ts.rawLogin(t, "dave", "d", -1)
	dave.send(`{"id":2,"op":"callInvite","data":{"invitees":["erin"]}}`)
	if f := dave.reply(2); f.Error == nil || f.Error.Code != protocol.CodeBusy {
		t.Errorf("dave's invite while Accepted in an advanced call after the kill: %s %+v, want 6000290", f.Result, f.Error)
	}
}
