package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/protocol"
)

// R7.1, R7.2, R7.3 at the last instant before a SIGKILL: a caller rings and cancels in a loop,
// each request with its own idempotency key, while bob's device reads its events; the server
// is killed at a random moment. After the restart the caller sends the request it had in flight
// again with its key, and bob's device resumes from the last seq it saw. Its events from before
// the kill and from the resume are exactly bob's log as a device that reads it whole sees it:
// nothing committed before the kill is missing, repeated or out of order, and seqs only grow.
// Each key made one call, however the kill fell.
func TestE2EPersistKillAtTheLastInstant(t *testing.T) {
	ts := startKillable(t, "--max-invites-per-minute", "10000")
	live, _ := ts.rawLogin(t, "bob", "live", -1)
	var got []string // "seq event callID" of bob's live device
	var lastSeq int64
	var reading sync.WaitGroup
	reading.Go(func() {
		for {
			_, data, err := live.conn.Read(context.Background())
			if err != nil {
				return
			}
			if f := decodeEvent(data); f != "" {
				got = append(got, f)
			}
			var fr protocol.Frame
			_ = json.Unmarshal(data, &fr)
			if fr.Seq > 0 {
				lastSeq = fr.Seq
			}
		}
	})

	caller, _ := ts.rawLogin(t, "alice", "a", -1)
	var inFlight []string // the frames of the pair in flight at the kill
	var calls int
	var calling sync.WaitGroup
	calling.Go(func() {
		for n := 0; ; n++ {
			invite := fmt.Sprintf(`{"id":%d,"op":"callInvite","data":{"invitees":["bob"],"config":{"timeout":60}},"idem":"i-%06d-0123456789ab"}`, 2*n+2, n)
			inFlight = []string{invite}
			calls = n + 1
			res, ok := roundTrip(caller.conn, invite)
			if !ok {
				return
			}
			var r protocol.CallInviteResult
			_ = json.Unmarshal(res, &r)
			cancel := fmt.Sprintf(`{"id":%d,"op":"callCancel","data":{"callID":%q},"idem":"c-%06d-0123456789ab"}`, 2*n+3, r.CallID, n)
			inFlight = []string{cancel}
			if _, ok := roundTrip(caller.conn, cancel); !ok {
				return
			}
		}
	})
	time.Sleep(time.Duration(300+rand.IntN(500)) * time.Millisecond) // a random moment of the load
	ts.kill()
	calling.Wait()
	reading.Wait()
	if lastSeq == 0 {
		t.Fatal("bob's device saw no event before the kill: the load did not run")
	}

	ts.restart()
	caller, _ = ts.rawLogin(t, "alice", "a", -1)
	for _, frame := range inFlight { // the SDK's retry of the request whose reply the kill took
		if res, ok := roundTrip(caller.conn, frame); !ok || res == nil {
			t.Fatalf("retry of %s after the kill failed", frame)
		}
	}
	live, _ = ts.rawLogin(t, "bob", "live", lastSeq)
	got = append(got, readUntilReply(t, live)...)
	whole, _ := ts.rawLogin(t, "bob", "whole", 0) // bob's log from its start (docs/behaviour.md §12)
	want := readUntilReply(t, whole)
	if !slices.Equal(got, want) {
		i := firstDifference(got, want)
		t.Errorf("bob's events across the kill differ from his log at %d (R7.2):\n got  %q\n want %q", i, around(got, i), around(want, i))
	}

	for i := 1; i < len(got); i++ {
		var a, b int64
		_, _ = fmt.Sscan(got[i-1], &a)
		_, _ = fmt.Sscan(got[i], &b)
		if b <= a {
			t.Errorf("bob's seq went from %d to %d across the kill (R7.2)", a, b)
		}
	}
	if n := countCalls(t, caller); n != calls {
		t.Errorf("%d calls after %d invite keys (R7.3)", n, calls)
	}
	t.Logf("%d calls, %d events of bob's", calls, len(want))
}

// countCalls pages through the logged-in user's calls (R3.10) and returns how many there are.
func countCalls(t *testing.T, r *rawConn) int {
	t.Helper()
	n := 0
	for id, next := int64(2000), int64(0); ; id++ {
		r.send(fmt.Sprintf(`{"id":%d,"op":"queryCallInvitationList","data":{"config":{"count":100,"nextFlag":%d}}}`, id, next))
		var list protocol.QueryCallInvitationListResult
		if f := r.reply(id); f.Error != nil || json.Unmarshal(f.Result, &list) != nil {
			t.Fatalf("list: %+v", f)
		}
		n += len(list.CallList)
		if next = list.NextFlag; next == 0 {
			return n
		}
	}
}

// roundTrip sends frame on conn and returns the result of its reply, skipping events; false
// when the connection failed (the server was killed) or the reply is an error.
func roundTrip(conn *websocket.Conn, frame string) (json.RawMessage, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if conn.Write(ctx, websocket.MessageText, []byte(frame)) != nil {
		return nil, false
	}
	var req protocol.Frame
	_ = json.Unmarshal([]byte(frame), &req)
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return nil, false
		}
		var f protocol.Frame
		if json.Unmarshal(data, &f) == nil && f.ID == req.ID {
			return f.Result, f.Error == nil
		}
	}
}

// readUntilReply sends a heartbeat and returns the events that come before its reply: after
// a login, the replayed ones (the server reads the next request only after the catch-up).
func readUntilReply(t *testing.T, r *rawConn) []string {
	t.Helper()
	r.send(`{"id":1000,"op":"heartbeat"}`)
	var out []string
	for {
		_, data, err := r.conn.Read(t.Context())
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var f protocol.Frame
		if json.Unmarshal(data, &f) == nil && f.ID == 1000 {
			return out
		}
		if e := decodeEvent(data); e != "" {
			out = append(out, e)
		}
	}
}

// decodeEvent renders an event frame with a seq as "seq event callID version" ("" otherwise).
func decodeEvent(data []byte) string {
	var f protocol.Frame
	if json.Unmarshal(data, &f) != nil || f.Event == "" || f.Seq == 0 {
		return ""
	}
	var d struct {
		CallID  string `json:"callID"`
		Version int64  `json:"version"`
	}
	_ = json.Unmarshal(f.Data, &d)
	return fmt.Sprintf("%d %s %s %d", f.Seq, f.Event, d.CallID, d.Version)
}
