package switchboard

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dialtone/dialtone/internal/call"
)

func sampleResult() Result {
	c := call.Call{ID: "c1", Caller: "alice", CreateTime: 1000, State: call.Started, Version: 2, ExtendedData: "x"}
	for _, u := range []string{"alice", "bob"} {
		c.Users = append(c.Users, call.User{ID: u, State: call.Inviting, Deadline: 31000, UpdateTime: 1000})
	}
	return Result{Call: c, Now: 1000, Timeout: 30,
		ErrorUsers: []call.ErrorUser{{UserID: "carol", Reason: call.CodeBusy}}, ErrorInvitees: []string{"dave"}}
}

// TestReplyRoundTrip: an idempotency record gives back the Result it was made from (R7.3), and
// is much smaller than the Result's JSON.
func TestReplyRoundTrip(t *testing.T) {
	res := sampleResult()
	b, err := encodeReply(res)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeReply(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(res, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	plain, _ := json.Marshal(res)
	if len(b) >= len(plain)*2/3 {
		t.Errorf("stored reply is %d bytes, the Result's JSON %d", len(b), len(plain))
	}
}

// TestReplyOfEarlierVersion: records written as the Result's own JSON still decode.
func TestReplyOfEarlierVersion(t *testing.T) {
	res := sampleResult()
	plain, _ := json.Marshal(res)
	got, err := decodeReply(plain)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(res, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	if _, err := decodeReply([]byte(`{"c":"AA=="}`)); err == nil {
		t.Error("a reply with a corrupt call decoded")
	}
}
