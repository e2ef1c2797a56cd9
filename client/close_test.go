package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/goroutines"
	"github.com/dialtone/dialtone/protocol"
)

// sdkGoroutines returns the stacks of the goroutines a client runs: connection readers,
// heartbeats, the supervisor, acknowledgements and the handler's dispatcher.
func sdkGoroutines() []string {
	var found []string
	for _, g := range goroutines.Stacks() {
		for _, fn := range []string{"client.(*conn).readLoop", "client.(*Client).heartbeat",
			"client.(*Client).supervise", "client.(*Client).acknowledge", "client.(*dispatcher).run"} {
			if strings.Contains(g, fn) {
				found = append(found, g)
				break
			}
		}
	}
	return found
}

// waitNoSDKGoroutines fails the test when goroutines of a client are still running a second
// after every client of the test was closed.
func waitNoSDKGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		left := sdkGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of the client still run after Close:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Close with a server that no longer reads (busy, or a network that vanished without a close)
// and so never answers the close handshake: Close returns soon, an operation waiting for its
// reply fails with ErrClosed at once rather than when the handshake gives up, and no goroutine
// of the client is left. The same holds with an HTTPClient of the application's.
func TestCloseDoesNotWaitForAServerThatDoesNotAnswer(t *testing.T) {
	t.Run("SDK's handshake", func(t *testing.T) { closeWithAServerThatDoesNotAnswer(t, Options{}) })
	t.Run("application's HTTPClient", func(t *testing.T) {
		closeWithAServerThatDoesNotAnswer(t, Options{HTTPClient: &http.Client{}})
	})
}

func closeWithAServerThatDoesNotAnswer(t *testing.T, opts Options) {
	fs := newFakeServer(t)
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) }) // runs before the fake server's own cleanup
	fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		if req.Op == protocol.OpQueryCall {
			<-stuck // the server reads nothing more from this connection
			return nil, nil, false
		}
		return defaultRespond(fc, req)
	})
	c, _ := connect(t, fs, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opErr := make(chan error, 1)
	go func() {
		_, err := c.QueryCall(ctx, "c1")
		opErr <- err
	}()
	nextOp(t, fs, protocol.OpQueryCall)

	start := time.Now()
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	select {
	case err := <-opErr:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("the operation in flight failed with %v, want ErrClosed", err)
		}
		if el := time.Since(start); el > 500*time.Millisecond {
			t.Errorf("the operation in flight failed %v after Close, want at once", el)
		}
	case <-time.After(3 * time.Second):
		t.Errorf("the operation in flight still waits 3s after Close")
	}
	select {
	case <-closed:
		if el := time.Since(start); el > 2500*time.Millisecond {
			t.Errorf("Close took %v, want at most about a second", el)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("Close still waits 3s later")
	}
	waitNoSDKGoroutines(t)
}

