package main

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

// rawLogin logs user's device in on a bare connection, from lastSeq (none when negative), and
// returns the connection and the login result.
func (ts *testServer) rawLogin(t *testing.T, user, deviceID string, lastSeq int64) (*rawConn, protocol.LoginResult) {
	t.Helper()
	r := ts.raw(t)
	last := ""
	if lastSeq >= 0 {
		last = `,"lastSeq":` + strconv.FormatInt(lastSeq, 10)
	}
	r.send(`{"id":1,"op":"login","data":{"token":"` + token(t, user) + `","deviceID":"` + deviceID + `"` + last + `}}`)
	var lr protocol.LoginResult
	if f := r.reply(1); f.Error != nil || json.Unmarshal(f.Result, &lr) != nil {
		t.Fatalf("login of %s@%s: %+v", user, deviceID, f)
	}
	return r, lr
}

// nextEvent reads frames up to the next event.
func (r *rawConn) nextEvent() protocol.Frame {
	r.t.Helper()
	for {
		if f := r.next(); f.Event != "" {
			return f
		}
	}
}

// waitPruned waits until retention has deleted every entry of user's log up to seq, as a
// login from seq-1 tells (R7.2: no longer usable once seq is gone).
func waitPruned(t *testing.T, ts *testServer, user string, seq int64) {
	t.Helper()
	for deadline := time.Now().Add(waitFor); ts.canResume(t, user, seq-1); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("retention never pruned %s's seq %d", user, seq)
		}
	}
}

// R7.2 through the real server: once retention deleted every entry of bob's log, his head
// stays, a lastSeq of exactly oldest - 1 (the head) still resumes while one below does not,
// and after a restart the head is the same, the next event takes a seq past it (a start's
// jump, behaviour §12), and a login from the old head resumes across the jump.
func TestE2ERetentionKeepsTheHeadAcrossRestart(t *testing.T) {
	ts := startServer(t, "--log-retention", "3s") // the least allowed: --heartbeat-timeout
	alice := ts.login(t, "alice", "a")
	bob, _ := ts.rawLogin(t, "bob", "b", -1)
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	must(t, second(alice.CallCancel(t.Context(), res.CallID, nil, client.OpConfig{})))
	if f := bob.nextEvent(); f.Event != protocol.EventCallInvitationReceived {
		t.Fatalf("bob's first event: %+v", f)
	}
	cancelled := bob.nextEvent()
	if cancelled.Event != protocol.EventCallInvitationCancelled {
		t.Fatalf("bob's second event: %+v", cancelled)
	}
	head := cancelled.Seq
	bob.conn.CloseNow()

	waitPruned(t, ts, "bob", head)
	checkResume := func(ts *testServer) {
		t.Helper()
		if !ts.canResume(t, "bob", head) {
			t.Errorf("login from lastSeq %d = oldest - 1 with nothing retained: caughtUp false", head)
		}
		if ts.canResume(t, "bob", head-1) {
			t.Errorf("login from lastSeq %d, whose next entry was pruned: caughtUp true", head-1)
		}
	}
	checkResume(ts)

	ts.Stop()
	restarted := startServerOn(t, ts.Data, "--log-retention", "3s")
	checkResume(restarted)
	bob, lr := restarted.rawLogin(t, "bob", "b", head)
	if !lr.CaughtUp || lr.HeadSeq != head {
		t.Errorf("login after the restart: caughtUp %v, headSeq %d; want true, %d", lr.CaughtUp, lr.HeadSeq, head)
	}
	alice = restarted.login(t, "alice", "a")
	must(t, second(alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})))
	next := bob.nextEvent()
	if next.Event != protocol.EventCallInvitationReceived || next.Seq <= head {
		t.Fatalf("bob's event after the restart: %s seq %d, want %s past seq %d", next.Event, next.Seq,
			protocol.EventCallInvitationReceived, head)
	}
	other, lr := restarted.rawLogin(t, "bob", "other", head) // across the restart's jump
	if f := other.nextEvent(); !lr.CaughtUp || lr.HeadSeq != next.Seq || f.Seq != next.Seq {
		t.Errorf("login from %d after the restart's first event: caughtUp %v, headSeq %d, then seq %d; want true, %d, %d",
			head, lr.CaughtUp, lr.HeadSeq, f.Seq, next.Seq, next.Seq)
	}
}

