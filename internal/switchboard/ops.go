package switchboard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dialtone/dialtone/internal/call"
)

// Result is what a successful operation replies with: the call after the change, the time the
// change was decided (quitTime, endTime, joinTime) and the op's own details. It is also what an
// idempotent repeat returns (R7.3), so it round-trips through JSON.
type Result struct {
	Call          call.Call
	Now           int64
	Timeout       int              `json:",omitempty"`
	ErrorUsers    []call.ErrorUser `json:",omitempty"`
	ErrorInvitees []string         `json:",omitempty"`
	// Repeated is true when the result is the first reply of a request its idempotency key
	// already carried out (R7.3): nothing was changed this time. It is never stored.
	Repeated bool `json:"-"`
}

// maxAttempts bounds how often a decision is retried after ErrConflict (a concurrent change to
// another call it touched, or to a busy record) before the op fails as an internal error.
const maxAttempts = 8

// Invite creates a call (R3.1): the caller must not be in a call (→ 6000290). idemKey is the
// request's idempotency key ("" for none; R7.3).
func (s *Switchboard) Invite(ctx context.Context, in call.Invite, idemKey string) (Result, error) {
	done, err := s.begin()
	if err != nil {
		return Result{}, err
	}
	defer done()
	in.CallID = ""
	return s.idempotent(ctx, in.UserID, idemKey, request{in: in}, func(idem *idemClaim) (Result, error) {
		in.CallID = newCallID(s.now())
		s.calls.Lock(in.CallID) // no one knows the ID yet, but its deadline is scheduled under it
		defer s.calls.Unlock(in.CallID)
		return s.retry(func() (Result, error) {
			now := s.nowMs()
			out, err := call.Create(in, s.cfg.Call, now)
			if err != nil {
				return Result{}, err
			}
			d := newDecision(now, 0)
			if err := s.claim(ctx, d, in.UserID, in.CallID, false); err != nil {
				return Result{}, err
			}
			d.add(call.Call{}, out) // after the deadlines of the caller's other call that claim applied
			return s.commit(ctx, d, in.CallID, out, idem)
		})
	})
}

// Do applies in to the call callID: first every due deadline (R3 preamble), then the input.
// Parameters are checked before the call is read, since an invalid one (6000001) wins over
// everything the call decides (§8). Deadlines that fired are committed even when the input is
// refused. Accept and join check the busy rule across calls, cancelling the acting user's own
// unanswered call on glare (R3.3b).
func (s *Switchboard) Do(ctx context.Context, callID string, in call.Input, idemKey string) (Result, error) {
	if err := call.Check(in); err != nil {
		return Result{}, err
	}
	done, err := s.begin()
	if err != nil {
		return Result{}, err
	}
	defer done()
	return s.idempotent(ctx, in.ActingUser(), idemKey, request{callID: callID, in: in}, func(idem *idemClaim) (Result, error) {
		s.calls.Lock(callID)
		defer s.calls.Unlock(callID)
		return s.retry(func() (Result, error) { return s.apply(ctx, callID, in, idem) })
	})
}

func (s *Switchboard) apply(ctx context.Context, callID string, in call.Input, idem *idemClaim) (Result, error) {
	c, err := s.loadCall(ctx, callID)
	if err != nil {
		return Result{}, err
	}
	d := newDecision(s.nowMs(), c.LatestTime())
	now := d.now
	expired := call.Expire(c, s.cfg.Call, now)
	d.add(c, expired)
	out, err := call.Apply(expired.Call, in, s.cfg.Call, now)
	if err == nil && out.MustBeFree != "" {
		err = s.claim(ctx, d, out.MustBeFree, callID, allowsGlare(in, expired.Call))
	}
	if err != nil {
		if expired.Changed {
			if _, cerr := s.commit(ctx, d, callID, expired, nil); cerr != nil && !errors.Is(cerr, ErrConflict) {
				return Result{}, cerr
			}
		}
		return Result{}, err
	}
	d.add(c, out)
	return s.commit(ctx, d, callID, out, idem)
}

