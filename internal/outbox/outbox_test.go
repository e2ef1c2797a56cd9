package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialtone/dialtone/internal/outbox"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s *sqlite.Store, created time.Time, recs ...[2]string) {
	t.Helper()
	var ch switchboard.Change
	for _, r := range recs {
		ch.Outbox = append(ch.Outbox, switchboard.OutboxRecord{Kind: switchboard.OutboxWebhook, OrderKey: r[0], Body: []byte(r[1]),
			CreatedAt: created.UnixMilli()})
	}
	if _, err := s.Commit(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
}

type counter struct {
	mu                         sync.Mutex
	delivered, failed, dropped int
}

func (c *counter) OutboxDelivered(string) { c.mu.Lock(); c.delivered++; c.mu.Unlock() }
func (c *counter) OutboxFailed(string)    { c.mu.Lock(); c.failed++; c.mu.Unlock() }
func (c *counter) OutboxDropped(string)   { c.mu.Lock(); c.dropped++; c.mu.Unlock() }

// waitFor waits until c has counted delivered and dropped records, and fails the test if it
// has not within 10 s. The worker counts a record once its delivery's result is back, which is
// after the record is deleted: an empty outbox does not mean that the count is done.
func (c *counter) waitFor(t *testing.T, delivered, dropped int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		d, p := c.delivered, c.dropped
		c.mu.Unlock()
		if d == delivered && p == dropped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d dropped %d, want %d and %d", d, p, delivered, dropped)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func run(t *testing.T, w *outbox.Worker) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestOrderPerCallRetries: the first attempt of every record fails; each call's records still
// arrive in commit order, each exactly once delivered, and the outbox ends empty.
func TestOrderPerCallRetries(t *testing.T) {
	s := openStore(t)
	now := time.Now()
	for i := range 5 {
		put(t, s, now, [2]string{"a", fmt.Sprint("a", i)}, [2]string{"b", fmt.Sprint("b", i)})
	}
	var mu sync.Mutex
	tried := map[string]bool{}
	var got []string
	done := make(chan struct{})
	obs := &counter{}
	w := outbox.New(outbox.Config{Kind: switchboard.OutboxWebhook, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Observer: obs, Deliver: func(ctx context.Context, rec switchboard.OutboxRecord) error {
			mu.Lock()
			defer mu.Unlock()
			if !tried[string(rec.Body)] {
				tried[string(rec.Body)] = true
				return errors.New("first attempt fails")
			}
			got = append(got, string(rec.Body))
			if len(got) == 10 {
				close(done)
			}
			return nil
		}}, s, nil, nil)
	run(t, w)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("delivered %v", got)
	}
	mu.Lock()
	var a, b []string
	for _, g := range got {
		if g[0] == 'a' {
			a = append(a, g)
		} else {
			b = append(b, g)
		}
	}
	mu.Unlock()
	for i := range 5 {
		if a[i] != fmt.Sprint("a", i) || b[i] != fmt.Sprint("b", i) {
			t.Fatalf("out of order: a %v b %v", a, b)
		}
	}
	waitEmpty(t, s)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.failed != 10 || obs.dropped != 0 {
		t.Errorf("failed %d dropped %d, want 10 and 0", obs.failed, obs.dropped)
	}
}

