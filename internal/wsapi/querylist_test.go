package wsapi

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/protocol"
)

// fullCalls is a Backend holding calls numbers 1..n of 20 users (the most --max-call-users
// allows), every extendedData 2048 bytes of '<', which JSON writes in six bytes each: a page of
// 100 of them is about 26 MB. ListCalls pages them newest first; nextFlag is a call's number.
type fullCalls struct {
	Backend // nil: the test calls only the methods defined here
	n       int64
}

func (b *fullCalls) ListCalls(_ context.Context, userID string, count int, next int64) ([]call.Call, int64, error) {
	if count == 0 {
		count = 20
	}
	count = min(count, 100)
	from := b.n
	if next > 0 {
		from = next - 1
	}
	ext := strings.Repeat("<", 2048)
	var calls []call.Call
	for id := from; id >= 1 && len(calls) < count; id-- {
		c := call.Call{ID: strconv.FormatInt(id, 10), Caller: userID, ExtendedData: ext, State: call.Ended}
		for u := range 20 {
			c.Users = append(c.Users, call.User{ID: "user" + strconv.Itoa(u), State: call.Rejected, ExtendedData: ext})
		}
		calls = append(calls, c)
	}
	var nextFlag int64
	if last := from - int64(len(calls)); last >= 1 {
		nextFlag = last + 1
	}
	return calls, nextFlag, nil
}

func (b *fullCalls) LogBounds(context.Context, string) (int64, int64, error) { return 1, 0, nil }
func (b *fullCalls) RingingCalls(context.Context, string) ([]call.Call, int64, error) {
	return nil, 0, nil
}
func (b *fullCalls) DeviceConnected(string, string)    {}
func (b *fullCalls) DeviceDisconnected(string, string) {}

// docs/behaviour.md §12: every reply fits in the frames clients take (protocol.MaxServerFrameBytes,
// the Go SDK's read limit). A page of queryCallInvitationList that count's calls would make
// larger holds fewer, and its nextFlag goes on from there: the pages still hold every call
// once, newest first (R3.10).
func TestQueryListPageFitsTheFrameClientsTake(t *testing.T) {
	backend := &fullCalls{n: 70} // one page of 70 would be over 18 MB
	conn := dialServer(t, backend, noBus{})
	conn.SetReadLimit(protocol.MaxServerFrameBytes)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	send := func(frame string) protocol.Frame {
		t.Helper()
		if err := conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				t.Fatalf("reply to %.60s: %v", frame, err)
			}
			var f protocol.Frame
			if err := json.Unmarshal(data, &f); err != nil {
				t.Fatal(err)
			}
			if f.Event == "" {
				if f.Error != nil {
					t.Fatalf("reply to %.60s: %v", frame, f.Error)
				}
				return f
			}
		}
	}
	send(`{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1"}}`)
	var got []string
	var next int64
	for page := 0; page < 70; page++ {
		f := send(`{"id":2,"op":"queryCallInvitationList","data":{"config":{"count":100,"nextFlag":` +
			strconv.FormatInt(next, 10) + `}}}`)
		var res protocol.QueryCallInvitationListResult
		if err := json.Unmarshal(f.Result, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.CallList) == 0 {
			t.Fatalf("page %d is empty with nextFlag %d", page, next)
		}
		for _, c := range res.CallList {
			got = append(got, c.CallID)
		}
		if next = res.NextFlag; next == 0 {
			break
		}
	}
	if len(got) != 70 || got[0] != "70" || got[69] != "1" {
		t.Errorf("pages held %d calls, from %s to %s; want 70 to 1", len(got), got[0], got[len(got)-1])
	}
	for i := 1; i < len(got); i++ {
		if a, _ := strconv.Atoi(got[i-1]); strconv.Itoa(a-1) != got[i] {
			t.Fatalf("call %s follows %s", got[i], got[i-1])
		}
	}
}
