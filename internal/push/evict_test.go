package push

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/internal/wire"
)

// A record whose sends are under way keeps its bookkeeping when other records push it past
// maxTracked: its retry sends only to the target that failed, never again to one that accepted
// (docs/push.md "Retries").
func TestDispatchRecordInFlightSurvivesEviction(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var (
		mu    sync.Mutex
		sends = map[string]int{}
		held  = true
	)
	p := providerFunc(func(ctx context.Context, tg Target, m Message) error {
		mu.Lock()
		sends[tg.Token]++
		hold := tg.Token == "held" && held
		held = held && !hold
		mu.Unlock()
		if hold {
			close(entered)
			<-release
			return errors.New("unavailable")
		}
		return nil
	})
	store := &memStore{marks: map[string]bool{}, targets: []switchboard.PushTarget{
		{UserID: "bob", DeviceID: "a", Provider: "fcm", Token: "quick"},
		{UserID: "bob", DeviceID: "b", Provider: "fcm", Token: "held"},
		{UserID: "carol", DeviceID: "c", Provider: "fcm", Token: "carol-1"},
	}}
	d := NewDispatcher(DispatcherConfig{Providers: map[string]Provider{"fcm": p}, Targets: store, Marks: store})
	record := func(id int64, user string) switchboard.OutboxRecord {
		body, _ := json.Marshal(wire.PushMessage{Kind: KindEnd, UserID: user, CallID: "c1"})
		return switchboard.OutboxRecord{ID: id, Kind: switchboard.OutboxPush, OrderKey: "c1 " + user, Body: body}
	}

	first := make(chan error, 1)
	go func() { first <- d.Deliver(t.Context(), record(1, "bob")) }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the send to held did not start within 10 s")
	}
	d.mu.Lock() // records the worker gave up keep their bookkeeping: as many as the bound
	for id := range int64(maxTracked) {
		d.done[100_000+id] = newRecord()
	}
	d.mu.Unlock()
	if err := d.Deliver(t.Context(), record(2, "carol")); err != nil { // past the bound: an eviction
		t.Fatalf("Deliver to carol: %v", err)
	}
	close(release)
	if err := <-first; err == nil {
		t.Fatal("the first attempt succeeded while held failed")
	}
	if err := d.Deliver(t.Context(), record(1, "bob")); err != nil {
		t.Fatalf("retry: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if sends["quick"] != 1 || sends["held"] != 2 {
		t.Errorf("sends %v; want quick once (it accepted the first attempt) and held twice", sends)
	}
}