// R3.10 at the least --call-retention: an ended call is deleted, while a call still ringing
// and an advanced call still going on, both older, are kept however old.
func TestE2ERetentionOfCalls(t *testing.T) {
	ts := startServer(t, "--call-retention", "3s", "--log-retention", "3s")
	alice, bob := ts.login(t, "alice", "a"), ts.login(t, "bob", "b")
	carol, dave := ts.login(t, "carol", "c"), ts.login(t, "dave", "d")
	erin := ts.login(t, "erin", "e")
	ringing, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 600})
	must(t, err)
	ongoing, err := carol.CallInvite(t.Context(), []string{"dave"}, client.InviteConfig{Timeout: 600, Mode: client.ModeAdvanced})
	must(t, err)
	must(t, second(dave.CallAccept(t.Context(), ongoing.CallID, client.OpConfig{})))
	ended, err := erin.CallInvite(t.Context(), []string{"frank"}, client.InviteConfig{Timeout: 600})
	must(t, err)
	must(t, second(erin.CallCancel(t.Context(), ended.CallID, nil, client.OpConfig{})))

	for deadline := time.Now().Add(waitFor); ; time.Sleep(100 * time.Millisecond) {
		_, err := erin.QueryCall(t.Context(), ended.CallID)
		if code(err) == client.CodeCallUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ended call was never pruned: %v", err)
		}
	}
	if list, err := erin.QueryCallInvitationList(t.Context(), 10, 0); err != nil || len(list.CallList) != 0 {
		t.Errorf("erin's calls after the prune: %+v, %v; want none", list, err)
	}
	// The prune that deleted the ended call had a cutoff past both other calls' creation.
	for _, c := range []struct {
		who    *device
		callID string
	}{{bob, ringing.CallID}, {carol, ongoing.CallID}} {
		info, err := c.who.QueryCall(t.Context(), c.callID)
		if err != nil || info.State != client.CallStarted {
			t.Errorf("call %s after the prune: %+v, %v; want it Started", c.callID, info, err)
		}
	}
	bob.wait(ringing.CallID, "received from alice") // still ringing for bob
	must(t, second(bob.CallAccept(t.Context(), ringing.CallID, client.OpConfig{})))
}

// R7.3: an idempotency record inside the window survives retention runs, whatever the other
// retentions are, and a repeat gets the first reply; past the window the key is a new request.
func TestE2ERetentionOfIdempotencyRecords(t *testing.T) {
	invite := func(r *rawConn, id int64, key string) string {
		t.Helper()
		r.send(`{"id":` + strconv.FormatInt(id, 10) + `,"op":"callInvite","data":{"invitees":["bob"],"config":{"timeout":60}},"idem":"` + key + `"}`)
		var res protocol.CallInviteResult
		if f := r.reply(id); f.Error != nil || json.Unmarshal(f.Result, &res) != nil {
			t.Fatalf("callInvite: %+v", f)
		}
		return res.CallID
	}
	cancel := func(r *rawConn, id int64, callID string) {
		t.Helper()
		r.send(`{"id":` + strconv.FormatInt(id, 10) + `,"op":"callCancel","data":{"callID":"` + callID + `","invitees":[]}}`)
		if f := r.reply(id); f.Error != nil {
			t.Fatalf("callCancel: %+v", f.Error)
		}
	}
	const key = "0000000001-retention-key"

	t.Run("inside the window", func(t *testing.T) {
		ts := startServer(t, "--log-retention", "3s", "--call-retention", "3s", "--idempotency-window", "1h")
		alice, _ := ts.rawLogin(t, "alice", "a", -1)
		first := invite(alice, 2, key)
		cancel(alice, 3, first)
		waitPruned(t, ts, "alice", 1) // retention ran past the record's creation
		for deadline := time.Now().Add(waitFor); ; time.Sleep(100 * time.Millisecond) {
			if _, err := ts.login(t, "bob", "b").QueryCall(t.Context(), first); code(err) == client.CodeCallUnavailable {
				break // and past the call's end
			}
			if time.Now().After(deadline) {
				t.Fatal("the ended call was never pruned")
			}
		}
		alice, _ = ts.rawLogin(t, "alice", "a", -1) // the first connection sent no heartbeat
		if again := invite(alice, 4, key); again != first {
			t.Errorf("repeat inside the window: call %s, want the first reply's %s", again, first)
		}
	})

	t.Run("past the window", func(t *testing.T) {
		ts := startServer(t, "--log-retention", "3s", "--idempotency-window", "1s")
		alice, _ := ts.rawLogin(t, "alice", "a", -1)
		first := invite(alice, 2, key)
		cancel(alice, 3, first)
		waitPruned(t, ts, "alice", 1) // 3 s: the window is over
		alice, _ = ts.rawLogin(t, "alice", "a", -1)
		again := invite(alice, 4, key)
		if again == first {
			t.Errorf("repeat past the window got the first reply (call %s)", first)
		}
	})
}
