package call

// oracle returns, for one change from before to after caused by in (an Invite, an Input, or nil
// for a deadline), the recipients of each event kind, transcribed from behaviour §5 without
// looking at the implementation.
func oracle(before, after Call, in any) map[EventKind][]Recipient {
	m := map[EventKind][]Recipient{}
	all := func(id string) Recipient { return Recipient{UserID: id, Target: AllDevices} }
	was := func(id string) UserState {
		if u := before.User(id); u != nil {
			return u.State
		}
		return Unknown
	}
	if inv, ok := in.(Invite); ok { // callInvitationCreated to the caller, Received to invitees
		m[InvitationCreated] = []Recipient{all(inv.UserID)}
		for _, u := range after.Users[1:] {
			m[InvitationReceived] = append(m[InvitationReceived], all(u.ID))
		}
		return m
	}
	ended := before.State == Started && after.State == Ended
	own := map[string]bool{} // users with an event of their own: no callUserStateChanged
	for _, u := range after.Users {
		p := was(u.ID)
		switch {
		case p.Pending() && u.State == Timeout:
			m[InvitationTimeout] = append(m[InvitationTimeout], all(u.ID))
			own[u.ID] = true
		case p.Pending() && u.State == BeCancelled:
			m[InvitationCancelled] = append(m[InvitationCancelled], all(u.ID))
			own[u.ID] = true
		case u.State == Inviting && (p == Unknown || p.Terminal()):
			m[InvitationReceived] = append(m[InvitationReceived], all(u.ID))
			own[u.ID] = true // new invitees of a callingInvite get no callUserStateChanged
		}
	}
	// The canceller: all devices but the acting one; all of them on glare and caller loss.
	callerCancelled := was(after.Caller) == Accepted && after.User(after.Caller).State == Cancelled
	switch v := in.(type) {
	case Cancel:
		r := Recipient{UserID: v.UserID, Target: AllButDevice, DeviceID: v.DeviceID}
		if v.DeviceID == "" {
			r = all(v.UserID)
		}
		m[InvitationCancelled] = append(m[InvitationCancelled], r)
		own[v.UserID] = own[v.UserID] || ended
	case GlareCancel, DeviceLost:
		if callerCancelled {
			m[InvitationCancelled] = append(m[InvitationCancelled], all(after.Caller))
			own[after.Caller] = true
		}
	}
	// callInvitationEnded: on callEnd, and on an advanced end because nobody is Accepted.
	quitter := ""
	for _, u := range after.Users {
		if was(u.ID) == Accepted && u.State == Quit {
			quitter = u.ID
		}
	}
	_, isEnd := in.(End)
	if ended && (isEnd || quitter != "") {
		for _, u := range before.Users {
			if u.State.Active() && u.ID != quitter {
				m[InvitationEnded] = append(m[InvitationEnded], all(u.ID))
				own[u.ID] = true
			}
		}
	}
	if j, ok := in.(Join); ok && was(j.UserID) == Accepted {
		m[MainDeviceChanged] = []Recipient{all(j.UserID)}
	}
	changed := false
	for _, u := range after.Users {
		changed = changed || was(u.ID) != u.State
	}
	if !changed {
		return m
	}
	for _, u := range after.Users {
		p := was(u.ID)
		if own[u.ID] {
			continue
		}
		switch {
		case p != u.State && (u.State == Accepted || u.State == Rejected || u.State == Quit):
			m[UserStateChanged] = append(m[UserStateChanged], all(u.ID))
		case ended:
			if p.Active() {
				m[UserStateChanged] = append(m[UserStateChanged], all(u.ID))
			}
		case u.State.Pending(), u.State == Accepted && u.MainDevice == "":
			m[UserStateChanged] = append(m[UserStateChanged], all(u.ID))
		case u.State == Accepted:
			m[UserStateChanged] = append(m[UserStateChanged], Recipient{UserID: u.ID, Target: OnlyDevice, DeviceID: u.MainDevice})
		}
	}
	return m
}
