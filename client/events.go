package client

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dialtone/dialtone/protocol"
)

// seqTracker keeps the device's position in its user's event log (behaviour R7.2).
//
// queued is the highest seq handed to the dispatcher: an event with a seq at or below it is a
// duplicate (a replay after a resume) and is dropped, so every logged event reaches the handler
// exactly once. processed is the seq of the last event the handler returned from: it is what a
// reconnection's login sends as lastSeq and what the SeqStore saves.
type seqTracker struct {
	store SeqStore
	log   *slog.Logger

	mu        sync.Mutex
	key       SeqKey
	known     bool // a position exists: loaded from the store or set by a login
	unusable  bool // the store had a position that could not be used (unreadable, out of range)
	queued    int64
	processed int64
}

// load reads the device's saved position, if any, from the store. It runs before each attempt
// of the first Login, which may name another device than the previous attempt.
func (t *seqTracker) load(ctx context.Context, key SeqKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.key == key && t.known {
		return
	}
	t.key, t.known, t.unusable, t.queued, t.processed = key, false, false, 0, 0
	if t.store == nil {
		return
	}
	seq, ok, err := t.store.Load(ctx, key)
	if err != nil {
		t.log.Warn("dialtone: cannot load the last processed seq", "err", err)
		t.unusable = true
		return
	}
	if ok && (seq < 0 || seq > protocol.MaxInteger) {
		// No login can carry it (the server refuses it, 6000001): the device has no position.
		t.log.Warn("dialtone: ignoring a saved seq out of range", "seq", seq)
		t.unusable = true
		return
	}
	if ok {
		t.known, t.queued, t.processed = true, seq, seq
	}
}

// resumeFrom returns the lastSeq for a login: nil for a device that never logged in.
func (t *seqTracker) resumeFrom() *int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.known {
		return nil
	}
	seq := t.processed
	return &seq
}

// loggedIn adjusts the position to a login's headSeq. It runs before any event that follows the
// login reply. A device without a position starts from headSeq, and so does one that could not
// catch up (caughtUp false: the synthesized invitations that follow reflect the events up to
// headSeq, R5.3); a position beyond headSeq means the server's log was reset, so the device
// starts again from headSeq. lost reports that the device had a position whose missed events
// will not follow, or one the store could not give; moved, that the position is now headSeq,
// which the SeqStore must record (save) even if no event follows: a restarted app then
// resumes from there.
func (t *seqTracker) loggedIn(headSeq int64, caughtUp bool) (lost, moved bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.known && t.queued <= headSeq && caughtUp {
		return false, false
	}
	if t.known && t.queued > headSeq {
		t.log.Warn("dialtone: the server's event log is behind this device; starting over",
			"headSeq", headSeq, "lastSeq", t.queued)
	}
	lost = t.known || t.unusable
	t.known, t.unusable, t.queued, t.processed = true, false, headSeq, headSeq
	return lost, true
}

// admit reports whether an event with seq is new, and records it as queued. Events without seq
// (synthesized invitations, kicked) are always new.
func (t *seqTracker) admit(seq int64) bool {
	if seq <= 0 {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq <= t.queued {
		return false
	}
	t.queued = seq
	return true
}

// handled records seq as handled and saves it. It runs on the dispatcher goroutine.
func (t *seqTracker) handled(seq int64) {
	t.mu.Lock()
	t.processed = max(t.processed, seq)
	t.mu.Unlock()
	t.save(seq)
}

// save records seq in the SeqStore as the device's position. It runs on the dispatcher
// goroutine, so positions are saved in the order they were reached.
func (t *seqTracker) save(seq int64) {
	t.mu.Lock()
	key := t.key
	t.mu.Unlock()
	if t.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.store.Save(ctx, key, seq); err != nil {
		t.log.Warn("dialtone: cannot save the last processed seq", "seq", seq, "err", err)
	}
}

// onEvent runs on a connection's reader goroutine for every event frame. It drops duplicates
// and the call events of a connection whose login has not succeeded (conn.loggedIn: a Login
// that failed does not deliver them), acknowledges invitations (R5.1) without waiting for the
// reply, and queues the handler call. Unknown events are ignored, but their seq still counts as
// processed. queued, if not nil, runs as the handler call is queued (dispatcher.push), or at
// once when none is.
func (c *Client) onEvent(cn *conn, f protocol.Frame, queued func()) {
	if f.Event != protocol.EventKicked && !cn.loggedIn.Load() {
		c.opts.Logger.Debug("dialtone: dropping an event of a connection not logged in", "event", f.Event, "seq", f.Seq)
		return // queued is set for kicks only
	}
	if !c.seqs.admit(f.Seq) {
		c.opts.Logger.Debug("dialtone: dropping a replayed event", "event", f.Event, "seq", f.Seq)
		if queued != nil {
			queued()
		}
		return
	}
	call, ev, err := decodeEvent(f)
	if err != nil {
		c.opts.Logger.Warn("dialtone: undecodable event", "event", f.Event, "seq", f.Seq, "err", err)
	}
	if call == nil {
		call = func(EventHandler) {}
	}
	if inv, ok := ev.(*CallInvitationReceived); ok && c.startReceipt(inv) {
		c.wg.Go(func() {
			defer c.endReceipt(inv.CallID)
			c.acknowledge(*inv)
		})
	}
	c.disp.push(delivery{seq: f.Seq, event: f.Event != protocol.EventKicked, call: call}, queued)
}

// startReceipt reports whether inv is to be acknowledged, and counts its receipt as on its way
// until endReceipt. A synthesized invitation (R5.3) of a call whose receipt is on its way is
// not: that receipt, sent again after the login that the synthesized invitation follows,
// reaches the server after it. A logged invitation always is (a re-invitation, R3.6, needs
// its own).
func (c *Client) startReceipt(inv *CallInvitationReceived) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if inv.Synthetic && c.receipts[inv.CallID] > 0 {
		return false
	}
	if c.receipts == nil {
		c.receipts = map[string]int{}
	}
	c.receipts[inv.CallID]++
	return true
}

