package client

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone/dialtone/protocol"
)

func TestRemainingRingTime(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	tests := []struct {
		deadline int64
		offset   time.Duration
		want     time.Duration
	}{
		{1_030_000, 0, 30 * time.Second},
		{1_030_000, 10 * time.Second, 20 * time.Second}, // server clock ahead
		{1_030_000, -5 * time.Second, 35 * time.Second},
		{1_030_000, time.Minute, 0}, // already due on the server
		{999_000, 0, 0},
	}
	for _, tt := range tests {
		if got := RemainingRingTime(tt.deadline, tt.offset, now); got != tt.want {
			t.Errorf("RemainingRingTime(%d, %v) = %v, want %v", tt.deadline, tt.offset, got, tt.want)
		}
	}
}

// The clock estimate keeps the sample with the shortest round trip, until it is a minute old or
// a new session starts.
func TestClockEstimateKeepsTheShortestRoundTrip(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	var e clockEstimate
	// The local wall clock reads t0 at monotonic reading 0.
	sample := func(at time.Duration, rtt time.Duration, serverAhead time.Duration, fresh bool) {
		server := t0.Add(at + rtt/2 + serverAhead)
		e.record(server.UnixMilli(), at, at+rtt, fresh)
	}
	offset := func() time.Duration { return time.Duration(e.base.Load() - t0.UnixNano()) }
	near := func(what string, want time.Duration) {
		t.Helper()
		if d := offset() - want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("%s: offset %v, want %v ± 1ms", what, offset(), want)
		}
	}
	sample(0, 20*time.Millisecond, 40*time.Millisecond, true)
	near("first sample", 40*time.Millisecond)
	sample(time.Second, time.Millisecond, 10*time.Millisecond, false)
	near("a shorter round trip", 10*time.Millisecond)
	// The server read its clock 1 ms into a trip of 8 ms: the sample alone says 7 ms.
	sample(2*time.Second, 8*time.Millisecond, 7*time.Millisecond, false)
	near("a longer round trip within the minute", 10*time.Millisecond)
	sample(62*time.Second, 8*time.Millisecond, 12*time.Millisecond, false)
	near("a longer round trip once the best is a minute old", 12*time.Millisecond)
	// The server's reading is 13 ms past the latest the estimate allows: the local monotonic
	// clock stopped meanwhile (a machine asleep), or the server's clock was stepped.
	sample(63*time.Second, 20*time.Millisecond, 40*time.Millisecond, false)
	near("a longer round trip the estimate cannot explain", 40*time.Millisecond)
	// The latest reading it allows: the reply's arrival (30 ms) at the estimate's 40 ms, plus its
	// error of 10 ms (half its round trip) and 1 ms; the sample alone would say 81 − 15 = 66 ms.
	sample(63500*time.Millisecond, 30*time.Millisecond, 66*time.Millisecond, false)
	near("a longer round trip the estimate explains, just", 40*time.Millisecond)
	sample(64*time.Second, 50*time.Millisecond, -5*time.Second, true)
	near("a new session", -5*time.Second)
}

// Protocol "Ring time": an invitation that follows the login reply rings for the time left on
// the server's clock, measured by that login, even when the handler gets it at once. The fake
// server's clock is an hour ahead.
func TestInvitationAfterLoginRingsByTheServerClock(t *testing.T) {
	for i := range 20 {
		fs := newFakeServer(t)
		deadline := time.Now().Add(time.Hour + 30*time.Second).UnixMilli()
		fs.afterLogin = []protocol.Event{{Event: protocol.EventCallInvitationReceived,
			Data: mustJSON(map[string]any{"callID": "c1", "version": 1, "deadline": deadline, "synthetic": true})}}
		rec := newRecorder()
		var c atomic.Pointer[Client]
		left := make(chan time.Duration, 1)
		rec.onReceived = func(ev CallInvitationReceived) { left <- c.Load().RemainingRingTime(ev.Deadline) }
		ctx := testCtx(t)
		cl, err := Dial(ctx, fs.url(), Options{EventHandler: rec})
		if err != nil {
			t.Fatal(err)
		}
		c.Store(cl)
		if _, err := cl.Login(ctx, "token", "dev1"); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, left, "the invitation"); got > 30*time.Second || got < 25*time.Second {
			t.Fatalf("login %d: the invitation rings for %v, want about 30s", i, got)
		}
		cl.Close()
	}
}

// Protocol "Ring time": the server clock estimate follows the local clock's passing time, not
// its wall time, so a step of the local wall clock after the login (an NTP correction) moves
// ServerTimeOffset by the step at once and leaves the ring time of an invitation as it was. The
// fake server's clock is an hour ahead.
func TestLocalClockStepKeepsTheRingTime(t *testing.T) {
	for _, step := range []time.Duration{5 * time.Minute, -5 * time.Minute} {
		fs := newFakeServer(t)
		ctx := testCtx(t)
		c, err := Dial(ctx, fs.url(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var stepped atomic.Int64
		c.clock.wall = func() time.Time { return time.Now().Add(time.Duration(stepped.Load())).Round(0) }
		if _, err := c.Login(ctx, "token", "dev1"); err != nil {
			t.Fatal(err)
		}
		stepped.Store(int64(step))
		deadline := time.Now().Add(time.Hour + 30*time.Second).UnixMilli()
		if got := c.RemainingRingTime(deadline); got > 31*time.Second || got < 29*time.Second {
			t.Errorf("step %v: the invitation rings for %v, want about 30s", step, got)
		}
		if off := c.ServerTimeOffset() - (time.Hour - step); off < -time.Second || off > time.Second {
			t.Errorf("step %v: ServerTimeOffset %v, want about %v", step, c.ServerTimeOffset(), time.Hour-step)
		}
		c.Close()
	}
}
