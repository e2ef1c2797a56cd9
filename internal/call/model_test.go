package call

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// A reference model of one call, written from behaviour.md alone (R3–R6, §8): what each input
// must reply and which state every user must be in afterwards. FuzzModel drives the package and
// the model side by side and compares them after every step.

type mUser struct {
	id       string
	state    UserState
	inviter  string
	deadline int64
	checkAt  int64
	main     string
}

type model struct {
	cfg      Config
	mode     Mode
	caller   string
	nrc      bool
	ended    bool
	answered bool
	users    []*mUser
}

func (m *model) user(id string) *mUser {
	for _, u := range m.users {
		if u.id == id {
			return u
		}
	}
	return nil
}

func (m *model) count(f func(UserState) bool) int {
	n := 0
	for _, u := range m.users {
		if f(u.state) {
			n++
		}
	}
	return n
}

// set moves u to st, keeping §10b and §1: a deadline only while pending, a check only while
// Inviting, a main device only while Accepted.
func (m *model) set(u *mUser, st UserState) {
	u.state = st
	if !st.Pending() {
		u.deadline = 0
	}
	if st != Inviting {
		u.checkAt = 0
	}
	if st != Accepted {
		u.main = ""
	}
}

func (m *model) end() {
	m.ended = true
	for _, u := range m.users {
		u.deadline, u.checkAt = 0, 0
	}
}

// settle is R4.1: a general call ends once nobody is pending.
func (m *model) settle() {
	if m.mode == General && !m.ended && m.count(UserState.Pending) == 0 {
		m.end()
	}
}

func (m *model) ring(id, inviter string, timeout int, now int64) {
	if timeout == 0 {
		timeout = 90
	}
	u := m.user(id)
	if u == nil {
		u = &mUser{id: id}
		m.users = append(m.users, u)
	}
	*u = mUser{id: id, state: Inviting, inviter: inviter, deadline: now + int64(timeout)*1000}
	if m.nrc {
		u.checkAt = now + m.cfg.NotReceivedCheckMs
	}
}

// expire applies the deadlines due at now, instant by instant (R3.5, R5.2).
func (m *model) expire(now int64) {
	for !m.ended {
		var t int64
		for _, u := range m.users {
			for _, d := range []int64{u.deadline, u.checkAt} {
				if d != 0 && (t == 0 || d < t) {
					t = d
				}
			}
		}
		if t == 0 || t > now {
			return
		}
		timedOut := false
		for _, u := range m.users {
			switch {
			case u.state.Pending() && u.deadline != 0 && u.deadline <= t:
				m.set(u, Timeout)
				timedOut = true
			case u.state == Inviting && u.checkAt != 0 && u.checkAt <= t:
				m.set(u, NotYetReceived)
			}
		}
		if timedOut {
			m.settle()
		}
	}
}

func validInvitees(self string, ids []string) (valid []string) {
	for i, id := range ids {
		if validUserID(id) && id != self && !slices.Contains(ids[:i], id) {
			valid = append(valid, id)
		}
	}
	return valid
}

// create is R3.1 (without the busy rule, which is the shell's).
func newModel(in Invite, cfg Config, now int64) (*model, Code) {
	if !validUserID(in.UserID) || len(in.Invitees) == 0 || in.Timeout < 0 || in.Timeout > 600 {
		return nil, CodeInvalidParameter
	}
	ring := validInvitees(in.UserID, in.Invitees)
	switch {
	case len(in.Invitees) > 9, 1+len(ring) > cfg.MaxCallUsers:
		return nil, CodeTooManyUsers
	case len(ring) == 0:
		return nil, CodeNoValidInvitee
	}
	m := &model{cfg: cfg, mode: in.Mode, caller: in.UserID, nrc: in.EnableNotReceivedCheck}
	m.users = []*mUser{{id: in.UserID, state: Accepted, main: in.DeviceID}}
	for _, id := range ring {
		m.ring(id, in.UserID, in.Timeout, now)
	}
	return m, 0
}

// cancelAll is the whole-call cancel of R3.2, R3.3b and R4.3.
func (m *model) cancelAll() {
	for _, u := range m.users {
		if u.state.Pending() {
			m.set(u, BeCancelled)
		}
	}
	m.set(m.user(m.caller), Cancelled)
	m.end()
}

