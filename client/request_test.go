package client

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/dialtone/dialtone/protocol"
)

// TestAppendRequestIsJSONMarshal: a request's frame is byte for byte what json.Marshal makes
// of its protocol.Request, for the data each op sends (none for a heartbeat, JSON of a call's
// op) and for ops and idempotency keys with characters JSON escapes.
func TestAppendRequestIsJSONMarshal(t *testing.T) {
	callOp, err := json.Marshal(protocol.CallOpData{CallID: "c<1>&\u2028", Config: OpConfig{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id        int64
		op, idem  string
		data      json.RawMessage
		wantsData bool
	}{
		{1, protocol.OpHeartbeat, "", nil, false},
		{42, protocol.OpCallEnd, NewIdempotencyKey(), callOp, true},
		{protocol.MaxInteger, protocol.OpCallAccept, "key-of-sixteen-bytes", json.RawMessage(`{}`), true},
		{math.MinInt64, "op\"with\\quotes", "é\u2028\x7f<script>&\t\x01", json.RawMessage(`null`), true},
		{0, "", "", json.RawMessage{}, false},
	} {
		want, err := json.Marshal(protocol.Request{ID: tc.id, Op: tc.op, Data: tc.data, Idem: tc.idem})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendRequest(nil, tc.id, tc.op, tc.data, tc.idem); !bytes.Equal(got, want) {
			t.Errorf("appendRequest(%d, %q, %s, %q) = %s, json.Marshal: %s", tc.id, tc.op, tc.data, tc.idem, got, want)
		}
	}
}

// FuzzAppendRequest checks that appendRequest encodes a request as json.Marshal does, for any
// op and key and data that is json.Marshal's output.
func FuzzAppendRequest(f *testing.F) {
	f.Add(int64(7), protocol.OpCallInvite, `{"invitees":["bob"]}`, "0123456789abcdef")
	f.Add(int64(-1), "a\u2029b", "<&>\"\\\xff", "\x00\x1f\x7f")
	f.Add(int64(math.MinInt64), "\u2028<op>&\xc0", "\ud7ff\U0010ffff\xed\xa0\x80", "é\u2028\u2029\xff")
	f.Fuzz(func(t *testing.T, id int64, op, value, idem string) {
		var data json.RawMessage
		if value != "" {
			var err error
			if data, err = json.Marshal(map[string]string{value: value}); err != nil {
				t.Fatal(err)
			}
		}
		want, err := json.Marshal(protocol.Request{ID: id, Op: op, Data: data, Idem: idem})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendRequest(nil, id, op, data, idem); !bytes.Equal(got, want) {
			t.Fatalf("appendRequest = %s, json.Marshal: %s", got, want)
		}
	})
}

// BenchmarkEncodeRequest encodes the frame of a callEnd request, its data and idempotency key
// as Client.call makes them: with json.Marshal of a protocol.Request, as the SDK did until
// 2026-12-07, and with appendRequest, as it does now.
func BenchmarkEncodeRequest(b *testing.B) {
	data, err := json.Marshal(protocol.CallOpData{CallID: "c9VxQ2hKq0mZ7fT1", Config: OpConfig{}})
	if err != nil {
		b.Fatal(err)
	}
	idem := NewIdempotencyKey()
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(protocol.Request{ID: 42, Op: protocol.OpCallEnd, Data: data, Idem: idem}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("appendRequest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = appendRequest(make([]byte, 0, len(protocol.OpCallEnd)+len(data)+len(idem)+maxEnvelopeBytes), 42,
				protocol.OpCallEnd, data, idem)
		}
	})
}
