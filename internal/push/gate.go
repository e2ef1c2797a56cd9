package push

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// SlotsPerProvider is how many pushes may wait for one provider's answer at once. Each
// provider has slots of its own, so a provider that stops answering holds only its own: the
// push worker sends up to SlotsPerProvider pushes per configured provider at once
// (Dispatcher.Parallel), and a hung provider's pushes can never take the others' turn.
const SlotsPerProvider = 16

// stallAfter is how long a provider whose every slot is taken may go without answering any
// request before it is deemed stalled: its next pushes then fail at once, to wait for their
// retry, instead of waiting for a slot. A provider that answers, however slowly, frees a slot
// now and then and is never deemed stalled; 1 s is far beyond the time a working provider
// takes to answer one of 16 requests.
const stallAfter = time.Second

// errStalled is a send's error when its provider is stalled: retryable, the provider may
// answer later.
var errStalled = fmt.Errorf("provider not answering: every slot waits for an answer, none answered for %v", stallAfter)

// gate holds one provider's slots; safe for concurrent use.
type gate struct {
	slots chan struct{}

	mu       sync.Mutex
	inflight int       // slots taken
	quiet    time.Time // since when the provider has had requests in flight and answered none
	silent   bool      // its last request to end went unanswered
}

// newGate returns a gate with n slots.
func newGate(n int) *gate {
	return &gate{slots: make(chan struct{}, n)}
}

// acquire takes a slot. With every slot taken it waits for one while the provider answers;
// once the provider has answered nothing for stallAfter with requests in flight it returns
// errStalled at once (so a push to a hung provider waits for its retry without holding the
// worker's slot). It returns ctx's error when ctx ends first. A nil return must be followed
// by one release.
func (g *gate) acquire(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
		g.taken()
		return nil
	default:
	}
	for {
		g.mu.Lock()
		wait := time.Until(g.quiet.Add(stallAfter))
		g.mu.Unlock()
		if wait <= 0 {
			return errStalled
		}
		timer := time.NewTimer(wait)
		select {
		case g.slots <- struct{}{}:
			timer.Stop()
			g.taken()
			return nil
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C: // an answer meanwhile moves the stall time on: look again
		}
	}
}

// taken counts a slot just taken. A provider that had no request in flight starts its quiet
// time now, unless its last request went unanswered: an idle provider has had no chance to
// answer, but a silent one is still silent.
func (g *gate) taken() {
	g.mu.Lock()
	if g.inflight == 0 && !g.silent {
		g.quiet = time.Now()
	}
	g.inflight++
	g.mu.Unlock()
}

// release gives the slot back; answered reports whether the provider answered (any request
// that ended other than by timing out or being cancelled).
func (g *gate) release(answered bool) {
	g.mu.Lock()
	g.inflight--
	g.silent = !answered
	if answered {
		g.quiet = time.Now()
	}
	g.mu.Unlock()
	<-g.slots
}

// unanswered reports whether err says a request ended for lack of an answer: it timed out or
// was cancelled, rather than the provider answering (any status) or refusing the connection.
func unanswered(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.As(err, &ne) && ne.Timeout()
}
