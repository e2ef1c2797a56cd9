package switchboard

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/call"
)

// memStore keeps what Do, Invite and the deadlines use (calls, busy records, idempotency
// records) in memory, with Commit's documented checks: versions, busy records and claims
// (ErrConflict), idempotency keys (ErrKeyTaken), all or nothing.
type memStore struct {
	Store // the rest is not used by the operations under test
	mu    sync.Mutex
	calls map[string]call.Call
	busy  map[string]string // user → call
	idem  map[string]IdempotencyRecord
	log   map[string][]LogEntry
}

func newMemStore() *memStore {
	return &memStore{calls: map[string]call.Call{}, busy: map[string]string{}, idem: map[string]IdempotencyRecord{},
		log: map[string][]LogEntry{}}
}

func (m *memStore) Call(_ context.Context, id string) (call.Call, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.calls[id]
	if !ok {
		return call.Call{}, ErrNotFound
	}
	return c.Clone(), nil
}

func (m *memStore) BusyCall(_ context.Context, userID string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.busy[userID], nil
}

func (m *memStore) Idempotency(_ context.Context, userID, key string, since int64) (IdempotencyRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.idem[userID+"\x00"+key]
	return r, ok && r.CreatedAt >= since, nil
}

func (m *memStore) Commit(_ context.Context, ch Change) ([]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range ch.Calls {
		if m.calls[w.Call.ID].Version != w.PrevVersion {
			return nil, ErrConflict
		}
	}
	busy := map[string]string{}
	for k, v := range m.busy {
		busy[k] = v
	}
	for _, b := range ch.Busy {
		switch cur := busy[b.UserID]; {
		case b.InCall && cur != "" && cur != b.CallID:
			return nil, ErrConflict
		case b.InCall:
			busy[b.UserID] = b.CallID
		case cur == b.CallID:
			delete(busy, b.UserID)
		}
	}
	for _, c := range ch.Claims {
		if cur := busy[c.UserID]; cur != "" && cur != c.CallID {
			return nil, ErrConflict
		}
	}
	if r := ch.Idem; r != nil {
		if old, ok := m.idem[r.UserID+"\x00"+r.Key]; ok && old.CreatedAt >= ch.IdemSince {
			return nil, ErrKeyTaken
		}
		m.idem[r.UserID+"\x00"+r.Key] = *r
	}
	for _, w := range ch.Calls {
		m.calls[w.Call.ID] = w.Call.Clone()
	}
	m.busy = busy
	seqs := make([]int64, len(ch.Log))
	for i, e := range ch.Log {
		e.Seq = int64(len(m.log[e.UserID]) + 1)
		m.log[e.UserID] = append(m.log[e.UserID], e)
		seqs[i] = e.Seq
	}
	return seqs, nil
}

// chooser draws choices: fuzz bytes, all 0 once they run out.
type chooser struct{ data []byte }

func (c *chooser) intn(n int) int {
	if len(c.data) == 0 || n <= 1 {
		return 0
	}
	v := int(c.data[0]) % n
	c.data = c.data[1:]
	return v
}

func pickOne[T any](c *chooser, xs []T) T { return xs[c.intn(len(xs))] }

var (
	sbUsers   = []string{"u0", "u1", "u2", "u3", "u4"}
	sbDevices = []string{"d0", "d1", ""}
)

// world runs several calls through one switchboard over a memStore on a clock that moves
// only when told to, and checks behaviour's cross-call rules after every step.
type world struct {
	t     *testing.T
	store Store
	sb    *Switchboard
	clock time.Time
	ids   []string             // the calls created, in order
	ended map[string]call.Call // calls seen Ended: never change again (R4.4)
	last  func()               // the last request, to repeat it
	keys  map[string]keyed     // each user's idempotency keys of successes (R7.3)
	key   string               // the last key used
}

func newWorld(t *testing.T, store Store) *world {
	w := &world{t: t, store: store, clock: time.UnixMilli(1_700_000_000_000), ended: map[string]call.Call{},
		keys: map[string]keyed{}}
	w.sb = New(Config{}, w.store, func() time.Time { return w.clock }, nil)
	return w
}

func (w *world) now() int64 { return w.clock.UnixMilli() }

