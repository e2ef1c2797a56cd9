package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
)

// SeqKey names a device for a [SeqStore]: the user and the deviceID, since two users signed in
// on one installation are two devices (behaviour §1) even with the same deviceID.
type SeqKey struct {
	UserID   string
	DeviceID string
}

// SeqStore persists, per device, the seq of the last event handed to the EventHandler, so that
// an application restarted on the same device resumes where it stopped (behaviour R7.2) instead
// of receiving only the synthesized invitations of R5.3.
//
// The client calls Load at Login (again at a Login retried after a refusal, unless the first
// Load gave a usable position of the same device) and Save on the handler goroutine after every handled
// event that carries a seq (so a slow Save slows event delivery, not replies), and after a login
// that set the device's position to the login's headSeq (a device without a saved position, or
// one that could not catch up), before the handler hears of the connection. A Save error is
// logged and otherwise ignored: the worst outcome is a replay of events the handler already saw
// after a restart. Implementations must be safe for use by one client at a time; they need not
// be safe for concurrent use by several clients sharing a key. Close and Logout return only once
// a Save running on the handler goroutine returned (its ctx ends after five seconds), so a
// client of the device made after them Loads what the closed one saved last.
type SeqStore interface {
	// Load returns the last saved seq of key, and ok false when none was saved. A seq no login
	// can carry (negative, or above 2^53 − 1) is not used: the device starts from the login's
	// headSeq, as one without a position, but, as after a Load that failed, the Connected
	// state that follows carries ErrEventsLost, since events may have been missed.
	Load(ctx context.Context, key SeqKey) (seq int64, ok bool, err error)
	// Save records seq as the last processed seq of key.
	Save(ctx context.Context, key SeqKey, seq int64) error
}

// MemorySeqStore is a SeqStore in memory, safe for concurrent use. It keeps seqs across clients
// of one process (for example a Close and a new Dial), not across restarts. The zero value is
// ready to use.
type MemorySeqStore struct {
	mu   sync.Mutex
	seqs map[SeqKey]int64
}

// Load implements SeqStore.
func (m *MemorySeqStore) Load(_ context.Context, key SeqKey) (int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seq, ok := m.seqs[key]
	return seq, ok, nil
}

// Save implements SeqStore.
func (m *MemorySeqStore) Save(_ context.Context, key SeqKey, seq int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seqs == nil {
		m.seqs = make(map[SeqKey]int64)
	}
	m.seqs[key] = seq
	return nil
}

// tokenSubject returns the unverified "sub" claim of a JWT, or "" when token is not a JWT. The
// client uses it only to pick the SeqStore key before login; the server verifies the token.
func tokenSubject(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Sub
}