// TestCallsInParallel: a call whose delivery hangs does not hold up another call.
func TestCallsInParallel(t *testing.T) {
	s := openStore(t)
	put(t, s, time.Now(), [2]string{"slow", "s0"}, [2]string{"slow", "s1"}, [2]string{"fast", "f0"})
	release := make(chan struct{})
	fast := make(chan string, 1)
	var once sync.Once
	w := outbox.New(outbox.Config{Kind: switchboard.OutboxWebhook, Deliver: func(ctx context.Context, rec switchboard.OutboxRecord) error {
		switch rec.OrderKey {
		case "slow":
			if string(rec.Body) == "s1" {
				t.Error("s1 delivered before s0 finished")
			}
			<-release
		default:
			fast <- string(rec.Body)
		}
		return nil
	}}, s, nil, nil)
	run(t, w)
	select {
	case got := <-fast:
		if got != "f0" {
			t.Fatalf("got %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fast call waited for the slow one")
	}
	once.Do(func() { close(release) })
}

// TestExpiryAndPermanent: a record already expired is dropped without an attempt, and a
// permanently refused one after its attempt; both are deleted, and the call's next record goes.
func TestExpiryAndPermanent(t *testing.T) {
	s := openStore(t)
	put(t, s, time.Now().Add(-2*time.Hour), [2]string{"c", "old"})
	put(t, s, time.Now(), [2]string{"c", "refused"}, [2]string{"c", "ok"})
	obs := &counter{}
	delivered := make(chan string, 3)
	w := outbox.New(outbox.Config{Kind: switchboard.OutboxWebhook, Expiry: time.Hour, Observer: obs,
		Deliver: func(ctx context.Context, rec switchboard.OutboxRecord) error {
			switch string(rec.Body) {
			case "old":
				t.Error("an expired record was attempted")
				return errors.New("down")
			case "refused":
				return outbox.Permanent(errors.New("bad token"))
			}
			delivered <- string(rec.Body)
			return nil
		}}, s, nil, nil)
	run(t, w)
	select {
	case got := <-delivered:
		if got != "ok" {
			t.Fatalf("got %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call stayed blocked")
	}
	waitEmpty(t, s)
	obs.waitFor(t, 1, 2)
}

func waitEmpty(t *testing.T, s *sqlite.Store) {
	t.Helper()
	waitHeads(t, s)
}

// waitHeads waits until the webhook records at the head of their calls are those with the
// bodies want, oldest first, and fails the test if they are not within 10 s.
func waitHeads(t *testing.T, s *sqlite.Store, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs, err := s.OutboxHeads(context.Background(), switchboard.OutboxWebhook, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		bodies := make([]string, len(recs))
		for i, r := range recs {
			bodies[i] = string(r.Body)
		}
		if slices.Equal(bodies, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox heads %q, want %q", bodies, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFailingCallsDoNotHideOthers (§10: in order per call, calls in parallel): records of
// calls that keep failing, more than a page of them, do not hold up a later call's.
func TestFailingCallsDoNotHideOthers(t *testing.T) {
	s := openStore(t)
	for i := range 10 {
		put(t, s, time.Now(), [2]string{fmt.Sprint("stuck", i), "x"}, [2]string{fmt.Sprint("stuck", i), "y"})
	}
	put(t, s, time.Now(), [2]string{"fresh", "f"})
	delivered := make(chan string, 1)
	w := outbox.New(outbox.Config{Kind: switchboard.OutboxWebhook, Batch: 4, Parallel: 2,
		Deliver: func(ctx context.Context, rec switchboard.OutboxRecord) error {
			if rec.OrderKey != "fresh" {
				return errors.New("refused")
			}
			delivered <- rec.OrderKey
			return nil
		}}, s, nil, nil)
	run(t, w)
	select {
	case <-delivered:
	case <-time.After(10 * time.Second):
		t.Fatal("the fresh call waited behind the failing ones")
	}
}

// TestRetriesEndAtExpiry (§10: retried until 2xx or the expiry): no attempt is made past a
// record's expiry; it is dropped at its expiry, and its call's next record goes then.
func TestRetriesEndAtExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		created := time.Now()
		put(t, s, created, [2]string{"c", "x"})
		put(t, s, created.Add(20*time.Second), [2]string{"c", "y"}) // a later change: it expires later
		var mu sync.Mutex
		var attempts []time.Duration
		var yAt time.Duration
		obs := &counter{}
		w := outbox.New(outbox.Config{Kind: switchboard.OutboxWebhook, Expiry: 30 * time.Second, Observer: obs,
			Deliver: func(ctx context.Context, rec switchboard.OutboxRecord) error {
				mu.Lock()
				defer mu.Unlock()
				if string(rec.Body) == "y" {
					yAt = time.Since(created)
					return nil
				}
				attempts = append(attempts, time.Since(created))
				return errors.New("down")
			}}, s, nil, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { w.Run(ctx); close(done) }()
		time.Sleep(time.Minute)
		synctest.Wait()
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, a := range attempts {
			if a >= 30*time.Second {
				t.Errorf("attempt at %v, past the expiry (attempts %v)", a, attempts)
			}
		}
		if yAt < 30*time.Second || yAt > 31*time.Second {
			t.Errorf("the call's next record went at %v, want at the first's expiry, 30 s (attempts %v)", yAt, attempts)
		}
		obs.mu.Lock()
		defer obs.mu.Unlock()
		if obs.dropped != 1 || obs.delivered != 1 {
			t.Errorf("dropped %d delivered %d, want 1 and 1", obs.dropped, obs.delivered)
		}
	})
}

// failingDeletes is a store whose deletion of a record fails as often as fails says, as on a
// full disk, before it succeeds.
type failingDeletes struct {
	*sqlite.Store
	mu    sync.Mutex
	fails map[int64]int // record ID → deletions still to fail
}

func (f *failingDeletes) DeleteOutbox(ctx context.Context, ids []int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if f.fails[id] > 0 {
			f.fails[id]--
			return errors.New("database or disk is full")
		}
	}
	return f.Store.DeleteOutbox(ctx, ids)
}

// TestDeletionFailuresDoNotRepeatAttempts (§10, §9): a record delivered or given up whose
// deletion fails is not attempted again; only its deletion is retried, and its call's next
// record goes once it is deleted. A record sent again at every scan would flood the receiver
// (and ring a phone again and again) for as long as the store cannot write.
func TestDeletionFailuresDoNotRepeatAttempts(t *testing.T) {
	s := openStore(t)
	put(t, s, time.Now(), [2]string{"a", "a0"}, [2]string{"a", "a1"}, [2]string{"p", "refused"})
	heads, err := s.OutboxHeads(context.Background(), switchboard.OutboxWebhook, 0, 10)
	if err != nil || len(heads) != 2 {
		t.Fatalf("OutboxHeads = %v, %v", heads, err)
	}
	store := &failingDeletes{Store: s, fails: map[int64]int{heads[0].ID: 3, heads[1].ID: 3}}
	var mu sync.Mutex
	attempts := map[string]int{}
	obs := &counter{}
	w := outbox.New(outbox.Config{Kind: switchboard.OutboxWebhook, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Observer: obs, Deliver: func(ctx context.Context, rec switchboard.OutboxRecord) error {
			mu.Lock()
			defer mu.Unlock()
			attempts[string(rec.Body)]++
			if string(rec.Body) == "refused" {
				return outbox.Permanent(errors.New("bad token"))
			}
			return nil
		}}, store, nil, nil)
	run(t, w)
	waitEmpty(t, s)
	obs.waitFor(t, 2, 1)
	mu.Lock()
	defer mu.Unlock()
	if want := map[string]int{"a0": 1, "a1": 1, "refused": 1}; !maps.Equal(attempts, want) {
		t.Errorf("attempts %v, want %v", attempts, want)
	}
}

// An operator who logs at Warn learns that deliveries fail long before a record is dropped
// (after Expiry, a day by default): the first failure is a warning, and then one a minute at
// most, while every failure is logged at Info.
func TestFailuresWarnedOnceAMinute(t *testing.T) {
	s := openStore(t)
	for i := range 10 {
		put(t, s, time.Now(), [2]string{fmt.Sprint("c", i), "body"})
	}
	var logs lockedLog
	obs := &counter{}
	w := outbox.New(outbox.Config{Kind: switchboard.OutboxWebhook, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Observer: obs, Deliver: func(context.Context, switchboard.OutboxRecord) error { return errors.New("receiver down") }},
		s, nil, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	run(t, w)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		obs.mu.Lock()
		failed := obs.failed
		obs.mu.Unlock()
		if failed >= 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d failures in 10 s", failed)
		}
	}
	if got := strings.Count(logs.String(), "level=WARN msg=\"outbox: delivery failed"); got != 1 {
		t.Errorf("%d warnings of failed deliveries after 30 failures within a minute, want 1; log:\n%s", got, logs.String())
	}
}

// lockedLog is a log destination that handlers may write to from several goroutines.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