// snapshot reads every call created so far.
func (w *world) snapshot() map[string]call.Call {
	w.t.Helper()
	out := map[string]call.Call{}
	for _, id := range w.ids {
		c, err := w.store.Call(context.Background(), id)
		if err != nil {
			w.t.Fatalf("call %s: %v", id, err)
		}
		out[id] = c
	}
	return out
}

func (w *world) busyRecord(user string) string {
	w.t.Helper()
	id, err := w.store.BusyCall(context.Background(), user)
	if err != nil {
		w.t.Fatalf("busy record of %s: %v", user, err)
	}
	return id
}

// inCall returns the Started call in which user is Accepted in calls, or "" (§1); it fails
// when there are two (R3.1, R3.3, R3.7).
func (w *world) inCall(calls map[string]call.Call, user string) string {
	found := ""
	for _, id := range w.ids {
		c := calls[id]
		if u := c.User(user); c.State == call.Started && u != nil && u.State == call.Accepted {
			if found != "" {
				w.t.Fatalf("§1: %s is in two calls, %s and %s", user, found, id)
			}
			found = id
		}
	}
	return found
}

// busyAfterDeadlines is inCall once the due deadlines of the call are applied (R3 preamble).
func (w *world) busyAfterDeadlines(calls map[string]call.Call, user, except string) (string, call.Call) {
	id := w.inCall(calls, user)
	if id == "" || id == except {
		return "", call.Call{}
	}
	c := call.Expire(calls[id], w.sb.cfg.Call, w.now()).Call
	if u := c.User(user); c.State != call.Started || u.State != call.Accepted {
		return "", call.Call{}
	}
	return id, c
}

// onlyDeadlines checks that every call in after is as in before, or as before with its due
// deadlines applied: what a refused op, or a repeat of a success, may leave behind (R3, R7.3).
func (w *world) onlyDeadlines(what string, before, after map[string]call.Call) {
	w.t.Helper()
	for id, a := range after {
		b, ok := before[id]
		if !ok {
			w.t.Fatalf("%s: created call %s", what, id)
		}
		if !reflect.DeepEqual(a, b) && !reflect.DeepEqual(a, call.Expire(b, w.sb.cfg.Call, w.now()).Call) {
			w.t.Fatalf("%s: call %s changed beyond its deadlines:\nbefore %+v\nafter  %+v", what, id, b, a)
		}
	}
}

// check verifies the invariants that span calls.
func (w *world) check(what string) {
	w.t.Helper()
	calls := w.snapshot()
	if m, ok := w.store.(*memStore); ok && len(m.calls) != len(w.ids) {
		w.t.Fatalf("%s: %d calls stored, %d created", what, len(m.calls), len(w.ids))
	}
	for _, u := range sbUsers {
		if got, want := w.busyRecord(u), w.inCall(calls, u); got != want {
			w.t.Fatalf("%s: busy record of %s is %q, the calls say %q", what, u, got, want)
		}
	}
	for id, c := range calls {
		if e, ok := w.ended[id]; ok && !reflect.DeepEqual(e, c) {
			w.t.Fatalf("R4.4 %s: ended call %s changed", what, id)
		}
		if c.State == call.Ended {
			w.ended[id] = c
		}
		// A deadline that is stored must be scheduled no later than it is due, or it never fires.
		if due := c.NextDue(); due != 0 {
			w.sb.timers.mu.Lock()
			at, ok := w.sb.timers.at[id]
			w.sb.timers.mu.Unlock()
			if !ok || at > due {
				w.t.Fatalf("R3.5 %s: call %s has a deadline at %d, scheduled %v at %d", what, id, due, ok, at)
			}
		}
	}
}

// fire runs the scheduler once, as its loop does: every call whose deadline is due is ticked.
// Afterwards no call rings past its deadline (R3.5).
func (w *world) fire() {
	ready, _ := w.sb.timers.popDue()
	for _, id := range ready {
		w.sb.tick(id)
	}
	for id, c := range w.snapshot() {
		for _, u := range c.Users {
			if c.State == call.Started && u.State.Pending() && u.Deadline <= w.now() {
				w.t.Fatalf("R3.5: after the due deadlines fired, %s still %v in %s", u.ID, u.State, id)
			}
		}
	}
}

func code(err error) call.Code {
	var ce *call.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	if err != nil {
		return -1
	}
	return 0
}

