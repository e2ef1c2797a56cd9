package call

// checkUserFields checks behaviour §10b and protocol.md's CallUserInfo for every user after one
// change decided at `at` (in is nil for a deadline, an Invite for the creation):
//   - a user whose state changed has updateTime = at; one whose state did not keeps its
//     updateTime, acceptTime, inviter and extendedData;
//   - a move to Accepted sets acceptTime = at (the caller's is createTime); leaving Accepted
//     keeps it; a (re-)invitation sets it to 0, with extendedData "", an inviter and a deadline
//     of at + its timeout;
//   - the acting user's own move to Accepted, Rejected or Quit takes the op's extendedData ("" for
//     a lost device); a user moved by anyone else (a timeout, a cancel, a receipt) keeps its own.
func checkUserFields(t checker, before, after Call, in any, at int64) {
	t.Helper()
	acting := ""
	data := ""
	switch v := in.(type) {
	case Accept:
		acting, data = v.UserID, v.ExtendedData
	case Reject:
		acting, data = v.UserID, v.ExtendedData
	case Join:
		acting, data = v.UserID, v.ExtendedData
	case QuitCall:
		acting, data = v.UserID, v.ExtendedData
	case DeviceLost:
		acting = v.UserID
	}
	for i := range after.Users {
		u := &after.Users[i]
		p := before.UserAt(i, u.ID)
		if p != nil && p.State == u.State {
			if u.UpdateTime != p.UpdateTime || u.AcceptTime != p.AcceptTime || u.Inviter != p.Inviter || u.ExtendedData != p.ExtendedData {
				t.Fatalf("§10b: %s stayed %v, yet its fields changed: %+v → %+v", u.ID, u.State, *p, *u)
			}
			continue
		}
		if u.UpdateTime != at {
			t.Fatalf("§10b: %s moved to %v at %d with updateTime %d", u.ID, u.State, at, u.UpdateTime)
		}
		switch {
		case u.ID == after.Caller && p == nil: // the creation
			if u.AcceptTime != after.CreateTime || u.Inviter != "" {
				t.Fatalf("§10b: the caller at creation %+v", *u)
			}
		case u.State == Inviting && (p == nil || !p.State.Pending()):
			if u.AcceptTime != 0 || u.ExtendedData != "" || u.Inviter == "" || u.Deadline != at+int64(u.InviteTimeout)*1000 {
				t.Fatalf("§10b: %s (re-)invited at %d: %+v", u.ID, at, *u)
			}
		case u.State == Accepted:
			if u.AcceptTime != at || u.ID != acting || u.ExtendedData != data {
				t.Fatalf("§10b: %s accepted at %d by %s with %q: %+v", u.ID, at, acting, data, *u)
			}
		case p == nil:
			t.Fatalf("§10b: %s entered the call as %v", u.ID, u.State)
		case u.AcceptTime != p.AcceptTime:
			t.Fatalf("§10b: %s left %v for %v and its acceptTime changed: %+v → %+v", u.ID, p.State, u.State, *p, *u)
		case (u.State == Rejected || u.State == Quit) && u.ID == acting:
			if u.ExtendedData != data {
				t.Fatalf("§10b: %s's own move to %v with %q: %+v", u.ID, u.State, data, *u)
			}
		case u.ExtendedData != p.ExtendedData || u.Inviter != p.Inviter:
			t.Fatalf("§10b: %s moved to %v by another's op, and its own fields changed: %+v → %+v", u.ID, u.State, *p, *u)
		}
	}
}
