// Package outbox delivers the records that the store wrote in the same commit as their change
// (webhooks, behaviour §10; pushes, §9): after the commit, never blocking an operation, in order
// per ordering key (a webhook's call, a push's call and user: a record waits until every earlier
// record of its key is delivered or given up), different keys in parallel, retried with exponential backoff until delivered or expired
// (no sooner than a receiver's Retry-After asks: RetryAfter).
// It reads the store, so records survive a restart; delivery is at least once (a crash between
// sending and deleting sends again).
package outbox

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/dialtone/dialtone/internal/switchboard"
)

// Store is what the worker reads and deletes; the switchboard's Store implements it.
type Store interface {
	// OutboxHeads returns the oldest record of kind of each call, for the calls whose oldest
	// record has an ID above afterID: up to limit records, oldest first.
	OutboxHeads(ctx context.Context, kind string, afterID int64, limit int) ([]switchboard.OutboxRecord, error)
	// DeleteOutbox deletes delivered or abandoned records.
	DeleteOutbox(ctx context.Context, ids []int64) error
}

// Deliver sends one record. nil means delivered; an error wrapped by Permanent gives the
// record up at once; any other error is retried.
type Deliver func(ctx context.Context, rec switchboard.OutboxRecord) error

// Observer is told about every attempt's result, for metrics.
type Observer interface {
	OutboxDelivered(kind string)
	OutboxFailed(kind string)  // an attempt failed and will be retried
	OutboxDropped(kind string) // given up: expired or a permanent failure
}

type noObserver struct{}

func (noObserver) OutboxDelivered(string) {}
func (noObserver) OutboxFailed(string)    {}
func (noObserver) OutboxDropped(string)   {}

type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return permanent{err} }

// Config configures a Worker; zero values take the defaults.
type Config struct {
	Kind string // the outbox kind this worker delivers
	// Deliver sends the records. nil says that no receiver of Kind is configured: the worker
	// attempts nothing and gives each record up once it expires, so that the records written
	// while one was configured neither stay in the store for ever nor go before their expiry,
	// should it be configured again by then. The first record found waiting so is logged at
	// WARN, once.
	Deliver    Deliver
	Expiry     time.Duration // give a record up this long after its commit (default 24h)
	MinBackoff time.Duration // first retry delay (default 1s), doubled per attempt
	MaxBackoff time.Duration // longest retry delay (default 5m)
	// MaxRetryAfter is the longest wait a receiver's Retry-After imposes (RetryAfter) before
	// the next attempt (default 1h).
	MaxRetryAfter time.Duration
	Parallel      int           // calls delivered at once (default 16)
	Poll          time.Duration // longest wait between scans of the store (default 2s)
	Batch         int           // records read per page of a scan (default 1000)
	Timeout       time.Duration // bound of one attempt (default 30s)
	Observer      Observer
	// Forget, when set, is called with the ID of each record the worker is done with without
	// delivering it: given up (expired, or a permanent failure), or gone from the store (a
	// later record superseded it) while it waited for a retry. A deliverer that keeps state
	// for a record's retries drops it then: the worker never attempts that record again.
	// It is called on the worker's own goroutine and must not block.
	Forget func(id int64)
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Expiry, 24*time.Hour)
	def(&c.MinBackoff, time.Second)
	def(&c.MaxBackoff, 5*time.Minute)
	def(&c.MaxRetryAfter, time.Hour)
	def(&c.Poll, 2*time.Second)
	def(&c.Timeout, 30*time.Second)
	if c.Parallel <= 0 {
		c.Parallel = 16
	}
	if c.Batch <= 0 {
		c.Batch = 1000
	}
	if c.Observer == nil {
		c.Observer = noObserver{}
	}
	if c.Forget == nil {
		c.Forget = func(int64) {}
	}
}

// Worker delivers one kind of record. Create it with New, run it with Run, wake it with Notify.
type Worker struct {
	cfg   Config
	store Store
	now   func() time.Time
	log   *slog.Logger
	wake  chan struct{}

	warned time.Time // when a failed delivery was last logged at Warn (Run's goroutine only)
	told   bool      // a record waiting for a receiver not configured was logged (Run's goroutine only)
}

// failureWarnEvery is how often at most a failed delivery is logged at Warn, the others at
// Info: an operator who logs warnings only learns that a receiver is down long before its
// records are dropped, without a line per attempt.
const failureWarnEvery = time.Minute

// New returns a worker; now is the clock (time.Now when nil).
func New(cfg Config, store Store, now func() time.Time, log *slog.Logger) *Worker {
	cfg.setDefaults()
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, store: store, now: now, log: log.With("outbox", cfg.Kind), wake: make(chan struct{}, 1)}
}

