package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/outbox"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/internal/webhook"
)

// §10 through the outbox worker: a callback is retried until the receiver answers 2xx, whatever
// the failure (a 4xx, a 5xx, no answer in time), each attempt signed again over the same body;
// the call's next callback waits until it is delivered, and is then delivered once.
func TestCallbackRetriedUntil2xxWhateverTheFailure(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var ch switchboard.Change
	for _, body := range []string{`{"eventID":"c1.1.0","event":"call_create"}`, `{"eventID":"c1.2.0","event":"call_accept"}`} {
		ch.Outbox = append(ch.Outbox, switchboard.OutboxRecord{Kind: switchboard.OutboxWebhook, OrderKey: "c1",
			Body: []byte(body), CreatedAt: time.Now().UnixMilli()})
	}
	if _, err := store.Commit(ctx, ch); err != nil {
		t.Fatal(err)
	}

	const secret = "s3cret"
	answers := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusInternalServerError,
		0 /* no answer in time */, http.StatusNoContent, http.StatusOK}
	var (
		mu   sync.Mutex
		got  []string // "eventID status" per attempt
		done = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte(secret), r.Header.Get(webhook.Header), body, time.Now(), time.Minute); err != nil {
			t.Errorf("attempt %d: %v", len(got), err)
		}
		var m struct{ EventID string }
		_ = json.Unmarshal(body, &m)
		mu.Lock()
		status := answers[min(len(got), len(answers)-1)]
		got = append(got, m.EventID+" "+http.StatusText(status))
		if len(got) == len(answers) {
			close(done)
		}
		mu.Unlock()
		if status == 0 {
			<-r.Context().Done() // the sender gives up first
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.Timeout = 200 * time.Millisecond
	sender := webhook.New(srv.URL, secret, client, nil)
	w := outbox.New(outbox.Config{Kind: switchboard.OutboxWebhook, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		Poll: 5 * time.Millisecond, Deliver: func(ctx context.Context, rec switchboard.OutboxRecord) error {
			return sender.Send(ctx, rec.Body)
		}}, store, nil, nil)
	wctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { w.Run(wctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("attempts %q within 10 s; want %d", got, len(answers))
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		heads, err := store.OutboxHeads(ctx, switchboard.OutboxWebhook, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(heads) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d callbacks", len(heads))
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"c1.1.0 Bad Request", "c1.1.0 Unauthorized", "c1.1.0 Not Found", "c1.1.0 Internal Server Error",
		"c1.1.0 ", "c1.1.0 No Content", "c1.2.0 OK"}
	if len(got) != len(want) {
		t.Fatalf("attempts %q; want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("attempts %q; want %q", got, want)
		}
	}
}
