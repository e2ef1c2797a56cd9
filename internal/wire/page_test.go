package wire

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/protocol"
)

// A page whose calls would encode past MaxPageBytes is read again with half as many calls,
// and its nextFlag is the one of the calls it holds (R3.10, docs/behaviour.md §12); a page
// that fits is read once.
func TestCallPageFitsMaxPageBytes(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	var asked []int
	list := func(count int) ([]call.Call, int64, error) {
		asked = append(asked, count)
		calls := make([]call.Call, count)
		for i := range calls {
			calls[i] = call.Call{ID: fmt.Sprint("c", i), ExtendedData: big}
		}
		return calls, int64(100 + count), nil // the flag after the last call read
	}
	page, err := CallPage(40, list)
	if err != nil {
		t.Fatal(err)
	}
	var got protocol.QueryCallInvitationListResult
	if err := json.Unmarshal(page, &got); err != nil {
		t.Fatal(err)
	}
	if len(page) > MaxPageBytes || len(got.CallList) != 10 || got.NextFlag != 110 || fmt.Sprint(asked) != "[40 20 10]" {
		t.Errorf("page of %d bytes with %d calls, nextFlag %d, counts asked %v; want at most %d bytes, 10 calls, 110, [40 20 10]",
			len(page), len(got.CallList), got.NextFlag, asked, MaxPageBytes)
	}
	asked = nil
	if _, err := CallPage(3, list); err != nil || fmt.Sprint(asked) != "[3]" {
		t.Errorf("a page that fits: counts asked %v, %v; want [3]", asked, err)
	}
}
