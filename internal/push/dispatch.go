package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialtone/dialtone/internal/outbox"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/internal/wire"
)

// Targets reads and prunes the users' registrations; the store implements it.
type Targets interface {
	// PushTargets returns userID's registrations.
	PushTargets(ctx context.Context, userID string) ([]switchboard.PushTarget, error)
	// DeletePushTarget removes (provider, token) if it belongs to userID.
	DeletePushTarget(ctx context.Context, userID, provider, token string) error
}

// Marks durably remembers which users were sent an invitation push for a call, so that a
// withdrawal goes only to them (§9), across restarts; the store implements it.
type Marks interface {
	// MarkInvitationPushed records that userID was (about to be) sent an invitation push.
	MarkInvitationPushed(ctx context.Context, callID, userID string, at int64) error
	// InvitationPushed reports whether the mark exists.
	InvitationPushed(ctx context.Context, callID, userID string) (bool, error)
	// ClearInvitationPushed removes the mark, if any.
	ClearInvitationPushed(ctx context.Context, callID, userID string) error
}

// ErrMalformed wraps a push record that cannot be decoded: retrying cannot help.
var ErrMalformed = errors.New("push: malformed record")

// ErrNotAccepted is Deliver's error for a record that was sent to at least one target and that
// no target accepted: each provider rejected it (ErrRejected) or said the token is invalid. It
// is done with, as after a delivery, but lost: the outbox counts it as dropped.
var ErrNotAccepted = errors.New("push: accepted by no target (each rejected it or its token is invalid)")

// outcome is what became of the push of one record to one target: accepted, or refused for good.
type outcome uint8

const (
	accepted outcome = iota + 1
	refused
)

// maxSendsAtOnce bounds the sends of one record in flight at once: a user's targets are sent
// to side by side, so that one whose provider is slow holds up none of the others.
const maxSendsAtOnce = 8

// record is this process's bookkeeping of the sends of one push record, across its attempts;
// safe for concurrent use.
type record struct {
	mu        sync.Mutex
	outcomes  map[Target]outcome // the targets done with: accepted or refused for good
	shortened map[Target]bool    // the targets whose push was shortened, already logged and counted
}

func newRecord() *record {
	return &record{outcomes: map[Target]outcome{}, shortened: map[Target]bool{}}
}

// doneWith reports whether t accepted or refused the push on an earlier send.
func (r *record) doneWith(t Target) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.outcomes[t] != 0
}

// settle records that t is done with, with outcome o.
func (r *record) settle(t Target, o outcome) {
	r.mu.Lock()
	r.outcomes[t] = o
	r.mu.Unlock()
}

// firstShortened reports whether this is the first time the push to t was shortened, and
// remembers that it was, so that a retry neither logs nor counts it again.
func (r *record) firstShortened(t Target) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := !r.shortened[t]
	r.shortened[t] = true
	return first
}

// anyAccepted reports whether a target accepted the push.
func (r *record) anyAccepted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.outcomes {
		if o == accepted {
			return true
		}
	}
	return false
}

// DispatcherConfig configures a Dispatcher. Providers holds only the configured providers, by
// name (webhook, fcm, apns); a target of another provider is skipped. Profiles are the push
// profiles by name (resourcesID); a push whose resourcesID names none has the zero Profile.
type DispatcherConfig struct {
	Providers map[string]Provider
	Profiles  map[string]Profile
	Targets   Targets
	Marks     Marks
	Connected func(userID string) bool // whether the user has a logged-in device
	Log       *slog.Logger
	Observer  Observer // metrics (default: none)
}

// Observer is told of every push shortened to fit its provider's limit, for metrics.
type Observer interface {
	PushShortened()
}

type noObserver struct{}

func (noObserver) PushShortened() {}

// Dispatcher delivers push outbox records (switchboard.OutboxPush): Deliver is an
// outbox.Deliver, called in order per call and user (switchboard.PushOrderKey), different
// records at once, and retried by the worker while it fails; Forget is the worker's
// outbox.Config.Forget.
type Dispatcher struct {
	cfg DispatcherConfig
	log *slog.Logger

	gates map[string]*gate // each configured provider's slots

	mu     sync.Mutex
	done   map[int64]*record // record ID → its sends, across attempts, until it is done with (track)
	warned map[string]bool   // unconfigured providers and unknown profiles, logged once
}

// NewDispatcher returns a dispatcher.
func NewDispatcher(cfg DispatcherConfig) *Dispatcher {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	gates := make(map[string]*gate, len(cfg.Providers))
	for name := range cfg.Providers {
		gates[name] = newGate(SlotsPerProvider)
	}
	return &Dispatcher{cfg: cfg, log: log, gates: gates, done: map[int64]*record{}, warned: map[string]bool{}}
}

