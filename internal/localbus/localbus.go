// Package localbus delivers committed events to the sessions of this process: the in-process
// Bus of a single-node Dialtone. Publish is called in commit order (by the store's commit
// subscriber), so each user's entries reach its subscribers in sequence order.
package localbus

import (
	"sync"

	"github.com/dialtone/dialtone/internal/switchboard"
)

// Bus fans log entries out to per-user subscribers. The zero value is not usable; call New.
type Bus struct {
	mu   sync.RWMutex
	subs map[string]map[*subscription]struct{}
}

type subscription struct {
	deliver func([]switchboard.LogEntry)
}

// New returns an empty bus.
func New() *Bus { return &Bus{subs: map[string]map[*subscription]struct{}{}} }

// Subscribe calls deliver with every entry later published for userID, in publish order,
// until cancel is called. deliver runs on the publisher's goroutine: it must not block (a
// session queues the frames and sheds a consumer that cannot keep up).
func (b *Bus) Subscribe(userID string, deliver func([]switchboard.LogEntry)) (cancel func()) {
	s := &subscription{deliver: deliver}
	b.mu.Lock()
	m := b.subs[userID]
	if m == nil {
		m = map[*subscription]struct{}{}
		b.subs[userID] = m
	}
	m[s] = struct{}{}
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if m := b.subs[userID]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(b.subs, userID)
			}
		}
	}
}

// Publish hands entries to their users' subscribers, each user's entries in the given order.
func (b *Bus) Publish(entries []switchboard.LogEntry) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for start := 0; start < len(entries); {
		user := entries[start].UserID
		end := start + 1
		for end < len(entries) && entries[end].UserID == user {
			end++
		}
		for s := range b.subs[user] {
			s.deliver(entries[start:end])
		}
		start = end
	}
}
