package sqlite

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dialtone/dialtone/internal/call"
)

func TestCodecRoundTrip(t *testing.T) {
	c := testCall("c1", "alice", "bob")
	c.Users[1].InvitePush = &call.PushConfig{Title: "t", Payload: "p"}
	c.Answered = true
	c.EndTime = -5
	got, err := decodeCall(encodeCall(nil, &c))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(c, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}

func TestCodecRejectsCorrupt(t *testing.T) {
	c := testCall("c1", "alice", "bob")
	b := encodeCall(nil, &c)
	for n := range len(b) {
		if _, err := decodeCall(b[:n]); err == nil {
			t.Fatalf("decoding %d of %d bytes succeeded", n, len(b))
		}
	}
	if _, err := decodeCall(append(b, 0)); err == nil {
		t.Fatal("decoding with a trailing byte succeeded")
	}
}

// FuzzDecodeCall: decoding never panics, and what decodes encodes back to the same bytes.
func FuzzDecodeCall(f *testing.F) {
	c := testCall("c1", "alice", "bob")
	c.Users[0].InvitePush = &call.PushConfig{Title: "x"}
	f.Add(encodeCall(nil, &c))
	f.Add([]byte{codecVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCall(b)
		if err != nil {
			return
		}
		if again := encodeCall(nil, &c); !bytes.Equal(again, b) {
			// Varints have one canonical form per value, so only non-canonical input differs;
			// it must still decode to the same call.
			c2, err := decodeCall(again)
			if err != nil || !cmp.Equal(c, c2) {
				t.Fatalf("re-encoding changed the call: %v", err)
			}
		}
	})
}
