package client

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// ConnectionState is the state of a client's connection, reported to
// [EventHandler.OnConnectionStateChanged].
type ConnectionState int

// The connection states. A client moves Connecting → Connected at Dial and Login, Connected →
// Reconnecting → Connected across a dropped connection, and ends in Disconnected, which is
// final.
const (
	Connecting ConnectionState = iota
	Connected
	Reconnecting
	Disconnected
)

// String returns the state's name.
func (s ConnectionState) String() string {
	switch s {
	case Connecting:
		return "Connecting"
	case Connected:
		return "Connected"
	case Reconnecting:
		return "Reconnecting"
	case Disconnected:
		return "Disconnected"
	}
	return "ConnectionState(?)"
}

// EventHandler receives a client's events. The client calls its methods on one goroutine, one
// at a time, in the order the events arrived (connection state changes included), so an
// implementation needs no locking of its own for state touched only by these methods.
//
// Events are queued without bound between the connection and the handler: a slow handler
// delays later events but never replies, heartbeats or the automatic receipt acknowledgement.
// A handler may call any Client method, including blocking ones such as CallAccept; while it
// blocks, later events wait in the queue. A method that panics ends the program, as a panic
// on any goroutine does: recover in the method to survive one.
//
// The calls end with the client. Once Close or Logout has returned, no method runs and none is
// called again (the last is OnConnectionStateChanged(Disconnected, …)), so the application may
// free what its handler uses; a method running meanwhile makes them wait until it returns.
// Called from inside a method, Close and Logout return without waiting for that method (see
// Client.Close); a method must not wait for another goroutine's Close or Logout to return,
// which would wait for it in turn. A client that ends by itself (a kick or login refusal that
// forbids reconnecting) makes its last calls on its own; Close then waits for them.
//
// Embed [BaseHandler] to implement only the methods you need.
type EventHandler interface {
	// OnCallInvitationCreated: a call this user created (on any of its devices) started.
	OnCallInvitationCreated(ev CallInvitationCreated)
	// OnCallInvitationReceived: this user is invited; ring until ev.Deadline (see
	// Client.RemainingRingTime). The client acknowledges it by itself (callReceived), at the
	// same time as it calls this method, not before, once per invitation: a synthetic one
	// (ev.Synthetic), which may repeat one delivered before a reconnect, is not acknowledged
	// while that one's receipt is still on its way.
	OnCallInvitationReceived(ev CallInvitationReceived)
	// OnCallInvitationCancelled: invitations were withdrawn.
	OnCallInvitationCancelled(ev CallInvitationCancelled)
	// OnCallInvitationTimeout: this user's invitation timed out.
	OnCallInvitationTimeout(ev CallInvitationTimeout)
	// OnCallInvitationEnded: the call ended.
	OnCallInvitationEnded(ev CallInvitationEnded)
	// OnCallUserStateChanged: users of a call changed state.
	OnCallUserStateChanged(ev CallUserStateChanged)
	// OnCallMainDeviceChanged: this user's main device in a call changed.
	OnCallMainDeviceChanged(ev CallMainDeviceChanged)
	// OnKicked: the server is closing the connection. The client closes it too, at once, so
	// that a close lost on the network holds up nothing; what was in flight on it is sent
	// again after a reconnection or fails with the kick, as when the server's close comes.
	// ev.Retry is the protocol's kick table's for a known reason, whatever the event carried.
	// A kicked event that tells no reason takes the kick its close code names (ev.Reason ""
	// and ev.Retry the event's, false when it has none, when the close names none; see
	// docs/behaviour.md §12, "A kick that tells no reason").
	// Once logged in, the state change that
	// follows tells whether the client reconnects; a connection kicked before its login
	// succeeded (authFailed, loginTimeout) makes no state change, and its OnKicked may not come
	// (a refused Login closes its connection at once): the Login that opened it returns the
	// error, the refusal's code, or the *KickError of a kick that came without a reply.
	OnKicked(ev Kicked)
	// OnConnectionStateChanged: the connection moved to state. reason is nil for Connecting; for
	// Connected it is nil, or ErrEventsLost when the events missed since the last handled one
	// could not be replayed (read the calls the application shows again); for Reconnecting and
	// Disconnected it tells why (ErrClosed, ErrLoggedOut, *KickError, ErrHeartbeatTimeout, a
	// *protocol.Error of a refused login, the error of an operation's ctx that ended while the
	// operation's frame was being written, or the network error).
	OnConnectionStateChanged(state ConnectionState, reason error)
}

// BaseHandler implements every EventHandler method as a no-op. Embed it in a handler to
// override only the methods you need.
type BaseHandler struct{}

// OnCallInvitationCreated does nothing.
func (BaseHandler) OnCallInvitationCreated(CallInvitationCreated) {}

// OnCallInvitationReceived does nothing.
func (BaseHandler) OnCallInvitationReceived(CallInvitationReceived) {}

// OnCallInvitationCancelled does nothing.
func (BaseHandler) OnCallInvitationCancelled(CallInvitationCancelled) {}

// OnCallInvitationTimeout does nothing.
func (BaseHandler) OnCallInvitationTimeout(CallInvitationTimeout) {}