// Notify tells the worker that new records were committed. It never blocks.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// retryState is the in-memory retry bookkeeping of a record (lost at restart: the expiry
// counts from the commit, so a restart only resets the backoff). A settled record was
// delivered or given up but could not be deleted (a full disk): only its deletion is retried,
// never another attempt, and its call's next record waits for that deletion.
type retryState struct {
	attempts int
	nextAt   time.Time
	settled  bool
}

type result struct {
	rec       switchboard.OutboxRecord
	err       error
	undeleted bool // delivered, but its deletion failed
}

// Run delivers until ctx ends, then waits for the attempts in flight.
//
// A whole pass over every call's head runs at start, every Poll, and when a retry or an
// expiry is due (at most once per MinBackoff, so that the retries of a large backlog, each due
// at its own time, share passes). Between them, a pass starts from where the last one stopped:
// after a failed attempt only where it ran out of slots (every head before was started or
// waits), after a delivered or dropped record from that record (its call's next one follows
// it), after a commit from the last head seen (a new record's ID is above every existing
// one). So a receiver that fails every attempt costs a bounded read per attempt, not a read
// of every waiting head.
func (w *Worker) Run(ctx context.Context) {
	inflight := map[string]bool{} // ordering key → its head record is being delivered
	retries := map[int64]*retryState{}
	results := make(chan result)
	timer := time.NewTimer(0)
	defer timer.Stop()
	var (
		from      int64     // where the next pass starts (heads above it; 0: every head); noPass: none needed
		lastHead  int64     // the highest head a pass saw on reaching the end
		next      time.Time // when a whole pass is due: a retry, an expiry, a deletion to retry
		lastWhole time.Time
	)
	gap := min(w.cfg.MinBackoff, w.cfg.Poll)
	for {
		now := w.now()
		if !next.IsZero() && !now.Before(later(next, lastWhole.Add(gap))) {
			from = 0
		}
		if from != noPass && len(inflight) < w.cfg.Parallel {
			p := w.scan(ctx, from, inflight, retries, results)
			if from == 0 {
				next, lastWhole = p.next, now
			} else {
				next = earlier(next, p.next)
			}
			from = p.resume
			if p.end >= 0 {
				lastHead = max(lastHead, p.end)
			}
			if from != noPass && len(inflight) < w.cfg.Parallel && ctx.Err() == nil {
				continue // a dropped or deleted record's call may go on at once
			}
		}
		wait := w.cfg.Poll
		if !next.IsZero() && len(inflight) < w.cfg.Parallel {
			wait = min(wait, max(later(next, lastWhole.Add(gap)).Sub(w.now()), 0))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			for len(inflight) > 0 {
				r := <-results
				delete(inflight, r.rec.OrderKey)
			}
			return
		case <-w.wake:
			if from == noPass {
				from = lastHead
			}
		case <-timer.C:
			from = 0
		case r := <-results:
			delete(inflight, r.rec.OrderKey)
			w.settle(ctx, r, retries)
			if st := retries[r.rec.ID]; st != nil {
				next = earlier(next, st.nextAt)
			} else { // delivered or dropped: its call's next record may go
				from = lowest(from, r.rec.ID)
			}
		}
	}
}

// noPass is Run's from when no pass is needed until a commit, a result or a due time.
const noPass = -1

// lowest returns the start of a pass that covers the heads above a and those above b.
func lowest(a, b int64) int64 {
	if a == noPass {
		return b
	}
	return min(a, b)
}

// earlier returns the earlier of two times, zero meaning none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// pass is what a scan found: next, when a retry, an expiry or a deletion it saw is due (zero
// for none); resume, where the next pass starts (noPass when it saw every head above its
// start with a slot to spare, or the head before the first one it had no slot for, or a
// record's whose call may go on); end, the last head it saw on reaching the end (-1 if it did
// not).
type pass struct {
	next   time.Time
	resume int64
	end    int64
}

