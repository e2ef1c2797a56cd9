package wsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/sqlite"
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
		out = append(out, switchboard.LogEntry{UserID: userID, Seq: seq, Prev: seq - 1, Target: call.AllDevices,
			Event: protocol.EventCallUserStateChanged, Data: []byte(`{}`)})
	}
	return out, nil
}

func (b *prunedLog) RingingCalls(context.Context, string) ([]call.Call, int64, error) {
	return nil, b.head, nil
}
func (b *prunedLog) DeviceConnected(string, string)    {}
func (b *prunedLog) DeviceDisconnected(string, string) {}

type noBus struct{}

func (noBus) Subscribe(string, func([]switchboard.LogEntry)) func() { return func() {} }

type tokenIsUser struct{}

func (tokenIsUser) Verify(token string, _ time.Time) (string, error) { return token, nil }

// dialServer serves backend and bus on a test listener and returns a connection to it.
func dialServer(t *testing.T, backend Backend, bus Bus) *websocket.Conn {
	t.Helper()
	hs := httptest.NewServer(New(Config{}, backend, bus, tokenIsUser{}, nil, nil))
	t.Cleanup(hs.Close)
	conn, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn
}

// exchange sends frames, then a heartbeat, and returns the frames the server sends up to the
// heartbeat's reply or until it closes the connection. A login is handled before the next
// frame is read, so the reply follows the whole catch-up.
func exchange(t *testing.T, conn *websocket.Conn, frames ...string) []protocol.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, frame := range append(frames, `{"id":99,"op":"heartbeat"}`) {
		if err := conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	var got []protocol.Frame
	for {
		_, data, err := conn.Read(ctx)
		if ctx.Err() != nil {
			t.Fatal("no heartbeat reply and no close")
		}
		if err != nil {
			return got
		}
		var f protocol.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %q: %v", data, err)
		}
		if f.ID == 99 {
			return got
		}
		got = append(got, f)
	}
}

