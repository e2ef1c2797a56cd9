package call

import "slices"

// cancel applies callCancel (R3.2): the whole call (general mode, or advanced with no
// invitees) or the targeted pending users of an advanced call. The target list has no length
// limit, so it is read once into a set: the work is linear in the targets plus the users.
func (b *builder) cancel(in Cancel, now int64) error {
	me, err := b.member(in.UserID)
	if err != nil {
		return err
	}
	named := make(map[string]bool, len(in.Invitees))
	for _, id := range in.Invitees {
		named[id] = true
	}
	whole := b.c.Mode == General || len(in.Invitees) == 0
	if err := b.checkCancel(in.UserID, me, named, whole); err != nil {
		return err
	}
	var targets []string // the targeted pending users, in the call's order
	for _, u := range b.c.Users {
		if named[u.ID] && u.State.Pending() {
			targets = append(targets, u.ID)
		}
	}
	b.out.ErrorInvitees = b.notCancelled(in.Invitees)
	canceller := Recipient{UserID: in.UserID, Target: AllButDevice, DeviceID: in.DeviceID}
	if in.DeviceID == "" {
		canceller = Recipient{UserID: in.UserID, Target: AllDevices} // server API: no acting device
	}
	switch {
	case whole:
		b.cancelCall(canceller, in.ExtendedData, in.Push, now)
	case len(targets) > 0:
		s := b.step(now, in.Push)
		s.cancelUsers(targets, canceller, in.ExtendedData)
		b.commit(s)
	}
	return nil
}

// checkCancel applies R3.2's refusals of canceller (at index me) naming the targets named, in
// §8 order: 6000273 (the canceller is not active, a target in the call was not invited by it,
// or a non-caller cancels the whole call), then 6000271 (the call is answered, or a target is
// Accepted).
func (b *builder) checkCancel(canceller string, me int, named map[string]bool, whole bool) error {
	notInviter := !b.c.Users[me].State.Active() || whole && canceller != b.c.Caller ||
		slices.ContainsFunc(b.c.Users, func(u User) bool { return named[u.ID] && u.Inviter != canceller })
	accepted := whole && b.c.Answered ||
		!whole && slices.ContainsFunc(b.c.Users, func(u User) bool { return named[u.ID] && u.State == Accepted })
	switch {
	case notInviter:
		return fail(CodeNotInviter, "the canceller did not invite the targets or is not active")
	case accepted:
		return fail(CodeCancelAccepted, "a targeted user already accepted")
	}
	return nil
}

// notCancelled returns errorInvitees: the distinct targets that are not pending, because they
// are in a terminal state or not in the call (R3.2), in the order they were named. The call's
// pending users are read into a set once, so the work is linear in the targets plus the users.
func (b *builder) notCancelled(invitees []string) []string {
	pending := map[string]bool{}
	for _, u := range b.c.Users {
		if u.State.Pending() {
			pending[u.ID] = true
		}
	}
	var out []string
	seen := make(map[string]bool, len(invitees))
	for _, id := range invitees {
		if !seen[id] && !pending[id] {
			out = append(out, id)
		}
		seen[id] = true
	}
	return out
}

// cancelCall cancels the whole unanswered call (R3.2, R3.3b, R4.3): every pending user →
// BeCancelled, the caller → Cancelled, the call → Ended.
func (b *builder) cancelCall(canceller Recipient, extendedData string, push *PushConfig, now int64) {
	s := b.step(now, push)
	var pending []string
	for _, u := range s.c.Users {
		if u.State.Pending() {
			pending = append(pending, u.ID)
		}
	}
	s.cancelUsers(pending, canceller, extendedData)
	s.move(s.c.User(s.c.Caller), Cancelled)
	s.own = append(s.own, s.c.Caller) // its callInvitationCancelled (or its reply) is its one event (§5)
	s.endCall("cancelled", s.c.Caller)
	b.commit(s)
}

// cancelUsers makes the pending users ids BeCancelled and sends callInvitationCancelled to them
// and to the canceller's devices (§5), with the call_cancel webhook (§10).
func (s *step) cancelUsers(ids []string, canceller Recipient, extendedData string) {
	var users []User
	for _, id := range ids {
		u := s.c.User(id)
		s.move(u, BeCancelled)
		users = append(users, *u)
	}
	s.emit(Event{Kind: InvitationCancelled, To: allDevices(ids), Mode: s.c.Mode, Inviter: canceller.UserID,
		ExtendedData: extendedData, Users: users}, true)
	last := &s.events[len(s.events)-1]
	last.To = append(last.To, canceller)
	h := s.hook("call_cancel")
	h.OperatedUserID, h.Users, h.Reason, h.ExtendedData = canceller.UserID, ids, "caller_cancel", extendedData
	s.hooks = append(s.hooks, h)
}

