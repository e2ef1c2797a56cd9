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
	if last < 700 {
		t.Fatalf("head %d: the traffic did not run", last)
	}
	for round := range 24 {
		back := int64(round*331) % 1000 // from the head itself to several pages back
		from := max(0, last-back)
		if round%2 == 0 {
			old.conn.CloseNow()
		}
		r, lr := ts.rawLogin(t, "bob", "r", from)
		if !lr.CaughtUp || lr.HeadSeq < last {
			t.Fatalf("round %d: login from %d (last seq read %d): caughtUp %v, headSeq %d", round, from, last, lr.CaughtUp, lr.HeadSeq)
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
