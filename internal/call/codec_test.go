package call_test

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dialtone/dialtone/internal/call"
)

func codecCall() call.Call {
	c := call.Call{ID: "c1", Caller: "alice", CreateTime: 1000, State: call.Started, Version: 1}
	for _, u := range []string{"alice", "bob"} {
		c.Users = append(c.Users, call.User{ID: u, State: call.Inviting, Deadline: 31000, UpdateTime: 1000})
	}
	return c
}

func encode(c call.Call) []byte {
	b, _ := c.AppendBinary(nil)
	return b
}

func decode(b []byte) (call.Call, error) {
	var c call.Call
	err := c.UnmarshalBinary(b)
	return c, err
}

func TestCodecRoundTrip(t *testing.T) {
	c := codecCall()
	c.Users[1].InvitePush = &call.PushConfig{Title: "t", Payload: "p"}
	c.Answered = true
	c.EndTime = -5
	got, err := decode(encode(c))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(c, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}

// MarshalBinary encodes as AppendBinary does, in the one buffer it allocates: the numbers
// at their longest (the extremes of int64) and an invitation push included.
func TestMarshalBinaryFitsItsBuffer(t *testing.T) {
	extreme := codecCall()
	extreme.CreateTime, extreme.EndTime, extreme.Version, extreme.Mode = math.MinInt64, math.MaxInt64, math.MaxInt64, -1
	extreme.Users[0].InvitePush = &call.PushConfig{Title: "t", Content: "c", Payload: "p", ResourcesID: "r"}
	extreme.Users[1].Deadline, extreme.Users[1].CheckAt, extreme.Users[1].InviteTimeout = math.MinInt64, math.MaxInt64, math.MinInt
	for _, c := range []call.Call{codecCall(), extreme, {}} {
		got, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if want := encode(c); !bytes.Equal(got, want) {
			t.Errorf("MarshalBinary of %s = %x, want %x", c.ID, got, want)
		}
		full := got[:cap(got)]
		if again, _ := c.AppendBinary(full[:0]); &again[0] != &full[0] {
			t.Errorf("the encoding of %s outgrew the buffer MarshalBinary allocates (%d bytes)", c.ID, cap(got))
		}
	}
}

func TestCodecRejectsCorrupt(t *testing.T) {
	c := codecCall()
	b := encode(c)
	for n := range len(b) {
		if _, err := decode(b[:n]); err == nil {
			t.Fatalf("decoding %d of %d bytes succeeded", n, len(b))
		}
	}
	if _, err := decode(append(b, 0)); err == nil {
		t.Fatal("decoding with a trailing byte succeeded")
	}
}

// A call whose encoding is whole but holds a value that is none of its type's is damage, not
// a call: decoded, it would reach the rules and be written back with every change. A mode
// that is neither general nor advanced leaves an answered call that nobody can quit, end
// (6000286) or cancel (6000271, R3.2), its users busy for ever; a call state that is neither
// Started nor Ended takes no op at all (R4.4); a user state of no wire value (§2) is sent to
// clients as it is.
func TestCodecRejectsValuesOfNoType(t *testing.T) {
	for _, c := range []struct {
		name  string
		alter func(*call.Call)
	}{
		{"mode 7", func(c *call.Call) { c.Mode = 7 }},
		{"mode -1", func(c *call.Call) { c.Mode = -1 }},
		{"call state 0", func(c *call.Call) { c.State = 0 }},
		{"call state 99", func(c *call.Call) { c.State = 99 }},
		{"user state 99", func(c *call.Call) { c.Users[1].State = 99 }},
		{"user state 4 (reserved)", func(c *call.Call) { c.Users[1].State = 4 }},
		{"user state 8 (Ended)", func(c *call.Call) { c.Users[1].State = 8 }},
		{"user state Unknown", func(c *call.Call) { c.Users[1].State = call.Unknown }},
	} {
		altered := codecCall()
		c.alter(&altered)
		if _, err := decode(encode(altered)); err == nil {
			t.Errorf("a call with %s decoded", c.name)
		}
	}
	for _, c := range []struct {
		name  string
		alter func(*call.Call)
	}{
		{"advanced", func(c *call.Call) { c.Mode = call.Advanced }},
		{"ended, a deadline left", func(c *call.Call) { c.State, c.EndTime = call.Ended, 2000 }},
		{"every user state", func(c *call.Call) {
			for _, s := range []call.UserState{call.Accepted, call.Rejected, call.Cancelled, call.Timeout, call.Quit,
				call.BeCancelled, call.NotYetReceived, call.Received} {
				c.Users = append(c.Users, call.User{ID: fmt.Sprint(s), State: s, Deadline: 31000})
			}
		}},
	} {
		valid := codecCall()
		c.alter(&valid)
		if _, err := decode(encode(valid)); err != nil {
			t.Errorf("a call %s: %v", c.name, err)
		}
	}
}

// §10b, R3.5: CheckRinging finds a user pending in a Started call without a ring deadline,
// and only that: a user who no longer rings needs none, a deadline left to one is cleared by
// Expire.
func TestCheckRinging(t *testing.T) {
	for _, c := range []struct {
		name  string
		alter func(*call.Call)
		ok    bool
	}{
		{"as the rules leave it", func(*call.Call) {}, true},
		{"Inviting without a deadline", func(c *call.Call) { c.Users[1].Deadline = 0 }, false},
		{"Received without a deadline", func(c *call.Call) { c.Users[1].State, c.Users[1].Deadline = call.Received, 0 }, false},
		{"NotYetReceived without a deadline", func(c *call.Call) { c.Users[1].State, c.Users[1].Deadline = call.NotYetReceived, 0 }, false},
		{"Accepted without a deadline", func(c *call.Call) { c.Users[1].State, c.Users[1].Deadline = call.Accepted, 0 }, true},
		{"Rejected with a deadline left", func(c *call.Call) { c.Users[1].State = call.Rejected }, true},
		{"pending in an Ended call without a deadline", func(c *call.Call) {
			c.State, c.EndTime, c.Users[1].Deadline = call.Ended, 2000, 0
		}, true},
	} {
		altered := codecCall()
		c.alter(&altered)
		if err := altered.CheckRinging(); (err == nil) != c.ok {
			t.Errorf("%s: CheckRinging = %v", c.name, err)
		}
	}
}

// FuzzDecodeCall: decoding never panics, and what decodes encodes back to the same bytes.
func FuzzDecodeCall(f *testing.F) {
	c := codecCall()
	c.Users[0].InvitePush = &call.PushConfig{Title: "x"}
	f.Add(encode(c))
	f.Add([]byte{1}) // the version byte alone
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decode(b)
		if err != nil {
			return
		}
		if again := encode(c); !bytes.Equal(again, b) {
			// Varints have one canonical form per value, so only non-canonical input differs;
			// it must still decode to the same call.
			c2, err := decode(again)
			if err != nil || !cmp.Equal(c, c2) {
				t.Fatalf("re-encoding changed the call: %v", err)
			}
		}
	})
}
