package push

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// connCounter is a push service that counts the connections it was opened and those still
// open, and holds each request until released.
type connCounter struct {
	srv     *httptest.Server
	mu      sync.Mutex
	opened  int
	open    int
	arrived chan struct{}
	release chan struct{}
}

func newConnCounter(t *testing.T) *connCounter {
	c := &connCounter{arrived: make(chan struct{}, SlotsPerProvider), release: make(chan struct{})}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		c.arrived <- struct{}{}
		<-c.release
	}))
	c.srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch state {
		case http.StateNew:
			c.opened++
			c.open++
		case http.StateClosed, http.StateHijacked:
			c.open--
		}
	}
	c.srv.Start()
	t.Cleanup(c.srv.Close)
	return c
}

// counts returns the connections opened so far and those open now.
func (c *connCounter) counts() (opened, open int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened, c.open
}

// round sends SlotsPerProvider pushes through p at once, each held by the service until all
// arrived, and returns the connections the round opened.
func (c *connCounter) round(t *testing.T, p Provider) int {
	t.Helper()
	before, _ := c.counts()
	errs := make(chan error, SlotsPerProvider)
	for range SlotsPerProvider {
		go func() {
			errs <- p.Send(t.Context(), Target{Provider: "fcm", Token: "tok"}, Message{Kind: KindInvitation})
		}()
	}
	for range SlotsPerProvider {
		<-c.arrived
	}
	for range SlotsPerProvider {
		c.release <- struct{}{}
	}
	for range SlotsPerProvider {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	after, _ := c.counts()
	return after - before
}

// docs/push.md: a provider keeps a connection open for each of its slots between pushes, so
// that a busy minute does not open a connection per push.
func TestProviderKeepsAConnectionPerSlot(t *testing.T) {
	c := newConnCounter(t)
	p := NewWebhook(c.srv.URL, nil)
	if n := c.round(t, p); n != SlotsPerProvider {
		t.Fatalf("first round opened %d connections, want %d", n, SlotsPerProvider)
	}
	// A connection handed back just as the second round asks for one may be met by a new
	// dial; most must be reused.
	if n := c.round(t, p); n > SlotsPerProvider/4 {
		t.Errorf("second round opened %d new connections of %d: the first round's were not kept", n, SlotsPerProvider)
	}
}

// A provider's CloseIdleConnections closes the connections it keeps, as a server that stops
// does, instead of leaving them open for the transport's idle timeout (90 s).
func TestProviderClosesItsIdleConnections(t *testing.T) {
	c := newConnCounter(t)
	p := NewWebhook(c.srv.URL, nil)
	c.round(t, p)
	p.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for _, open := c.counts(); open > 0; _, open = c.counts() {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open 5s after CloseIdleConnections", open)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
}