// answer applies callAccept (R3.3) or callReject (R3.4).
func (b *builder) answer(a Actor, extendedData string, now int64, accept bool) error {
	i, err := b.member(a.UserID)
	if err != nil {
		return err
	}
	switch st := b.c.Users[i].State; {
	case st == Timeout:
		return fail(CodeCallUnavailable, "the invitation timed out")
	case !st.Pending():
		return fail(CodeStateForbids, "user is not pending")
	}
	s := b.step(now, nil)
	if accept {
		s.acceptAs(i, a, extendedData, "call_accept")
	} else {
		s.move(&s.c.Users[i], Rejected)
		s.c.Users[i].ExtendedData = extendedData
		s.userHook("call_reject", a.UserID, extendedData)
		s.settleGeneral("rejected", a.UserID)
	}
	b.commit(s)
	return nil
}

// acceptAs makes the user at index i Accepted from the actor's device (R3.3, R3.7) with the
// webhook event (call_accept or call_join); the user must then be free (R3.3b is the shell's).
func (s *step) acceptAs(i int, a Actor, extendedData, event string) {
	s.accept(i, a.DeviceID, extendedData)
	s.userHook(event, a.UserID, extendedData)
	s.b.out.MustBeFree = a.UserID
	s.settleGeneral("answered", a.UserID)
}

// userHook writes a webhook about one user's own op (§10: call_accept, call_reject, call_join,
// call_quit) and returns it for further fields.
func (s *step) userHook(event, userID, extendedData string) *Webhook {
	h := s.hook(event)
	h.UserID, h.ExtendedData = userID, extendedData
	s.hooks = append(s.hooks, h)
	return &s.hooks[len(s.hooks)-1]
}

// receipt applies callReceived (R3.11, R5.1): always a success for a user in the call, a change
// only for an Inviting or NotYetReceived user of a Started call.
func (b *builder) receipt(in Receipt, now int64) error {
	u := b.c.User(in.UserID)
	if u == nil {
		return Unavailable()
	}
	if b.c.State != Started || u.State != Inviting && u.State != NotYetReceived {
		return nil
	}
	s := b.step(now, nil)
	s.move(s.c.User(in.UserID), Received)
	b.commit(s)
	return nil
}

// join applies callJoin (R3.7): a pending user's join is an accept; a Rejected, Timeout or Quit
// user (or, with JoinAnyone, a newcomer) joins; an Accepted user switches its main device.
func (b *builder) join(in Join, now int64) error {
	i, err := b.member(in.UserID)
	if err != nil && !b.joinableByNewcomers() {
		return err
	}
	if b.c.Mode != Advanced {
		return fail(CodeNotAdvanced, "advanced-mode operation on a general-mode call")
	}
	st := Unknown
	if i >= 0 {
		st = b.c.Users[i].State
	}
	switch {
	case st == Cancelled || st == BeCancelled:
		return fail(CodeStateForbids, "a cancelled user may not rejoin unless invited again")
	case !st.Active() && b.active()+1 > b.cfg.MaxCallUsers:
		return fail(CodeTooManyUsers, "too many call users")
	case i < 0 && len(b.c.Users) >= MaxListedUsers:
		return fail(CodeTooManyUsers, "too many users listed in the call")
	case st == Accepted && (in.DeviceID == "" || in.DeviceID == b.c.Users[i].MainDevice):
		return fail(CodeAlreadyActive, "callJoin from the main device")
	}
	s := b.step(now, nil)
	switch {
	case st.Pending():
		s.acceptAs(i, in.Actor, in.ExtendedData, "call_accept")
	case st == Accepted:
		s.c.Users[i].MainDevice = in.DeviceID // other users are not notified (R6.3), no webhook
		s.emit(Event{Kind: MainDeviceChanged, To: allDevices([]string{in.UserID}), DeviceID: in.DeviceID}, false)
	default:
		if i < 0 {
			s.c.Users = append(s.c.Users, User{ID: in.UserID}) // a joiner's inviter is "" (R3.7)
			i = len(s.c.Users) - 1
		}
		s.acceptAs(i, in.Actor, in.ExtendedData, "call_join")
	}
	b.commit(s)
	return nil
}

// joinableByNewcomers reports whether a user never in the call may join it: with JoinAnyone,
// a Started advanced-mode call (R3.7). Any other call is not visible to such a user, so its
// join gets the unknown call's 6000276 (§8: it wins over 6000286), never a code that would
// tell it that the call exists or its mode (§11).
func (b *builder) joinableByNewcomers() bool {
	return b.cfg.JoinPolicy == JoinAnyone && b.c.State == Started && b.c.Mode == Advanced
}

// active returns how many users are active in the working call.
func (b *builder) active() int {
	n := 0
	for _, u := range b.c.Users {
		if u.State.Active() {
			n++
		}
	}
	return n
}
