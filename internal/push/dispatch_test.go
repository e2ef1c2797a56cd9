package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/internal/wire"
)

// fakeProvider records sends; fail maps a token to the errors of its next sends.
type fakeProvider struct {
	mu   sync.Mutex
	sent []string // "token kind"
	fail map[string][]error
}

func (p *fakeProvider) Send(_ context.Context, t Target, m Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if errs := p.fail[t.Token]; len(errs) > 0 {
		p.fail[t.Token] = errs[1:]
		return errs[0]
	}
	p.sent = append(p.sent, t.Token+" "+m.Kind)
	return nil
}

func (p *fakeProvider) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sent
	p.sent = nil
	return s
}

// memStore is the dispatcher's view of the store, in memory.
type memStore struct {
	mu      sync.Mutex
	targets []switchboard.PushTarget
	marks   map[string]bool
}

func (s *memStore) PushTargets(_ context.Context, userID string) ([]switchboard.PushTarget, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []switchboard.PushTarget
	for _, t := range s.targets {
		if t.UserID == userID {
			out = append(out, t)
		}
	}
	return out, nil
}

func (s *memStore) DeletePushTarget(_ context.Context, userID, provider, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.targets = slices.DeleteFunc(s.targets, func(t switchboard.PushTarget) bool {
		return t.UserID == userID && t.Provider == provider && t.Token == token
	})
	return nil
}

func (s *memStore) MarkInvitationPushed(_ context.Context, callID, userID string, _ int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks[callID+"/"+userID] = true
	return nil
}

func (s *memStore) InvitationPushed(_ context.Context, callID, userID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.marks[callID+"/"+userID], nil
}

func (s *memStore) ClearInvitationPushed(_ context.Context, callID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.marks, callID+"/"+userID)
	return nil
}

type dispatchEnv struct {
	t      *testing.T
	d      *Dispatcher
	fcm    *fakeProvider
	store  *memStore
	online map[string]bool
	id     int64
}

func newDispatchEnv(t *testing.T) *dispatchEnv {
	e := &dispatchEnv{t: t, fcm: &fakeProvider{fail: map[string][]error{}}, online: map[string]bool{},
		store: &memStore{marks: map[string]bool{}, targets: []switchboard.PushTarget{
			{UserID: "bob", DeviceID: "p", Provider: "fcm", Token: "bob-1"},
			{UserID: "bob", DeviceID: "t", Provider: "fcm", Token: "bob-2"},
			{UserID: "bob", DeviceID: "i", Provider: "apns", Token: "bob-apns", BundleID: "b"}, // not configured
			{UserID: "carol", DeviceID: "p", Provider: "fcm", Token: "carol-1"},
		}}}
	e.d = NewDispatcher(DispatcherConfig{Providers: map[string]Provider{"fcm": e.fcm}, Targets: e.store, Marks: e.store,
		Connected: func(u string) bool { return e.online[u] }}) // Deliver is called synchronously here
	return e
}

// record returns an outbox record of a push of kind to user in call c1.
func (e *dispatchEnv) record(kind, user string, always bool) switchboard.OutboxRecord {
	e.id++
	body, _ := json.Marshal(wire.PushMessage{Kind: kind, UserID: user, CallID: "c1", Caller: "alice", ServerTime: 1000,
		Deadline: 31000, Always: always})
	return switchboard.OutboxRecord{ID: e.id, Kind: switchboard.OutboxPush, OrderKey: "c1", Body: body}
}

// withdrawal returns an outbox record of a withdrawal to user in call c1 whose alternative,
// when the user was sent no invitation push, is elseKind ("" for none).
func (e *dispatchEnv) withdrawal(user, elseKind string) switchboard.OutboxRecord {
	rec := e.record(KindWithdrawal, user, false)
	var p wire.PushMessage
	if err := json.Unmarshal(rec.Body, &p); err != nil {
		e.t.Fatal(err)
	}
	p.Else = elseKind
	rec.Body, _ = json.Marshal(p)
	return rec
}

// deliver delivers rec and checks that it was sent as want says ("token kind"), in any order:
// a record's targets are sent to side by side.
func (e *dispatchEnv) deliver(rec switchboard.OutboxRecord, want ...string) {
	e.t.Helper()
	if err := e.d.Deliver(e.t.Context(), rec); err != nil {
		e.t.Fatalf("Deliver: %v", err)
	}
	got := e.fcm.take()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		e.t.Fatalf("sent %q, want %q", got, want)
	}
}

