package call

import "slices"

// ringAll (re-)invites ids on behalf of inviter (R3.1, R3.6).
func (s *step) ringAll(inviter string, ids []string, timeout int, extendedData string, push *PushConfig) {
	for _, id := range ids {
		s.ring(id, inviter, timeout, extendedData, push)
	}
	s.quiet = append(s.quiet, ids...)
}

// invited sends callInvitationReceived to all devices of the users just rung (§5) and writes
// the call_create or call_invite webhook (§10).
func (s *step) invited(event, inviter string, ids []string, timeout int, extendedData string) {
	u := s.c.User(ids[0])
	s.emit(Event{Kind: InvitationReceived, To: allDevices(ids), Mode: s.c.Mode, Caller: s.c.Caller, Inviter: inviter,
		ExtendedData: extendedData, Timeout: timeout, Deadline: u.Deadline, CreateTime: s.c.CreateTime,
		Users: slices.Clone(s.c.Users)}, false)
	h := s.hook(event)
	h.Users, h.Timeout, h.ExtendedData = ids, timeout, extendedData
	if event == "call_invite" {
		h.Inviter = inviter
	}
	s.hooks = append(s.hooks, h)
}

// callingInvite applies callingInvite (R3.6).
func (b *builder) callingInvite(in CallingInvite, now int64) error {
	if _, err := b.advancedMember(in.UserID); err != nil {
		return err
	}
	ring, errs, err := sortInvitees(&b.c, in.UserID, in.Invitees)
	if err == nil {
		err = checkRing(len(ring), b.active(), b.cfg.MaxCallUsers)
	}
	if err == nil && len(b.c.Users)+newcomers(&b.c, ring) > MaxListedUsers {
		err = fail(CodeTooManyUsers, "too many users listed in the call")
	}
	if err != nil {
		return err
	}
	timeout := RingTimeout(in.Timeout)
	s := b.step(now, in.Push)
	s.ringAll(in.UserID, ring, timeout, in.ExtendedData, in.Push)
	s.invited("call_invite", in.UserID, ring, timeout, in.ExtendedData)
	b.commit(s)
	b.out.Timeout, b.out.ErrorUsers = timeout, errs
	return nil
}

// newcomers counts the users of ids that c does not list yet.
func newcomers(c *Call, ids []string) int {
	n := 0
	for _, id := range ids {
		if c.User(id) == nil {
			n++
		}
	}
	return n
}

// quitCall applies callQuit (R3.8).
func (b *builder) quitCall(in QuitCall, now int64) error {
	i, err := b.advancedMember(in.UserID)
	if err != nil {
		return err
	}
	b.quit(i, in.ExtendedData, in.Push, now, false)
	return nil
}

// quit makes the user at index i Quit (R3.8, or R6.4 when lost); when nobody is Accepted any
// more the call ends as by callEnd, operated by the quitter, whose own change is its event.
func (b *builder) quit(i int, extendedData string, push *PushConfig, now int64, lost bool) {
	s := b.step(now, push)
	s.opPush = PushQuit
	u := &s.c.Users[i]
	s.move(u, Quit)
	u.ExtendedData = extendedData
	s.userHook("call_quit", u.ID, extendedData).Lost = lost
	if !slices.ContainsFunc(s.c.Users, func(u User) bool { return u.State == Accepted }) {
		s.ended(u.ID, true, extendedData, "everyone_left")
	}
	b.commit(s)
}

// end applies callEnd (R3.9).
func (b *builder) end(in End, now int64) error {
	if _, err := b.advancedMember(in.UserID); err != nil {
		return err
	}
	s := b.step(now, in.Push)
	s.opPush = PushEnd
	s.ended(in.UserID, false, in.ExtendedData, "ended")
	b.commit(s)
	return nil
}

// ended ends an advanced call (R3.8, R3.9, R6.4) and sends callInvitationEnded to all devices of
// every user active just before, except the operator when it quit (its own quit is its event,
// §5).
func (s *step) ended(operator string, quit bool, extendedData, reason string) {
	var to []string
	for _, u := range s.before.Users {
		if u.State.Active() && !(quit && u.ID == operator) {
			to = append(to, u.ID)
		}
	}
	s.endCall(reason, operator)
	if len(to) > 0 {
		s.emit(Event{Kind: InvitationEnded, To: allDevices(to), Mode: s.c.Mode, Caller: s.c.Caller,
			OperatedUserID: operator, ExtendedData: extendedData, EndTime: s.at}, true)
	}
}

// deviceLost applies a lost main device (R6.1): the caller's in an unanswered call cancels it
// (R4.3); an Accepted user's in an advanced call quits (R6.4); anything else changes nothing.
func (b *builder) deviceLost(in DeviceLost, now int64) {
	u := b.c.User(in.UserID)
	if b.c.State != Started || u == nil || u.State != Accepted || in.DeviceID == "" || u.MainDevice != in.DeviceID {
		return
	}
	switch {
	case in.UserID == b.c.Caller && !b.c.Answered:
		b.cancelCall(Recipient{UserID: in.UserID, Target: AllDevices}, "", nil, now)
	case b.c.Mode == Advanced:
		b.quit(slices.IndexFunc(b.c.Users, func(u User) bool { return u.ID == in.UserID }), "", nil, now, true)
	}
}

// glareCancel cancels the caller's own unanswered call because it accepts another (R3.3b).
func (b *builder) glareCancel(in GlareCancel, now int64) error {
	i, err := b.member(in.UserID)
	if err != nil && b.c.State != Started {
		return err
	}
	if err != nil || in.UserID != b.c.Caller || b.c.Users[i].State != Accepted || b.c.Answered {
		return fail(CodeStateForbids, "not the caller of an unanswered call")
	}
	b.cancelCall(Recipient{UserID: in.UserID, Target: AllDevices}, "", nil, now)
	return nil
}
