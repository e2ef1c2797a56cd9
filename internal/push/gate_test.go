package push

import (
	"context"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/internal/wire"
)

// A provider that keeps answering is never deemed stalled: with every slot taken, a push waits
// for the next slot that frees, however long it takes, as long as answers come within stallAfter.
func TestGateWaitsForAProviderThatAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(1)
		if err := g.acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
		const answerEvery = stallAfter - time.Millisecond
		const waiters = 3
		got := make(chan error, waiters)
		var answering sync.WaitGroup
		for range waiters { // each answers its request answerEvery after it got its slot
			answering.Go(func() {
				err := g.acquire(t.Context())
				got <- err
				if err == nil {
					time.Sleep(answerEvery)
					g.release(true)
				}
			})
		}
		start := time.Now()
		time.Sleep(answerEvery)
		g.release(true)
		for range waiters {
			if err := <-got; err != nil {
				t.Fatalf("acquire after %v while the provider answered every %v = %v, want a slot",
					time.Since(start), answerEvery, err)
			}
		}
		if want := waiters * answerEvery; time.Since(start) != want {
			t.Errorf("the last waiter got its slot after %v, want %v", time.Since(start), want)
		}
		answering.Wait()
	})
}

// A provider whose every slot waits for an answer that does not come is stalled stallAfter after
// its last answer: a push waiting for a slot then gives up, and the next ones fail at once,
// until a request ends with an answer.
func TestGateStalledProviderFailsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(1)
		start := time.Now()
		if err := g.acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := g.acquire(t.Context()); !errors.Is(err, errStalled) || time.Since(start) != stallAfter {
			t.Fatalf("acquire on a provider silent since %v = %v after %v, want errStalled after %v",
				start, err, time.Since(start), stallAfter)
		}
		before := time.Now()
		if err := g.acquire(t.Context()); !errors.Is(err, errStalled) || time.Since(before) != 0 {
			t.Fatalf("acquire on a stalled provider = %v after %v, want errStalled at once", err, time.Since(before))
		}
		g.release(false) // the request timed out: a free slot, but no answer
		if err := g.acquire(t.Context()); err != nil {
			t.Fatalf("acquire of a free slot = %v, want nil", err)
		}
		g.release(true)
		if err := g.acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
		before = time.Now()
		if err := g.acquire(t.Context()); !errors.Is(err, errStalled) || time.Since(before) != stallAfter {
			t.Fatalf("acquire after an answer = %v after %v, want errStalled after %v", err, time.Since(before), stallAfter)
		}
	})
}

