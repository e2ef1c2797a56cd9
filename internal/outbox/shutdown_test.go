package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/outbox"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// docs/webhooks.md: a callback the receiver took just as the server began to shut down is
// deleted all the same, and so not sent again at the next start; only attempts the shutdown cut
// short are.
func TestRecordDeliveredAsShutdownBeginsIsNotSentAgain(t *testing.T) {
	s := openStore(t)
	put(t, s, time.Now(), [2]string{"c", "x"})
	ctx, cancel := context.WithCancel(context.Background())
	w := outbox.New(outbox.Config{Kind: switchboard.OutboxWebhook, Deliver: func(context.Context, switchboard.OutboxRecord) error {
		cancel() // the shutdown begins as the receiver answers 2xx
		return nil
	}}, s, nil, nil)
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop")
	}
	recs, err := s.OutboxHeads(context.Background(), switchboard.OutboxWebhook, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Errorf("the delivered callback is still in the outbox after the shutdown: the next start sends it again")
	}
}
