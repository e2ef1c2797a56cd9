package wsapi

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// A reply's frame is byte for byte what json.Marshal makes of the protocol.Reply (protocol.md
// "Envelopes"), whatever its result holds: HTML characters, U+2028, invalid UTF-8, nesting.
func TestReplyFrameIsTheEncodedReply(t *testing.T) {
	results := []any{
		struct{}{},
		protocol.HeartbeatResult{ServerTime: 1733600000123},
		protocol.CallIDResult{CallID: "c-1"},
		protocol.CallInviteResult{CallID: "c-2", Timeout: 60, ErrorUserList: []protocol.ErrorUserInfo{{UserID: "u\"<&>", Reason: 6000001}},
			CallInfo: protocol.CallInfo{CallID: "c-2", ExtendedData: "<b>&\u2028\u2029\xff\\", CallUserList: []protocol.CallUserInfo{
				{UserID: "bob", State: protocol.StateReceived, ExtendedData: `{"x":[1, 2]}`}}}},
	}
	for _, id := range []int64{1, 42, protocol.MaxInteger} {
		for _, result := range results {
			raw, err := json.Marshal(result)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(protocol.Reply{ID: id, Result: raw})
			if err != nil {
				t.Fatal(err)
			}
			if got := replyFrame(id, raw); string(got) != string(want) {
				t.Errorf("reply %d of %T:\n got %s\nwant %s", id, result, got, want)
			}
		}
	}
}

// An event's frame, its parts put together, is byte for byte what json.Marshal makes of the
// protocol.Event (protocol.md "Envelopes"), and it shares the entry's data instead of copying it.
func TestEventFrameIsTheEncodedEvent(t *testing.T) {
	data := json.RawMessage(`{"callID":"c-1","version":3,"callUserList":[{"userID":"b\u003c","state":5}]}`)
	for _, seq := range []int64{1, 1 << 40} {
		e := switchboard.LogEntry{UserID: "bob", Seq: seq, Event: protocol.EventCallUserStateChanged, Data: data}
		want, err := json.Marshal(protocol.Event{Event: e.Event, Seq: e.Seq, Data: e.Data})
		if err != nil {
			t.Fatal(err)
		}
		f := eventFrame(e)
		if got := bytes.Join(f[:], nil); string(got) != string(want) {
			t.Errorf("event %d:\n got %s\nwant %s", seq, got, want)
		}
		if &f[1][0] != &data[0] {
			t.Error("the frame holds a copy of the entry's data")
		}
	}
}

// An event's frame allocates its envelope once, however long the event's name and seq.
func TestEventFrameAllocatesOnce(t *testing.T) {
	e := switchboard.LogEntry{UserID: "bob", Seq: protocol.MaxInteger, Event: protocol.EventCallInvitationCancelled,
		Data: json.RawMessage(`{"callID":"c-1"}`)}
	var f outFrame
	if n := testing.AllocsPerRun(100, func() { f = eventFrame(e) }); n != 1 {
		t.Errorf("eventFrame made %v allocations, want 1", n)
	}
	if len(f[0]) == 0 {
		t.Fatal("eventFrame made no envelope")
	}
}