// Parallel is how many records the push worker should deliver at once: SlotsPerProvider per
// configured provider, so that the records waiting for one hung provider, which hold at most its
// slots, leave the worker room for the others' (docs/push.md "A hung provider delays only its
// own pushes").
func (d *Dispatcher) Parallel() int {
	return SlotsPerProvider * max(len(d.cfg.Providers), 1)
}

// Deliver handles one push record (behaviour §9, call.PushKind):
//
//   - invitation: skipped when the user has a connected device, unless Always (R5.2);
//     otherwise the user is marked as sent an invitation push for the call, then pushed; an
//     invitation of a new ring (not Always) that is not sent removes the mark, if any;
//   - withdrawal: only when the user carries that mark, which is removed once the withdrawal
//     is sent to every target (so one that failed is retried, after a restart too); without
//     the mark, its alternative (wire.PushMessage.Else, a quit or end push) if it has one;
//   - quit, end: only when the user has no connected device; a quit push to a user who has
//     the mark (still rung by an invitation push) collapses apart from it (Message.BesideRing).
//
// It sends to every registered target of a configured provider, up to maxSendsAtOnce at once,
// and returns once each answered (or failed). A target whose token is invalid is removed. When
// a send may succeed later, Deliver fails and the worker retries the record; targets already
// sent are not sent again by this process. A record that cannot be decoded fails with
// ErrMalformed; one that no target accepted, with ErrNotAccepted once it is done with (a
// withdrawal's mark removed).
func (d *Dispatcher) Deliver(ctx context.Context, rec switchboard.OutboxRecord) error {
	err := d.deliver(ctx, rec)
	if err == nil || errors.Is(err, ErrNotAccepted) { // done with it, whichever way: its bookkeeping goes
		d.mu.Lock()
		delete(d.done, rec.ID)
		d.mu.Unlock()
	}
	return err
}

func (d *Dispatcher) deliver(ctx context.Context, rec switchboard.OutboxRecord) error {
	var p wire.PushMessage
	if err := json.Unmarshal(rec.Body, &p); err != nil {
		return fmt.Errorf("%w %d: %v", ErrMalformed, rec.ID, err)
	}
	connected := d.cfg.Connected != nil && d.cfg.Connected(p.UserID)
	switch p.Kind {
	case KindInvitation:
		if connected && !p.Always {
			return d.unmark(ctx, p)
		}
	case KindWithdrawal:
		pushed, err := d.cfg.Marks.InvitationPushed(ctx, p.CallID, p.UserID)
		if err != nil {
			return err
		}
		if !pushed {
			return d.deliverElse(ctx, rec, p)
		}
	case KindQuit, KindEnd:
		if connected {
			return nil
		}
	default:
		return fmt.Errorf("%w %d: unknown kind %q", ErrMalformed, rec.ID, p.Kind)
	}
	targets, err := d.targets(ctx, p.UserID)
	if err != nil {
		return err
	}
	if len(targets) == 0 && p.Kind == KindInvitation && !p.Always {
		return d.unmark(ctx, p)
	}
	var notAccepted error
	if len(targets) > 0 {
		if p.Kind == KindInvitation && !d.attempted(rec.ID) {
			if err := d.cfg.Marks.MarkInvitationPushed(ctx, p.CallID, p.UserID, p.ServerTime); err != nil {
				return err
			}
			d.begin(rec.ID)
		}
		m := Message{Kind: p.Kind, CallID: p.CallID, Caller: p.Caller, Inviter: p.Inviter, ServerTime: p.ServerTime, Deadline: p.Deadline,
			Title: p.Title, Content: p.Content, Payload: p.Payload, ResourcesID: p.ResourcesID,
			Profile: d.profile(p.ResourcesID)}
		if p.Kind == KindQuit {
			if m.BesideRing, err = d.cfg.Marks.InvitationPushed(ctx, p.CallID, p.UserID); err != nil {
				return err
			}
		}
		anyAccepted, err := d.send(ctx, rec.ID, p.UserID, targets, m)
		if err != nil {
			return err
		}
		if !anyAccepted {
			notAccepted = ErrNotAccepted
		}
	}
	if p.Kind == KindWithdrawal {
		// The sends are done: the mark goes even when ctx ended meanwhile (a shutdown), or the
		// next start would send the withdrawal again to targets that took it.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
		defer cancel()
		if err := d.cfg.Marks.ClearInvitationPushed(mctx, p.CallID, p.UserID); err != nil {
			return err
		}
	}
	return notAccepted
}