func (m *model) accept(u *mUser, device string) {
	m.set(u, Accepted)
	u.main = device
	if u.id != m.caller {
		m.answered = true
	}
	m.settle()
}

func (m *model) quit(u *mUser) {
	m.set(u, Quit)
	if m.count(func(s UserState) bool { return s == Accepted }) == 0 {
		m.end()
	}
}

// apply applies in at now (deadlines already applied) and returns the §8 code it must fail
// with, or 0 when it succeeds.
func (m *model) apply(in Input, now int64) Code {
	if Check(in) != nil {
		return CodeInvalidParameter
	}
	id := in.ActingUser()
	u := m.user(id)
	gone := m.ended || u == nil // 6000276 for everything that needs a member of a Started call
	advanced := func() Code {
		switch {
		case gone:
			return CodeCallUnavailable
		case m.mode != Advanced:
			return CodeNotAdvanced
		case u.state != Accepted:
			return CodeStateForbids
		}
		return 0
	}
	switch v := in.(type) {
	case Accept, Reject:
		switch {
		case gone || u.state == Timeout:
			return CodeCallUnavailable
		case !u.state.Pending():
			return CodeStateForbids
		}
		if a, ok := v.(Accept); ok {
			m.accept(u, a.DeviceID)
			return 0
		}
		m.set(u, Rejected)
		m.settle()
	case Receipt:
		if u == nil {
			return CodeCallUnavailable
		}
		if !m.ended && (u.state == Inviting || u.state == NotYetReceived) {
			m.set(u, Received)
		}
	case Cancel:
		if gone {
			return CodeCallUnavailable
		}
		whole := m.mode == General || len(v.Invitees) == 0
		notInviter, accepted := !u.state.Active() || whole && id != m.caller, whole && m.answered
		for _, t := range v.Invitees {
			if tu := m.user(t); tu != nil {
				notInviter = notInviter || tu.inviter != id
				accepted = accepted || !whole && tu.state == Accepted
			}
		}
		switch {
		case notInviter:
			return CodeNotInviter
		case accepted:
			return CodeCancelAccepted
		case whole:
			m.cancelAll()
		default:
			for _, t := range v.Invitees {
				if tu := m.user(t); tu != nil && tu.state.Pending() {
					m.set(tu, BeCancelled)
				}
			}
		}
	case CallingInvite:
		if c := advanced(); c != 0 {
			return c
		}
		var ring []string
		for _, t := range validInvitees(id, v.Invitees) {
			if tu := m.user(t); tu == nil || !tu.state.Active() {
				ring = append(ring, t)
			}
		}
		listed := len(m.users)
		for _, t := range ring {
			if m.user(t) == nil {
				listed++
			}
		}
		switch {
		case len(v.Invitees) > 9, m.count(UserState.Active)+len(ring) > m.cfg.MaxCallUsers, listed > MaxListedUsers:
			return CodeTooManyUsers
		case len(ring) == 0:
			return CodeNoValidInvitee
		}
		for _, t := range ring {
			m.ring(t, id, v.Timeout, now)
		}
	case Join:
		switch {
		case m.ended, u == nil && (m.cfg.JoinPolicy != JoinAnyone || m.mode != Advanced): // §11: no 6000286 for a newcomer
			return CodeCallUnavailable
		case m.mode != Advanced:
			return CodeNotAdvanced
		}
		st := Unknown
		if u != nil {
			st = u.state
		}
		switch {
		case st == Cancelled || st == BeCancelled:
			return CodeStateForbids
		case !st.Active() && m.count(UserState.Active)+1 > m.cfg.MaxCallUsers, u == nil && len(m.users) >= MaxListedUsers:
			return CodeTooManyUsers
		case st == Accepted && (v.DeviceID == u.main || v.DeviceID == ""):
			return CodeAlreadyActive
		case st == Accepted:
			u.main = v.DeviceID
			return 0
		}
		if u == nil {
			u = &mUser{id: id}
			m.users = append(m.users, u)
		}
		m.accept(u, v.DeviceID)
	case QuitCall:
		if c := advanced(); c != 0 {
			return c
		}
		m.quit(u)
	case End:
		if c := advanced(); c != 0 {
			return c
		}
		m.end()
	case DeviceLost:
		if gone || u.state != Accepted || v.DeviceID == "" || u.main != v.DeviceID {
			return 0
		}
		switch {
		case id == m.caller && !m.answered:
			m.cancelAll()
		case m.mode == Advanced:
			m.quit(u)
		}
	case GlareCancel:
		switch {
		case m.ended:
			return CodeCallUnavailable
		case u == nil || id != m.caller || u.state != Accepted || m.answered:
			return CodeStateForbids
		}
		m.cancelAll()
	}
	return 0
}

