package wsapi

import (
	"context"
	"slices"
	"testing"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// jumpedLog is a Backend whose user log holds the entries of seqs, each following the one
// before it: seqs jump where the store started again (internal/sqlite: seqFloor). Nothing was
// deleted.
type jumpedLog struct {
	Backend // nil: the tests below call only the methods defined here
	seqs    []int64
}

func (b *jumpedLog) LogBounds(context.Context, string) (int64, int64, error) {
	return 1, b.seqs[len(b.seqs)-1], nil
}

func (b *jumpedLog) ReadLog(_ context.Context, userID string, after int64, limit int) ([]switchboard.LogEntry, error) {
	var out []switchboard.LogEntry
	for i, seq := range b.seqs {
		if seq > after && len(out) < limit {
			e := switchboard.LogEntry{UserID: userID, Seq: seq, Target: call.AllDevices,
				Event: protocol.EventCallUserStateChanged, Data: []byte(`{}`)}
			if i > 0 {
				e.Prev = b.seqs[i-1]
			}
			out = append(out, e)
		}
	}
	return out, nil
}

func (b *jumpedLog) RingingCalls(context.Context, string) ([]call.Call, int64, error) {
	return nil, b.seqs[len(b.seqs)-1], nil
}
func (b *jumpedLog) DeviceConnected(string, string)    {}
func (b *jumpedLog) DeviceDisconnected(string, string) {}

// R7.2 with seqs that jump (protocol: "not contiguous"): a lastSeq the log gave resumes across
// the jump with every later event; one inside the jump, which this log never gave (a seq from
// a run whose data a restored backup lost), is not usable, even though later events exist.
func TestLoginCatchUpAcrossAJump(t *testing.T) {
	log := &jumpedLog{seqs: []int64{1, 2, 3, 1_000_000, 1_000_001, 2_000_000}}
	for _, tc := range []struct {
		lastSeq  int64
		caughtUp bool
		want     []int64
	}{
		{0, true, log.seqs},
		{3, true, log.seqs[3:]},
		{1_000_001, true, log.seqs[5:]},
		{2_000_000, true, nil},
		{4, false, nil},
		{999_999, false, nil},
		{1_500_000, false, nil},
	} {
		frames := loginFrames(t, log, tc.lastSeq)
		got, kicked := seqs(frames)
		if lr := loginResult(t, frames); lr.CaughtUp != tc.caughtUp || !slices.Equal(got, tc.want) || kicked != "" ||
			lr.HeadSeq != 2_000_000 {
			t.Errorf("login from %d: caughtUp %v, headSeq %d, events %v, kicked %q; want %v, 2000000, %v, none",
				tc.lastSeq, lr.CaughtUp, lr.HeadSeq, got, kicked, tc.caughtUp, tc.want)
		}
	}
}
