package wire

import (
	"encoding/json"
	"testing"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/protocol"
)

func sampleEvent() call.Event {
	return call.Event{Kind: call.UserStateChanged, CallID: "-4f8Zx0aBcDeFgHiJkLmNoPq", Version: 3,
		Users:     []call.User{{ID: "bob", State: call.Accepted, Inviter: "alice", AcceptTime: 1700000000123, UpdateTime: 1700000000123}},
		CallEnded: true, EndTime: 1700000000123}
}

// The encoded event is the protocol's shape, with callState and endTime when the change ended
// the call.
func TestEncodeEvent(t *testing.T) {
	name, data, err := EncodeEvent(sampleEvent())
	if err != nil {
		t.Fatal(err)
	}
	var got protocol.CallUserStateChanged
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if name != protocol.EventCallUserStateChanged || got.CallState != protocol.CallEnded ||
		got.EndTime != 1700000000123 || len(got.CallUserList) != 1 || got.CallUserList[0].State != protocol.StateAccepted {
		t.Errorf("EncodeEvent = %s %+v", name, got)
	}
}

// BenchmarkEncodeEvent encodes one callUserStateChanged, which the switchboard does once per
// event at commit (deliveries then copy the bytes).
func BenchmarkEncodeEvent(b *testing.B) {
	ev := sampleEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := EncodeEvent(ev); err != nil {
			b.Fatal(err)
		}
	}
}
