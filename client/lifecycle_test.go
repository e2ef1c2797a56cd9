package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone/dialtone/protocol"
)

// endedWith reports whether err is one of the reasons a client ends with when Close and
// Logout race: ErrClosed or ErrLoggedOut.
func endedWith(err error) bool {
	return errors.Is(err, ErrClosed) || errors.Is(err, ErrLoggedOut)
}

// Close and Logout called together, each twice, while an operation waits for its reply: all
// return, the operation fails with the client's end reason, a Logout returns nil or that
// reason, and nothing of the client is left (docs/behaviour.md §12, "The end of a Go SDK
// client").
func TestCloseAndLogoutTogetherAndTwice(t *testing.T) {
	fs := newFakeServer(t)
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		if req.Op == protocol.OpQueryCall {
			<-stuck
			return nil, nil, false
		}
		return defaultRespond(fc, req)
	})
	check := leakCheck(t)
	c, _ := connect(t, fs, Options{})
	opErr := make(chan error, 1)
	go func() {
		_, err := c.QueryCall(context.Background(), "c1")
		opErr <- err
	}()
	nextOp(t, fs, protocol.OpQueryCall)

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 2 {
		wg.Go(func() { errs <- c.Close() })
		wg.Go(func() { errs <- c.Logout(context.Background()) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(errs); close(done) }()
	recv(t, done, "Close and Logout to return")
	for err := range errs {
		if err != nil && !endedWith(err) {
			t.Errorf("Close or Logout returned %v, want nil, ErrClosed or ErrLoggedOut", err)
		}
	}
	if err := recv(t, opErr, "the operation in flight"); !endedWith(err) || !errors.Is(err, c.Err()) {
		t.Errorf("the operation in flight failed with %v, want the client's end reason %v", err, c.Err())
	}
	check("after Close and Logout", portOf(t, fs.url()))
}

// Every method called after Close fails at once with ErrClosed, and after Logout with
// ErrLoggedOut: none sends anything or waits (docs/behaviour.md §12, "The end of a Go SDK
// client").
func TestMethodsAfterTheEndFailWithItsReason(t *testing.T) {
	for _, tc := range []struct {
		name   string
		end    func(*Client) error
		reason error
	}{
		{"Close", (*Client).Close, ErrClosed},
		{"Logout", func(c *Client) error { return c.Logout(testCtx(t)) }, ErrLoggedOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServer(t)
			c, _ := connect(t, fs, Options{})
			if err := tc.end(c); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			ctx := context.Background() // no deadline: a wait would last RequestTimeout
			start := time.Now()
			calls := operations(c)
			calls["Login"] = func(ctx context.Context) error { _, err := c.Login(ctx, "token", "dev1"); return err }
			calls["Logout"] = c.Logout
			for name, call := range calls {
				if err := call(ctx); !errors.Is(err, tc.reason) {
					t.Errorf("%s after %s: %v, want %v", name, tc.name, err, tc.reason)
				}
			}
			if el := time.Since(start); el > time.Second {
				t.Errorf("the methods after %s took %v, want no wait", tc.name, el)
			}
			if !errors.Is(c.Err(), tc.reason) || c.State() != Disconnected {
				t.Errorf("after %s: Err %v, State %v", tc.name, c.Err(), c.State())
			}
			select {
			case req := <-fs.requests:
				if req.Op != protocol.OpLogout {
					t.Errorf("the server got %s after %s", req.Op, tc.name)
				}
			default:
			}
		})
	}
}

