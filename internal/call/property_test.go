package call

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// chooser is the source of random choices: rapid in the property test, fuzz bytes in FuzzApply.
type chooser interface{ intn(n int, label string) int }

type rapidChooser struct{ t *rapid.T }

func (r rapidChooser) intn(n int, label string) int { return rapid.IntRange(0, n-1).Draw(r.t, label) }

// checker is what the invariants report to (both *testing.T and *rapid.T).
type checker interface {
	Helper()
	Fatalf(format string, args ...any)
}

var (
	poolUsers   = []string{"u0", "u1", "u2", "u3", "u4", "u5", "bad id"}
	poolDevices = []string{"", "d0", "d1", "d2"}
	codes       = []Code{6000001, 6000271, 6000272, 6000273, 6000274, 6000276, 6000281, 6000283, 6000286, 6000290}
)

func pick[T any](c chooser, xs []T, label string) T { return xs[c.intn(len(xs), label)] }

func pickUsers(c chooser, label string) []string {
	n := c.intn(5, label+"#")
	out := make([]string, n)
	for i := range out {
		out[i] = pick(c, poolUsers, label)
	}
	return out
}

func pickPush(c chooser) *PushConfig {
	if c.intn(2, "push") == 0 {
		return nil
	}
	return &PushConfig{Title: "t"}
}

// randomInput draws one input for the call.
func randomInput(c chooser) Input {
	a := Actor{UserID: pick(c, poolUsers, "user"), DeviceID: pick(c, poolDevices, "device")}
	data := pick(c, []string{"", "x"}, "data")
	switch c.intn(11, "op") {
	case 0:
		invitees := pickUsers(c, "targets")
		return Cancel{Actor: a, Invitees: invitees, ExtendedData: data, Push: pickPush(c)}
	case 1, 2:
		return Accept{Actor: a, ExtendedData: data}
	case 3:
		return Reject{Actor: a, ExtendedData: data}
	case 4:
		return Receipt{Actor: a}
	case 5:
		return CallingInvite{Actor: a, Invitees: pickUsers(c, "invitees"), Timeout: c.intn(12, "timeout"), ExtendedData: data, Push: pickPush(c)}
	case 6:
		return Join{Actor: a, ExtendedData: data}
	case 7:
		return QuitCall{Actor: a, ExtendedData: data, Push: pickPush(c)}
	case 8:
		return End{Actor: a, ExtendedData: data, Push: pickPush(c)}
	case 9:
		return DeviceLost(a)
	}
	return GlareCancel{UserID: a.UserID}
}

// drive creates a random call and applies random inputs to it, checking every invariant after
// every change.
func drive(t checker, c chooser) {
	t.Helper()
	cfg := Config{MaxCallUsers: 2 + c.intn(9, "max"), JoinPolicy: JoinPolicy(c.intn(2, "policy")), NotReceivedCheckMs: 3000 + int64(c.intn(3, "check"))*1000}
	inv := Invite{Actor: Actor{UserID: pick(c, poolUsers[:6], "caller"), DeviceID: pick(c, poolDevices, "device")}, CallID: "c",
		Invitees: pickUsers(c, "invitees"), Timeout: c.intn(12, "timeout"), Mode: Mode(c.intn(2, "mode")),
		Push: pickPush(c), EnableNotReceivedCheck: c.intn(2, "nrc") == 1}
	now := 1 + int64(c.intn(1000, "t0")) // Unix ms: never 0
	out, err := Create(inv, cfg, now)
	if err != nil {
		checkError(t, err)
		return
	}
	checkChange(t, Call{}, out.Call, inv, out, cfg)
	checkUserFields(t, Call{}, out.Call, inv, now)
	call := out.Call
	for steps := c.intn(30, "steps"); steps > 0; steps-- {
		now += int64(c.intn(9000, "dt"))
		call = expireChecked(t, call, cfg, now)
		in := randomInput(c)
		before := call.Clone()
		out, err := Apply(call, in, cfg, now)
		if !reflect.DeepEqual(before, call) {
			t.Fatalf("Apply mutated its input")
		}
		if err != nil {
			checkError(t, err)
			continue
		}
		checkOutcome(t, call, out, in, cfg, now)
		call = out.Call
	}
}