// allowedEdge lists the user-state transitions behaviour §3 and §5 allow; a user new to the
// call comes from Unknown.
func allowedEdge(from, to UserState) bool {
	if from == to {
		return true
	}
	switch from {
	case Unknown:
		return to == Inviting || to == Accepted // invited (R3.1, R3.6) or joined (R3.7)
	case Inviting:
		return slices.Contains([]UserState{Received, NotYetReceived, Accepted, Rejected, BeCancelled, Timeout}, to)
	case NotYetReceived:
		return slices.Contains([]UserState{Received, Accepted, Rejected, BeCancelled, Timeout}, to)
	case Received:
		return slices.Contains([]UserState{Accepted, Rejected, BeCancelled, Timeout}, to)
	case Accepted:
		return to == Quit || to == Cancelled
	case Rejected, Timeout, Quit:
		return to == Accepted || to == Inviting
	case Cancelled, BeCancelled:
		return to == Inviting
	}
	return false
}

// compare checks the package's call against the model and the invariants every call keeps.
func compare(t checker, what string, c Call, m *model, now int64) {
	t.Helper()
	if (c.State == Ended) != m.ended || c.Answered != m.answered {
		t.Fatalf("%s: call state %d answered %v, model ended %v answered %v", what, c.State, c.Answered, m.ended, m.answered)
	}
	if len(c.Users) != len(m.users) {
		t.Fatalf("%s: %d users, model %d", what, len(c.Users), len(m.users))
	}
	for i, u := range c.Users {
		w := m.users[i]
		got := mUser{id: u.ID, state: u.State, inviter: u.Inviter, deadline: u.Deadline, checkAt: u.CheckAt, main: u.MainDevice}
		if got != *w {
			t.Fatalf("%s: user %+v, model %+v", what, got, *w)
		}
		if c.State == Started && u.State.Pending() && u.Deadline <= now {
			t.Fatalf("R3.5 %s: %s still %v past its deadline %d at %d", what, u.ID, u.State, u.Deadline, now)
		}
	}
	if c.NextDue() != 0 && (c.State == Ended || !slices.ContainsFunc(c.Users, func(u User) bool { return u.State.Pending() })) {
		t.Fatalf("%s: a deadline at %d with nobody ringing", what, c.NextDue())
	}
}

func checkEdges(t checker, what string, before, after Call) {
	t.Helper()
	if before.State == Ended && !reflect.DeepEqual(before, after) {
		t.Fatalf("R4.4 %s: an ended call changed", what)
	}
	for _, u := range after.Users {
		from := Unknown
		if p := before.User(u.ID); p != nil {
			from = p.State
		}
		if !allowedEdge(from, u.State) {
			t.Fatalf("%s: %s moved %v → %v", what, u.ID, from, u.State)
		}
	}
	for _, p := range before.Users {
		if after.User(p.ID) == nil {
			t.Fatalf("%s: %s left callUserList", what, p.ID)
		}
	}
}

var modelUsers = []string{"u0", "u1", "u2", "u3", "u4", "bad id"}

// modelInput draws an input; with several devices per user and targets drawn from the pool.
func modelInput(c chooser) Input {
	a := Actor{UserID: pick(c, modelUsers[:5], "user"), DeviceID: pick(c, poolDevices, "device")}
	targets := func() []string {
		out := make([]string, c.intn(4, "n"))
		for i := range out {
			out[i] = pick(c, modelUsers, "target")
		}
		return out
	}
	switch c.intn(12, "op") {
	case 0:
		return Cancel{Actor: a, Invitees: targets()}
	case 1, 2:
		return Accept{Actor: a}
	case 3:
		return Reject{Actor: a}
	case 4:
		return Receipt{Actor: a}
	case 5:
		return CallingInvite{Actor: a, Invitees: targets(), Timeout: c.intn(12, "timeout")}
	case 6, 7:
		return Join{Actor: a}
	case 8:
		return QuitCall{Actor: a}
	case 9:
		return End{Actor: a}
	case 10:
		return DeviceLost(a)
	}
	return GlareCancel{UserID: a.UserID}
}

