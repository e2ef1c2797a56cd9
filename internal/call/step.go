package call

import "slices"

// builder accumulates the changes of one Create, Expire or Apply on a working copy of the call.
// Each change is a step; committing a step gives it the next version and derives the effects
// common to every change (callUserStateChanged, withdrawal and op pushes); finish derives Busy.
type builder struct {
	in  Call // the input call, never modified
	c   Call // the working call, a deep copy of in
	cfg Config
	out Outcome
}

func newBuilder(c Call, cfg Config) *builder {
	return &builder{in: c, c: c.Clone(), cfg: cfg.withDefaults()}
}

// step is one change being built: one version of the call.
type step struct {
	b      *builder
	c      *Call // = &b.c
	before Call  // the call just before this change
	at     int64 // the change's time

	push    *PushConfig // the causing op's pushConfig (§9)
	opPush  PushKind    // PushQuit or PushEnd: pushed to the recipients of this change's events
	own     []string    // users who get their own event for this change (§5), not callUserStateChanged
	quiet   []string    // new invitees of this change: no callUserStateChanged (§5)
	silent  bool        // no callUserStateChanged at all (callInvite, §5)
	events  []Event
	hooks   []Webhook
	endHook *Webhook // call_end, written after the change's other webhooks (§10)
	pushes  []Push
}

func (b *builder) step(at int64, push *PushConfig) *step {
	return &step{b: b, c: &b.c, before: b.c.Clone(), at: at, push: push}
}

// commit gives s the next version and appends its effects to the outcome.
func (b *builder) commit(s *step) {
	b.c.Version++
	s.stateChanged()
	s.withdrawals()
	s.opPushes()
	if s.endHook != nil {
		s.hooks = append(s.hooks, *s.endHook)
	}
	for i := range s.events {
		s.events[i].Version = b.c.Version
	}
	for i := range s.hooks {
		s.hooks[i].Version = b.c.Version
	}
	b.out.Events = append(b.out.Events, s.events...)
	b.out.Webhooks = append(b.out.Webhooks, s.hooks...)
	b.out.Pushes = append(b.out.Pushes, s.pushes...)
	b.out.Changed = true
}

// finish returns the outcome with the working call and the Busy changes between the input
// call and the result (§1: Accepted in a Started call).
func (b *builder) finish() Outcome {
	b.out.Call = b.c
	for i, u := range b.c.Users {
		was := false
		if p := b.in.UserAt(i, u.ID); p != nil {
			was = inCall(&b.in, p)
		}
		if now := inCall(&b.c, &u); now != was {
			b.out.Busy = append(b.out.Busy, Busy{UserID: u.ID, InCall: now})
		}
	}
	return b.out
}

// inCall reports whether u is "in a call" in c (§1).
func inCall(c *Call, u *User) bool { return c.State == Started && u.State == Accepted }

// ringing reports whether u is pending in a Started c: it has a ring deadline (§10b).
func ringing(c *Call, u *User) bool { return c.State == Started && u.State.Pending() }

// move sets u's state at the step's time and keeps the per-user invariants of §10b: a ring
// deadline only while pending, a not-received check only while Inviting (R5.2), a main device
// only while Accepted (§1).
func (s *step) move(u *User, to UserState) {
	u.State = to
	u.UpdateTime = s.at
	if !to.Pending() {
		u.Deadline = 0
	}
	if to != Inviting {
		u.CheckAt = 0
	}
	if to != Accepted {
		u.MainDevice = ""
	}
}

// accept makes the user at index i Accepted from device (R3.3, R3.7) with its extendedData; the
// call is answered once a user other than the caller is Accepted (§1).
func (s *step) accept(i int, device, extendedData string) {
	u := &s.c.Users[i]
	s.move(u, Accepted)
	u.MainDevice, u.ExtendedData, u.AcceptTime = device, extendedData, s.at
	if u.ID != s.c.Caller {
		s.c.Answered = true
	}
}

// ring (re-)invites id (R3.1, R3.6): Inviting with a fresh entry, a ring deadline and, with
// enableNotReceivedCheck, a not-received check (R5.2); an invitation push when push is set (§9).
func (s *step) ring(id, inviter string, timeout int, extendedData string, push *PushConfig) {
	u := User{ID: id, State: Inviting, Inviter: inviter, InviteData: extendedData, InviteTimeout: timeout,
		Deadline: s.at + int64(timeout)*1000, UpdateTime: s.at}
	if push != nil {
		p := *push
		u.InvitePush = &p
		s.pushes = append(s.pushes, Push{Kind: PushInvitation, UserID: id, CallID: s.c.ID, Caller: s.c.Caller,
			Inviter: inviter, Config: p, Deadline: u.Deadline})
	}
	if s.c.EnableNotReceivedCheck {
		u.CheckAt = s.at + s.b.cfg.NotReceivedCheckMs
	}
	if p := s.c.User(id); p != nil {
		*p = u
		return
	}
	s.c.Users = append(s.c.Users, u)
}

// endCall ends the call at the step's time, clearing every deadline (R3.9, §10b), and writes
// the call_end webhook after the change's others (§10).
func (s *step) endCall(reason, operatedUserID string) {
	s.c.State, s.c.EndTime = Ended, s.at
	for i := range s.c.Users {
		s.c.Users[i].Deadline, s.c.Users[i].CheckAt = 0, 0
	}
	h := s.hook("call_end")
	h.EndTime, h.OperatedUserID, h.Reason = s.at, operatedUserID, reason
	s.endHook = &h
}