// expireChecked applies the due deadlines instant by instant (checking each change) and checks
// that one Expire at now does the same.
func expireChecked(t checker, c Call, cfg Config, now int64) Call {
	t.Helper()
	all := Expire(c, cfg, now)
	var events []Event
	cur := c
	for due := cur.NextDue(); cur.State == Started && due != 0 && due <= now; due = cur.NextDue() {
		out := Expire(cur, cfg, due)
		if out.Call.Version != cur.Version+1 {
			t.Fatalf("one instant must be one change: version %d → %d", cur.Version, out.Call.Version)
		}
		checkOutcome(t, cur, out, nil, cfg, due)
		events = append(events, out.Events...)
		cur = out.Call
	}
	if !reflect.DeepEqual(all.Call, cur) || !reflect.DeepEqual(all.Events, events) {
		t.Fatalf("Expire at once differs from instant by instant")
	}
	return all.Call
}

// Expire with nothing due changes nothing and copies nothing: the shell calls it before every
// op (R3 preamble), and a call rarely has a deadline due.
func TestExpireWithNothingDueCopiesNothing(t *testing.T) {
	cfg := DefaultConfig()
	created, err := Create(Invite{Actor: Actor{UserID: "alice", DeviceID: "a1"}, CallID: "c", Invitees: []string{"bob"},
		EnableNotReceivedCheck: true, Push: &PushConfig{Title: "t"}}, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	ended, err := Apply(created.Call, Cancel{Actor: Actor{UserID: "alice", DeviceID: "a1"}}, cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Call{created.Call, ended.Call} {
		now := c.NextDue() - 1
		if c.State != Started {
			now = 1 << 50
		}
		var out Outcome
		if n := testing.AllocsPerRun(10, func() { out = Expire(c, cfg, now) }); n != 0 {
			t.Errorf("Expire of a call in state %v with nothing due at %d made %v allocations", c.State, now, n)
		}
		if out.Changed || !reflect.DeepEqual(out, Outcome{Call: c}) {
			t.Errorf("Expire of a call in state %v with nothing due at %d answered %+v", c.State, now, out)
		}
	}
}

func checkError(t checker, err error) {
	t.Helper()
	e, ok := err.(*Error)
	if !ok || !slices.Contains(codes, e.Code) {
		t.Fatalf("error %v is not a *Error with a §8 code", err)
	}
}

// checkOutcome checks an Apply or single-instant Expire outcome, decided at, against the call
// before it.
func checkOutcome(t checker, before Call, out Outcome, in Input, cfg Config, at int64) {
	t.Helper()
	if before.State == Ended && (out.Changed || !reflect.DeepEqual(out.Call, before)) {
		t.Fatalf("R4.4: an ended call changed")
	}
	if !out.Changed {
		if !reflect.DeepEqual(out.Call, before) || len(out.Events)+len(out.Webhooks)+len(out.Pushes)+len(out.Busy) > 0 {
			t.Fatalf("no change, yet a different call or effects")
		}
		return
	}
	if out.Call.Version != before.Version+1 {
		t.Fatalf("version %d → %d for one change", before.Version, out.Call.Version)
	}
	if before.Mode == Advanced && before.State == Started && out.Call.State == Ended {
		checkAdvancedEnd(t, out.Call, in)
	}
	checkChange(t, before, out.Call, in, out, cfg)
	checkUserFields(t, before, out.Call, in, at)
}

// checkAdvancedEnd: an advanced call ends only through §4's causes.
func checkAdvancedEnd(t checker, after Call, in Input) {
	t.Helper()
	noneAccepted := !slices.ContainsFunc(after.Users, func(u User) bool { return u.State == Accepted })
	callerCancelled := after.User(after.Caller).State == Cancelled
	ok := false
	switch v := in.(type) {
	case End:
		ok = true
	case QuitCall:
		ok = noneAccepted
	case DeviceLost:
		ok = noneAccepted || callerCancelled
	case Cancel:
		ok = len(v.Invitees) == 0 && callerCancelled
	case GlareCancel:
		ok = callerCancelled
	}
	if !ok {
		t.Fatalf("advanced call ended by %T outside §4", in)
	}
}

// checkChange checks the invariants of the call after one change and its effects.
func checkChange(t checker, before, after Call, in any, out Outcome, cfg Config) {
	t.Helper()
	checkCall(t, after, cfg)
	for _, e := range out.Events {
		if e.Version != after.Version {
			t.Fatalf("event %v has version %d, change %d", e.Kind, e.Version, after.Version)
		}
	}
	for _, w := range out.Webhooks {
		if w.Version != after.Version {
			t.Fatalf("webhook %s has version %d", w.Event, w.Version)
		}
	}
	want := oracle(before, after, in)
	got := map[EventKind][]Recipient{}
	for _, e := range out.Events {
		if _, dup := got[e.Kind]; dup {
			t.Fatalf("two %v events in one change", e.Kind)
		}
		got[e.Kind] = e.To
		seen := map[string]bool{}
		for _, r := range e.To {
			if seen[r.UserID] {
				t.Fatalf("%v: %s listed twice", e.Kind, r.UserID)
			}
			seen[r.UserID] = true
		}
	}
	if fmt.Sprint(sortedRecipients(got)) != fmt.Sprint(sortedRecipients(want)) {
		t.Fatalf("%T: recipients\n got %v\nwant %v\nbefore %+v\nafter %+v", in, sortedRecipients(got), sortedRecipients(want), before, after)
	}
	checkEndingEvents(t, before, after, in, out)
	checkBusy(t, before, after, out.Busy)
}

// checkCall checks the invariants of one call value.
func checkCall(t checker, c Call, cfg Config) {
	t.Helper()
	active, pending := 0, 0
	for _, u := range c.Users {
		if u.State.Active() {
			active++
		}
		if u.State.Pending() {
			pending++
		}
		ringing := c.State == Started && u.State.Pending()
		switch {
		case ringing != (u.Deadline != 0):
			t.Fatalf("§10b: %s is %v with deadline %d in a call %d", u.ID, u.State, u.Deadline, c.State)
		case u.CheckAt != 0 && (u.State != Inviting || c.State != Started):
			t.Fatalf("R5.2: %s is %v with a not-received check", u.ID, u.State)
		case u.MainDevice != "" && u.State != Accepted:
			t.Fatalf("§1: %s is %v with main device", u.ID, u.State)
		}
	}
	if c.State == Started && active > cfg.MaxCallUsers {
		t.Fatalf("%d active users, max %d", active, cfg.MaxCallUsers)
	}
	if c.Mode == General && (c.State == Ended) != (pending == 0) {
		t.Fatalf("R4.1: general call %d with %d pending users", c.State, pending)
	}
	if (c.State == Ended) != (c.EndTime != 0) {
		t.Fatalf("endTime %d in a call %d", c.EndTime, c.State)
	}
}

// checkEndingEvents: every user active just before a change that ends the call gets exactly one
// event of that change, on all its devices but a canceller's acting device (§5).
func checkEndingEvents(t checker, before, after Call, in any, out Outcome) {
	t.Helper()
	if before.State != Started || after.State != Ended {
		return
	}
	for _, u := range before.Users {
		if !u.State.Active() {
			continue
		}
		var got []Recipient
		for _, e := range out.Events {
			for _, r := range e.To {
				if r.UserID == u.ID {
					got = append(got, r)
				}
			}
		}
		want := Recipient{UserID: u.ID, Target: AllDevices}
		if c, ok := in.(Cancel); ok && u.ID == c.UserID && c.DeviceID != "" {
			want = Recipient{UserID: u.ID, Target: AllButDevice, DeviceID: c.DeviceID}
		}
		if len(got) != 1 || got[0] != want {
			t.Fatalf("§5: %s active before the end got %v", u.ID, got)
		}
	}
}

// checkBusy: Busy lists exactly the users whose "in a call" status changed, with the new status.
func checkBusy(t checker, before, after Call, busy []Busy) {
	t.Helper()
	var want []Busy
	for _, u := range after.Users {
		was := false
		if p := before.User(u.ID); p != nil {
			was = before.State == Started && p.State == Accepted
		}
		if now := after.State == Started && u.State == Accepted; now != was {
			want = append(want, Busy{UserID: u.ID, InCall: now})
		}
	}
	if fmt.Sprint(want) != fmt.Sprint(busy) {
		t.Fatalf("busy %v, want %v", busy, want)
	}
}

func sortedRecipients(m map[EventKind][]Recipient) []string {
	var out []string
	for k, to := range m {
		for _, r := range to {
			out = append(out, fmt.Sprintf("%v>%v", k, r))
		}
	}
	slices.Sort(out)
	return out
}

func TestProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { drive(t, rapidChooser{t}) })
}