// runModel creates a call and applies inputs, late repeats and deadline ticks at arbitrary
// times, comparing the package with the model after every step.
func runModel(t checker, c chooser) {
	t.Helper()
	cfg := Config{MaxCallUsers: 2 + c.intn(5, "max"), JoinPolicy: JoinPolicy(c.intn(2, "policy")),
		NotReceivedCheckMs: 3000 + int64(c.intn(3, "check"))*1000}
	n := 1 + c.intn(4, "invitees")
	inv := Invite{Actor: Actor{UserID: pick(c, modelUsers[:5], "caller"), DeviceID: pick(c, poolDevices[1:], "device")},
		CallID: "c", Timeout: c.intn(12, "timeout"), Mode: Mode(c.intn(2, "mode")), EnableNotReceivedCheck: c.intn(2, "nrc") == 1}
	for range n {
		inv.Invitees = append(inv.Invitees, pick(c, modelUsers, "invitee"))
	}
	now := int64(1_000_000)
	out, err := Create(inv, cfg, now)
	m, want := newModel(inv, cfg, now)
	if got := modelCode(err); got != want {
		t.Fatalf("Create %+v: code %d, model %d", inv, got, want)
	}
	if err != nil {
		return
	}
	cur := out.Call
	compare(t, "create", cur, m, now)
	var last Input
	for steps := 5 + c.intn(40, "steps"); steps > 0; steps-- {
		now += int64(c.intn(6000, "dt"))
		cur = expireChecked(t, cur, cfg, now) // event recipients of each instant (oracle_test.go)
		m.expire(now)
		compare(t, fmt.Sprintf("expire at %d", now), cur, m, now)
		if c.intn(6, "tick") == 0 {
			continue
		}
		in := modelInput(c)
		if last != nil && c.intn(5, "repeat") == 0 {
			in = last // a retried or late duplicate
		}
		last = in
		what := fmt.Sprintf("%T%+v at %d", in, in, now)
		out, err := Apply(cur, in, cfg, now)
		want := m.apply(in, now)
		if got := modelCode(err); got != want {
			t.Fatalf("%s: code %d, model %d (call %+v)", what, got, want, cur)
		}
		if err != nil {
			if out.Changed || len(out.Events)+len(out.Webhooks)+len(out.Pushes)+len(out.Busy) > 0 {
				t.Fatalf("%s: refused with effects", what)
			}
			compare(t, what, cur, m, now)
			continue
		}
		checkEdges(t, what, cur, out.Call)
		checkOutcome(t, cur, out, in, cfg, now)
		compare(t, what, out.Call, m, now)
		cur = out.Call
	}
}

func modelCode(err error) Code {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	if err != nil {
		return -1
	}
	return 0
}

// FuzzModel compares Create, Expire and Apply with the reference model of behaviour R3–R6 and
// §8 over sequences of operations, device losses, repeats and deadlines at arbitrary times.
func FuzzModel(f *testing.F) {
	for _, seed := range []string{
		"",
		"\x00\x00\x00\x01\x00\x00\x00\x00\x01\x00\x20\x00\x10\x01\x01\x01",
		"\x03\x01\x00\x03\x00\x01\x02\x01\x03\x05\x01\x01\x30\x00\x10\x06\x01\x02\x00\x11\x02\x02\x06\x00\x08",
		"\x04\x00\x02\x02\x01\x02\x03\x04\x00\x00\x01\x01\x28\x10\x04\x05\x02\x02\x02\x01\x01\x07\x00\x02\x05\x09\x03",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		runModel(t, &byteChooser{data: data})
	})
}

// TestModel runs the model comparison on random sequences.
func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { runModel(t, rapidChooser{t}) })
}