func TestDispatchWhoGetsWhat(t *testing.T) {
	e := newDispatchEnv(t)
	// Online: no invitation push, hence no withdrawal.
	e.online["bob"] = true
	e.deliver(e.record(KindInvitation, "bob", false))
	e.deliver(e.record(KindWithdrawal, "bob", false))
	// R5.2: the not-received re-push goes out even to a connected user.
	e.deliver(e.record(KindInvitation, "bob", true), "bob-1 invitation", "bob-2 invitation")
	e.deliver(e.record(KindWithdrawal, "bob", false), "bob-1 withdrawal", "bob-2 withdrawal")
	e.deliver(e.record(KindWithdrawal, "bob", false)) // the mark was taken

	// Offline: invitation (only configured providers), withdrawal once, quit and end.
	e.online["bob"] = false
	e.deliver(e.record(KindInvitation, "bob", false), "bob-1 invitation", "bob-2 invitation")
	e.online["bob"] = true // a withdrawal follows the invitation push whatever the presence
	e.deliver(e.record(KindWithdrawal, "bob", false), "bob-1 withdrawal", "bob-2 withdrawal")
	e.deliver(e.record(KindQuit, "bob", false))
	e.deliver(e.record(KindEnd, "bob", false))
	e.online["bob"] = false
	e.deliver(e.record(KindQuit, "bob", false), "bob-1 quit", "bob-2 quit")
	e.deliver(e.record(KindEnd, "carol", false), "carol-1 end")
	e.deliver(e.record(KindEnd, "dave", false)) // no targets

	err := e.d.Deliver(t.Context(), switchboard.OutboxRecord{ID: 99, OrderKey: "c1", Body: []byte("{")})
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed record: %v, want ErrMalformed", err)
	}
}

func TestDispatchInvalidTokenAndRetry(t *testing.T) {
	e := newDispatchEnv(t)
	e.fcm.fail["bob-1"] = []error{fmt.Errorf("gone: %w", ErrTokenInvalid)}
	e.fcm.fail["bob-2"] = []error{errors.New("503"), errors.New("503")}
	rec := e.record(KindInvitation, "bob", false)
	for range 2 {
		if err := e.d.Deliver(t.Context(), rec); err == nil {
			t.Fatal("Deliver with a failing target succeeded")
		}
	}
	e.deliver(rec, "bob-2 invitation") // only the target that failed is sent again
	targets, _ := e.store.PushTargets(t.Context(), "bob")
	for _, tg := range targets {
		if tg.Token == "bob-1" {
			t.Error("invalid token not removed")
		}
	}
	// The withdrawal of a retried invitation still finds the mark, once.
	e.fcm.fail["bob-2"] = []error{errors.New("timeout")}
	wd := e.record(KindWithdrawal, "bob", false)
	if err := e.d.Deliver(t.Context(), wd); err == nil {
		t.Fatal("withdrawal with a failing target succeeded")
	}
	e.deliver(wd, "bob-2 withdrawal")
	e.deliver(wd) // the mark went with the withdrawal sent in full
	// A rejected message is not retried: the record is done with, though no target accepted it.
	e.fcm.fail["carol-1"] = []error{fmt.Errorf("400: %w", ErrRejected)}
	end := e.record(KindEnd, "carol", false)
	if err := e.d.Deliver(t.Context(), end); !errors.Is(err, ErrNotAccepted) {
		t.Fatalf("Deliver of a push every target rejected = %v, want ErrNotAccepted", err)
	}
	e.deliver(end, "carol-1 end") // a new attempt (after a restart) sends it again
}

// A record is reported accepted by no target (ErrNotAccepted, which the outbox counts as
// dropped) only when each target rejected it or had an invalid token; one target that took it
// is enough for nil. The withdrawal's mark goes all the same: retrying cannot help.
func TestDispatchNotAcceptedByAnyTarget(t *testing.T) {
	e := newDispatchEnv(t)
	e.fcm.fail["bob-1"] = []error{fmt.Errorf("400: %w", ErrRejected)}
	e.deliver(e.record(KindInvitation, "bob", false), "bob-2 invitation")

	e.fcm.fail["bob-1"] = []error{fmt.Errorf("400: %w", ErrRejected)}
	e.fcm.fail["bob-2"] = []error{errors.New("503"), fmt.Errorf("gone: %w", ErrTokenInvalid)}
	wd := e.record(KindWithdrawal, "bob", false)
	if err := e.d.Deliver(t.Context(), wd); err == nil || errors.Is(err, ErrNotAccepted) {
		t.Fatalf("first attempt, a target to retry = %v, want a retryable error", err)
	}
	if err := e.d.Deliver(t.Context(), wd); !errors.Is(err, ErrNotAccepted) {
		t.Fatalf("second attempt, every target refused = %v, want ErrNotAccepted", err)
	}
	if pushed, _ := e.store.InvitationPushed(t.Context(), "c1", "bob"); pushed {
		t.Error("the withdrawal no target accepted left its mark")
	}
	if got := e.fcm.take(); len(got) != 0 {
		t.Errorf("sent %q, want nothing accepted", got)
	}
}

