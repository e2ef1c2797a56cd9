package switchboard

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dialtone/dialtone/internal/call"
)

// Config holds the settings the switchboard applies.
type Config struct {
	Call              call.Config
	IdempotencyWindow time.Duration       // R7.3 (default 15m)
	HeartbeatTimeout  time.Duration       // R6.1 grace before a disconnected device is lost (default 35s)
	LogRetention      time.Duration       // R7.2 (default 15m)
	CallRetention     time.Duration       // R3.10 (default 30 days)
	PruneEvery        time.Duration       // how often retention runs (default LogRetention/4, at most 1m)
	TickWorkers       int                 // concurrent deadline applications (default 32)
	ObserveCommit     func(time.Duration) // told how long each commit took (metrics; optional)
	ObserveDeadline   func(time.Duration) // told how late each fired deadline was committed (metrics; optional)

	// Webhooks and Pushes ask for outbox records (§10, §9) in every commit; OutboxWritten, when
	// set, is called after a commit that wrote some, to wake the delivery workers. It must not
	// block.
	Webhooks, Pushes bool
	OutboxWritten    func()
}

// setDefaults gives every unset setting its default. The call settings are left to the call
// package, which defaults each unset one on its own (call.Config), so a setting given is never
// replaced because another was left unset.
func (c *Config) setDefaults() {
	defaultDuration(&c.IdempotencyWindow, 15*time.Minute)
	defaultDuration(&c.HeartbeatTimeout, 35*time.Second)
	defaultDuration(&c.LogRetention, 15*time.Minute)
	defaultDuration(&c.CallRetention, 30*24*time.Hour)
	// Retention runs a few times per log retention, so an expired log is gone soon after.
	defaultDuration(&c.PruneEvery, max(time.Millisecond, min(time.Minute, c.LogRetention/4)))
	if c.TickWorkers <= 0 {
		c.TickWorkers = 32
	}
	if c.ObserveCommit == nil {
		c.ObserveCommit = func(time.Duration) {}
	}
	if c.ObserveDeadline == nil {
		c.ObserveDeadline = func(time.Duration) {}
	}
	if c.OutboxWritten == nil {
		c.OutboxWritten = func() {}
	}
}

func defaultDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Clock tells the time. Timers use the time package, so tests control both with testing/synctest.
type Clock func() time.Time

// Switchboard carries out call operations: see the package doc. Create it with New, then Start
// it; all methods are safe for concurrent use.
type Switchboard struct {
	cfg   Config
	store Store
	now   Clock
	log   *slog.Logger

	calls    *keyedMutex // per-call serialisation
	idem     *keyedMutex // one in-flight request per (user, idempotency key)
	timers   *scheduler
	presence *presence
	age      *ageClock // measures the windows of retention and idempotency (R7.2, R7.3, R3.10)

	stop     context.CancelFunc
	stopped  chan struct{}
	inflight sync.WaitGroup
	closeMu  sync.RWMutex
	closed   bool
}

// ErrClosed is returned by operations after Close has begun.
var ErrClosed = errors.New("switchboard: closed")

// New returns a switchboard over store. Events reach devices through the store's commit
// subscriber (see the Store doc), so the switchboard itself publishes nothing.
func New(cfg Config, store Store, now Clock, log *slog.Logger) *Switchboard {
	cfg.setDefaults()
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Switchboard{cfg: cfg, store: store, now: now, log: log,
		calls: newKeyedMutex(), idem: newKeyedMutex(), stopped: make(chan struct{})}
	s.timers = newScheduler(s.tick, cfg.TickWorkers, now)
	s.presence = newPresence(cfg.HeartbeatTimeout, s.loseDevice)
	s.age = newAgeClock(now, max(cfg.LogRetention, cfg.IdempotencyWindow, cfg.CallRetention))
	return s
}