// A provider idle for a long time has not stopped answering: a burst of more pushes than its
// slots, right after, waits for the first answers instead of being taken as stalled at once.
// One whose last request went unanswered is taken as stalled as soon as its slots fill again.
func TestGateIdleProviderIsNotStalled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(1)
		time.Sleep(time.Hour) // no push for an hour
		if err := g.acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(100 * time.Millisecond)
			g.release(true)
		}()
		start := time.Now()
		if err := g.acquire(t.Context()); err != nil || time.Since(start) != 100*time.Millisecond {
			t.Fatalf("acquire in a burst after an idle hour = %v after %v, want a slot once the provider answers (100ms)",
				err, time.Since(start))
		}
		time.Sleep(10 * time.Second)
		g.release(false) // that request went unanswered: the provider is silent
		time.Sleep(time.Minute)
		if err := g.acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		if err := g.acquire(t.Context()); !errors.Is(err, errStalled) || time.Since(start) != 0 {
			t.Fatalf("acquire on a provider silent since its last request = %v after %v, want errStalled at once",
				err, time.Since(start))
		}
	})
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestUnanswered(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{fmt.Errorf("push fcm: status 503: %w", errors.New("x")), false},
		{fmt.Errorf("push apns: %w", ErrTokenInvalid), false},
		{errors.New("dial tcp: connection refused"), false},
		{fmt.Errorf("push fcm: Post: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("push fcm: %w", context.Canceled), true},
		{fmt.Errorf("push webhook: read: %w", timeoutErr{}), true},
	} {
		if got := unanswered(c.err); got != c.want {
			t.Errorf("unanswered(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// docs/push.md "A hung provider delays only its own pushes": a user's push to a stalled
// provider fails at once, to be retried, while the user's targets on a provider that works get it;
// the retry sends only to the stalled provider's target.
func TestDispatchStalledProviderDelaysOnlyItsTargets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hung := make(chan struct{})
		defer close(hung)
		slow := providerFunc(func(ctx context.Context, _ Target, _ Message) error {
			select {
			case <-hung:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		works := &fakeProvider{fail: map[string][]error{}}
		store := &memStore{marks: map[string]bool{}}
		d := NewDispatcher(DispatcherConfig{Providers: map[string]Provider{"apns": slow, "fcm": works},
			Targets: store, Marks: store})
		if d.Parallel() != 2*SlotsPerProvider {
			t.Errorf("Parallel() = %d, want %d for two providers", d.Parallel(), 2*SlotsPerProvider)
		}
		rec := func(id int64, user string) switchboard.OutboxRecord {
			body, _ := json.Marshal(wire.PushMessage{Kind: KindEnd, UserID: user, CallID: "c1"})
			return switchboard.OutboxRecord{ID: id, OrderKey: "c1/" + user, Body: body}
		}
		// Every APNs slot taken by a push that gets no answer.
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		store.targets = []switchboard.PushTarget{{UserID: "bob", Provider: "apns", Token: "bob-apns", BundleID: "b"},
			{UserID: "bob", Provider: "fcm", Token: "bob-fcm"}}
		for i := range SlotsPerProvider {
			u := fmt.Sprintf("u%d", i)
			store.targets = append(store.targets, switchboard.PushTarget{UserID: u, Provider: "apns", Token: u, BundleID: "b"})
		}
		for i := range SlotsPerProvider {
			go func() { _ = d.Deliver(ctx, rec(int64(100+i), fmt.Sprintf("u%d", i))) }()
		}
		synctest.Wait()
		time.Sleep(stallAfter)

		start := time.Now()
		err := d.Deliver(t.Context(), rec(1, "bob"))
		if !errors.Is(err, errStalled) || time.Since(start) != 0 {
			t.Fatalf("Deliver to a stalled APNs = %v after %v, want errStalled at once", err, time.Since(start))
		}
		if got := works.take(); !slices.Equal(got, []string{"bob-fcm end"}) {
			t.Fatalf("sent %q, want bob's FCM target to get it", got)
		}
		cancel() // the hung requests give up: APNs slots free, though it answered none
		synctest.Wait()
		go func() { hung <- struct{}{} }() // APNs now answers the next request
		if err := d.Deliver(t.Context(), rec(1, "bob")); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if got := works.take(); len(got) != 0 {
			t.Errorf("the retry sent %q again to a target that had it", got)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// §9, docs/push.md "The VoIP rule": a withdrawal is never sent to an APNs VoIP target, so it
// needs no APNs request, and a stalled APNs does not hold it up: it is done at once (the
// user's mark cleared), rather than retried until APNs answers again.
func TestDispatchPushNeedingNoRequestIgnoresStalledProvider(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, p8 := p8Key(t, elliptic.P256())
		hang := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			<-r.Context().Done()
			return nil, r.Context().Err()
		})
		apns, err := NewAPNs(APNsConfig{Key: p8, KeyID: "KEY123", TeamID: "TEAM456", Endpoint: "https://apns.example",
			Client: &http.Client{Transport: hang}})
		if err != nil {
			t.Fatal(err)
		}
		store := &memStore{marks: map[string]bool{"c1/bob": true}, targets: []switchboard.PushTarget{
			{UserID: "bob", Provider: "apns", Token: "bob-voip", VoIP: true, BundleID: "app"}}}
		for i := range SlotsPerProvider {
			u := fmt.Sprintf("u%d", i)
			store.targets = append(store.targets, switchboard.PushTarget{UserID: u, Provider: "apns", Token: u, BundleID: "app"})
		}
		d := NewDispatcher(DispatcherConfig{Providers: map[string]Provider{"apns": apns}, Targets: store, Marks: store})
		rec := func(id int64, kind, user string) switchboard.OutboxRecord {
			body, _ := json.Marshal(wire.PushMessage{Kind: kind, UserID: user, CallID: "c1"})
			return switchboard.OutboxRecord{ID: id, OrderKey: "c1/" + user, Body: body}
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		for i := range SlotsPerProvider {
			go func() { _ = d.Deliver(ctx, rec(int64(100+i), KindInvitation, fmt.Sprintf("u%d", i))) }()
		}
		synctest.Wait()
		time.Sleep(stallAfter)

		if err := d.Deliver(t.Context(), rec(1, KindWithdrawal, "bob")); err != nil {
			t.Fatalf("withdrawal to a VoIP target only, with APNs stalled = %v, want nil at once", err)
		}
		if pushed, _ := store.InvitationPushed(t.Context(), "c1", "bob"); pushed {
			t.Error("the withdrawal left bob's mark")
		}
	})
}
