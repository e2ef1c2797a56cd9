package switchboard

import "sync"

// keyedMutex serialises work per key (a call ID, or a user's idempotency key) without keeping
// a lock per key forever: an entry lives while someone holds or waits for it.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	refs int
}

func newKeyedMutex() *keyedMutex { return &keyedMutex{locks: make(map[string]*keyedLock)} }

// Lock locks key; Unlock unlocks it.
func (k *keyedMutex) Lock(key string) {
	k.mu.Lock()
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.Lock()
}

// Unlock unlocks key, which the caller locked.
func (k *keyedMutex) Unlock(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.locks[key]
	l.Unlock()
	l.refs--
	if l.refs == 0 {
		delete(k.locks, key)
	}
}