// claim enforces that userID is in no call other than callID (R3.1, R3.3, R3.7). The other
// call's due deadlines are applied first, in the same decision (R3 preamble), so a user whose
// call has just timed out is free even before its deadline is committed. With glare allowed,
// the user's own unanswered outgoing call is cancelled in the same decision (R3.3b). When the
// user is free, the decision carries a Claim that the store re-checks at commit, so a change
// that made the user busy meanwhile makes this one conflict and be decided again, even when
// its outcome does not put the user in a call (an accept that ends a general call).
func (s *Switchboard) claim(ctx context.Context, d *decision, userID, callID string, glare bool) error {
	if err := s.busyElsewhere(ctx, d, userID, callID, glare); err != nil {
		return err
	}
	d.claims = append(d.claims, Claim{UserID: userID, CallID: callID})
	return nil
}

// busyElsewhere is claim's decision: nil when userID is free of calls other than callID, once
// the other call's due deadlines and, with glare, its cancel are added to d.
func (s *Switchboard) busyElsewhere(ctx context.Context, d *decision, userID, callID string, glare bool) error {
	other, err := s.store.BusyCall(ctx, userID)
	if err != nil {
		return fmt.Errorf("busy record of %s: %w", userID, err)
	}
	if other == "" || other == callID {
		return nil
	}
	c, err := s.loadCall(ctx, other)
	if err != nil {
		return err
	}
	at := d.timeOf(c)
	expired := call.Expire(c, s.cfg.Call, at)
	d.add(c, expired)
	if u := expired.Call.User(userID); expired.Call.State != call.Started || u == nil || u.State != call.Accepted {
		return nil // the deadlines that just fired ended the other call (its busy record goes with it)
	}
	busy := &call.Error{Code: call.CodeBusy, Reason: "user is in another call"}
	if !glare {
		return busy
	}
	cancelled, err := call.Apply(expired.Call, call.GlareCancel{UserID: userID}, s.cfg.Call, at)
	if err != nil {
		return busy
	}
	d.add(c, cancelled)
	return nil
}

// Tick applies the due deadlines of callID (R3.5, R5.2) and reschedules it.
func (s *Switchboard) tick(callID string) {
	done, err := s.begin()
	if err != nil {
		return
	}
	defer done()
	ctx := context.Background()
	s.calls.Lock(callID)
	defer s.calls.Unlock(callID)
	_, err = s.retry(func() (Result, error) {
		c, err := s.loadCall(ctx, callID)
		if err != nil {
			return Result{}, err
		}
		d := newDecision(s.nowMs(), c.LatestTime())
		expired := call.Expire(c, s.cfg.Call, d.now)
		if !expired.Changed {
			s.timers.Schedule(callID, c.NextDue())
			return Result{}, nil
		}
		d.add(c, expired)
		res, err := s.commit(ctx, d, callID, expired, nil)
		if err == nil {
			// From the earliest deadline applied to its change being durable and published, to
			// the clock's precision: a lateness under a millisecond is not rounded down to 0.
			s.cfg.ObserveDeadline(s.now().Sub(time.UnixMilli(c.NextDue())))
		}
		return res, err
	})
	var ce *call.Error
	if err != nil && !errors.As(err, &ce) { // a call.Error: the call is gone, nothing to retry
		s.log.Error("deadline failed; tried again shortly", "callID", callID, "err", err)
		s.timers.Schedule(callID, s.nowMs()+tickRetry.Milliseconds())
	}
}

// tickRetry is how soon a deadline or a device loss whose application failed (a failed commit,
// a read error, or conflicts past maxAttempts) is applied again: the deadline stays in the
// store, and the next tick applies whatever is due then.
const tickRetry = time.Second

