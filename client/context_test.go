package client

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/goroutines"
	"github.com/dialtone/dialtone/protocol"
)

// operations returns, by name, a call of every operation of c that takes a context, but Login
// and Logout, which start and end the client.
func operations(c *Client) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"CallInvite": func(ctx context.Context) error {
			_, err := c.CallInvite(ctx, []string{"bob"}, InviteConfig{Timeout: 30})
			return err
		},
		"CallCancel": func(ctx context.Context) error { _, err := c.CallCancel(ctx, "c1", nil, OpConfig{}); return err },
		"CallAccept": func(ctx context.Context) error { _, err := c.CallAccept(ctx, "c1", OpConfig{}); return err },
		"CallReject": func(ctx context.Context) error { _, err := c.CallReject(ctx, "c1", OpConfig{}); return err },
		"CallingInvite": func(ctx context.Context) error {
			_, err := c.CallingInvite(ctx, "c1", []string{"dave"}, CallingInviteConfig{})
			return err
		},
		"CallJoin":     func(ctx context.Context) error { _, err := c.CallJoin(ctx, "c1", OpConfig{}); return err },
		"CallQuit":     func(ctx context.Context) error { _, err := c.CallQuit(ctx, "c1", OpConfig{}); return err },
		"CallEnd":      func(ctx context.Context) error { _, err := c.CallEnd(ctx, "c1", OpConfig{}); return err },
		"CallReceived": func(ctx context.Context) error { return c.CallReceived(ctx, "c1") },
		"QueryCallInvitationList": func(ctx context.Context) error {
			_, err := c.QueryCallInvitationList(ctx, 10, 0)
			return err
		},
		"QueryCall": func(ctx context.Context) error { _, err := c.QueryCall(ctx, "c1"); return err },
		"PushRegister": func(ctx context.Context) error {
			return c.PushRegister(ctx, PushTarget{Provider: protocol.PushProviderWebhook, Token: "t"})
		},
		"PushUnregister": func(ctx context.Context) error { return c.PushUnregister(ctx, protocol.PushProviderWebhook, "t") },
	}
}

// cancelled returns a context that has ended, with context.Canceled.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// assertNothingSent fails the test when the server got a request after its login.
func assertNothingSent(t *testing.T, fs *fakeServer) {
	t.Helper()
	select {
	case req := <-fs.requests:
		t.Errorf("the server got %s", req.Op)
	default:
	}
}

// Every method that takes a ctx, given one that already ended, fails with ctx's error and sends
// nothing: an operation, and Logout, leave the client Connected with no request pending
// (Client.Logout: a Logout that fails leaves the client running), and a Login the client not
// logged in.
func TestEndedContextSendsNothing(t *testing.T) {
	fs := newFakeServer(t)
	check := leakCheck(t)
	c, _ := connect(t, fs, Options{})
	for name, op := range operations(c) {
		if err := op(cancelled()); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with an ended ctx: %v, want context.Canceled", name, err)
		}
	}
	assertNothingSent(t, fs)
	if s, pending := c.State(), pendingRequests(c); s != Connected || pending != 0 {
		t.Errorf("after the operations: state %v and %d requests pending, want Connected and none", s, pending)
	}
	if err := c.Logout(cancelled()); !errors.Is(err, context.Canceled) {
		t.Errorf("Logout with an ended ctx: %v, want context.Canceled", err)
	}
	assertNothingSent(t, fs)
	if err, s, pending := c.Err(), c.State(), pendingRequests(c); err != nil || s != Connected || pending != 0 {
		t.Errorf("after the Logout: Err %v, state %v and %d requests pending, want Connected and none", err, s, pending)
	}
	c.Close()

	recv(t, fs.logins, "the first client's login")
	other, err := Dial(testCtx(t), fs.url(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Login(cancelled(), "token", "dev2"); !errors.Is(err, context.Canceled) {
		t.Errorf("Login with an ended ctx: %v, want context.Canceled", err)
	}
	select {
	case ld := <-fs.logins:
		t.Errorf("the server got a login of device %s", ld.DeviceID)
	default:
	}
	if _, err := other.QueryCall(testCtx(t), "c1"); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("QueryCall after the Login: %v, want ErrNotLoggedIn", err)
	}
	other.Close()
	check("after Close", portOf(t, fs.url()))
}

// waitingForAConnection returns a condition that holds once n goroutines wait in
// Client.connection for the client to reconnect.
func waitingForAConnection(n int) func() bool {
	return func() bool {
		waiting := 0
		for _, g := range goroutines.Stacks() {
			if strings.Contains(g, "client.(*Client).connection(") {
				waiting++
			}
		}
		return waiting >= n
	}
}

