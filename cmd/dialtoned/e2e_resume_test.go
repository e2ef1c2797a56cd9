package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

// ringRepeatedly rings callee from caller and cancels, until ctx ends: two events in the
// callee's log per round, both for all its devices. Errors are ignored: the point is the traffic.
func ringRepeatedly(ctx context.Context, caller *device, callee string, rounds int) {
	for i := 0; (rounds == 0 || i < rounds) && ctx.Err() == nil; i++ {
		res, err := caller.CallInvite(ctx, []string{callee}, client.InviteConfig{Timeout: 60})
		if err != nil {
			continue
		}
		_, _ = caller.CallCancel(context.WithoutCancel(ctx), res.CallID, nil, client.OpConfig{})
	}
}

// readContiguous reads r's events after the login reply: they must carry exactly the seqs
// after from, one after another (every event of the user targets all its devices), until
// one past until. It returns the last seq read.
func readContiguous(t *testing.T, r *rawConn, from, until int64) int64 {
	t.Helper()
	next := from + 1
	for next <= until {
		f := r.next()
		if f.Event == "" || f.Seq == 0 {
			t.Fatalf("after seq %d: frame %+v, want the event of seq %d", next-1, f, next)
		}
		if f.Seq != next {
			t.Fatalf("after seq %d: event %s of seq %d, want seq %d (a gap or a duplicate)", next-1, f.Event, f.Seq, next)
		}
		next++
	}
	return next - 1
}

// R7.2, R6.2: a login from lastSeq, while other users commit events for the user all along,
// gets a reply with caughtUp, then exactly the events after lastSeq in seq order, replayed
// over several pages, then the live ones, with no gap and no duplicate; also when the login
// replaces a connection of the same device that is still alive, which is kicked (replaced).
func TestE2EResumeDuringTrafficHasNoGapNorDuplicate(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "100000", "--max-requests-per-second", "100000")
	const callers = 4
	var ringers []*device
	for i := range callers {
		ringers = append(ringers, ts.login(t, fmt.Sprint("caller-", i), "c"))
	}
	probe, _ := ts.rawLogin(t, "bob", "probe", -1)
	ringRepeatedly(t.Context(), ringers[0], "bob", 1)
	first := probe.nextEvent().Seq // bob's seqs go on by one from it (a server start may jump them)
	probe.conn.CloseNow()
	var wg sync.WaitGroup
	for _, c := range ringers { // a log of some pages before the first login
		wg.Go(func() { ringRepeatedly(t.Context(), c, "bob", 100) })
	}
	wg.Wait()
	ctx, stop := context.WithCancel(t.Context())
	defer func() { stop(); wg.Wait() }()
	for _, c := range ringers {
		wg.Go(func() { ringRepeatedly(ctx, c, "bob", 0) })
	}

	old, lr := ts.rawLogin(t, "bob", "r", -1)
	last := lr.HeadSeq
	if last-first < 700 {
		t.Fatalf("head %d, %d events after the first: the traffic did not run", last, last-first)
	}
	for round := range 24 {
		back := int64(round*331) % 1000 // from the head itself to several pages back
		from, lastSeq := last-back, last-back
		if from < first { // from the start of bob's log: lastSeq 0, then seqs from first on
			from, lastSeq = first-1, 0
		}
		if round%2 == 0 {
			old.conn.CloseNow()
		}
		r, lr := ts.rawLogin(t, "bob", "r", lastSeq)
		if !lr.CaughtUp || lr.HeadSeq < last {
			t.Fatalf("round %d: login from %d (last seq read %d): caughtUp %v, headSeq %d", round, lastSeq, last, lr.CaughtUp, lr.HeadSeq)
		}
		last = readContiguous(t, r, from, lr.HeadSeq+10) // replayed, then live
		if round%2 == 1 {
			var kicked protocol.Kicked
			for {
				f, err := old.read()
				if err != nil {
					break
				}
				if f.Event == protocol.EventKicked {
					_ = json.Unmarshal(f.Data, &kicked)
				}
			}
			if kicked.Reason != protocol.KickReplaced {
				t.Fatalf("round %d: the replaced connection was kicked %q", round, kicked.Reason)
			}
		}
		old = r
	}
}

// untilHeartbeat sends a heartbeat and returns the frames r receives before its reply: with no
// traffic, what the login sent after its reply.
func untilHeartbeat(r *rawConn, id int64) []protocol.Frame {
	r.t.Helper()
	r.send(fmt.Sprintf(`{"id":%d,"op":"heartbeat"}`, id))
	var got []protocol.Frame
	for {
		f := r.next()
		if f.Event == "" && f.ID == id {
			if f.Error != nil {
				r.t.Fatalf("heartbeat: %v", f.Error)
			}
			return got
		}
		got = append(got, f)
	}
}