// loseDevice applies R4.3 / R6.4 to the call in which the device's user is busy, if any. It
// returns an error, logged already, when that failed for a reason that may pass (a store
// error), so that the loss is tried again; nil when it was applied, had nothing to do, or the
// call refused it.
func (s *Switchboard) loseDevice(userID, deviceID string) error {
	ctx := context.Background()
	callID, err := s.store.BusyCall(ctx, userID)
	if err != nil {
		s.log.Error("device loss: busy record", "userID", userID, "err", err)
		return fmt.Errorf("busy record of %s: %w", userID, err)
	}
	if callID == "" {
		return nil
	}
	_, err = s.Do(ctx, callID, call.DeviceLost{UserID: userID, DeviceID: deviceID}, "")
	var ce *call.Error
	switch {
	case err == nil || errors.Is(err, ErrClosed):
		return nil
	case errors.As(err, &ce):
		s.log.Error("device loss failed", "userID", userID, "deviceID", deviceID, "callID", callID, "err", err)
		return nil
	}
	s.log.Error("device loss failed; tried again shortly", "userID", userID, "deviceID", deviceID, "callID", callID, "err", err)
	return fmt.Errorf("loss of %s's device %s: %w", userID, deviceID, err)
}

// commit writes the decision and schedules the calls' next deadlines. out is the outcome of
// the op on callID, whose details make the result. The caller holds callID's lock, and no
// other call's: their deadlines are only ever brought forward (scheduler.ScheduleEarlier), or
// removed once they ended.
func (s *Switchboard) commit(ctx context.Context, d *decision, callID string, out call.Outcome, idem *idemClaim) (Result, error) {
	res := Result{Call: out.Call, Now: d.now, Timeout: out.Timeout, ErrorUsers: out.ErrorUsers, ErrorInvitees: out.ErrorInvitees}
	change, err := d.change(s.cfg.Webhooks, s.cfg.Pushes)
	if err != nil {
		return Result{}, err
	}
	if idem != nil {
		rec := idem.record
		if rec.Reply, err = encodeReply(res); err != nil {
			return Result{}, fmt.Errorf("encode reply: %w", err)
		}
		rec.CreatedAt = d.now
		change.Idem, change.IdemSince = &rec, idem.since
	}
	if len(change.Calls) == 0 && change.Idem == nil {
		return res, nil
	}
	start := time.Now()
	_, err = s.store.Commit(ctx, change)
	s.cfg.ObserveCommit(time.Since(start))
	if err != nil {
		return Result{}, fmt.Errorf("commit call %s: %w", callID, err)
	}
	for _, w := range change.Calls {
		switch {
		case w.Call.ID == callID:
			s.timers.Schedule(w.Call.ID, w.Call.NextDue())
		case w.Call.State == call.Ended:
			// An ended call never gets a deadline again (R4.4), so no newer commit has scheduled
			// one: its deadline goes now (a glare cancel, R3.3b), not when it would have fired.
			s.timers.Schedule(w.Call.ID, 0)
		default:
			s.timers.ScheduleEarlier(w.Call.ID, w.Call.NextDue())
		}
	}
	if len(change.Outbox) > 0 {
		s.cfg.OutboxWritten()
	}
	return res, nil
}

func (s *Switchboard) retry(decide func() (Result, error)) (Result, error) {
	for attempt := 1; ; attempt++ {
		res, err := decide()
		if !errors.Is(err, ErrConflict) || attempt == maxAttempts {
			return res, err
		}
	}
}

// loadCall reads callID for a change to be decided on it: the one way a stored call enters
// the rules. A call that the store decoded but in which a user rings without a ring deadline
// (call.Call.CheckRinging) is damage (Store.Damaged).
func (s *Switchboard) loadCall(ctx context.Context, callID string) (call.Call, error) {
	c, err := s.store.Call(ctx, callID)
	switch {
	case errors.Is(err, ErrNotFound):
		return call.Call{}, call.Unavailable()
	case err != nil:
		return call.Call{}, fmt.Errorf("load call %s: %w", callID, err)
	}
	if err := c.CheckRinging(); err != nil {
		return call.Call{}, s.store.Damaged(fmt.Errorf("call %s: %w", callID, err))
	}
	return c, nil
}

// allowsGlare reports whether in, applied to the call before, may cancel its user's own
// unanswered call to proceed (R3.3b): accepting, and a pending user's join, which is an accept
// in every respect (R3.7). Any other join of a user in another call is refused (6000290).
func allowsGlare(in call.Input, before call.Call) bool {
	switch in.(type) {
	case call.Accept:
		return true
	case call.Join:
		u := before.User(in.ActingUser())
		return u != nil && u.State.Pending()
	}
	return false
}
