package client

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/dialtone/dialtone/protocol"
)

// callLog is an EventHandler that records every call it gets, in order, and whether any came
// after the client's end returned (ended).
type callLog struct {
	BaseHandler
	mu    sync.Mutex
	calls []string // "event:callID" or "state:Name"
	late  []string // calls made after ended
	ended bool
	onEv  func(callID string) // runs inside OnCallUserStateChanged, before it returns
}

func (l *callLog) record(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
	if l.ended {
		l.late = append(l.late, s)
	}
}

func (l *callLog) OnCallUserStateChanged(ev CallUserStateChanged) {
	l.record("event:" + ev.CallID)
	if l.onEv != nil {
		l.onEv(ev.CallID)
	}
	runtime.Gosched() // a handler a little behind, so that events queue up
}

func (l *callLog) OnKicked(ev Kicked) { l.record("kicked:" + ev.Reason) }

func (l *callLog) OnConnectionStateChanged(s ConnectionState, _ error) {
	l.record("state:" + s.String())
}

// markEnded records that the client's end returned: from then on no call may come.
func (l *callLog) markEnded() {
	l.mu.Lock()
	l.ended = true
	l.mu.Unlock()
}

// check verifies the calls: each event at most once and in the order sent (a prefix of c0,
// c1, …, since an end drops only the events not yet begun), one Disconnected and it last,
// nothing after the end returned.
func (l *callLog) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	next, disconnected := 0, 0
	for i, call := range l.calls {
		switch {
		case call == "state:Disconnected":
			disconnected++
			if i != len(l.calls)-1 {
				t.Errorf("Disconnected is call %d of %d: %v", i, len(l.calls), l.calls[i:])
			}
		case len(call) > 6 && call[:6] == "event:":
			if want := fmt.Sprint("event:c", next); call != want {
				t.Fatalf("call %d is %q, want %q (each event once, in order): %v", i, call, want, l.calls)
			}
			next++
		}
	}
	if disconnected != 1 {
		t.Errorf("Disconnected handled %d times, want once: %v", disconnected, l.calls)
	}
	if len(l.late) > 0 {
		t.Errorf("calls after the end returned: %v", l.late)
	}
}

// Each event reaches the handler at most once and in order, and the last Disconnected once and
// last, however the client ends while events are queued for a handler that is behind: Close
// or Logout from another goroutine or from inside a handler method, or a kick without retry
// (R7.2; docs/behaviour.md §12, "The end of a Go SDK client").
func TestEndWhileEventsQueuedDeliversEachOnceInOrder(t *testing.T) {
	const n = 40
	for _, tc := range []struct {
		name   string
		inside bool // the end is called from the handler of event c10
		end    func(*Client, *fakeConn)
	}{
		{"Close", false, func(c *Client, _ *fakeConn) { c.Close() }},
		{"Logout", false, func(c *Client, _ *fakeConn) { _ = c.Logout(t.Context()) }},
		{"CloseInside", true, func(c *Client, _ *fakeConn) { c.Close() }},
		{"LogoutInside", true, func(c *Client, _ *fakeConn) { _ = c.Logout(t.Context()) }},
		{"Kick", false, func(c *Client, fc *fakeConn) {
			fc.kick(protocol.KickReplaced)
			<-c.Done()
			c.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServer(t)
			log := &callLog{}
			var c *Client
			var fc *fakeConn
			endedInside := make(chan struct{})
			if tc.inside {
				log.onEv = func(callID string) {
					if callID == "c10" {
						tc.end(c, fc)
						close(endedInside)
					}
				}
			}
			c, fc = connect(t, fs, Options{EventHandler: log})
			for i := range n {
				fc.emit(protocol.EventCallUserStateChanged, callEvent(fmt.Sprint("c", i)))
			}
			if tc.inside {
				recv(t, endedInside, "the end called from the handler")
				c.Close() // waits for the handler's last calls
			} else {
				tc.end(c, fc)
			}
			log.markEnded()
			if c.Err() == nil || c.State() != Disconnected {
				t.Fatalf("after the end: Err %v, State %v", c.Err(), c.State())
			}
			log.check(t)
		})
	}
}