// scan starts the deliveries that may start now among the heads above from (0: every head):
// the oldest record of each call not in flight, unless it waits for a retry, oldest first,
// paging through the heads until the parallel slots are taken; a head already expired is
// given up without an attempt, and a settled head's deletion is retried when due. After a
// whole pass over every head it forgets the retry state of records that are no longer heads:
// deleted by a later record that superseded them (OutboxRecord.Supersedes).
func (w *Worker) scan(ctx context.Context, from int64, inflight map[string]bool, retries map[int64]*retryState, results chan<- result) pass {
	p := pass{resume: noPass, end: -1}
	blocked := int64(noPass) // the head before the first one that found no slot
	var seen map[int64]bool  // the heads seen by a whole pass, while some record has a retry state
	if from == 0 && len(retries) > 0 {
		seen = map[int64]bool{}
	}
	limit := w.cfg.Batch
	if from > 0 { // a pass from where the last stopped: it needs only a few heads
		limit = min(limit, 4*w.cfg.Parallel)
	}
	after := from
	for len(inflight) < w.cfg.Parallel && ctx.Err() == nil {
		heads, err := w.store.OutboxHeads(ctx, w.cfg.Kind, after, limit)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("outbox: read", "err", err)
			}
			p.next = w.now().Add(w.cfg.MinBackoff)
			return p
		}
		now := w.now()
		for _, rec := range heads {
			after = rec.ID
			if seen != nil {
				seen[rec.ID] = true
			}
			switch st := retries[rec.ID]; {
			case inflight[rec.OrderKey]:
			case st != nil && st.settled: // only its deletion is retried
				if st.nextAt.After(now) || !w.remove(ctx, rec, retries) {
					p.next = earlier(p.next, st.nextAt)
				} else {
					p.resume = lowest(p.resume, rec.ID) // the call's next record may go
				}
			case !now.Before(w.expiresAt(rec)):
				if w.drop(ctx, rec, st, errExpired, retries) {
					p.resume = lowest(p.resume, rec.ID)
				} else {
					p.next = earlier(p.next, retries[rec.ID].nextAt) // its deletion's retry
				}
			case st != nil && st.nextAt.After(now):
				p.next = earlier(p.next, st.nextAt)
			case w.cfg.Deliver == nil:
				w.waitsForAReceiver()
				p.next = earlier(p.next, w.expiresAt(rec))
			case len(inflight) < w.cfg.Parallel:
				inflight[rec.OrderKey] = true
				w.start(ctx, rec, results)
			case blocked == noPass:
				blocked = rec.ID - 1
			}
		}
		if len(heads) < limit {
			p.end = after
			if seen != nil { // else every retry state is this pass's, of a head it saw
				w.forgetGone(retries, seen)
			}
			break
		}
	}
	switch {
	case blocked != noPass:
		p.resume = lowest(p.resume, blocked)
	case p.end < 0 && ctx.Err() == nil: // stopped for want of slots after a whole page
		p.resume = lowest(p.resume, after)
	}
	return p
}

// forgetGone drops the retry state of the records a whole pass over the heads did not see
// (seen): they were deleted meanwhile, and IDs are never used again. (One deleted while in
// flight gets a fresh state if its attempt fails, which the next whole pass drops.) Each is
// told to Config.Forget.
func (w *Worker) forgetGone(retries map[int64]*retryState, seen map[int64]bool) {
	for id := range retries {
		if !seen[id] {
			delete(retries, id)
			w.cfg.Forget(id)
		}
	}
}

// waitsForAReceiver logs, the first time only, that records wait with no receiver configured
// (Config.Deliver nil).
func (w *Worker) waitsForAReceiver() {
	if !w.told {
		w.told = true
		w.log.Warn("outbox: records wait for a receiver that is not configured; each is dropped once expired",
			"expiry", w.cfg.Expiry)
	}
}

// errExpired is why a record found past its expiry is given up without an attempt.
var errExpired = errors.New("expired before it could be delivered")

// expiresAt is when rec is given up: Expiry after its commit.
func (w *Worker) expiresAt(rec switchboard.OutboxRecord) time.Time {
	return time.UnixMilli(rec.CreatedAt).Add(w.cfg.Expiry)
}

// deleteTimeout bounds the deletion of a delivered record once ctx has ended.
const deleteTimeout = 5 * time.Second

// start delivers rec on a goroutine of its own, which deletes it once delivered and then
// reports on results. A record delivered as ctx ends (the shutdown began while the receiver
// answered) is still deleted, within deleteTimeout, so the next start does not send it again.
func (w *Worker) start(ctx context.Context, rec switchboard.OutboxRecord, results chan<- result) {
	go func() {
		actx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
		defer cancel()
		err := w.cfg.Deliver(actx, rec)
		var derr error
		if err == nil {
			dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
			if derr = w.store.DeleteOutbox(dctx, []int64{rec.ID}); derr != nil {
				w.log.Error("outbox: delete delivered record", "id", rec.ID, "err", derr)
			}
			dcancel()
		}
		results <- result{rec: rec, err: err, undeleted: derr != nil}
	}()
}