// invite makes a callInvite and checks the busy rule (R3.1).
func (w *world) invite(in call.Invite, key string) {
	w.t.Helper()
	before := w.snapshot()
	other, _ := w.busyAfterDeadlines(before, in.UserID, "")
	res, err := w.sb.Invite(context.Background(), in, key)
	what := fmt.Sprintf("invite %+v", in)
	if w.repeated(what, in.UserID, key, before, res, err) {
		return
	}
	_, createErr := call.Create(in, w.sb.cfg.Call, w.now())
	want := code(createErr)
	if want == 0 && other != "" {
		want = call.CodeBusy
	}
	if got := code(err); got != want {
		w.t.Fatalf("%s: code %d, want %d (caller in %q)", what, got, want, other)
	}
	if err != nil {
		w.onlyDeadlines(what, before, w.snapshot())
		return
	}
	w.ids = append(w.ids, res.Call.ID)
	w.remember(what, in.UserID, key, res)
}

// keyed is a success made with an idempotency key: the request and its reply.
type keyed struct {
	what  string
	reply Result
}

// repeated checks a request made with the key of an earlier success of the same user: a
// repeat gets the first reply, another request 6000001, and neither changes anything but due
// deadlines (R7.3). It reports whether the key was taken.
func (w *world) repeated(what, user, key string, before map[string]call.Call, res Result, err error) bool {
	w.t.Helper()
	first, ok := w.keys[user+"\x00"+key]
	if key == "" || !ok {
		return false
	}
	first.reply.Repeated = true // and marked so, that it spends no invite (R7.3)
	switch {
	case first.what != what:
		if code(err) != call.CodeInvalidParameter {
			w.t.Fatalf("R7.3 %s: key of %s reused, got %+v, %v; want 6000001", what, first.what, res, err)
		}
	case err != nil || !reflect.DeepEqual(res, first.reply):
		w.t.Fatalf("R7.3 %s: repeat got %+v, %v; want the first reply %+v", what, res, err, first.reply)
	}
	w.onlyDeadlines("R7.3 "+what, before, w.snapshot())
	return true
}

func (w *world) remember(what, user, key string, res Result) {
	if res.Repeated {
		w.t.Fatalf("%s with a fresh key: reply marked Repeated", what)
	}
	if key != "" {
		w.keys[user+"\x00"+key] = keyed{what, res}
	}
}

// do applies in to callID and checks its code against the call's own decision plus the busy
// rule and glare (R3.3, R3.3b, R3.7), and that a refusal changes nothing but deadlines.
func (w *world) do(callID string, in call.Input, key string) {
	w.t.Helper()
	before := w.snapshot()
	what := fmt.Sprintf("%T%+v on %s", in, in, callID)
	want, glareOf := call.Code(0), ""
	if err := call.Check(in); err != nil {
		want = call.CodeInvalidParameter
	} else if c, ok := before[callID]; !ok {
		want = call.CodeCallUnavailable
	} else {
		exp := call.Expire(c, w.sb.cfg.Call, w.now()).Call
		out, err := call.Apply(exp, in, w.sb.cfg.Call, w.now())
		want = code(err)
		if u := out.MustBeFree; err == nil && u != "" {
			if other, oc := w.busyAfterDeadlines(before, u, callID); other != "" {
				p := exp.User(u)
				glare := false
				switch in.(type) {
				case call.Accept:
					glare = true
				case call.Join:
					glare = p != nil && p.State.Pending()
				}
				if glare && oc.Caller == u && !oc.Answered {
					glareOf = other
				} else {
					want = call.CodeBusy
				}
			}
		}
	}
	res, err := w.sb.Do(context.Background(), callID, in, key)
	if w.repeated(what, in.ActingUser(), key, before, res, err) {
		return
	}
	if got := code(err); got != want {
		w.t.Fatalf("%s: code %d, want %d", what, got, want)
	}
	after := w.snapshot()
	if err != nil {
		w.onlyDeadlines(what, before, after)
		return
	}
	if glareOf != "" {
		if c := after[glareOf]; c.State != call.Ended || c.User(in.ActingUser()).State != call.Cancelled {
			w.t.Fatalf("R3.3b %s: own unanswered call %s not cancelled: %+v", what, glareOf, c)
		}
	}
	w.remember(what, in.ActingUser(), key, res)
}

