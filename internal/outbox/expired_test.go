package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/outbox"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// §10, docs/webhooks.md: a record found expired is given up once. When the store cannot
// delete it (a full disk), only its deletion is retried, with backoff: it is not given up (and
// counted as dropped, and logged) again at every scan, even when no other record has a retry
// under way.
func TestExpiredRecordWhoseDeletionFailsIsDroppedOnce(t *testing.T) {
	s := openStore(t)
	put(t, s, time.Now().Add(-48*time.Hour), [2]string{"a", "stale"})
	heads, err := s.OutboxHeads(context.Background(), switchboard.OutboxWebhook, 0, 10)
	if err != nil || len(heads) != 1 {
		t.Fatalf("OutboxHeads = %v, %v", heads, err)
	}
	store := &failingDeletes{Store: s, fails: map[int64]int{heads[0].ID: 3}}
	obs := &counter{}
	w := outbox.New(outbox.Config{Kind: switchboard.OutboxWebhook, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Poll: time.Millisecond, Observer: obs, Deliver: func(context.Context, switchboard.OutboxRecord) error {
			t.Error("an expired record was attempted")
			return errors.New("expired")
		}}, store, nil, nil)
	run(t, w)
	waitEmpty(t, s)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.dropped != 1 || obs.delivered != 0 {
		t.Errorf("dropped %d delivered %d, want the expired record dropped once", obs.dropped, obs.delivered)
	}
}