// unmark removes the mark of p's user for p's call when p, the invitation push of a new ring
// (not the R5.2 re-push of the same ring), is not sent. The user's earlier pushes of the call
// are done with by then (they are delivered in order), but a withdrawal given up unsent
// (expired) leaves the mark of the earlier ring's invitation push: this ring, not pushed, must
// not inherit it, or its end would bring a withdrawal instead of the quit or end push (§9).
// Such a mark is rare: it is looked for first, so that the common case writes nothing.
func (d *Dispatcher) unmark(ctx context.Context, p wire.PushMessage) error {
	marked, err := d.cfg.Marks.InvitationPushed(ctx, p.CallID, p.UserID)
	if err != nil || !marked {
		return err
	}
	return d.cfg.Marks.ClearInvitationPushed(ctx, p.CallID, p.UserID)
}

// deliverElse delivers withdrawal p of rec, whose user was sent no invitation push, as its
// alternative p.Else (a quit or end push, under its own rule) when it has one; else nothing.
func (d *Dispatcher) deliverElse(ctx context.Context, rec switchboard.OutboxRecord, p wire.PushMessage) error {
	switch p.Else {
	case "":
		return nil
	case KindQuit, KindEnd:
		p.Kind, p.Else = p.Else, ""
		body, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("%w %d: %v", ErrMalformed, rec.ID, err)
		}
		rec.Body = body
		return d.deliver(ctx, rec)
	}
	return fmt.Errorf("%w %d: a withdrawal's alternative %q is no quit or end push", ErrMalformed, rec.ID, p.Else)
}

// markTimeout bounds the removal of a withdrawal's mark once its sends are done.
const markTimeout = 5 * time.Second

// targets returns userID's targets whose provider is configured.
func (d *Dispatcher) targets(ctx context.Context, userID string) ([]switchboard.PushTarget, error) {
	all, err := d.cfg.Targets.PushTargets(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("push: targets of %s: %w", userID, err)
	}
	var out []switchboard.PushTarget
	for _, t := range all {
		if d.cfg.Providers[t.Provider] != nil {
			out = append(out, t)
			continue
		}
		d.warnOnce("push: targets of an unconfigured provider are skipped", "provider", t.Provider)
	}
	return out, nil
}

// profile returns the profile named resourcesID: the zero Profile for "" or an unknown name.
func (d *Dispatcher) profile(resourcesID string) Profile {
	p, ok := d.cfg.Profiles[resourcesID]
	if !ok && resourcesID != "" {
		d.warnOnce("push: unknown resourcesID, the providers' defaults apply", "resourcesID", resourcesID)
	}
	return p
}

// maxWarned bounds the pairs warnOnce remembers: a resourcesID is the client's choice, so past
// the bound they are all forgotten, and a pair may be logged again.
const maxWarned = 1024

// warnOnce logs msg with the attribute key=value the first time this process sees the pair
// (again once more than maxWarned pairs have been seen since).
func (d *Dispatcher) warnOnce(msg, key, value string) {
	d.mu.Lock()
	first := !d.warned[key+"\x00"+value]
	if first && len(d.warned) >= maxWarned {
		clear(d.warned)
	}
	d.warned[key+"\x00"+value] = true
	d.mu.Unlock()
	if first {
		d.log.Warn(msg, key, value)
	}
}

// attempted reports whether record id failed an earlier attempt in this process (so its
// invitation mark was already set).
func (d *Dispatcher) attempted(id int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.done[id]
	return ok
}

// begin starts the bookkeeping of record id, once its invitation mark is set.
func (d *Dispatcher) begin(id int64) {
	d.track(id)
}

// track returns the bookkeeping of record id, started if it has none. It lives until the
// record is done with: delivered or not accepted (Deliver), or given up or gone from the
// outbox (Forget). So the bookkeeping held is that of the records being delivered or waiting
// for a retry, as many as the outbox worker keeps retry states for, and none is dropped while
// its record may still be retried.
func (d *Dispatcher) track(id int64) *record {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.done[id]
	if r == nil {
		r = newRecord()
		d.done[id] = r
	}
	return r
}

// Forget drops the bookkeeping of record id, which the outbox worker is done with without a
// delivery (outbox.Config.Forget): given up (expired, or a permanent failure), or superseded.
func (d *Dispatcher) Forget(id int64) {
	d.mu.Lock()
	delete(d.done, id)
	d.mu.Unlock()
}

