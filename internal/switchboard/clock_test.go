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