// Start loads the pending deadlines and the main devices of busy users (each gets the full
// loss grace period from now, R6.1), applies every deadline that passed while the server was
// down (R3.5, R5.2), then runs the deadline scheduler and retention until Close. It returns
// once those deadlines are applied, so nothing served after it shows an invitation ringing
// past its deadline: not a login's catch-up (R7.2), nor its ringing calls (R5.3), nor a query.
// One whose change fails is applied again by the scheduler (tickRetry).
func (s *Switchboard) Start(ctx context.Context) error {
	dues, err := s.store.DueCalls(ctx)
	if err != nil {
		return fmt.Errorf("load deadlines: %w", err)
	}
	busy, err := s.store.BusyRecords(ctx)
	if err != nil {
		return fmt.Errorf("load busy users: %w", err)
	}
	for _, b := range busy {
		c, err := s.store.Call(ctx, b.CallID)
		if err != nil {
			return fmt.Errorf("load call %s: %w", b.CallID, err)
		}
		if u := c.User(b.UserID); u != nil && u.MainDevice != "" {
			s.presence.Disconnected(b.UserID, u.MainDevice)
		}
	}
	runCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	var passed []string
	for _, d := range dues {
		if d.At <= s.nowMs() {
			passed = append(passed, d.CallID)
		} else {
			s.timers.Schedule(d.CallID, d.At)
		}
	}
	if len(passed) > 0 {
		began := time.Now()
		s.fireAll(passed)
		s.log.Info("applied the deadlines that passed while the server was down", "calls", len(passed), "took", time.Since(began))
	}
	go func() {
		defer close(s.stopped)
		var wg sync.WaitGroup
		wg.Go(func() { s.timers.Run(runCtx) })
		wg.Go(func() { s.prune(runCtx) })
		wg.Wait()
	}()
	return nil
}

// fireAll applies the deadlines of callIDs, on at most TickWorkers goroutines, and returns
// once every one is applied or rescheduled.
func (s *Switchboard) fireAll(callIDs []string) {
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(s.cfg.TickWorkers, len(callIDs)) {
		wg.Go(func() {
			for id := range work {
				s.tick(id)
			}
		})
	}
	for _, id := range callIDs {
		work <- id
	}
	close(work)
	wg.Wait()
}

// Drain begins a graceful shutdown: from now on no device is lost for having no session, so
// the sessions the shutdown ends, however long it takes, are not losses (R6.1); every main
// device gets its full grace at the next start-up. Operations, deadlines and logouts go on
// until Close.
func (s *Switchboard) Drain() {
	s.presence.Close()
}

// Close stops accepting operations, waits for those in flight, and stops the timers. It does
// not close the store.
func (s *Switchboard) Close() {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return
	}
	s.closed = true
	s.closeMu.Unlock()
	s.presence.Close()
	if s.stop != nil {
		s.stop()
		<-s.stopped
	}
	s.inflight.Wait()
}

// begin registers an operation in flight; it fails once Close has begun.
func (s *Switchboard) begin() (done func(), err error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.inflight.Add(1)
	return s.inflight.Done, nil
}

func (s *Switchboard) nowMs() int64 { return s.now().UnixMilli() }

// newCallID returns a URL-safe call ID: 48 bits of the creation time in milliseconds, then 96
// random bits (behaviour §1). The time prefix makes new calls sort last, so the store writes
// them, their members and their updates on a few recent pages instead of all over its indexes.
func newCallID(now time.Time) string {
	var b [18]byte
	ms := uint64(now.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	_, _ = rand.Read(b[6:])
	return sortableBase64.EncodeToString(b[:])
}

// sortableBase64 is base64 over URL-unreserved characters (RFC 3986) in ASCII order, so encoded
// IDs sort as their bytes do; unlike '-', its first character '0' cannot make an ID look like a
// command-line flag. It is never modified.
var sortableBase64 = base64.NewEncoding("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~").WithPadding(base64.NoPadding)

// prune runs retention once at the start and then every PruneEvery until ctx ends, so that a
// server restarted more often than that still lets go of what its windows no longer keep. It
// deletes nothing before its window has passed, also when the clock steps (ageClock).
func (s *Switchboard) prune(ctx context.Context) {
	t := time.NewTicker(s.cfg.PruneEvery)
	defer t.Stop()
	for {
		c := s.age.cutoffs(s.cfg.LogRetention, s.cfg.IdempotencyWindow, s.cfg.CallRetention)
		err := s.store.Prune(ctx, c[0], c[1], c[2])
		if err != nil && ctx.Err() == nil {
			s.log.Warn("retention failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