// settle records the outcome of one attempt: a failure is retried with backoff until the
// record expires; an expired or permanently failed record is deleted.
func (w *Worker) settle(ctx context.Context, r result, retries map[int64]*retryState) {
	if r.err == nil {
		delete(retries, r.rec.ID)
		w.cfg.Observer.OutboxDelivered(w.cfg.Kind)
		if r.undeleted {
			w.settled(r.rec, retries)
		}
		return
	}
	if ctx.Err() != nil {
		return // shutting down: the record stays for the next start
	}
	st := retries[r.rec.ID]
	if st == nil {
		st = &retryState{}
		retries[r.rec.ID] = st
	}
	st.attempts++
	now := w.now()
	var perm permanent
	if errors.As(r.err, &perm) || !now.Before(w.expiresAt(r.rec)) {
		_ = w.drop(ctx, r.rec, st, r.err, retries) // the scan that follows every result reads the call's next record
		return
	}
	st.nextAt = now.Add(w.retryWait(st.attempts, r.err))
	if exp := w.expiresAt(r.rec); exp.Before(st.nextAt) {
		st.nextAt = exp // then the scan gives it up, without another attempt
	}
	w.cfg.Observer.OutboxFailed(w.cfg.Kind)
	level := slog.LevelInfo
	if w.warned.IsZero() || now.Sub(w.warned) >= failureWarnEvery {
		level, w.warned = slog.LevelWarn, now
	}
	w.log.Log(ctx, level, "outbox: delivery failed, will retry", "id", r.rec.ID, "orderKey", r.rec.OrderKey,
		"attempts", st.attempts, "retryIn", st.nextAt.Sub(now), "err", r.err)
}

// retryWait is the wait after the attempts-th failure, err: the backoff, or the receiver's
// Retry-After (RetryAfter) when longer, which is bounded by MaxRetryAfter.
func (w *Worker) retryWait(attempts int, err error) time.Duration {
	return max(w.backoff(attempts), min(RetryAfterOf(err), w.cfg.MaxRetryAfter))
}

// backoff is the wait after the attempts-th failure: MinBackoff doubled per earlier failure, at
// most MaxBackoff.
func (w *Worker) backoff(attempts int) time.Duration {
	d := w.cfg.MinBackoff << min(attempts-1, 30)
	if d <= 0 || d > w.cfg.MaxBackoff {
		d = w.cfg.MaxBackoff
	}
	return d
}

// drop gives rec up (st is its retry state, nil before any attempt) because of err: it is
// counted, logged, told to Config.Forget and deleted, and its call's next record may go. It reports whether the
// record was deleted; one that was not is settled, so only its deletion is retried.
func (w *Worker) drop(ctx context.Context, rec switchboard.OutboxRecord, st *retryState, err error, retries map[int64]*retryState) bool {
	attempts := 0
	if st != nil {
		attempts = st.attempts
	}
	delete(retries, rec.ID)
	w.cfg.Forget(rec.ID)
	w.cfg.Observer.OutboxDropped(w.cfg.Kind)
	w.log.Warn("outbox: record dropped", "id", rec.ID, "orderKey", rec.OrderKey, "attempts", attempts,
		"age", w.now().Sub(time.UnixMilli(rec.CreatedAt)).Round(time.Millisecond), "err", err)
	derr := w.store.DeleteOutbox(ctx, []int64{rec.ID})
	if derr != nil && ctx.Err() == nil {
		w.log.Error("outbox: delete dropped record", "id", rec.ID, "err", derr)
	}
	if derr != nil {
		w.settled(rec, retries)
	}
	return derr == nil
}

// settled records that rec, delivered or given up, is still in the store after a failed
// deletion: the deletion is retried with backoff, and rec is never attempted again by this
// worker.
func (w *Worker) settled(rec switchboard.OutboxRecord, retries map[int64]*retryState) {
	st := retries[rec.ID]
	if st == nil {
		st = &retryState{settled: true}
		retries[rec.ID] = st
	}
	st.attempts++
	st.nextAt = w.now().Add(w.backoff(st.attempts))
}

// remove retries the deletion of settled rec, and reports whether it is deleted, so that its
// call's next record may go.
func (w *Worker) remove(ctx context.Context, rec switchboard.OutboxRecord, retries map[int64]*retryState) bool {
	if err := w.store.DeleteOutbox(ctx, []int64{rec.ID}); err != nil {
		if ctx.Err() == nil {
			w.log.Error("outbox: delete settled record", "id", rec.ID, "err", err)
		}
		w.settled(rec, retries)
		return false
	}
	delete(retries, rec.ID)
	return true
}