// OnCallInvitationEnded does nothing.
func (BaseHandler) OnCallInvitationEnded(CallInvitationEnded) {}

// OnCallUserStateChanged does nothing.
func (BaseHandler) OnCallUserStateChanged(CallUserStateChanged) {}

// OnCallMainDeviceChanged does nothing.
func (BaseHandler) OnCallMainDeviceChanged(CallMainDeviceChanged) {}

// OnKicked does nothing.
func (BaseHandler) OnKicked(Kicked) {}

// OnConnectionStateChanged does nothing.
func (BaseHandler) OnConnectionStateChanged(ConnectionState, error) {}

// delivery is one queued call of the handler. seq > 0 marks a logged event: once delivered it
// becomes the last processed seq. event marks a call event, logged or synthesized (R5.3), as
// opposed to a kick or a state change: stop drops those not yet begun.
type delivery struct {
	seq   int64
	event bool
	call  func(EventHandler)
}

// dispatcher runs handler calls in order on one goroutine, from an unbounded queue.
type dispatcher struct {
	handler EventHandler
	// processed is called on the dispatcher goroutine after each delivery with a seq.
	processed func(seq int64)

	goid  atomic.Uint64 // the id of the dispatcher's goroutine (goroutineID), once it runs
	ended chan struct{} // closed when the goroutine made its last delivery and exits

	mu      sync.Mutex
	queue   []delivery
	wake    chan struct{} // capacity 1: a pending wake-up
	stopped bool          // no more deliveries are accepted; the goroutine drains and exits
}

func newDispatcher(h EventHandler, processed func(int64)) *dispatcher {
	d := &dispatcher{
		handler:   h,
		processed: processed,
		wake:      make(chan struct{}, 1),
		ended:     make(chan struct{}),
	}
	go d.run()
	return d
}

// push queues a delivery; it never blocks. It reports false after stop. queued, if not nil,
// runs under the queue's lock once the delivery is queued (or refused): no stop comes between
// the two, and the delivery is made after it.
func (d *dispatcher) push(dl delivery, queued func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if queued != nil {
		defer queued()
	}
	if d.stopped {
		return false
	}
	d.queue = append(d.queue, dl)
	d.signal()
	return true
}

// stop drops the call events still queued, queues a last delivery, and lets the goroutine
// make the others (kicks, state changes) and exit. The events dropped were not processed, so
// a later client of the device gets them again, from the last seq processed
// (Options.SeqStore): each logged one reaches the application once, and a synthesized
// invitation is synthesized again if it still rings, since no later event was processed.
// finished runs once the queue is cut, before the goroutine takes its next delivery: what it
// does is seen by every handler call that follows, and whoever sees it done knows the call
// events were dropped.
func (d *dispatcher) stop(last func(EventHandler), finished func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer finished()
	if d.stopped {
		return
	}
	kept := d.queue[:0]
	for _, dl := range d.queue {
		if !dl.event {
			kept = append(kept, dl)
		}
	}
	clear(d.queue[len(kept):])
	d.queue = append(kept, delivery{call: last})
	d.stopped = true
	d.signal()
}

func (d *dispatcher) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	d.goid.Store(goroutineID())
	defer close(d.ended)
	for {
		dl, ok := d.next()
		if !ok {
			return
		}
		dl.call(d.handler)
		if dl.seq > 0 {
			d.processed(dl.seq)
		}
	}
}

// next waits for the next delivery; it reports false once the dispatcher has stopped and made
// its last delivery. Deliveries are taken one at a time, so that stop drops all those not
// begun. A queue emptied keeps its array for the deliveries that follow.
func (d *dispatcher) next() (delivery, bool) {
	for {
		d.mu.Lock()
		if len(d.queue) > 0 {
			dl := d.queue[0]
			d.queue[0] = delivery{}
			if len(d.queue) == 1 {
				d.queue = d.queue[:0]
			} else {
				d.queue = d.queue[1:]
			}
			d.mu.Unlock()
			return dl, true
		}
		stopped := d.stopped
		d.mu.Unlock()
		if stopped {
			return delivery{}, false
		}
		<-d.wake
	}
}

// awaitEnd waits until the dispatcher, stopped, made its last delivery and exited: from then on
// no handler method runs or is called. Called on the dispatcher's goroutine, that is from inside
// a handler method (or a SeqStore's Save), it returns at once, since that method cannot be
// waited for by itself; the deliveries stop kept are then made after the method returns.
func (d *dispatcher) awaitEnd() {
	if id := d.goid.Load(); id != 0 && id == goroutineID() {
		return
	}
	<-d.ended
}

// goroutineID returns the id of the calling goroutine, read from the header runtime.Stack
// writes ("goroutine 42 [running]:"), or 0 if it cannot be read. Go offers no other way to
// tell which goroutine runs, which awaitEnd needs to tell a wait made from inside a handler.
func goroutineID() uint64 {
	var buf [64]byte
	b := bytes.TrimPrefix(buf[:runtime.Stack(buf[:], false)], []byte("goroutine "))
	digits, _, _ := bytes.Cut(b, []byte(" "))
	id, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil {
		return 0
	}
	return id
}
