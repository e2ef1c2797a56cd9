package switchboard

import (
	"sync"
	"time"
)

// presence detects lost devices (R6.1): a device is lost when it has had no connected session
// for the grace period (heartbeatTimeout). A new session with the same device in time — a
// reconnect or an app restart — cancels the loss; one that comes as the loss fires waits until
// the loss is applied, so the loss never takes a call the new session made for something the
// device left behind.
type presence struct {
	mu      sync.Mutex
	grace   time.Duration
	devices map[deviceKey]*deviceState
	lose    func(userID, deviceID string) error // an error: the loss failed and is tried again
	closed  bool
}

type deviceKey struct{ userID, deviceID string }

type deviceState struct {
	sessions int
	timer    *time.Timer
	losing   chan struct{} // while the device's loss is being applied; closed once it is
}

func newPresence(grace time.Duration, lose func(userID, deviceID string) error) *presence {
	return &presence{grace: grace, devices: map[deviceKey]*deviceState{}, lose: lose}
}

// Connected records a new session of the device. If the device's loss is being applied, it
// returns once the loss is applied: nothing the new session does is lost with it.
func (p *presence) Connected(userID, deviceID string) {
	k := deviceKey{userID, deviceID}
	p.mu.Lock()
	defer p.mu.Unlock()
	for st := p.devices[k]; st != nil && st.losing != nil; st = p.devices[k] {
		losing := st.losing // the loss sets it to nil once done
		p.mu.Unlock()
		<-losing
		p.mu.Lock()
	}
	st := p.devices[k]
	if st == nil {
		st = &deviceState{}
		p.devices[k] = st
	}
	st.sessions++
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
}

// Disconnected records the end of a session of the device (or, at start-up, that it is not
// connected). When no session is left, the device is lost after the grace period.
func (p *presence) Disconnected(userID, deviceID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	k := deviceKey{userID, deviceID}
	st := p.devices[k]
	if st == nil {
		st = &deviceState{}
		p.devices[k] = st
	}
	if st.sessions > 0 {
		st.sessions--
	}
	if st.sessions > 0 || st.timer != nil || st.losing != nil { // connected, or its loss is already on its way
		return
	}
	st.timer = p.loseAfter(p.grace, k, st)
}

// loseAfter returns the timer that loses the device k after d unless a session of it comes
// first (Connected stops the timer). A loss that failed (lose returned an error)
// is tried again after tickRetry, unless the device is back by then: nothing of it was
// applied, so the device is as it was before its grace ended.
func (p *presence) loseAfter(d time.Duration, k deviceKey, st *deviceState) *time.Timer {
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		p.mu.Lock()
		if p.closed || p.devices[k] != st || st.timer != t {
			p.mu.Unlock()
			return
		}
		st.timer, st.losing = nil, make(chan struct{})
		p.mu.Unlock()
		lost := p.lose(k.userID, k.deviceID) == nil
		p.mu.Lock()
		close(st.losing)
		st.losing = nil
		if lost || p.closed {
			delete(p.devices, k)
		} else { // no session came meanwhile: Connected waits for losing
			st.timer = p.loseAfter(tickRetry, k, st)
		}
		p.mu.Unlock()
	})
	return t
}

// Close stops every pending loss: a graceful shutdown is not a loss (R6.1).
func (p *presence) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, st := range p.devices {
		if st.timer != nil {
			st.timer.Stop()
		}
	}
}