// R7.2, R5.3, R6.1 and protocol.md "Login": the login reply's headSeq, caughtUp and heartbeat
// parameters at the bounds of lastSeq, with one call still ringing for the user (its
// invitation is the head, the third of the user's seqs): from the head nothing follows; from
// below the head the events after lastSeq follow, the ringing call's as replayed, never
// synthesized too; from 0 (a device that had seen none) all three; past the head, from a seq
// the log never gave, or without lastSeq, only the synthesized invitation follows. A second login on the connection
// is 6000001 and the connection goes on.
func TestE2ELoginReplyAtTheBoundsOfLastSeq(t *testing.T) {
	ts := startServer(t, "--heartbeat-interval", "2s", "--heartbeat-timeout", "7s")
	alice := ts.login(t, "alice", "a")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	must(t, second(alice.CallCancel(t.Context(), res.CallID, nil, client.OpConfig{})))
	ringing, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	_, probe := ts.rawLogin(t, "bob", "probe", -1)
	head := probe.HeadSeq // bob's seqs are head - 2, head - 1, head

	for _, c := range []struct {
		lastSeq  int64 // none when negative
		caughtUp bool
		seqs     []int64 // of the events that follow the reply; 0 for the synthesized invitation
	}{
		{-1, false, []int64{0}},
		{0, true, []int64{head - 2, head - 1, head}},
		{head - 1, true, []int64{head}},
		{head, true, nil},
		{head + 1, false, []int64{0}},
		{head - 3, false, []int64{0}}, // not a seq of bob's: before his first, which follows 0
	} {
		r, lr := ts.rawLogin(t, "bob", "b", c.lastSeq)
		if lr.HeadSeq != head || lr.CaughtUp != c.caughtUp || lr.HeartbeatIntervalMs != 2000 || lr.HeartbeatTimeoutMs != 7000 {
			t.Errorf("lastSeq %d: %+v; want headSeq %d, caughtUp %v, heartbeat 2000/7000 ms", c.lastSeq, lr, head, c.caughtUp)
		}
		var got []int64
		for _, f := range untilHeartbeat(r, 2) {
			got = append(got, f.Seq)
			var ev struct {
				CallID    string `json:"callID"`
				Synthetic bool   `json:"synthetic"`
			}
			_ = json.Unmarshal(f.Data, &ev)
			if f.Seq == 0 && (f.Event != protocol.EventCallInvitationReceived || !ev.Synthetic || ev.CallID != ringing.CallID) {
				t.Errorf("lastSeq %d: %s %s; want the synthesized invitation of %s", c.lastSeq, f.Event, f.Data, ringing.CallID)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(c.seqs) {
			t.Errorf("lastSeq %d: events of seqs %v after the reply, want %v", c.lastSeq, got, c.seqs)
		}
		r.send(`{"id":3,"op":"login","data":{"token":"` + token(t, "bob") + `","deviceID":"b","lastSeq":0}}`)
		if f := r.reply(3); f.Error == nil || f.Error.Code != protocol.CodeInvalidParameter {
			t.Errorf("lastSeq %d: second login on the connection: %+v, want 6000001", c.lastSeq, f)
		}
		if got := untilHeartbeat(r, 4); len(got) != 0 {
			t.Errorf("lastSeq %d: the second login sent %d frames", c.lastSeq, len(got))
		}
		r.conn.CloseNow()
	}
}

// R5.3, R7.2: a device that logs in without lastSeq while invitations are committed and
// cancelled for its user gets each invitation once, synthesized or live, never both, and
// every live cancel after its invitation; the live events follow the head of the reply (the
// first one after it, unless bob had no event yet, when his seqs jump past the server's start).
func TestE2EFreshLoginDuringTrafficGetsEachInvitationOnce(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "100000", "--max-requests-per-second", "100000")
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for i := range 4 {
		c := ts.login(t, fmt.Sprint("caller-", i), "c")
		wg.Go(func() { ringRepeatedly(ctx, c, "bob", 0) })
	}
	for round := range 24 {
		r, lr := ts.rawLogin(t, "bob", "fresh", -1)
		if lr.CaughtUp {
			t.Fatalf("round %d: a login without lastSeq is caughtUp", round)
		}
		received := map[string]bool{}
		next := lr.HeadSeq + 1
		for live := 0; live < 20; {
			f := r.next()
			var ev struct {
				CallID    string `json:"callID"`
				Synthetic bool   `json:"synthetic"`
			}
			if f.Event == "" || json.Unmarshal(f.Data, &ev) != nil {
				t.Fatalf("round %d: frame %+v", round, f)
			}
			if f.Seq != 0 {
				// bob's first event of the server's run jumps past its start (docs/behaviour.md
				// §12 "Seqs jump at each server start"); the ones after it go on by one.
				jump := live == 0 && lr.HeadSeq == 0
				if f.Seq != next && !jump || ev.Synthetic {
					t.Fatalf("round %d: %s of seq %d (synthetic %v), want seq %d", round, f.Event, f.Seq, ev.Synthetic, next)
				}
				next = f.Seq + 1
				live++
			} else if live > 0 || !ev.Synthetic {
				t.Fatalf("round %d: %s without seq after %d live events", round, f.Event, live)
			}
			switch f.Event {
			case protocol.EventCallInvitationReceived:
				if received[ev.CallID] {
					t.Fatalf("round %d: call %s rang twice (the second synthetic: %v)", round, ev.CallID, ev.Synthetic)
				}
				received[ev.CallID] = true
			case protocol.EventCallInvitationCancelled:
				if !received[ev.CallID] {
					t.Fatalf("round %d: call %s cancelled (seq %d) but never rang", round, ev.CallID, f.Seq)
				}
			}
		}
		r.conn.CloseNow()
	}
}
