package wire

import (
	"encoding/json"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/protocol"
)

// MaxPageBytes bounds an encoded page of calls (CallPage) so that a reply carrying it, with
// the longest request id, is a frame every client takes (protocol.MaxServerFrameBytes).
const MaxPageBytes = protocol.MaxServerFrameBytes - len(`{"id":9007199254740991,"result":}`)

// CallPage returns a page of calls (R3.10) encoded as a QueryCallInvitationListResult of at
// most MaxPageBytes. list reads up to count calls of the page and the page's nextFlag; a page
// whose encoding would be longer is read again with half as many calls, down to one, and its
// nextFlag then goes on from the calls it holds (docs/behaviour.md §12). A single call is
// returned whatever its size: every call fits (call.MaxListedUsers).
func CallPage(count int, list func(count int) ([]call.Call, int64, error)) (json.RawMessage, error) {
	for {
		calls, next, err := list(count)
		if err != nil {
			return nil, err
		}
		infos := make([]protocol.CallInfo, len(calls))
		for i, c := range calls {
			infos[i] = CallInfo(c)
		}
		page, err := json.Marshal(protocol.QueryCallInvitationListResult{CallList: infos, NextFlag: next})
		if err != nil {
			return nil, err
		}
		if len(page) <= MaxPageBytes || len(calls) <= 1 {
			return page, nil
		}
		count = len(calls) / 2
	}
}
