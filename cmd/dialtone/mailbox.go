package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// mailKind tells which step of a lifecycle an arrival is.
type mailKind int

const (
	mailRing        mailKind = iota // a callee device received the invitation
	mailReceived                    // the caller saw the callee Received: its receipt is committed
	mailAccepted                    // the caller saw the callee Accepted
	mailCallerEnded                 // the caller received callInvitationEnded
	mailCalleeEnded                 // a callee device received callInvitationEnded
)

func (k mailKind) String() string {
	return [...]string{"ring", "received", "accepted", "callerEnded", "calleeEnded"}[k]
}

// mailKey names an arrival: its kind, its call and, for callee-side events, the device.
type mailKey struct {
	kind   mailKind
	callID string
	device int
}

// arrival is when an event arrived, and on which callee device.
type arrival struct {
	at     time.Time
	device int
}

// mailbox lets event handlers post arrivals that a lifecycle then waits for: events may
// arrive before the reply of the request that caused them.
type mailbox struct {
	mu      sync.Mutex
	got     map[mailKey]arrival
	changed chan struct{}
}

func newMailbox() *mailbox {
	return &mailbox{got: make(map[mailKey]arrival), changed: make(chan struct{}, 1)}
}

// post records the first arrival of key.
func (m *mailbox) post(key mailKey, a arrival) {
	m.mu.Lock()
	if _, ok := m.got[key]; !ok {
		m.got[key] = a
	}
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// reset forgets every arrival (those of earlier lifecycles).
func (m *mailbox) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.got)
}

func (m *mailbox) take(key mailKey) (arrival, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.got[key]
	return a, ok
}

// wait returns key's arrival, waiting up to timeout for it. An arrival already there is
// returned without a timer.
func (m *mailbox) wait(ctx context.Context, key mailKey, timeout time.Duration) (arrival, error) {
	if a, ok := m.take(key); ok {
		return a, nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		if a, ok := m.take(key); ok {
			return a, nil
		}
		select {
		case <-m.changed:
		case <-t.C:
			return arrival{}, fmt.Errorf("no %s event in %s: %w", key.kind, timeout, context.DeadlineExceeded)
		case <-ctx.Done():
			return arrival{}, ctx.Err()
		}
	}
}