func (w *world) input(c *chooser) call.Input {
	a := call.Actor{UserID: pickOne(c, sbUsers), DeviceID: pickOne(c, sbDevices)}
	targets := func() []string {
		out := make([]string, c.intn(3))
		for i := range out {
			out[i] = pickOne(c, sbUsers)
		}
		return out
	}
	switch c.intn(11) {
	case 0:
		return call.Cancel{Actor: a, Invitees: targets()}
	case 1, 2, 3:
		return call.Accept{Actor: a}
	case 4:
		return call.Reject{Actor: a}
	case 5:
		return call.Receipt{Actor: a}
	case 6:
		return call.CallingInvite{Actor: a, Invitees: append(targets(), pickOne(c, sbUsers)), Timeout: 1 + c.intn(10)}
	case 7, 8:
		return call.Join{Actor: a}
	case 9:
		return call.QuitCall{Actor: a}
	}
	return call.End{Actor: a}
}

// run drives the world from fuzz bytes.
func (w *world) run(c *chooser) {
	w.sb.cfg.Call.JoinPolicy = call.JoinPolicy(c.intn(2))
	for steps := 0; steps < 60 && len(c.data) > 0; steps++ {
		key := ""
		switch c.intn(6) {
		case 0, 1:
			key = fmt.Sprintf("key-%015d", steps)
		case 2:
			key = w.key // reused, for another request or the same one
		}
		w.key = key
		switch op := c.intn(16); {
		case op < 3:
			in := call.Invite{Actor: call.Actor{UserID: pickOne(c, sbUsers), DeviceID: pickOne(c, sbDevices[:2])},
				Mode: call.Mode(c.intn(2)), Timeout: 1 + c.intn(10)}
			for n := 1 + c.intn(3); n > 0; n-- {
				in.Invitees = append(in.Invitees, pickOne(c, sbUsers))
			}
			w.last = func() { w.invite(in, key) }
			w.invite(in, key)
		case op < 10 && len(w.ids) > 0:
			id, in := pickOne(c, w.ids), w.input(c)
			w.last = func() { w.do(id, in, key) }
			w.do(id, in, key)
		case op < 12:
			w.clock = w.clock.Add(time.Duration(c.intn(8)) * 700 * time.Millisecond)
		case op < 13:
			w.fire()
		case op < 14:
			w.sb.Logout(context.Background(), pickOne(c, sbUsers), pickOne(c, sbDevices[:2]))
		case op < 15:
			if err := w.sb.LogoutUser(context.Background(), pickOne(c, sbUsers)); err != nil {
				w.t.Fatalf("LogoutUser: %v", err)
			}
		case w.last != nil: // a retry, possibly late, with the same idempotency key
			w.last()
		}
		w.check(fmt.Sprintf("step %d", steps))
	}
}

// FuzzSwitchboard drives several calls of a few users with several devices each through the
// switchboard: invites in both modes, every op, idempotent retries, device losses and logouts,
// and deadlines fired by the scheduler at arbitrary times. After every step: a user is in at
// most one call and its busy record says which (§1, R3.1, R3.3, R3.7); a refusal has the code
// the call and the busy rule decide (§8) and changes nothing but due deadlines; glare cancels
// the user's own unanswered call (R3.3b); an ended call never changes (R4.4); every stored
// deadline is scheduled and none is left unapplied once the scheduler ran (R3.5).
func FuzzSwitchboard(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 0, 1, 0, 1, 0, 5, 2, 1, 0, 1, 4, 1, 1, 0, 5, 0, 0, 4, 1, 1, 0, 11, 7, 12},
		{1, 0, 2, 1, 0, 1, 3, 1, 3, 0, 1, 4, 0, 2, 0, 3, 1, 0, 0, 1, 1, 4, 3, 1, 2, 1, 0, 13, 0, 1, 15, 10, 4, 12},
		{0, 1, 0, 0, 1, 1, 2, 2, 3, 1, 0, 1, 3, 1, 0, 6, 3, 0, 0, 3, 0, 2, 0, 2, 5, 4, 1, 1, 0, 11, 7, 12, 3, 0, 14, 1},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w := newWorld(t, newMemStore())
		defer w.sb.Close()
		w.run(&chooser{data: data})
	})
}

// TestSwitchboardSequences runs FuzzSwitchboard's checks on a few hundred fixed pseudo-random
// sequences.
func TestSwitchboardSequences(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for range 300 {
		data := make([]byte, 200)
		for i := range data {
			data[i] = byte(r.IntN(256))
		}
		w := newWorld(t, newMemStore())
		w.run(&chooser{data: data})
		w.sb.Close()
	}
}
