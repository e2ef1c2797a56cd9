package call

import (
	"slices"
	"strings"
)

// Limits of behaviour §1, §3 and §9.
const (
	maxUserIDBytes   = 32
	maxDeviceIDBytes = 64
	maxInvitees      = 9    // R3.1, R3.6
	maxExtendedBytes = 2048 // every op's config.extendedData (R3.1)
	defaultTimeout   = 90   // seconds, R3.1
	maxTimeout       = 600  // seconds, R3.1
	maxPushText      = 256  // pushConfig title and content (§9)
	maxPushPayload   = 2048 // pushConfig payload (§9)
	maxPushResources = 32   // pushConfig resourcesID (§9)
)

// idPunct is the punctuation allowed in userIDs and deviceIDs besides letters and digits (§1).
const idPunct = "!#$%&()+-:;<=.>?@[]^_{}|~"

// validID reports whether id is 1..max bytes of the §1 charset.
func validID(id string, max int) bool {
	if id == "" || len(id) > max {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte(idPunct, c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

func validUserID(id string) bool { return validID(id, maxUserIDBytes) }

func errInvalid(reason string) error { return fail(CodeInvalidParameter, reason) }

// checkOp validates what every operation carries (§8: 6000001 comes before every other code):
// the actor (a valid userID; a deviceID valid or "" for the server API), the config's
// extendedData (≤ 2048 bytes, R3.1) and its pushConfig (§9).
func checkOp(a Actor, extendedData string, push *PushConfig) error {
	switch {
	case !validUserID(a.UserID):
		return errInvalid("invalid userID")
	case a.DeviceID != "" && !validID(a.DeviceID, maxDeviceIDBytes):
		return errInvalid("invalid deviceID")
	case len(extendedData) > maxExtendedBytes:
		return errInvalid("extendedData longer than 2048 bytes")
	case push != nil && (len(push.Title) > maxPushText || len(push.Content) > maxPushText ||
		len(push.Payload) > maxPushPayload || len(push.ResourcesID) > maxPushResources):
		return errInvalid("pushConfig field too long")
	}
	return nil
}

// checkInvitation validates an invitation's parameters (R3.1, R3.6): the op itself, a
// non-empty invitee list and the ring timeout (0 or 1..600).
func checkInvitation(a Actor, invitees []string, timeout int, extendedData string, push *PushConfig) error {
	if err := checkOp(a, extendedData, push); err != nil {
		return err
	}
	switch {
	case len(invitees) == 0:
		return errInvalid("no invitees")
	case timeout < 0 || timeout > maxTimeout:
		return errInvalid("timeout out of 1..600")
	}
	return nil
}

// RingTimeout returns the ring timeout applied for a requested one checkInvitation accepted
// (R3.1: 0 or absent means 90 seconds). Any other value is returned as it is.
func RingTimeout(timeout int) int {
	if timeout == 0 {
		return defaultTimeout
	}
	return timeout
}

// Check validates what in carries, independently of any call: the 6000001 refusals (§8: they
// win over every code that depends on the call, such as 6000276, so the shell checks them
// before it loads the call). Apply checks them too. Inputs the server makes itself (DeviceLost,
// GlareCancel) have nothing to check.
func Check(in Input) error {
	switch v := in.(type) {
	case Cancel:
		return checkOp(v.Actor, v.ExtendedData, v.Push)
	case Accept:
		return checkOp(v.Actor, v.ExtendedData, nil)
	case Reject:
		return checkOp(v.Actor, v.ExtendedData, nil)
	case Receipt:
		return checkOp(v.Actor, "", nil)
	case CallingInvite:
		return checkInvitation(v.Actor, v.Invitees, v.Timeout, v.ExtendedData, v.Push)
	case Join:
		return checkOp(v.Actor, v.ExtendedData, nil)
	case QuitCall:
		return checkOp(v.Actor, v.ExtendedData, v.Push)
	case End:
		return checkOp(v.Actor, v.ExtendedData, v.Push)
	case DeviceLost, GlareCancel:
		return nil
	}
	return errInvalid("unknown input")
}

// sortInvitees splits an invitee list into the users to ring and the errorUserList (R3.1,
// R3.6): an invalid userID, the inviting user itself or a repeat → 6000001; a user already
// active in c → 6000283. Users in a terminal state are rung again. A list of more than 9 is
// refused whole (6000272, the first of checkRing's refusals) before it is sorted.
func sortInvitees(c *Call, self string, invitees []string) (ring []string, errs []ErrorUser, err error) {
	if len(invitees) > maxInvitees {
		return nil, nil, fail(CodeTooManyUsers, "more than 9 invitees")
	}
	for i, id := range invitees {
		switch u := c.User(id); {
		case !validUserID(id) || id == self || slices.Contains(invitees[:i], id):
			errs = append(errs, ErrorUser{UserID: id, Reason: CodeInvalidParameter})
		case u != nil && u.State.Active():
			errs = append(errs, ErrorUser{UserID: id, Reason: CodeAlreadyActive})
		default:
			ring = append(ring, id)
		}
	}
	return ring, errs, nil
}

// checkRing applies the other count rules of an invitation (§8 order: 6000272 before
// 6000281): more than max active users afterwards → 6000272 (all or nothing); nobody left to
// ring → 6000281.
func checkRing(ring, activeBefore, max int) error {
	switch {
	case activeBefore+ring > max:
		return fail(CodeTooManyUsers, "too many call users")
	case ring == 0:
		return fail(CodeNoValidInvitee, "no valid invitee")
	}
	return nil
}

// withDefaults returns cfg with every unset (zero or negative) setting at its default.
func (cfg Config) withDefaults() Config {
	d := DefaultConfig()
	if cfg.MaxCallUsers <= 0 {
		cfg.MaxCallUsers = d.MaxCallUsers
	}
	if cfg.NotReceivedCheckMs <= 0 {
		cfg.NotReceivedCheckMs = d.NotReceivedCheckMs
	}
	return cfg
}