// Operations and Logout waiting for a reconnection end with their ctx (R7.3: a request is sent
// again only until its ctx ends): each fails with ctx's error, the client goes on reconnecting
// (Client.Logout: a Logout that fails leaves the client running), and nothing of them is left.
func TestContextEndsTheWaitForAReconnection(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	check := leakCheck(t)
	c, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	fc.drop()
	rec.waitState(t, Reconnecting)
	calls := operations(c)
	calls["Logout"] = c.Logout
	endWhileWaiting(t, calls)
	if err, s := c.Err(), c.State(); err != nil || s != Reconnecting {
		t.Errorf("after the calls: Err %v, state %v, want the client still Reconnecting", err, s)
	}
	c.Close()
	check("after Close", portOf(t, fs.url()))
}

// endWhileWaiting runs each call of calls with one ctx, ends the ctx once they all wait for a
// connection, and checks that each fails with context.Canceled.
func endWhileWaiting(t *testing.T, calls map[string]func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		name string
		err  error
	}
	results := make(chan result)
	for name, call := range calls {
		go func() { results <- result{name, call(ctx)} }()
	}
	waitFor(t, "every call to wait for the reconnection", waitingForAConnection(len(calls)))
	cancel()
	for range calls {
		if r := recv(t, results, "a call to return"); !errors.Is(r.err, context.Canceled) {
			t.Errorf("%s whose ctx ended while reconnecting: %v, want context.Canceled", r.name, r.err)
		}
	}
}

// Many goroutines calling every operation across reconnections and Close: each call returns
// its reply, its ctx's error or ErrClosed, none hangs or panics, and nothing is left.
func TestOperationsFromManyGoroutinesAcrossReconnectionsAndClose(t *testing.T) {
	fs := newFakeServer(t)
	check := leakCheck(t)
	c, fc := connect(t, fs, Options{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	var wg sync.WaitGroup
	unexpected := make(chan error, 64)
	for i := range 20 {
		timeout := time.Duration(1+i%4) * time.Millisecond // some shorter than a round trip
		wg.Go(func() {
			for {
				for _, op := range operations(c) {
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					err := op(ctx)
					cancel()
					switch {
					case errors.Is(err, ErrClosed):
						return
					case err != nil && !errors.Is(err, context.DeadlineExceeded):
						unexpected <- err
						return
					}
				}
			}
		})
	}
	for range 5 {
		fc.drop()
		fc = recv(t, fs.conns, "the reconnection")
	}
	fc.drop()
	c.Close()
	returned := make(chan struct{})
	go func() { wg.Wait(); close(returned) }()
	recv(t, returned, "every call to return after Close")
	close(unexpected)
	for err := range unexpected {
		t.Errorf("an operation failed with %v, want its reply, its ctx's error or ErrClosed", err)
	}
	check("after Close", portOf(t, fs.url()))
}

// reentrantHandler calls back into its client: an operation from OnConnectionStateChanged
// (Reconnecting), which waits for the reconnection, and Logout from OnCallInvitationReceived.
type reentrantHandler struct {
	BaseHandler
	c         *Client
	ready     chan struct{} // closed once c is set
	queried   chan error
	loggedOut chan error
	once      sync.Once
}

func (h *reentrantHandler) OnConnectionStateChanged(s ConnectionState, _ error) {
	if s == Reconnecting {
		<-h.ready
		h.once.Do(func() {
			_, err := h.c.QueryCall(context.Background(), "c1")
			h.queried <- err
		})
	}
}

func (h *reentrantHandler) OnCallInvitationReceived(CallInvitationReceived) {
	h.loggedOut <- h.c.Logout(context.Background())
}

// A handler method may call the client and wait for it (EventHandler): an operation called
// while the client reconnects waits for the reconnection, which needs no handler call, and
// Logout returns without waiting for the method that called it.
func TestHandlerWaitingForTheClient(t *testing.T) {
	fs := newFakeServer(t)
	h := &reentrantHandler{ready: make(chan struct{}), queried: make(chan error, 1), loggedOut: make(chan error, 1)}
	c, fc := connect(t, fs, Options{EventHandler: h, MinBackoff: time.Millisecond})
	h.c = c
	close(h.ready)
	fc.drop()
	if err := recv(t, h.queried, "QueryCall from OnConnectionStateChanged(Reconnecting)"); err != nil {
		t.Errorf("QueryCall from OnConnectionStateChanged(Reconnecting): %v", err)
	}
	fc = recv(t, fs.conns, "the reconnection")
	fc.emit(protocol.EventCallInvitationReceived, callEvent("c1"))
	if err := recv(t, h.loggedOut, "Logout from OnCallInvitationReceived"); err != nil {
		t.Errorf("Logout from OnCallInvitationReceived: %v", err)
	}
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	recv(t, closed, "Close after the handler's Logout")
}
