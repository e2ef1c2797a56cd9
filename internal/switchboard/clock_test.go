package switchboard_test

import (
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/call"
)

// Times on the wire are the server clock's (behaviour §1), and a call's times follow the order
// of its changes: a wall clock stepped back (an NTP correction) while a call goes on never
// makes a change's time earlier than one before it, so no acceptTime, quitTime or endTime
// precedes the call's createTime or its users' earlier changes.
func TestCallTimesNeverGoBackWhenTheClockStepsBack(t *testing.T) {
	sb, clock := newSwitchboard(t)
	id := invite(t, sb, "alice", call.Advanced, 60, "bob", "carol")
	clock.Advance(2 * time.Second)
	res, err := sb.Do(t.Context(), id, call.Accept{Actor: actor("bob")}, "")
	if err != nil {
		t.Fatal(err)
	}
	latest := res.Now
	clock.Advance(-5 * time.Minute)

	for _, in := range []call.Input{
		call.Reject{Actor: actor("carol")},
		call.QuitCall{Actor: actor("bob")},
		call.End{Actor: actor("alice")},
	} {
		res, err := sb.Do(t.Context(), id, in, "")
		if err != nil {
			t.Fatalf("%T: %v", in, err)
		}
		if res.Now < latest {
			t.Errorf("%T decided at %d, %d ms before the call's previous change", in, res.Now, latest-res.Now)
		}
		c := res.Call
		for _, u := range c.Users {
			if u.UpdateTime < c.CreateTime || u.AcceptTime != 0 && u.AcceptTime < c.CreateTime {
				t.Errorf("after %T: %s updated at %d, accepted at %d, before createTime %d", in, u.ID, u.UpdateTime, u.AcceptTime, c.CreateTime)
			}
		}
		if c.EndTime != 0 && c.EndTime < latest {
			t.Errorf("after %T: endTime %d, %d ms before the call's previous change", in, c.EndTime, latest-c.EndTime)
		}
		latest = max(latest, res.Now)
	}
}

// R3.5, R3.3b: a call's deadlines are instants of the server clock and never fire before it
// reaches them (docs/behaviour.md §12, "A server clock stepped back"), also when an op on
// another call applies them. Here bob's own call rings carol after the clock stepped back;
// an accept of bob's in a call whose times are from before the step is dated by that call's
// times, yet carol's deadline is still ahead on the clock: the glare cancels her ring (she is
// BeCancelled), it does not time her out.
func TestGlareAfterAClockStepBackFiresNoDeadlineEarly(t *testing.T) {
	sb, clock := newSwitchboard(t)
	ringing := invite(t, sb, "alice", call.General, 60, "bob")
	clock.Advance(10 * time.Second)
	do(t, sb, ringing, call.Receipt{Actor: actor("bob")}) // the ringing call's latest time: now
	clock.Advance(-5 * time.Minute)
	own := invite(t, sb, "bob", call.General, 30, "carol")
	clock.Advance(time.Second)

	do(t, sb, ringing, call.Accept{Actor: actor("bob")})
	c, err := sb.QueryCall(t.Context(), "bob", own)
	if err != nil {
		t.Fatal(err)
	}
	carol, now := c.User("carol"), clock.Now().UnixMilli()
	if carol.State != call.BeCancelled || c.User("bob").State != call.Cancelled {
		t.Errorf("bob's own call after his glare accept: carol %v at %d, bob %v; want BeCancelled and Cancelled "+
			"(carol's deadline was %d ms ahead of the clock)", carol.State, carol.UpdateTime, c.User("bob").State,
			c.CreateTime+30_000-now)
	}
}