// send pushes m to every target not sent on an earlier attempt of record id, up to
// maxSendsAtOnce at once, and returns once each answered: whether any target accepted the push
// (on this attempt or an earlier one), and nil or an error when a send may succeed later (the
// record is then retried; of several such errors, one asking for the longest Retry-After). The sends to one provider hold one of its slots (gate) while they
// wait for its answers; those to a stalled provider fail at once, to be retried. The
// bookkeeping of a record lives until it is done with (track).
func (d *Dispatcher) send(ctx context.Context, id int64, userID string, targets []switchboard.PushTarget, m Message) (bool, error) {
	r := d.track(id)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		retry error
	)
	// fail keeps, of the sends that may succeed later, the error that asks for the longest
	// wait (outbox.RetryAfter): an attempt sooner would be refused again by that provider.
	fail := func(err error) {
		mu.Lock()
		if retry == nil || outbox.RetryAfterOf(err) > outbox.RetryAfterOf(retry) {
			retry = err
		}
		mu.Unlock()
	}
	sends := make(chan struct{}, maxSendsAtOnce)
	// sendAll sends to ts, up to maxSendsAtOnce at once with the record's other sends, and
	// reports whether a provider answered one of them.
	sendAll := func(ts []Target) bool {
		var (
			group    sync.WaitGroup
			answered atomic.Bool
		)
		for _, t := range ts {
			sends <- struct{}{}
			group.Go(func() {
				defer func() { <-sends }()
				ans, err := d.sendOne(ctx, r, userID, t, m)
				if ans {
					answered.Store(true)
				}
				if err != nil {
					fail(err)
				}
			})
		}
		group.Wait()
		return answered.Load()
	}
	for provider, ts := range r.pendingByProvider(targets) {
		free, gated := d.needingNoRequest(provider, ts, m)
		if len(free) > 0 {
			wg.Go(func() { sendAll(free) })
		}
		if len(gated) == 0 {
			continue
		}
		wg.Go(func() {
			g := d.gates[provider]
			if err := g.acquire(ctx); err != nil {
				fail(fmt.Errorf("push %s: %w", provider, err))
				return
			}
			g.release(sendAll(gated))
		})
	}
	wg.Wait()
	return r.anyAccepted(), retry
}

// needingNoRequest splits ts, targets of provider, into those the provider takes m for without
// a request (Skipper), which need none of its slots, and the others.
func (d *Dispatcher) needingNoRequest(provider string, ts []Target, m Message) (free, gated []Target) {
	s, ok := d.cfg.Providers[provider].(Skipper)
	if !ok {
		return nil, ts
	}
	for _, t := range ts {
		if s.Skips(t, m) {
			free = append(free, t)
		} else {
			gated = append(gated, t)
		}
	}
	return free, gated
}

// pendingByProvider returns the targets not done with on an earlier send, by provider.
func (r *record) pendingByProvider(targets []switchboard.PushTarget) map[string][]Target {
	out := map[string][]Target{}
	for _, st := range targets {
		t := Target{Provider: st.Provider, Token: st.Token, VoIP: st.VoIP, BundleID: st.BundleID}
		if !r.doneWith(t) {
			out[t.Provider] = append(out[t.Provider], t)
		}
	}
	return out
}

// sendOne sends m to t and records the outcome in r: accepted, or refused for good (rejected,
// or its token invalid, and then the target removed). It returns an error when the send, or the
// target's removal, may succeed later, and reports whether the provider answered (unanswered).
func (d *Dispatcher) sendOne(ctx context.Context, r *record, userID string, t Target, m Message) (answered bool, _ error) {
	err := d.sendTo(ctx, r, userID, t, m)
	answered = !unanswered(err)
	result := refused
	switch {
	case errors.Is(err, ErrTokenInvalid):
		d.log.Info("push: token invalid, target removed", "user", userID, "provider", t.Provider, "err", err)
		if derr := d.cfg.Targets.DeletePushTarget(ctx, userID, t.Provider, t.Token); derr != nil {
			return answered, derr
		}
	case errors.Is(err, ErrRejected):
		d.log.Warn("push: rejected", "user", userID, "callID", m.CallID, "kind", m.Kind, "err", err)
	case err != nil:
		return answered, err
	default:
		result = accepted
	}
	r.settle(t, result)
	return answered, nil
}

// sendTo sends m to t through t's provider. A provider with a size limit (a Fitter) gets m
// fitted to it: a shortened push is counted and logged at WARN, with the sizes and never the
// pushConfig's text, the first time it is sent to t for record r (not again on a retry); one
// that cannot fit is refused with an error wrapping ErrTooLarge.
func (d *Dispatcher) sendTo(ctx context.Context, r *record, userID string, t Target, m Message) error {
	p := d.cfg.Providers[t.Provider]
	if f, ok := p.(Fitter); ok {
		fitted, err := f.Fit(t, m)
		if err != nil {
			return err
		}
		if fitted.Truncated && !m.Truncated && r.firstShortened(t) {
			d.cfg.Observer.PushShortened()
			d.log.Warn("push: shortened to fit the provider's limit", "user", userID, "provider", t.Provider,
				"callID", m.CallID, "kind", m.Kind, "payloadDropped", m.Payload != "",
				"content", fmt.Sprintf("%d/%d bytes", len(fitted.Content), len(m.Content)),
				"title", fmt.Sprintf("%d/%d bytes", len(fitted.Title), len(m.Title)))
		}
		m = fitted
	}
	return p.Send(ctx, t, m)
}
