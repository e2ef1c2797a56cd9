package outbox_test

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/outbox"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// A kind whose receiver is no longer configured (a start without --webhook-url, or without
// any push provider) has a worker without Deliver: the records written while it was
// configured are never attempted, and each is given up once older than the expiry, as any
// record is (logged at WARN and counted as dropped), so none stays in the store for ever,
// and none is lost before its expiry, should the receiver be configured again by then
// (docs/operations.md "Data growth and retention"; behaviour §10, §9). The first record that
// waits so is told at WARN, once.
func TestRecordsWithoutAReceiverAreDroppedOnceExpired(t *testing.T) {
	s := openStore(t)
	start := time.Now()
	put(t, s, start.Add(-48*time.Hour), [2]string{"c1", "stale"})
	put(t, s, start, [2]string{"c2", "fresh"}, [2]string{"c1", "after the stale one"})
	var elapsed atomic.Int64
	now := func() time.Time { return start.Add(time.Duration(elapsed.Load())) }
	var logs lockedLog
	obs := &counter{}
	w := outbox.New(outbox.Config{Kind: switchboard.OutboxWebhook, Expiry: time.Hour, MinBackoff: time.Millisecond,
		Poll: time.Millisecond, Observer: obs}, s, now, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	run(t, w)
	obs.waitFor(t, 0, 1)
	waitHeads(t, s, "fresh", "after the stale one") // the expired record gone, its call's next one kept
	elapsed.Store(int64(time.Hour))
	waitEmpty(t, s)
	obs.waitFor(t, 0, 3)
	if got := strings.Count(logs.String(), `msg="outbox: record dropped"`); got != 3 {
		t.Errorf("%d records dropped in the log, want 3:\n%s", got, logs.String())
	}
	if got := strings.Count(logs.String(), "not configured"); got != 1 {
		t.Errorf("%d warnings of records waiting for a receiver, want 1:\n%s", got, logs.String())
	}
}
