package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/servertest"
)

// inviteResult is the result of a callInvite by caller of invitees, ringing until deadline.
func inviteResult(callID, caller string, deadline int64, invitees ...string) client.CallInviteResult {
	res := client.CallInviteResult{CallID: callID}
	res.CallInfo.CallUserList = []client.CallUserInfo{{UserID: caller, State: client.StateAccepted}}
	for _, u := range invitees {
		res.CallInfo.CallUserList = append(res.CallInfo.CallUserList,
			client.CallUserInfo{UserID: u, State: client.StateInviting, Deadline: deadline})
	}
	return res
}

// TestTimersLatenessWhenTheTimeoutComesBeforeTheReply: a reply may come after the events its
// request caused. A timeout observed before its invite's reply is measured against the
// deadline that reply gives; the event's own deadline is 0 for a user who timed out
// (behaviour §10b).
func TestTimersLatenessWhenTheTimeoutComesBeforeTheReply(t *testing.T) {
	r := newTimersRun(&timersConfig{invitations: 2, window: time.Second, lead: time.Second})
	deadline := time.Now().UnixMilli()
	arrived := time.UnixMilli(deadline).Add(7 * time.Millisecond)
	for _, u := range []string{"u1", "u2"} {
		r.observe("call", client.CallUserInfo{UserID: u, State: client.StateTimeout, UpdateTime: deadline}, arrived)
	}
	r.armedCall(inviteResult("call", "caller", deadline, "u1", "u2"), 2)
	rep := r.report()
	near7 := func(ms float64) bool { return ms >= 7 && ms < 7.01 } // the histogram's precision
	if l := rep.LatenessMs; l.Count != 2 || !near7(l.P50Ms) || !near7(l.MaxMs) || l.MinMs != 7 ||
		rep.Observed != 2 || len(rep.Errors) != 0 {
		t.Errorf("report %+v, want both timeouts observed 7 ms late", rep)
	}
}

// TestTimersCountsRefusedInvitees: an invitee the server refused (in the invite's
// errorUserList) is never armed: it is an error under its reason's code.
func TestTimersCountsRefusedInvitees(t *testing.T) {
	r := newTimersRun(&timersConfig{invitations: 3, window: time.Second, lead: time.Second})
	res := inviteResult("call", "caller", time.Now().UnixMilli()+1000, "u1", "u2")
	res.ErrorUserList = []client.ErrorUserInfo{{UserID: "u3", Reason: 6000001}}
	r.armedCall(res, 3)
	if rep := r.report(); rep.Invited != 2 || rep.Errors["6000001"] != 1 {
		t.Errorf("report %+v, want 2 invited and 1 error 6000001", rep)
	}
}

// TestBenchTimersRefusesANegativeGrace: the refusal names the flag that is wrong.
func TestBenchTimersRefusesANegativeGrace(t *testing.T) {
	_, _, err := runOnce(t, "bench", "timers", "--url", "ws://127.0.0.1:1/v1/ws", "--secret", "test-secret-0123456789", "--grace", "-1s")
	if err == nil || !strings.Contains(err.Error(), "--grace") {
		t.Errorf("err %v, want a refusal naming --grace", err)
	}
}

// TestBenchInterruptedRunCountsNoErrors: a run interrupted (Ctrl-C) fails the logins and
// invites in flight; that is not the server's failure, so they are not errors (as an
// interrupted lifecycle is not one).
func TestBenchInterruptedRunCountsNoErrors(t *testing.T) {
	srv := servertest.Start(t, highLimits...)
	bf := benchFlags{url: srv.URL, secret: servertest.Secret, concurrency: 4, loginTimeout: 10 * time.Second}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := idleRun(cancelled, &idleConfig{benchFlags: bf, sessions: 4}, io.Discard)
	if err != nil || rep.LoggedIn != 0 || len(rep.Errors) != 0 {
		t.Errorf("idle interrupted before its logins: %+v, %v; want no login and no error", rep, err)
	}

	r := newTimersRun(&timersConfig{benchFlags: bf, invitations: 2, window: time.Second, lead: time.Second})
	callers, err := r.login(context.Background())
	defer closeAll(callers)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop() // the invites wait for a server that is gone until the run is interrupted
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if trep := r.execute(ctx, callers, io.Discard); trep.Invited != 0 || len(trep.Errors) != 0 {
		t.Errorf("timers interrupted during its invites: %+v; want nothing invited and no error", trep)
	}
}

// TestTimersInterruptedCountsOnlyDueTimeouts: a run interrupted before the deadlines it armed
// reports as unobserved only the timeouts that were due; the others were never to be seen yet.
func TestTimersInterruptedCountsOnlyDueTimeouts(t *testing.T) {
	r := newTimersRun(&timersConfig{invitations: 2, window: time.Second, lead: time.Second})
	now := time.Now().UnixMilli()
	r.armedCall(inviteResult("due", "caller", now-1000, "u1"), 1)
	r.armedCall(inviteResult("later", "caller", now+60_000, "u2"), 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if rep := r.execute(ctx, nil, io.Discard); rep.Invited != 2 || rep.Errors["timeout:unobserved"] != 1 {
		t.Errorf("report %+v, want 2 invited and 1 timeout:unobserved (the one due)", rep)
	}
}
