package call_test

import (
	"bytes"
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