// settleGeneral ends a general-mode call in which nobody is pending any more (R4.1). The
// call_end reason is "answered" once a callee was Accepted, else the last change's (rejected,
// timeout).
func (s *step) settleGeneral(reason, operatedUserID string) {
	if s.c.Mode != General || s.c.State != Started || slices.ContainsFunc(s.c.Users, func(u User) bool { return u.State.Pending() }) {
		return
	}
	if s.c.Answered {
		reason = "answered"
	}
	s.endCall(reason, operatedUserID)
}

// hook returns a webhook of the change with the fields every body has (§10).
func (s *step) hook(event string) Webhook {
	return Webhook{Event: event, CallID: s.c.ID, Timestamp: s.at, Caller: s.c.Caller, Mode: s.c.Mode}
}

// emit adds an event of the change to users (all devices unless to is given); when own, those
// users get it instead of callUserStateChanged (§5).
func (s *step) emit(e Event, own bool) {
	e.CallID = s.c.ID
	if own {
		for _, r := range e.To {
			s.own = append(s.own, r.UserID)
		}
	}
	s.events = append(s.events, e)
}

// allDevices returns a recipient list of every device of each user.
func allDevices(ids []string) []Recipient {
	to := make([]Recipient, len(ids))
	for i, id := range ids {
		to[i] = Recipient{UserID: id, Target: AllDevices}
	}
	return to
}

// stateChanged adds the change's callUserStateChanged (§5): the users whose state changed, to
// every listener after the change and to all devices of each user whose own state changed to
// Accepted, Rejected or Quit; when the change ended the call, to all devices of every user
// active just before it that gets no event of its own, with callState Ended.
func (s *step) stateChanged() {
	if s.silent {
		return
	}
	ended := s.before.State == Started && s.c.State == Ended
	var users []User
	var to []Recipient
	for i, u := range s.c.Users {
		prev := s.before.UserAt(i, u.ID)
		changed := prev == nil || prev.State != u.State
		if changed {
			users = append(users, u)
		}
		if slices.Contains(s.own, u.ID) || slices.Contains(s.quiet, u.ID) {
			continue
		}
		if r, ok := listener(u, prev, changed, ended); ok {
			to = append(to, r)
		}
	}
	if len(users) == 0 || len(to) == 0 {
		return
	}
	e := Event{Kind: UserStateChanged, To: to, Users: users, CallEnded: ended}
	if ended {
		e.EndTime = s.c.EndTime
	}
	s.emit(e, false)
}

// listener returns how u receives a callUserStateChanged (§5, R6.3).
func listener(u User, prev *User, changed, ended bool) (Recipient, bool) {
	all := Recipient{UserID: u.ID, Target: AllDevices}
	switch {
	case changed && (u.State == Accepted || u.State == Rejected || u.State == Quit):
		return all, true
	case ended:
		return all, prev != nil && prev.State.Active()
	case u.State.Pending():
		return all, true
	case u.State == Accepted && u.MainDevice != "":
		return Recipient{UserID: u.ID, Target: OnlyDevice, DeviceID: u.MainDevice}, true
	case u.State == Accepted:
		return all, true // acted through the server API: no main device (§1)
	}
	return Recipient{}, false
}

// withdrawals adds a withdrawal push for each user invited with a pushConfig who stopped being
// pending in this change, for any reason, with the causing op's pushConfig if it has one (§9),
// else the invitation's without its resourcesID: that profile is the ring's (its sound, its
// answer actions), which a withdrawal must not play again (docs/behaviour.md §12).
func (s *step) withdrawals() {
	for i, prev := range s.before.Users {
		u := s.c.UserAt(i, prev.ID)
		if prev.InvitePush == nil || !ringing(&s.before, &prev) || ringing(s.c, u) {
			continue
		}
		cfg := *prev.InvitePush
		cfg.ResourcesID = ""
		if s.push != nil {
			cfg = *s.push
		}
		s.pushes = append(s.pushes, Push{Kind: PushWithdrawal, UserID: u.ID, CallID: s.c.ID, Caller: s.c.Caller, Config: cfg})
	}
}

// opPushes adds the callQuit / callEnd pushes (§9): to each user who gets this change's
// callUserStateChanged or callInvitationEnded and no withdrawal push; a withdrawal push to such
// a user gets the op's push as its alternative (Push.Else).
func (s *step) opPushes() {
	if s.opPush == 0 || s.push == nil {
		return
	}
	var done []string
	for _, p := range s.pushes {
		done = append(done, p.UserID)
	}
	for _, e := range s.events {
		if e.Kind != UserStateChanged && e.Kind != InvitationEnded {
			continue
		}
		for _, r := range e.To {
			if i := slices.IndexFunc(s.pushes, func(p Push) bool { return p.Kind == PushWithdrawal && p.UserID == r.UserID }); i >= 0 {
				s.pushes[i].Else = s.opPush
			}
			if !slices.Contains(done, r.UserID) {
				done = append(done, r.UserID)
				s.pushes = append(s.pushes, Push{Kind: s.opPush, UserID: r.UserID, CallID: s.c.ID, Caller: s.c.Caller, Config: *s.push})
			}
		}
	}
}
