package switchboard

import (
	"fmt"
	"slices"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/wire"
)

// decision accumulates the outcomes of one commit: usually the deadlines that fired and the
// op on one call, plus the cancelled call on glare. Outcomes must be added in order.
type decision struct {
	now    int64         // the time of the op's call's change: clock, or that call's latest time if later
	clock  int64         // the server clock's reading when the decision began
	calls  []decidedCall // in the order first decided; rarely more than two
	events []call.Event
	busy   []Busy
	claims []Claim // users found free of other calls (switchboard.claim)
	hooks  []call.Webhook
	pushes []call.Push
}

// decidedCall is a call as read, before any outcome, and as the latest outcome left it.
type decidedCall struct {
	loaded, latest call.Call
}

// Busy pairs a call.Busy with its call.
type Busy struct {
	call.Busy
	CallID string
}

// newDecision returns the decision of a change made when the server clock read clock to a
// call whose latest time is latest (0 for a new call), dated no earlier than that time so that
// the call's times follow the order of its changes (docs/behaviour.md §12).
func newDecision(clock, latest int64) *decision {
	return &decision{now: max(clock, latest), clock: clock}
}

// timeOf returns the time of a change the decision makes to c, a call other than the op's:
// the clock, or c's latest time if later. The op's call's latest time never dates it, so no
// deadline of c is applied before the server clock reaches it (R3.5).
func (d *decision) timeOf(c call.Call) int64 { return max(d.clock, c.LatestTime()) }

// add records out, decided on a call whose stored value was loaded (zero for a new call).
func (d *decision) add(loaded call.Call, out call.Outcome) {
	if !out.Changed {
		return
	}
	id := out.Call.ID
	i := slices.IndexFunc(d.calls, func(dc decidedCall) bool { return dc.latest.ID == id })
	if i < 0 {
		i = len(d.calls)
		d.calls = append(d.calls, decidedCall{loaded: loaded})
	}
	d.calls[i].latest = out.Call
	d.events = appendAll(d.events, out.Events)
	d.hooks = appendAll(d.hooks, out.Webhooks)
	d.pushes = appendAll(d.pushes, out.Pushes)
	for _, b := range out.Busy {
		d.busy = append(d.busy, Busy{Busy: b, CallID: id})
	}
}

// appendAll returns dst with src appended. When dst is empty it returns src itself, clipped, so
// that a later appendAll copies it instead of writing into its spare capacity: a decision of
// one outcome, the usual one, copies none of its effects. Neither is modified afterwards.
func appendAll[T any](dst, src []T) []T {
	if len(dst) == 0 {
		return slices.Clip(src)
	}
	return append(dst, src...)
}

// change returns the store change of the decision: every call once with the version it was
// read at, the users new to each call, busy records with leaves before entries (so a glare
// cancel frees the user before the accept claims it), the claims that no busy record checks
// already, one log entry per event recipient and, when asked for, the outbox records of the
// webhooks (§10) and pushes (§9).
func (d *decision) change(webhooks, pushes bool) (Change, error) {
	var ch Change
	for _, dc := range d.calls {
		loaded, c, id := dc.loaded, dc.latest, dc.latest.ID
		ch.Calls = append(ch.Calls, CallWrite{Call: c, PrevVersion: loaded.Version})
		for i, u := range c.Users {
			if loaded.UserAt(i, u.ID) == nil {
				ch.Members = append(ch.Members, Member{UserID: u.ID, CallID: id})
			}
		}
	}
	for _, b := range d.busy {
		ch.Busy = append(ch.Busy, BusyWrite{UserID: b.UserID, CallID: b.CallID, InCall: b.InCall})
	}
	slices.SortStableFunc(ch.Busy, func(a, b BusyWrite) int {
		switch {
		case a.InCall == b.InCall:
			return 0
		case !a.InCall:
			return -1
		}
		return 1
	})
	for _, c := range d.claims {
		// A busy write that puts the user in this call checks the same at commit.
		if !slices.Contains(ch.Busy, BusyWrite{UserID: c.UserID, CallID: c.CallID, InCall: true}) {
			ch.Claims = append(ch.Claims, c)
		}
	}
	recipients := 0
	for _, e := range d.events {
		recipients += len(e.To)
	}
	if recipients > 0 {
		ch.Log = make([]LogEntry, 0, recipients)
	}
	for _, e := range d.events {
		name, data, err := wire.EncodeEvent(e)
		if err != nil {
			return Change{}, fmt.Errorf("encode event: %w", err)
		}
		for _, r := range e.To {
			ch.Log = append(ch.Log, LogEntry{UserID: r.UserID, Target: r.Target, DeviceID: r.DeviceID,
				Event: name, Data: data, CreatedAt: d.now})
		}
	}
	if webhooks {
		index := map[string]int{} // per callID and version: eventID = callID.version.index
		for _, w := range d.hooks {
			k := fmt.Sprint(w.CallID, ".", w.Version)
			body, err := wire.EncodeWebhook(w, index[k])
			if err != nil {
				return Change{}, err
			}
			index[k]++
			ch.Outbox = append(ch.Outbox, OutboxRecord{Kind: OutboxWebhook, OrderKey: w.CallID, Body: body, CreatedAt: d.now})
		}
	}
	if pushes {
		for _, p := range d.pushes {
			body, err := wire.EncodePush(p, d.now)
			if err != nil {
				return Change{}, err
			}
			ch.Outbox = append(ch.Outbox, OutboxRecord{Kind: OutboxPush, OrderKey: PushOrderKey(p.CallID, p.UserID), Body: body,
				CreatedAt: d.now, Supersedes: p.Kind == call.PushWithdrawal})
		}
	}
	return ch, nil
}
