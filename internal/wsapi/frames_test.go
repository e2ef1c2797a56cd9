package wsapi

import (
	"encoding/json"
	"testing"

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