// An operation whose ctx ends while it waits for its reply returns ctx's error; the reply that
// comes later is dropped, not taken for another request's, and the next operation gets its own.
func TestReplyAfterTheContextEndedIsDropped(t *testing.T) {
	fs := newFakeServer(t)
	held := make(chan func(), 1)
	var queries atomic.Int32
	fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		if req.Op != protocol.OpQueryCall {
			return defaultRespond(fc, req)
		}
		var d protocol.CallIDData
		_ = json.Unmarshal(req.Data, &d)
		result := protocol.QueryCallResult{CallInfo: CallInfo{CallID: d.CallID}}
		if queries.Add(1) == 1 { // the first is answered when the test says so
			held <- func() { fc.write(protocol.Reply{ID: req.ID, Result: mustJSON(result)}) }
			return nil, nil, false
		}
		return result, nil, true
	})
	c, _ := connect(t, fs, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	opErr := make(chan error, 1)
	go func() {
		_, err := c.QueryCall(ctx, "late")
		opErr <- err
	}()
	reply := recv(t, held, "the held request")
	cancel()
	if err := recv(t, opErr, "the cancelled operation"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled QueryCall: %v, want context.Canceled", err)
	}
	reply()
	ci, err := c.QueryCall(testCtx(t), "next")
	if err != nil || ci.CallID != "next" {
		t.Fatalf("the next QueryCall: %+v, %v, want its own reply", ci, err)
	}
	if pending := pendingRequests(c); pending != 0 {
		t.Errorf("%d requests still pending", pending)
	}
}

// Close while the client reconnects, at each step of the reconnection (its dial held in the
// handshake, its login waiting for the reply, or the reply arriving as Close runs): Close
// returns within its second of grace, the handler's last call is Disconnected(ErrClosed) with
// no Connected after it, and nothing of the client is left.
func TestCloseRacingAReconnection(t *testing.T) {
	for _, step := range []string{"dial", "login", "reply"} {
		t.Run(step, func(t *testing.T) {
			fs := newFakeServer(t)
			rec := newRecorder()
			check := leakCheck(t)
			c, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
			rec.waitState(t, Connected)
			recv(t, fs.logins, "the first login")
			reached, release := make(chan struct{}, 1), make(chan struct{})
			var once sync.Once
			t.Cleanup(func() { once.Do(func() { close(release) }) })
			hold := func() {
				select {
				case reached <- struct{}{}:
				default:
				}
				<-release
			}
			fs.mu.Lock()
			if step == "dial" {
				fs.handshake = func(*http.Request) { hold() }
			} else {
				fs.loginErr = func(protocol.LoginData) *protocol.Error { hold(); return nil }
			}
			fs.mu.Unlock()
			fc.drop()
			recv(t, reached, "the reconnection's "+step)
			start := time.Now()
			if step == "reply" {
				go once.Do(func() { close(release) }) // the reply races Close
			}
			c.Close()
			if el := time.Since(start); el > 2500*time.Millisecond {
				t.Errorf("Close took %v", el)
			}
			last := rec.lastState()
			if last.state != Disconnected || !errors.Is(last.reason, ErrClosed) {
				t.Errorf("the handler's last state is %v (%v), want Disconnected (ErrClosed)", last.state, last.reason)
			}
			once.Do(func() { close(release) })
			check("after Close", portOf(t, fs.url()))
		})
	}
}

// A handler method that panics ends the program, as a panic on any goroutine does (the
// EventHandler contract): the client does not recover it and carry on with a handler left
// half-way. The test runs itself in a child process whose handler panics, marked by a variable
// of its own (after Go's GO_WANT_HELPER_PROCESS; DIALTONE_ names are the server's and the
// switches of the test runs).
func TestHandlerPanicEndsTheProgram(t *testing.T) {
	if os.Getenv("GO_WANT_HANDLER_PANIC_CHILD") == "1" {
		fs := newFakeServer(t)
		rec := newRecorder()
		rec.onReceived = func(CallInvitationReceived) { panic("handler panic for the test") }
		_, fc := connect(t, fs, Options{EventHandler: rec})
		fc.emit(protocol.EventCallInvitationReceived, callEvent("c1"))
		recv(t, rec.events, "an event after the panic") // the program ends first
		t.Fatal("the client carried on after its handler panicked")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHandlerPanicEndsTheProgram$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GO_WANT_HANDLER_PANIC_CHILD=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(out), "panic: handler panic for the test") {
		t.Fatalf("the child ended with %v, want the handler's panic; its output:\n%s", err, out)
	}
}
