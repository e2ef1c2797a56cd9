package server

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// A start without --webhook-url and without push providers still gives up the webhooks and
// pushes that the outbox holds from a start with them once they are older than
// --webhook-expiry and --push-expiry, logged at WARN: they neither stay in the database for
// ever nor are sent if the receiver comes back (docs/operations.md "Data growth and
// retention").
func TestRecordsOfReceiversNoLongerConfiguredExpire(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "dialtone.db")
	store, err := sqlite.Open(t.Context(), db, sqlite.Options{})
	must(t, err)
	stale := time.Now().Add(-48 * time.Hour).UnixMilli()
	_, err = store.Commit(t.Context(), switchboard.Change{Outbox: []switchboard.OutboxRecord{
		{Kind: switchboard.OutboxWebhook, OrderKey: "c1", Body: []byte(`{}`), CreatedAt: stale},
		{Kind: switchboard.OutboxPush, OrderKey: switchboard.PushOrderKey("c1", "bob"), Body: []byte(`{}`), CreatedAt: stale}}})
	must(t, err)
	must(t, store.Close())

	l := launch(t, []string{"--secret", testSecret, "--listen", "127.0.0.1:0", "--data", dir, "--log-level", "warn"})
	t.Cleanup(func() {
		l.cancel()
		must(t, <-l.done)
	})
	l.logs.waitFor(t, "outbox=webhook")
	l.logs.waitFor(t, "outbox=push")
	raw, err := sql.Open("sqlite", db) // beside the server's store, as the sqlite3 shell would
	must(t, err)
	defer raw.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var left int
		must(t, raw.QueryRow(`SELECT COUNT(*) FROM outbox`).Scan(&left))
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d outbox records left 10 s after a start without their receivers, want the expired ones dropped\n%s", left, l.logs)
		}
	}
}