func TestWebhookProvider(t *testing.T) {
	var mu sync.Mutex
	var got []WebhookBody
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var b WebhookBody
		if err := json.Unmarshal(raw, &b); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("body %s: %v", raw, err)
		}
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
		switch b.Target.Token {
		case "gone":
			w.WriteHeader(http.StatusGone)
		case "down":
			w.WriteHeader(http.StatusBadGateway)
		case "bad":
			w.WriteHeader(http.StatusBadRequest)
		case "moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}
	}))
	defer srv.Close()
	p := NewWebhook(srv.URL, nil)
	m := Message{Kind: KindInvitation, CallID: "c1", Caller: "alice", ServerTime: 1000, Deadline: 31000, Title: "T"}
	if err := p.Send(t.Context(), Target{Provider: "webhook", Token: "ok", VoIP: true, BundleID: "app"}, m); err != nil {
		t.Fatal(err)
	}
	want := WebhookBody{Target: WebhookTarget{Provider: "webhook", Token: "ok", VoIP: true, BundleID: "app"}, Message: m}
	if len(got) != 1 || got[0] != want {
		t.Errorf("push service got %+v, want %+v", got, want)
	}
	for token, want := range map[string]struct{ invalid, rejected bool }{
		"gone": {invalid: true}, "down": {}, "bad": {rejected: true}, "moved": {},
	} {
		err := p.Send(t.Context(), Target{Provider: "webhook", Token: token}, m)
		if err == nil || errors.Is(err, ErrTokenInvalid) != want.invalid || errors.Is(err, ErrRejected) != want.rejected {
			t.Errorf("Send to %q: %v, want invalid=%v rejected=%v", token, err, want.invalid, want.rejected)
		}
	}
	if len(got) != 5 {
		t.Errorf("push service got %d requests, want 5 (a redirect is not followed)", len(got))
	}
}

// §9: a withdrawal that failed is sent again by the next process (its mark stays until the
// withdrawal is sent in full), and only once.
func TestDispatchWithdrawalRetriedAfterRestart(t *testing.T) {
	e := newDispatchEnv(t)
	e.deliver(e.record(KindInvitation, "bob", false), "bob-1 invitation", "bob-2 invitation")
	e.fcm.fail["bob-1"] = []error{errors.New("503")}
	e.fcm.fail["bob-2"] = []error{errors.New("503")}
	wd := e.record(KindWithdrawal, "bob", false)
	if err := e.d.Deliver(t.Context(), wd); err == nil {
		t.Fatal("withdrawal with failing targets succeeded")
	}
	e.d = NewDispatcher(DispatcherConfig{Providers: map[string]Provider{"fcm": e.fcm}, Targets: e.store, Marks: e.store})
	e.deliver(wd, "bob-1 withdrawal", "bob-2 withdrawal")
	e.deliver(wd)
}

