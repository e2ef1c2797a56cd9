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

// Close and Logout wait for the handler method that is running: once they return, no handler
// method runs and none is called again (the last Disconnected included), so the application may
// free what its handler uses (docs/behaviour.md §12, "The end of a Go SDK client").
func TestCloseWaitsForTheRunningHandler(t *testing.T) {
	for _, tc := range []struct {
		name   string
		end    func(*Client)
		reason error
	}{
		{"Close", func(c *Client) { c.Close() }, ErrClosed},
		{"Logout", func(c *Client) { _ = c.Logout(context.Background()) }, ErrLoggedOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServer(t)
			rec := newRecorder()
			entered, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			t.Cleanup(func() { once.Do(func() { close(release) }) })
			rec.onReceived = func(CallInvitationReceived) {
				close(entered)
				<-release
			}
			c, fc := connect(t, fs, Options{EventHandler: rec})
			fc.emit(protocol.EventCallInvitationReceived, callEvent("c1"))
			recv(t, entered, "the handler to begin the invitation")

			ended := make(chan struct{})
			go func() {
				tc.end(c)
				close(ended)
			}()
			waitFor(t, "the end to return or to wait for the handler alone", func() bool {
				select {
				case <-ended:
					return true
				default:
					return waitsForHandler(tc.name)
				}
			})
			select {
			case <-ended:
				t.Fatalf("%s returned while the handler was still running", tc.name)
			default:
			}
			once.Do(func() { close(release) })
			recv(t, ended, tc.name+" to return once the handler returned")
			// The last handler call was made before the end returned: nothing is left to come.
			if got := recv(t, rec.events, "the invitation"); got != "received:c1" {
				t.Fatalf("handled %q", got)
			}
			last := rec.lastState()
			if last.state != Disconnected || !errors.Is(last.reason, tc.reason) {
				t.Fatalf("after %s returned, the last state handled is %v (%v), want Disconnected (%v)",
					tc.name, last.state, last.reason, tc.reason)
			}
			waitNoSDKGoroutines(t)
		})
	}
}

// waitsForHandler reports whether a goroutine running the client method named method (Close,
// Logout) waits for the handler's dispatcher to finish.
func waitsForHandler(method string) bool {
	for _, g := range goroutines.Stacks() {
		if strings.Contains(g, "client.(*Client)."+method+"(") && strings.Contains(g, "client.(*dispatcher).awaitEnd(") {
			return true
		}
	}
	return false
}

// waitFor waits until cond holds, checking it every few milliseconds, and fails the test when it
// still does not hold after five seconds; what names the condition.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// goroutineID tells goroutines apart, as awaitEnd needs to tell a Close made from inside a
// handler: the same id on one goroutine, another on another, never 0 (unreadable).
func TestGoroutineIDTellsGoroutinesApart(t *testing.T) {
	here := goroutineID()
	other := make(chan uint64)
	go func() { other <- goroutineID() }()
	there := <-other
	if here == 0 || there == 0 || here == there || goroutineID() != here {
		t.Fatalf("goroutine ids %d, %d then %d, want two distinct non-zero ids", here, there, goroutineID())
	}
}
