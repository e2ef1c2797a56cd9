package call

import "slices"

// Create applies callInvite (R3.1) at now and returns the new call (Version 1) or an error.
// Outcome.MustBeFree names the caller: the shell refuses with CodeBusy when it is in a call.
// Unset (zero) settings of cfg take their defaults.
func Create(in Invite, cfg Config, now int64) (Outcome, error) {
	err := checkInvitation(in.Actor, in.Invitees, in.Timeout, in.ExtendedData, in.Push)
	if err == nil && in.Mode != General && in.Mode != Advanced && in.Mode != -1 {
		err = errInvalid("unknown mode")
	}
	if err != nil {
		return Outcome{}, err
	}
	timeout := RingTimeout(in.Timeout)
	b := newBuilder(Call{}, cfg)
	ring, errs, err := sortInvitees(&b.c, in.UserID, in.Invitees)
	if err == nil {
		err = checkRing(len(ring), 1, b.cfg.MaxCallUsers)
	}
	if err != nil {
		return Outcome{}, err
	}
	mode := in.Mode
	if mode != Advanced {
		mode = General // absent or -1 means General (§2)
	}
	b.c = Call{ID: in.CallID, Mode: mode, Caller: in.UserID, ExtendedData: in.ExtendedData, CreateTime: now,
		State: Started, EnableNotReceivedCheck: in.EnableNotReceivedCheck,
		Users: []User{{ID: in.UserID, State: Accepted, AcceptTime: now, UpdateTime: now, MainDevice: in.DeviceID}}}
	s := b.step(now, in.Push)
	s.silent = true // the two events below carry the full list (§5)
	s.ringAll(in.UserID, ring, timeout, in.ExtendedData, in.Push)
	s.emit(Event{Kind: InvitationCreated, To: allDevices([]string{in.UserID}), Mode: mode, Caller: in.UserID,
		ExtendedData: in.ExtendedData, Timeout: timeout, CreateTime: now, Users: slices.Clone(b.c.Users)}, false)
	s.invited("call_create", in.UserID, ring, timeout, in.ExtendedData)
	b.commit(s)
	out := b.finish()
	out.MustBeFree, out.Timeout, out.ErrorUsers = in.UserID, timeout, errs
	return out, nil
}

// Expire applies every deadline of c due at now (deadline ≤ now), earliest first: ring
// timeouts (R3.5; users due at the same instant in one change; a timeout wins over a
// not-received check due with it) and not-received checks (R5.2). Each instant is its own
// change with its own version, at that instant's time. Changed is false when nothing was due,
// and the outcome's Call is then c itself, not a copy: the shell calls Expire before every op.
func Expire(c Call, cfg Config, now int64) Outcome {
	if !c.dueAt(now) {
		return Outcome{Call: c}
	}
	b := newBuilder(c, cfg)
	for b.c.dueAt(now) {
		b.expireAt(b.c.NextDue(), now)
	}
	return b.finish()
}

// Apply applies in to c at now. c must have no deadline due at now: the shell calls Expire
// first and commits both outcomes together (R3 preamble). On error the call is unchanged and
// the error is a *Error. Unset (zero) settings of cfg take their defaults.
func Apply(c Call, in Input, cfg Config, now int64) (Outcome, error) {
	if err := Check(in); err != nil {
		return Outcome{}, err
	}
	b := newBuilder(c, cfg)
	var err error
	switch v := in.(type) {
	case Cancel:
		err = b.cancel(v, now)
	case Accept:
		err = b.answer(v.Actor, v.ExtendedData, now, true)
	case Reject:
		err = b.answer(v.Actor, v.ExtendedData, now, false)
	case Receipt:
		err = b.receipt(v, now)
	case CallingInvite:
		err = b.callingInvite(v, now)
	case Join:
		err = b.join(v, now)
	case QuitCall:
		err = b.quitCall(v, now)
	case End:
		err = b.end(v, now)
	case DeviceLost:
		b.deviceLost(v, now)
	case GlareCancel:
		err = b.glareCancel(v, now)
	}
	if err != nil {
		return Outcome{}, err
	}
	return b.finish(), nil
}

// member returns the index of userID in a Started call, or 6000276: the call ended (R4.4) or
// the user is not in it (non-members learn nothing, §11).
func (b *builder) member(userID string) (int, error) {
	if b.c.State == Started {
		if i := slices.IndexFunc(b.c.Users, func(u User) bool { return u.ID == userID }); i >= 0 {
			return i, nil
		}
	}
	return -1, Unavailable()
}

// advancedMember is member for the advanced-mode operations (R3.6–R3.9): also 6000286 in a
// general-mode call, and 6000274 unless the user is Accepted.
func (b *builder) advancedMember(userID string) (int, error) {
	i, err := b.member(userID)
	switch {
	case err != nil:
		return -1, err
	case b.c.Mode != Advanced:
		return -1, fail(CodeNotAdvanced, "advanced-mode operation on a general-mode call")
	case b.c.Users[i].State != Accepted:
		return -1, fail(CodeStateForbids, "user is not Accepted")
	}
	return i, nil
}

// expireAt applies the deadlines due at instant t as one change: pending users whose ring
// deadline is due → Timeout (R3.5), then Inviting users whose not-received check is due →
// NotYetReceived (R5.2); a user due for both times out. The check's push is not sent when the
// user's ring deadline is also due at now (a server that was down past both): it would ring a
// device for an invitation that times out in the same Expire.
func (b *builder) expireAt(t, now int64) {
	s := b.step(t, nil)
	var timedOut []string
	for i := range s.c.Users {
		u := &s.c.Users[i]
		switch {
		case u.Deadline != 0 && u.Deadline <= t && u.State.Pending():
			s.move(u, Timeout)
			timedOut = append(timedOut, u.ID)
		case u.Deadline != 0 && u.Deadline <= t:
			u.Deadline = 0 // not pending: no deadline (§10b)
		case u.CheckAt != 0 && u.CheckAt <= t && u.State == Inviting:
			s.move(u, NotYetReceived)
			if p := u.InvitePush; p != nil && u.Deadline > now {
				s.pushes = append(s.pushes, Push{Kind: PushInvitation, UserID: u.ID, CallID: s.c.ID,
					Caller: s.c.Caller, Inviter: u.Inviter, Config: *p, Deadline: u.Deadline, Always: true})
			}
		case u.CheckAt != 0 && u.CheckAt <= t:
			u.CheckAt = 0
		}
	}
	if len(timedOut) > 0 {
		s.emit(Event{Kind: InvitationTimeout, To: allDevices(timedOut), Mode: s.c.Mode}, true)
		h := s.hook("call_timeout")
		h.Users = timedOut
		s.hooks = append(s.hooks, h)
		s.settleGeneral("timeout", "")
	}
	b.commit(s)
}
