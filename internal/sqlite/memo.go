package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/dialtone/dialtone/internal/call"
)

// memo answers Call and BusyCall from memory, for the reads every op makes before it decides.
// Only the writer changes it, after a COMMIT and for the changes that COMMIT applied, so it
// never shows what is not durable. Like the writer's head cache it assumes that this Store is
// the only writer of its file.
//
//   - calls holds the encoded data of every call committed by this Store that is still
//     Started, at its committed version. A call not in it (ended, or last written before Open)
//     is read from the database. An entry that a version check finds stale is dropped.
//   - busy is a copy of the whole busy table, loaded at Open; nil while unknown.
//
// A COMMIT that fails leaves the database's state in doubt, so the writer then forgets
// everything, and loads the busy table again before its next transaction; meanwhile BusyCall
// reads the database.
type memo struct {
	mu    sync.RWMutex
	calls map[string][]byte // call ID → call.Call.AppendBinary
	busy  map[string]string // user → the call it is "in"; nil: unknown
}

// call returns the memorised call with id.
func (m *memo) call(id string) (call.Call, bool, error) {
	m.mu.RLock()
	data, ok := m.calls[id]
	m.mu.RUnlock()
	if !ok {
		return call.Call{}, false, nil
	}
	var c call.Call
	if err := c.UnmarshalBinary(data); err != nil {
		return call.Call{}, false, fmt.Errorf("sqlite: call %s: %w", id, err)
	}
	return c, true, nil
}

// busyCall returns the call in which userID is "in a call", or "", and whether the memo
// knows.
func (m *memo) busyCall(userID string) (callID string, known bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.busy[userID], m.busy != nil
}

// busyKnown reports whether the busy table is memorised.
func (m *memo) busyKnown() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.busy != nil
}

// applied records the calls and busy records of the changes in batch that its COMMIT applied.
func (m *memo) applied(batch []*request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range batch {
		if r.err != nil || r.change == nil {
			continue
		}
		for i, cw := range r.change.Calls {
			if cw.Call.State == call.Started {
				m.calls[cw.Call.ID] = r.calls[i]
			} else {
				delete(m.calls, cw.Call.ID)
			}
		}
		for _, b := range r.change.Busy {
			switch {
			case m.busy == nil:
			case b.InCall:
				m.busy[b.UserID] = b.CallID
			case m.busy[b.UserID] == b.CallID:
				delete(m.busy, b.UserID)
			}
		}
	}
}

// forgetCall drops callID: its stored version is not the one memorised.
func (m *memo) forgetCall(callID string) {
	m.mu.Lock()
	delete(m.calls, callID)
	m.mu.Unlock()
}

// forget drops everything: the database's state is in doubt.
func (m *memo) forget() {
	m.mu.Lock()
	m.calls, m.busy = map[string][]byte{}, nil
	m.mu.Unlock()
}

// reload loads the busy table from q.
func (m *memo) reload(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}) error {
	rows, err := q.QueryContext(ctx, `SELECT user_id, call_id FROM busy`)
	if err != nil {
		return fmt.Errorf("sqlite: load busy records: %w", err)
	}
	defer rows.Close()
	busy := map[string]string{}
	for rows.Next() {
		var user, callID string
		if err := scanStored(rows, &user, &callID); err != nil {
			return fmt.Errorf("sqlite: load busy records: %w", err)
		}
		busy[user] = callID
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: load busy records: %w", err)
	}
	m.mu.Lock()
	m.busy = busy
	m.mu.Unlock()
	return nil
}