// §9: a push carries the profile its resourcesID names; an unknown or empty one, none.
func TestDispatchProfiles(t *testing.T) {
	ring := Profile{Sound: "ring.caf", APNsCategory: "CALL", AndroidChannelID: "calls"}
	var got []Message
	rec := providerFunc(func(_ context.Context, _ Target, m Message) error { got = append(got, m); return nil })
	store := &memStore{marks: map[string]bool{}, targets: []switchboard.PushTarget{{UserID: "bob", Provider: "fcm", Token: "t"}}}
	d := NewDispatcher(DispatcherConfig{Providers: map[string]Provider{"fcm": rec}, Profiles: map[string]Profile{"ring": ring},
		Targets: store, Marks: store})
	for i, id := range []string{"ring", "nosuch", ""} {
		body, _ := json.Marshal(wire.PushMessage{Kind: KindEnd, UserID: "bob", CallID: "c1", ResourcesID: id})
		if err := d.Deliver(t.Context(), switchboard.OutboxRecord{ID: int64(i + 1), OrderKey: "c1", Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 3 || got[0].Profile != ring || got[1].Profile != (Profile{}) || got[2].Profile != (Profile{}) ||
		got[1].ResourcesID != "nosuch" {
		t.Errorf("messages %+v; want the ring profile, then none twice", got)
	}
}

type providerFunc func(context.Context, Target, Message) error

func (f providerFunc) Send(ctx context.Context, t Target, m Message) error { return f(ctx, t, m) }

// A record whose retry needs no send (the user came online) leaves no bookkeeping behind.
func TestDispatchForgetsDeliveredRecords(t *testing.T) {
	e := newDispatchEnv(t)
	for i := range 50 {
		e.online["bob"] = false
		e.fcm.fail["bob-1"] = []error{errors.New("unavailable")}
		rec := e.record([]string{KindInvitation, KindQuit, KindEnd}[i%3], "bob", false)
		if err := e.d.Deliver(t.Context(), rec); err == nil {
			t.Fatal("the first attempt succeeded")
		}
		e.fcm.take() // bob-2 had it
		e.online["bob"] = true
		e.deliver(rec)
	}
	e.d.mu.Lock()
	defer e.d.mu.Unlock()
	if n := len(e.d.done); n != 0 {
		t.Errorf("%d records still have bookkeeping", n)
	}
}

// Pushes whose resourcesID names no profile are logged once per name (docs/behaviour.md §12),
// but a client chooses the names: however many it makes up, the names remembered stay bounded.
func TestDispatchUnknownProfileNamesHeldBounded(t *testing.T) {
	e := newDispatchEnv(t)
	for i := range 3 * maxWarned {
		body, _ := json.Marshal(wire.PushMessage{Kind: KindEnd, UserID: "carol", CallID: "c1",
			ResourcesID: fmt.Sprintf("made-up-%d", i)})
		e.deliver(switchboard.OutboxRecord{ID: int64(i + 1), OrderKey: "c1", Body: body}, "carol-1 "+KindEnd)
	}
	e.d.mu.Lock()
	defer e.d.mu.Unlock()
	if n := len(e.d.warned); n > maxWarned {
		t.Errorf("%d names remembered after %d made-up ones, want at most %d", n, 3*maxWarned, maxWarned)
	}
}

// §9: a withdrawal written by a callQuit or callEnd carries that op's push as its alternative
// (wire.PushMessage.Else): a user who was sent the invitation push gets the withdrawal; one
// who was not (online when invited) gets the op's push instead, when it has no connected
// device, like any quit or end push.
func TestDispatchWithdrawalElseTheOpsPush(t *testing.T) {
	e := newDispatchEnv(t)
	e.online["carol"] = true
	e.deliver(e.withdrawal("carol", KindEnd)) // online: no end push either
	e.online["carol"] = false
	e.deliver(e.withdrawal("carol", KindEnd), "carol-1 end")
	e.deliver(e.withdrawal("carol", KindQuit), "carol-1 quit")
	e.deliver(e.withdrawal("carol", "")) // a plain withdrawal: nothing without the mark
	e.deliver(e.record(KindInvitation, "bob", false), "bob-1 invitation", "bob-2 invitation")
	e.online["bob"] = true
	e.deliver(e.withdrawal("bob", KindEnd), "bob-1 withdrawal", "bob-2 withdrawal")
	if err := e.d.Deliver(t.Context(), e.withdrawal("carol", KindInvitation)); !errors.Is(err, ErrMalformed) {
		t.Errorf("a withdrawal whose alternative is an invitation: %v, want ErrMalformed", err)
	}
}

// §9: a withdrawal goes to a user who was sent the invitation push of the ring it ends. When a
// withdrawal is given up unsent (--push-expiry), the mark of its ring's invitation push stays;
// a later ring of the same call that was not pushed (the user online, or with no target then)
// must not inherit it: its end by a callEnd gets that op's end push under its own rule, not a
// withdrawal.
func TestDispatchUnpushedInvitationDoesNotInheritAnExpiredWithdrawalsMark(t *testing.T) {
	e := newDispatchEnv(t)
	pushedThenWithdrawalExpired := func(user string, tokens ...string) {
		t.Helper()
		want := make([]string, len(tokens))
		for i, tok := range tokens {
			want[i] = tok + " invitation"
		}
		e.deliver(e.record(KindInvitation, user, false), want...)
		for _, tok := range tokens {
			e.fcm.fail[tok] = []error{errors.New("503")}
		}
		expired := e.record(KindWithdrawal, user, false)
		if err := e.d.Deliver(t.Context(), expired); err == nil {
			t.Fatal("withdrawal with failing targets succeeded")
		}
		e.d.Forget(expired.ID) // given up once --push-expiry old
	}

	pushedThenWithdrawalExpired("bob", "bob-1", "bob-2")
	e.online["bob"] = true
	e.deliver(e.record(KindInvitation, "bob", false)) // callingInvite re-rings bob, online: no push
	e.deliver(e.withdrawal("bob", KindEnd))           // online: neither a withdrawal nor the end push

	pushedThenWithdrawalExpired("carol", "carol-1")
	carols := e.store.targets[len(e.store.targets)-1]
	if err := e.store.DeletePushTarget(t.Context(), "carol", carols.Provider, carols.Token); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.record(KindInvitation, "carol", false)) // re-rung with no target: no push
	e.store.targets = append(e.store.targets, carols)   // registered again before the end
	e.deliver(e.withdrawal("carol", KindEnd), "carol-1 end")
}