// loginFrames logs in with lastSeq against backend and returns what the server sends (exchange).
func loginFrames(t *testing.T, backend Backend, lastSeq int64) []protocol.Frame {
	t.Helper()
	return exchange(t, dialServer(t, backend, noBus{}),
		`{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1","lastSeq":`+strconv.FormatInt(lastSeq, 10)+`}}`)
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
	t.Run("rest pruned during the replay", func(t *testing.T) {
		// The first page (1..256) is read whole; then every entry up to the head is gone.
		b := &gapAfterFirstPage{prunedLog: &prunedLog{oldest: 1, head: 400, kept: 1}, gapTo: 401}
		frames := loginFrames(t, b, 0)
		got, kicked := seqs(frames)
		if len(got) != catchUpPage || kicked != protocol.KickShutdown {
			t.Errorf("%d events, kicked %q; want 1..%d, then kicked shutdown", len(got), kicked, catchUpPage)
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

// ringing is a Backend for a user with one call ringing for it, whose bus hands the test the
// session's delivery function. Its log's head is 0 when LogBounds reads it and ringingHead
// when RingingCalls reads it: the invitation was committed between the two reads.
type ringing struct {
	prunedLog
	call        call.Call
	ringingHead int64
	deliver     chan func([]switchboard.LogEntry)
}

func (b *ringing) RingingCalls(context.Context, string) ([]call.Call, int64, error) {
	return []call.Call{b.call}, b.ringingHead, nil
}

func (b *ringing) Subscribe(_ string, deliver func([]switchboard.LogEntry)) func() {
	b.deliver <- deliver
	return func() {}
}

// R5.3 and R7.2: an invitation committed while the login read its bounds, and so synthesized,
// is not sent again when its commit is published after the catch-up; the call's later events
// are. The reply's headSeq is the head the synthesized invitations reflect, so a device that
// resumes from it later is not sent that invitation again either.
func TestSynthesizedInvitationNotSentAgain(t *testing.T) {
	deadline := time.Now().Add(time.Minute).UnixMilli()
	b := &ringing{prunedLog: prunedLog{oldest: 1, head: 0, kept: 1}, ringingHead: 1,
		deliver: make(chan func([]switchboard.LogEntry), 1),
		call: call.Call{ID: "X", Caller: "bob", State: call.Started, Version: 1, Users: []call.User{
			{ID: "bob", State: call.Accepted}, {ID: "alice", State: call.Inviting, Inviter: "bob", InviteTimeout: 60, Deadline: deadline}}}}
	conn := dialServer(t, b, b)
	login := exchange(t, conn, `{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1"}}`)
	if len(login) != 2 || login[1].Event != protocol.EventCallInvitationReceived || login[1].Seq != 0 {
		t.Fatalf("login: %+v, want the reply and the synthesized invitation", login)
	}
	if lr := loginResult(t, login); lr.CaughtUp || lr.HeadSeq != 1 {
		t.Errorf("login reply: caughtUp %v, headSeq %d; want false, 1 (the head the ringing calls reflect)",
			lr.CaughtUp, lr.HeadSeq)
	}
	deliver := <-b.deliver
	deliver([]switchboard.LogEntry{
		{UserID: "alice", Seq: 1, Event: protocol.EventCallInvitationReceived, Data: []byte(`{"callID":"X","version":1}`)},
		{UserID: "alice", Seq: 2, Event: protocol.EventCallInvitationCancelled, Data: []byte(`{"callID":"X","version":2}`)},
	})
	got, _ := seqs(exchange(t, conn))
	if len(got) != 1 || got[0] != 2 {
		t.Errorf("live events after the synthesized invitation: seqs %v, want only 2", got)
	}
}

// heldSecondPage is a log whose pages after the first are read only once released: a catch-up
// that takes as long as the test holds it (a slow disk, or a long backlog on a slow link).
type heldSecondPage struct {
	prunedLog
	reads   int
	release chan struct{}
}

func (b *heldSecondPage) ReadLog(ctx context.Context, userID string, after int64, limit int) ([]switchboard.LogEntry, error) {
	if b.reads++; b.reads == 2 {
		<-b.release
	}
	return b.prunedLog.ReadLog(ctx, userID, after, limit)
}

// R7.2 and R6.1: a live client whose catch-up lasts longer than heartbeatTimeout is not
// kicked for silence. The session reads no frame while it catches up, so the client's
// heartbeats wait unread; the catch-up must not count that time as the client's silence.
func TestLongCatchUpIsNotAHeartbeatTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	b := &heldSecondPage{prunedLog: prunedLog{oldest: 1, head: 2 * catchUpPage, kept: 1}, release: make(chan struct{})}
	hs := httptest.NewServer(New(Config{HeartbeatTimeout: timeout}, b, noBus{}, tokenIsUser{}, nil, nil))
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	send := func(frame string) {
		if err := conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	send(`{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1","lastSeq":0}}`)
	// The client heartbeats as it should, for three timeouts, while the second page is held.
	go func() {
		defer close(b.release)
		tick := time.NewTicker(timeout / 3)
		defer tick.Stop()
		for i := range 9 {
			<-tick.C
			if conn.Write(ctx, websocket.MessageText, []byte(`{"id":`+strconv.Itoa(100+i)+`,"op":"heartbeat"}`)) != nil {
				return // the connection ended: the reads below say why
			}
		}
	}()
	events, replies := 0, 0
	for replies < 9 {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("after %d events and %d heartbeat replies: %v", events, replies, err)
		}
		var f protocol.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %q: %v", data, err)
		}
		switch {
		case f.Event == protocol.EventKicked:
			t.Fatalf("kicked after %d events: %s", events, f.Data)
		case f.Event != "":
			events++
		case f.ID >= 100:
			replies++
		}
	}
	if events != 2*catchUpPage {
		t.Errorf("%d events before the heartbeats' replies, want the whole catch-up (%d)", events, 2*catchUpPage)
	}
}

// lockedBuffer is a log destination the test may read while the server writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// refusingVerifier refuses every token with err.
type refusingVerifier struct{ err error }

func (v refusingVerifier) Verify(string, time.Time) (string, error) { return "", v.err }

// A refused login tells the client only 6000291 (behaviour §8: never leak internals), so the
// server's log says why, at debug level, for an operator chasing a misconfigured token.
func TestRefusedLoginLogsWhy(t *testing.T) {
	var logged lockedBuffer
	log := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hs := httptest.NewServer(New(Config{}, &prunedLog{}, noBus{}, refusingVerifier{errors.New("token has invalid audience")}, nil, log))
	t.Cleanup(hs.Close)
	conn, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	frames := exchange(t, conn, `{"id":1,"op":"login","data":{"token":"x","deviceID":"a1"}}`)
	if len(frames) == 0 || frames[0].Error == nil || frames[0].Error.Code != protocol.CodeAuthFailed {
		t.Fatalf("login answered %+v, want 6000291", frames)
	}
	// The reason is logged before the refusal is sent.
	if !strings.Contains(logged.String(), "invalid audience") {
		t.Errorf("log %q does not say why the login was refused", logged.String())
	}
}

// growingLog is a user's log to which other users commit events while a catch-up replays
// it: before each page after the first is read, perRead more entries are committed and
// published on the bus, publishes times in all.
type growingLog struct {
	prunedLog
	perRead, publishes int
	reads              int
	deliver            func([]switchboard.LogEntry)
}

func (b *growingLog) Subscribe(_ string, deliver func([]switchboard.LogEntry)) func() {
	b.deliver = deliver
	return func() {}
}

func (b *growingLog) ReadLog(ctx context.Context, userID string, after int64, limit int) ([]switchboard.LogEntry, error) {
	if b.reads++; b.reads > 1 && b.publishes > 0 {
		b.publishes--
		from := b.head + 1
		b.head += int64(b.perRead)
		committed, _ := b.prunedLog.ReadLog(ctx, userID, from-1, b.perRead)
		b.deliver(committed)
	}
	return b.prunedLog.ReadLog(ctx, userID, after, limit)
}

// R7.2, protocol.md (slowConsumer: send queue full): events committed during a long
// catch-up that the replay reads from the log as it goes are sent once, and a client that
// takes every frame as it comes is not kicked for them, however many there are in all.
func TestCatchUpUnderTrafficIsNotASlowConsumer(t *testing.T) {
	b := &growingLog{prunedLog: prunedLog{oldest: 1, head: 2 * catchUpPage, kept: 1}, perRead: 200, publishes: 5}
	frames := exchange(t, dialServer(t, b, b), `{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1","lastSeq":0}}`)
	got, kicked := seqs(frames)
	if lr := loginResult(t, frames); !lr.CaughtUp || kicked != "" {
		t.Fatalf("caughtUp %v, kicked %q after %d events; want true, no kick", lr.CaughtUp, kicked, len(got))
	}
	for i, seq := range got {
		if seq != int64(i+1) {
			t.Fatalf("event %d has seq %d, want %d", i, seq, i+1)
		}
	}
	if want := 2*catchUpPage + 5*200; len(got) != want {
		t.Errorf("%d events, want %d", len(got), want)
	}
}

// A login whose data does not decode is 6000001 with a message that names what is wrong, as
// every op's invalid data is, so a client developer can tell a lastSeq of 1.0 from a missing
// token.
func TestLoginWithInvalidDataSaysWhy(t *testing.T) {
	for _, tt := range []struct{ data, want string }{
		{`{"token":"alice","deviceID":"a1","lastSeq":1.0}`, "lastSeq"},
		{`{"token":7,"deviceID":"a1"}`, "token"},
		{`{"deviceID":"a1"}`, "token"},
	} {
		frames := exchange(t, dialServer(t, &prunedLog{}, noBus{}), `{"id":1,"op":"login","data":`+tt.data+`}`)
		if len(frames) == 0 || frames[0].Error == nil || frames[0].Error.Code != protocol.CodeInvalidParameter ||
			!strings.Contains(frames[0].Error.Message, tt.want) {
			t.Errorf("login %s: %+v, want 6000001 naming %s", tt.data, frames, tt.want)
		}
	}
}

// heldQueries is a backend whose queryCall, and with holdLogout its logout, wait until release
// is closed.
type heldQueries struct {
	prunedLog
	release    chan struct{}
	holdLogout bool
}

func (b *heldQueries) QueryCall(context.Context, string, string) (call.Call, error) {
	<-b.release
	return call.Call{}, call.Unavailable()
}

func (b *heldQueries) Logout(context.Context, string, string) {
	if b.holdLogout {
		<-b.release
	}
}

// dialHeld logs alice's device in on a server with heartbeatTimeout timeout over a heldQueries
// backend, and returns the backend, the connection and a function that sends a frame.
func dialHeld(t *testing.T, ctx context.Context, timeout time.Duration, holdLogout bool) (*heldQueries, *websocket.Conn, func(string) error) {
	t.Helper()
	b := &heldQueries{prunedLog: prunedLog{oldest: 1}, release: make(chan struct{}), holdLogout: holdLogout}
	hs := httptest.NewServer(New(Config{HeartbeatTimeout: timeout, MaxRequestsPerSecond: 1000}, b, noBus{}, tokenIsUser{}, nil, nil))
	t.Cleanup(hs.Close)
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	send := func(frame string) error { return conn.Write(ctx, websocket.MessageText, []byte(frame)) }
	if err := send(`{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1"}}`); err != nil {
		t.Fatal(err)
	}
	return b, conn, send
}

// heartbeatThenRelease heartbeats as a client should (ids 100 to 108), for three timeouts,
// then releases b's queries.
func heartbeatThenRelease(b *heldQueries, send func(string) error, timeout time.Duration) {
	defer close(b.release)
	tick := time.NewTicker(timeout / 3)
	defer tick.Stop()
	for i := range 9 {
		<-tick.C
		if send(`{"id":`+strconv.Itoa(100+i)+`,"op":"heartbeat"}`) != nil {
			return // the connection ended: the test's reads say why
		}
	}
}

// readUntil reads conn's frames until done says one is the last wanted, and fails on a kick
// that comes before it.
func readUntil(t *testing.T, ctx context.Context, conn *websocket.Conn, done func(protocol.Frame) bool) {
	t.Helper()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var f protocol.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %q: %v", data, err)
		}
		if f.Event == protocol.EventKicked {
			t.Fatalf("kicked: %s", f.Data)
		}
		if done(f) {
			return
		}
	}
}

