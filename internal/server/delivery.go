package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/dialtone/dialtone/internal/config"
	"github.com/dialtone/dialtone/internal/metrics"
	"github.com/dialtone/dialtone/internal/outbox"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/internal/webhook"
)

// delivery runs the outbox workers (webhooks, pushes) after the commits that fill the outbox.
type delivery struct {
	workers []*outbox.Worker
	senders []idleCloser // the clients of the receivers, whose kept connections stop closes
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// idleCloser is a webhook sender or push provider that keeps connections open between
// requests (http.Client's method).
type idleCloser interface {
	CloseIdleConnections()
}

// notify wakes every worker; the switchboard calls it after a commit that wrote outbox records.
func (d *delivery) notify() {
	for _, w := range d.workers {
		w.Notify()
	}
}

// add creates a worker of kind over store, delivering parallel records at once (0: the
// outbox's default); forget (nil: none) is its outbox.Config.Forget.
func (d *delivery) add(kind string, expiry time.Duration, parallel int, deliver outbox.Deliver, forget func(int64),
	store *sqlite.Store, m *metrics.Metrics, log *slog.Logger) {
	m.OutboxKind(kind)
	d.workers = append(d.workers, outbox.New(outbox.Config{Kind: kind, Deliver: deliver, Expiry: expiry,
		Parallel: parallel, Observer: m, Forget: forget}, store, time.Now, log))
}

// addUnconfigured adds a worker of kind with no receiver: it gives up the records an earlier
// start with one left, once they are older than expiry (outbox.Config.Deliver nil). Its
// results are not shown at 0 (metrics.OutboxKind): no delivery of kind is configured.
func (d *delivery) addUnconfigured(kind string, expiry time.Duration, store *sqlite.Store, m *metrics.Metrics, log *slog.Logger) {
	d.workers = append(d.workers, outbox.New(outbox.Config{Kind: kind, Expiry: expiry, Observer: m}, store, time.Now, log))
}

// addWebhooks adds the webhook worker when --webhook-url is set, and reports whether it did;
// without it, a worker that only gives up the records of an earlier start once expired.
func (d *delivery) addWebhooks(cfg config.Config, store *sqlite.Store, m *metrics.Metrics, log *slog.Logger) bool {
	if cfg.WebhookURL == "" {
		d.addUnconfigured(switchboard.OutboxWebhook, cfg.WebhookExpiry, store, m, log)
		return false
	}
	sender := webhook.New(cfg.WebhookURL, cfg.WebhookSecret, nil, time.Now)
	d.senders = append(d.senders, sender)
	d.add(switchboard.OutboxWebhook, cfg.WebhookExpiry, webhook.Parallel, func(ctx context.Context, rec switchboard.OutboxRecord) error {
		return sender.Send(ctx, rec.Body)
	}, nil, store, m, log)
	return true
}

// start runs the workers until stop.
func (d *delivery) start() {
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	for _, w := range d.workers {
		d.wg.Go(func() { w.Run(ctx) })
	}
}

// stop ends the workers and waits for the attempts in flight, then closes the connections kept
// open to the receivers; undelivered records stay in the outbox for the next start.
func (d *delivery) stop() {
	if d.cancel != nil {
		d.cancel()
		d.wg.Wait()
		d.cancel = nil
	}
	for _, s := range d.senders {
		s.CloseIdleConnections()
	}
}
