package wsapi

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// prunedLog is a Backend whose user log is retained from oldest to head, as LogBounds says,
// but of which ReadLog finds only the entries from kept on: retention deleted the others
// between the two reads.
type prunedLog struct {
	Backend            // nil: the tests below call only the methods defined here
	oldest, head, kept int64
}

func (b *prunedLog) LogBounds(context.Context, string) (int64, int64, error) {
	return b.oldest, b.head, nil
}

func (b *prunedLog) ReadLog(_ context.Context, userID string, after int64, limit int) ([]switchboard.LogEntry, error) {
	var out []switchboard.LogEntry
	for seq := max(after+1, b.kept); seq <= b.head && len(out) < limit; seq++ {
		out = append(out, switchboard.LogEntry{UserID: userID, Seq: seq, Target: call.AllDevices,
			Event: protocol.EventCallUserStateChanged, Data: []byte(`{}`)})
	}
	return out, nil
}

func (b *prunedLog) PendingCalls(context.Context, string) ([]call.Call, error) { return nil, nil }
func (b *prunedLog) DeviceConnected(string, string)                            {}
func (b *prunedLog) DeviceDisconnected(string, string)                         {}

type noBus struct{}

func (noBus) Subscribe(string, func([]switchboard.LogEntry)) func() { return func() {} }

type tokenIsUser struct{}

func (tokenIsUser) Verify(token string, _ time.Time) (string, error) { return token, nil }

// loginFrames logs in with lastSeq against backend, then sends a heartbeat, and returns the
// frames the server sends up to the heartbeat's reply (the login is handled before the next
// frame is read, so that reply follows the whole catch-up) or until it closes the connection.
func loginFrames(t *testing.T, backend Backend, lastSeq int64) []protocol.Frame {
	t.Helper()
	srv := New(Config{}, backend, noBus{}, tokenIsUser{}, nil, nil)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	conn, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	for _, frame := range []string{
		`{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1","lastSeq":` + strconv.FormatInt(lastSeq, 10) + `}}`,
		`{"id":2,"op":"heartbeat"}`,
	} {
		if err := conn.Write(t.Context(), websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var frames []protocol.Frame
	for {
		_, data, err := conn.Read(ctx)
		if ctx.Err() != nil {
			t.Fatal("no heartbeat reply and no close")
		}
		if err != nil {
			return frames
		}
		var f protocol.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %q: %v", data, err)
		}
		if f.ID == 2 {
			return frames
		}
		frames = append(frames, f)
	}
}

// seqs returns the seqs of the events among frames, and the kicked reason if any.
func seqs(frames []protocol.Frame) (got []int64, kicked string) {
	for _, f := range frames {
		switch f.Event {
		case protocol.EventKicked:
			var k protocol.Kicked
			_ = json.Unmarshal(f.Data, &k)
			kicked = k.Reason
		case "":
		default:
			got = append(got, f.Seq)
		}
	}
	return got, kicked
}

func loginResult(t *testing.T, frames []protocol.Frame) protocol.LoginResult {
	t.Helper()
	var lr protocol.LoginResult
	if len(frames) == 0 || frames[0].ID != 1 || json.Unmarshal(frames[0].Result, &lr) != nil {
		t.Fatalf("no login reply first: %+v", frames)
	}
	return lr
}

// R7.2: lastSeq is usable only if every event after it is still in the log when it is read.
func TestLoginCatchUpMeetsRetention(t *testing.T) {
	t.Run("whole", func(t *testing.T) {
		frames := loginFrames(t, &prunedLog{oldest: 5, head: 10, kept: 5}, 4)
		got, kicked := seqs(frames)
		if lr := loginResult(t, frames); !lr.CaughtUp || len(got) != 6 || got[0] != 5 || kicked != "" {
			t.Errorf("caughtUp %v, events %v, kicked %q; want true, 5..10, none", lr.CaughtUp, got, kicked)
		}
	})
	t.Run("pruned before the first read", func(t *testing.T) {
		frames := loginFrames(t, &prunedLog{oldest: 5, head: 10, kept: 8}, 4)
		got, kicked := seqs(frames)
		if lr := loginResult(t, frames); lr.CaughtUp || len(got) != 0 || kicked != "" {
			t.Errorf("caughtUp %v, events %v, kicked %q; want false (R5.3), none, none", lr.CaughtUp, got, kicked)
		}
	})
	t.Run("all pruned before the first read", func(t *testing.T) {
		frames := loginFrames(t, &prunedLog{oldest: 5, head: 10, kept: 11}, 4)
		if lr := loginResult(t, frames); lr.CaughtUp {
			t.Error("caughtUp true with every missed event deleted")
		}
	})
	t.Run("pruned during the replay", func(t *testing.T) {
		// The first page (1..256) is read whole; the next starts at 300.
		b := &gapAfterFirstPage{prunedLog: &prunedLog{oldest: 1, head: 400, kept: 1}, gapTo: 300}
		frames := loginFrames(t, b, 0)
		got, kicked := seqs(frames)
		if lr := loginResult(t, frames); !lr.CaughtUp || len(got) != catchUpPage || got[len(got)-1] != catchUpPage ||
			kicked != protocol.KickShutdown {
			t.Errorf("caughtUp %v, %d events up to %v, kicked %q; want true, 1..%d, then kicked shutdown",
				lr.CaughtUp, len(got), got[len(got)-1:], kicked, catchUpPage)
		}
	})
}

// gapAfterFirstPage deletes the entries up to gapTo once the first page has been read.
type gapAfterFirstPage struct {
	*prunedLog
	gapTo int64
	reads int
}

func (b *gapAfterFirstPage) ReadLog(ctx context.Context, userID string, after int64, limit int) ([]switchboard.LogEntry, error) {
	if b.reads++; b.reads == 2 {
		b.kept = b.gapTo
	}
	return b.prunedLog.ReadLog(ctx, userID, after, limit)
}