// R6.1: a live client whose requests take every slot of its connection for longer than
// heartbeatTimeout is not kicked for silence. The session reads no frame while it waits for a
// slot, so the client's heartbeats wait unread; that wait is the server's, not the client's
// silence.
func TestWaitForAnOpSlotIsNotAHeartbeatTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	b, conn, send := dialHeld(t, ctx, timeout, false)
	for i := range maxConcurrentOps + 1 { // the last one waits for a slot
		if err := send(`{"id":` + strconv.Itoa(10+i) + `,"op":"queryCall","data":{"callID":"c"}}`); err != nil {
			t.Fatal(err)
		}
	}
	go heartbeatThenRelease(b, send, timeout)
	replies := 0
	readUntil(t, ctx, conn, func(f protocol.Frame) bool {
		if f.ID >= 100 {
			replies++
		}
		return replies == 9
	})
}

// R6.1: a logout waits for the device's requests in flight before it loses the device, then
// commits the loss, and reads no frame meanwhile; a live client heartbeating through a long
// wait or commit is not kicked for silence, and gets its logout's reply.
func TestLogoutWaitingIsNotAHeartbeatTimeout(t *testing.T) {
	for _, heldBy := range []string{"a request in flight", "its commit"} {
		t.Run(heldBy, func(t *testing.T) {
			const timeout = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			b, conn, send := dialHeld(t, ctx, timeout, heldBy == "its commit")
			if !b.holdLogout {
				if err := send(`{"id":2,"op":"queryCall","data":{"callID":"c"}}`); err != nil {
					t.Fatal(err)
				}
			}
			if err := send(`{"id":3,"op":"logout"}`); err != nil {
				t.Fatal(err)
			}
			go heartbeatThenRelease(b, send, timeout)
			readUntil(t, ctx, conn, func(f protocol.Frame) bool { return f.ID == 3 })
		})
	}
}