// Close while a Login dials a new connection (its first attempt was refused and closed) to a
// server that does not answer the handshake: the Login returns ErrClosed at once, not when its
// own ctx ends, and no goroutine of the client is left.
func TestCloseDuringTheDialOfALogin(t *testing.T) {
	fs := newFakeServer(t)
	fs.setLoginErr(func(ld protocol.LoginData) *protocol.Error {
		if ld.Token == "expired" {
			return &protocol.Error{Code: protocol.CodeAuthFailed, Message: "authentication failed"}
		}
		return nil
	})
	c, err := Dial(testCtx(t), fs.url(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(testCtx(t), "expired", "dev1"); Code(err) != CodeAuthFailed {
		t.Fatalf("first Login: %v, want code %d", err, CodeAuthFailed)
	}
	handshakes := make(chan struct{}, 1)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the fake server's own cleanup
	fs.mu.Lock()
	fs.handshake = func(r *http.Request) {
		handshakes <- struct{}{}
		select { // not answered while the test runs
		case <-r.Context().Done():
		case <-release:
		}
	}
	fs.mu.Unlock()
	loginErr := loginAsync(context.Background(), c)
	recv(t, handshakes, "the handshake of the second Login")
	closeEndsLogin(t, c, loginErr, "dials")
}

// closeEndsLogin closes c, whose Login (loginErr) waits at some step, and checks that the
// Login fails with ErrClosed at once and that no goroutine of the client is left; what names
// the step ("dials") for the failure message.
func closeEndsLogin(t *testing.T, c *Client, loginErr <-chan error, what string) {
	t.Helper()
	c.Close()
	select {
	case err := <-loginErr:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Login: %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("Login still %s 2s after Close", what)
	}
	waitNoSDKGoroutines(t)
}

// blockingSeqStore is a SeqStore whose Load answers only when its ctx ends.
type blockingSeqStore struct {
	MemorySeqStore
	loading chan struct{}
}

func (s *blockingSeqStore) Load(ctx context.Context, _ SeqKey) (int64, bool, error) {
	s.loading <- struct{}{}
	<-ctx.Done()
	return 0, false, ctx.Err()
}

// Close while a Login waits for the SeqStore's Load: the Login fails with ErrClosed at once,
// as it does when Close comes during its dial or its reply, rather than when its
// RequestTimeout ends the Load.
func TestCloseDuringTheSeqStoreLoadOfALogin(t *testing.T) {
	fs := newFakeServer(t)
	store := &blockingSeqStore{loading: make(chan struct{}, 1)}
	c, err := Dial(testCtx(t), fs.url(), Options{SeqStore: store, RequestTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	loginErr := loginAsync(context.Background(), c)
	recv(t, store.loading, "the Load of the Login")
	closeEndsLogin(t, c, loginErr, "waits for the SeqStore")
}

func TestCloseFromHandler(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	var c *Client
	ready := make(chan struct{})
	closed := make(chan struct{})
	rec.onReceived = func(CallInvitationReceived) {
		<-ready
		c.Close()
		close(closed)
	}
	c, fc := connect(t, fs, Options{EventHandler: rec})
	close(ready)
	fc.emit(protocol.EventCallInvitationReceived, callEvent("c1"))
	recv(t, closed, "Close from the handler")
	if sc := rec.waitState(t, Disconnected); !errors.Is(sc.reason, ErrClosed) {
		t.Fatalf("Disconnected reason %v, want ErrClosed", sc.reason)
	}
}

// closeWhileHandling closes c while its handler is held in the first event, then, the client
// being finished, releases the handler, which Close waits for, and checks that it handles first
// and nothing more, and ends Disconnected.
func closeWhileHandling(t *testing.T, c *Client, rec *recorder, release chan struct{}, first string) {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	recv(t, c.Done(), "the client to finish") // closed under the handler's feet
	close(release)
	recv(t, closed, "Close")
	if got := recv(t, rec.events, "the first event"); got != first {
		t.Fatalf("handled %q first", got)
	}
	for s := recv(t, rec.states, "a state"); s.state != Disconnected; s = recv(t, rec.states, "Disconnected") {
	}
	select {
	case got := <-rec.events:
		t.Errorf("after Close the handler got %q", got)
	default:
	}
}

// R7.2 across clients: the logged events a closed client had received but not yet handed to
// the handler are dropped, not delivered after Close, so the seq saved is the last one handled
// and a new client of the device gets the rest, each once.
func TestCloseDropsEventsNotYetHandled(t *testing.T) {
	fs := newFakeServer(t)
	store := &MemorySeqStore{}
	rec := newRecorder()
	release, entered := make(chan struct{}), make(chan struct{}, 8)
	rec.onReceived = func(CallInvitationReceived) { // the handler is busy with the first
		entered <- struct{}{}
		<-release
	}
	ctx := testCtx(t)
	c, err := Dial(ctx, fs.url(), Options{EventHandler: rec, SeqStore: store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, jwtWithSub("alice"), "dev1"); err != nil {
		t.Fatal(err)
	}
	fc := recv(t, fs.conns, "connection")
	first := fc.emit(protocol.EventCallInvitationReceived, callEvent("c1"))
	fc.emit(protocol.EventCallInvitationReceived, callEvent("c2"))
	fc.emit(protocol.EventCallInvitationReceived, callEvent("c3"))
	for range 3 { // each invitation is acknowledged once queued for the handler
		nextOp(t, fs, protocol.OpCallReceived)
	}
	recv(t, entered, "the handler to begin the first event")
	closeWhileHandling(t, c, rec, release, "received:c1")
	if seq, ok, _ := store.Load(ctx, SeqKey{UserID: "alice", DeviceID: "dev1"}); !ok || seq != first {
		t.Errorf("saved seq %d (%v), want %d, the last one handled", seq, ok, first)
	}
}

// Close drops the synthesized invitations not yet handed to the handler as it drops logged
// events: after Close the handler gets no invitation it could no longer answer, and a new
// client of the device, which resumes from the same last processed seq, gets them again.
func TestCloseDropsSynthesizedInvitationsNotYetHandled(t *testing.T) {
	fs := newFakeServer(t)
	fs.afterLogin = []protocol.Event{
		{Event: protocol.EventCallInvitationReceived, Data: mustJSON(map[string]any{"callID": "s1", "version": 1, "synthetic": true})},
		{Event: protocol.EventCallInvitationReceived, Data: mustJSON(map[string]any{"callID": "s2", "version": 1, "synthetic": true})},
	}
	rec := newRecorder()
	release, entered := make(chan struct{}), make(chan struct{}, 8)
	rec.onReceived = func(CallInvitationReceived) { // the handler is busy with the first
		entered <- struct{}{}
		<-release
	}
	c, _ := connect(t, fs, Options{EventHandler: rec})
	for range 2 { // each invitation is acknowledged once queued for the handler
		nextOp(t, fs, protocol.OpCallReceived)
	}
	recv(t, entered, "the handler to begin the first event")
	closeWhileHandling(t, c, rec, release, "received:s1")
}