// endReceipt counts a receipt of callID as settled (see startReceipt).
func (c *Client) endReceipt(callID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.receipts[callID]--; c.receipts[callID] <= 0 {
		delete(c.receipts, callID)
	}
}

// acknowledge sends callReceived for an invitation, retrying across reconnections until the
// invitation's deadline (at least RequestTimeout) or the client's end.
func (c *Client) acknowledge(ev CallInvitationReceived) {
	wait := max(c.opts.RequestTimeout, c.RemainingRingTime(ev.Deadline))
	ctx, cancel := context.WithTimeout(c.life, wait)
	defer cancel()
	if err := c.CallReceived(ctx, ev.CallID); err != nil && c.life.Err() == nil {
		c.opts.Logger.Warn("dialtone: cannot acknowledge an invitation", "callID", ev.CallID, "err", err)
	}
}

// decodeEvent turns an event frame into a call of the matching handler method and a pointer to
// the decoded event; nil for an unknown event or on error.
func decodeEvent(f protocol.Frame) (func(EventHandler), any, error) {
	switch f.Event {
	case protocol.EventCallInvitationCreated:
		return bind(f.Data, EventHandler.OnCallInvitationCreated)
	case protocol.EventCallInvitationReceived:
		return bind(f.Data, EventHandler.OnCallInvitationReceived)
	case protocol.EventCallInvitationCancelled:
		return bind(f.Data, EventHandler.OnCallInvitationCancelled)
	case protocol.EventCallInvitationTimeout:
		return bind(f.Data, EventHandler.OnCallInvitationTimeout)
	case protocol.EventCallInvitationEnded:
		return bind(f.Data, EventHandler.OnCallInvitationEnded)
	case protocol.EventCallUserStateChanged:
		return bind(f.Data, EventHandler.OnCallUserStateChanged)
	case protocol.EventCallMainDeviceChanged:
		return bind(f.Data, EventHandler.OnCallMainDeviceChanged)
	case protocol.EventKicked:
		return bind(f.Data, func(h EventHandler, k Kicked) { h.OnKicked(byKickTable(k)) })
	}
	return nil, nil, nil
}

// byKickTable returns k with the retry of the protocol's kick table when its reason is known:
// the table is the contract, the event's flag only echoes it.
func byKickTable(k Kicked) Kicked {
	if known, ok := protocol.KickFor(k.Reason); ok {
		k.Retry = known.Retry
	}
	return k
}

// bind decodes data, which must be an object (absent or null data tells no call), into a T
// and returns a call of method with it, and the T's address (a pointer, so returning it
// allocates nothing more).
func bind[T any](data json.RawMessage, method func(EventHandler, T)) (func(EventHandler), any, error) {
	if !isObject(data) {
		return nil, nil, fmt.Errorf("data %.40q is not an object", data)
	}
	ev := new(T)
	if err := unmarshal(data, ev); err != nil {
		return nil, nil, err
	}
	return func(h EventHandler) { method(h, *ev) }, ev, nil
}