// R5.3, R3.1: the timeout of a synthesized invitation is the seconds left of the ring, and
// never more than the ring's own timeout: a server clock stepped back after the invitation
// (an NTP correction) puts the deadline further ahead of the clock, but does not make the
// ring longer than the caller asked for (docs/behaviour.md §12, "A server clock stepped back").
func TestSynthesizedTimeoutAfterTheClockSteppedBack(t *testing.T) {
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "dialtone.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var clock atomic.Int64 // Unix ms; the switchboard is not started, so no deadline fires
	clock.Store(1_700_000_000_000)
	now := func() time.Time { return time.UnixMilli(clock.Load()) }
	board := switchboard.New(switchboard.Config{}, store, now, nil)
	t.Cleanup(board.Close)
	if _, err := board.Invite(t.Context(), call.Invite{Actor: call.Actor{UserID: "alice", DeviceID: "a1"},
		Invitees: []string{"bob"}, Timeout: 30}, ""); err != nil {
		t.Fatal(err)
	}
	clock.Add(-(5 * time.Minute).Milliseconds())

	hs := httptest.NewServer(New(Config{}, board, noBus{}, tokenIsUser{}, now, nil))
	t.Cleanup(hs.Close)
	frames := exchange(t, dialWS(t, "ws"+strings.TrimPrefix(hs.URL, "http")),
		`{"id":1,"op":"login","data":{"token":"bob","deviceID":"b1"}}`)
	var invitations []protocol.CallInvitationReceived
	for _, f := range frames {
		if f.Event == protocol.EventCallInvitationReceived {
			var ev protocol.CallInvitationReceived
			if err := json.Unmarshal(f.Data, &ev); err != nil {
				t.Fatal(err)
			}
			invitations = append(invitations, ev)
		}
	}
	if len(invitations) != 1 || invitations[0].Timeout != 30 {
		t.Errorf("synthesized invitations %+v, want one with timeout 30 (the ring's, not the %d s to its deadline)",
			invitations, (1_700_000_030_000-clock.Load())/1000)
	}
}
