package client

import (
	"encoding/json"
	"errors"
)

// unmarshal decodes the JSON text data into v, which must point to a zero value, exactly as
// json.Unmarshal does: the same value, the same error, and on an error the same part of the
// value decoded. The events and results of a call's lifecycle are read in one pass without
// reflection (readValue) when their text is the plain form the server writes; any other text,
// and any other type, goes through json.Unmarshal.
func unmarshal(data []byte, v any) error {
	if readValue(data, v) {
		return nil
	}
	return json.Unmarshal(data, v)
}

// readValue reads data into v, which must point to a zero value, in one pass, and reports
// whether it could. It can when v is one of the types below and data is an object that names
// each member once, by its field's JSON name exactly (no escapes in names, no other case, no
// unknown names), whose values are of their fields' types: strings, integers (no fraction or
// exponent) that fit, true or false, lists of such objects, or null for a string, an integer
// or a list. It then decodes what json.Unmarshal decodes. When it cannot, v is zero again.
func readValue(data []byte, v any) bool {
	var ok bool
	switch v := v.(type) {
	case *CallInvitationCreated:
		ok = readAll(data, v, invitationCreatedFields)
	case *CallInvitationReceived:
		ok = readAll(data, v, invitationReceivedFields)
	case *CallInvitationCancelled:
		ok = readAll(data, v, invitationCancelledFields)
	case *CallInvitationTimeout:
		ok = readAll(data, v, invitationTimeoutFields)
	case *CallInvitationEnded:
		ok = readAll(data, v, invitationEndedFields)
	case *CallUserStateChanged:
		ok = readAll(data, v, userStateChangedFields)
	case *CallMainDeviceChanged:
		ok = readAll(data, v, mainDeviceChangedFields)
	case *LoginResult:
		ok = readAll(data, v, loginResultFields)
	case *CallIDResult:
		ok = readAll(data, v, callIDResultFields)
	case *CallInviteResult:
		ok = readAll(data, v, inviteResultFields)
	case *CallEndResult:
		ok = readAll(data, v, endResultFields)
	}
	return ok
}

// errUnusual stops a one-pass read at text it leaves to json.Unmarshal.
var errUnusual = errors.New("JSON text of an unusual form")

// field is a member of a JSON object that a one-pass read decodes into a field of a T: its
// name, and read, which reads the value at the scanner's position into the T's field.
type field[T any] struct {
	name string
	read func(s *frameScanner, v *T) error
}

// readAll reads the whole of data, an object of fields, into *v, and reports whether it could;
// when it could not, *v is zero again.
func readAll[T any](data []byte, v *T, fields []field[T]) bool {
	s := frameScanner{data: data}
	s.skipSpace()
	err := readObject(&s, v, fields)
	s.skipSpace()
	if err != nil || s.pos < len(data) {
		var zero T
		*v = zero
		return false
	}
	return true
}

// readObject reads the object at pos, whose members must be fields (at most 64), each at most
// once, into *v.
func readObject[T any](s *frameScanner, v *T, fields []field[T]) error {
	if s.peek() != '{' {
		return errUnusual
	}
	var seen uint64
	return s.object(func(name []byte) error {
		i := fieldIndex(fields, name[1:len(name)-1])
		if i < 0 || seen&(1<<i) != 0 {
			return errUnusual
		}
		seen |= 1 << i
		return fields[i].read(s, v)
	})
}

// fieldIndex returns the index of the field named text, or -1.
func fieldIndex[T any](fields []field[T], text []byte) int {
	for i, f := range fields {
		if f.name == string(text) {
			return i
		}
	}
	return -1
}

// readList reads the list of objects, or null, at pos into *dst: a list, even an empty one, as
// a new slice; null leaves *dst.
func readList[E any](s *frameScanner, dst *[]E, fields []field[E]) error {
	if s.literal("null") {
		return nil
	}
	if s.peek() != '[' {
		return errUnusual
	}
	list := []E{}
	err := s.list(func() error {
		list = append(list, *new(E))
		return readObject(s, &list[len(list)-1], fields)
	})
	*dst = list
	return err
}

// readInt reads the integer, or null, at pos into *dst, of int's size, as s.integer does.
func readInt[I ~int](s *frameScanner, dst *I) error {
	var n int64
	if err := s.integer(&n); err != nil {
		return err
	}
	if int64(int(n)) != n {
		return errUnusual
	}
	*dst = I(n)
	return nil
}

// boolean reads true or false at pos into *dst.
func (s *frameScanner) boolean(dst *bool) error {
	switch {
	case s.literal("true"):
		*dst = true
	case s.literal("false"):
		*dst = false
	default:
		return errUnusual
	}
	return nil
}

var callUserInfoFields = []field[CallUserInfo]{
	{"userID", func(s *frameScanner, u *CallUserInfo) error { return s.string(&u.UserID) }},
	{"state", func(s *frameScanner, u *CallUserInfo) error { return readInt(s, &u.State) }},
	{"inviter", func(s *frameScanner, u *CallUserInfo) error { return s.string(&u.Inviter) }},
	{"extendedData", func(s *frameScanner, u *CallUserInfo) error { return s.string(&u.ExtendedData) }},
	{"deadline", func(s *frameScanner, u *CallUserInfo) error { return s.integer(&u.Deadline) }},
	{"acceptTime", func(s *frameScanner, u *CallUserInfo) error { return s.integer(&u.AcceptTime) }},
	{"updateTime", func(s *frameScanner, u *CallUserInfo) error { return s.integer(&u.UpdateTime) }},
}

var invitationCreatedFields = []field[CallInvitationCreated]{
	{"callID", func(s *frameScanner, e *CallInvitationCreated) error { return s.string(&e.CallID) }},
	{"version", func(s *frameScanner, e *CallInvitationCreated) error { return s.integer(&e.Version) }},
	{"mode", func(s *frameScanner, e *CallInvitationCreated) error { return readInt(s, &e.Mode) }},
	{"caller", func(s *frameScanner, e *CallInvitationCreated) error { return s.string(&e.Caller) }},
	{"extendedData", func(s *frameScanner, e *CallInvitationCreated) error { return s.string(&e.ExtendedData) }},
	{"timeout", func(s *frameScanner, e *CallInvitationCreated) error { return readInt(s, &e.Timeout) }},
	{"createTime", func(s *frameScanner, e *CallInvitationCreated) error { return s.integer(&e.CreateTime) }},
	{"callUserList", func(s *frameScanner, e *CallInvitationCreated) error {
		return readList(s, &e.CallUserList, callUserInfoFields)
	}},
}

var invitationReceivedFields = []field[CallInvitationReceived]{
	{"callID", func(s *frameScanner, e *CallInvitationReceived) error { return s.string(&e.CallID) }},
	{"version", func(s *frameScanner, e *CallInvitationReceived) error { return s.integer(&e.Version) }},
	{"mode", func(s *frameScanner, e *CallInvitationReceived) error { return readInt(s, &e.Mode) }},
	{"caller", func(s *frameScanner, e *CallInvitationReceived) error { return s.string(&e.Caller) }},
	{"inviter", func(s *frameScanner, e *CallInvitationReceived) error { return s.string(&e.Inviter) }},
	{"extendedData", func(s *frameScanner, e *CallInvitationReceived) error { return s.string(&e.ExtendedData) }},
	{"timeout", func(s *frameScanner, e *CallInvitationReceived) error { return readInt(s, &e.Timeout) }},
	{"deadline", func(s *frameScanner, e *CallInvitationReceived) error { return s.integer(&e.Deadline) }},
	{"createTime", func(s *frameScanner, e *CallInvitationReceived) error { return s.integer(&e.CreateTime) }},
	{"callUserList", func(s *frameScanner, e *CallInvitationReceived) error {
		return readList(s, &e.CallUserList, callUserInfoFields)
	}},
	{"synthetic", func(s *frameScanner, e *CallInvitationReceived) error { return s.boolean(&e.Synthetic) }},
}

var invitationCancelledFields = []field[CallInvitationCancelled]{
	{"callID", func(s *frameScanner, e *CallInvitationCancelled) error { return s.string(&e.CallID) }},
	{"version", func(s *frameScanner, e *CallInvitationCancelled) error { return s.integer(&e.Version) }},
	{"mode", func(s *frameScanner, e *CallInvitationCancelled) error { return readInt(s, &e.Mode) }},
	{"inviter", func(s *frameScanner, e *CallInvitationCancelled) error { return s.string(&e.Inviter) }},
	{"extendedData", func(s *frameScanner, e *CallInvitationCancelled) error { return s.string(&e.ExtendedData) }},
	{"callUserList", func(s *frameScanner, e *CallInvitationCancelled) error {
		return readList(s, &e.CallUserList, callUserInfoFields)
	}},
}

var invitationTimeoutFields = []field[CallInvitationTimeout]{
	{"callID", func(s *frameScanner, e *CallInvitationTimeout) error { return s.string(&e.CallID) }},
	{"version", func(s *frameScanner, e *CallInvitationTimeout) error { return s.integer(&e.Version) }},
	{"mode", func(s *frameScanner, e *CallInvitationTimeout) error { return readInt(s, &e.Mode) }},
}

var invitationEndedFields = []field[CallInvitationEnded]{
	{"callID", func(s *frameScanner, e *CallInvitationEnded) error { return s.string(&e.CallID) }},
	{"version", func(s *frameScanner, e *CallInvitationEnded) error { return s.integer(&e.Version) }},
	{"mode", func(s *frameScanner, e *CallInvitationEnded) error { return readInt(s, &e.Mode) }},
	{"caller", func(s *frameScanner, e *CallInvitationEnded) error { return s.string(&e.Caller) }},
	{"operatedUserID", func(s *frameScanner, e *CallInvitationEnded) error { return s.string(&e.OperatedUserID) }},
	{"extendedData", func(s *frameScanner, e *CallInvitationEnded) error { return s.string(&e.ExtendedData) }},
	{"endTime", func(s *frameScanner, e *CallInvitationEnded) error { return s.integer(&e.EndTime) }},
}

var userStateChangedFields = []field[CallUserStateChanged]{
	{"callID", func(s *frameScanner, e *CallUserStateChanged) error { return s.string(&e.CallID) }},
	{"version", func(s *frameScanner, e *CallUserStateChanged) error { return s.integer(&e.Version) }},
	{"callUserList", func(s *frameScanner, e *CallUserStateChanged) error {
		return readList(s, &e.CallUserList, callUserInfoFields)
	}},
	{"callState", func(s *frameScanner, e *CallUserStateChanged) error { return readInt(s, &e.CallState) }},
	{"endTime", func(s *frameScanner, e *CallUserStateChanged) error { return s.integer(&e.EndTime) }},
}

var mainDeviceChangedFields = []field[CallMainDeviceChanged]{
	{"callID", func(s *frameScanner, e *CallMainDeviceChanged) error { return s.string(&e.CallID) }},
	{"version", func(s *frameScanner, e *CallMainDeviceChanged) error { return s.integer(&e.Version) }},
	{"deviceID", func(s *frameScanner, e *CallMainDeviceChanged) error { return s.string(&e.DeviceID) }},
}

var loginResultFields = []field[LoginResult]{
	{"userID", func(s *frameScanner, r *LoginResult) error { return s.string(&r.UserID) }},
	{"deviceID", func(s *frameScanner, r *LoginResult) error { return s.string(&r.DeviceID) }},
	{"headSeq", func(s *frameScanner, r *LoginResult) error { return s.integer(&r.HeadSeq) }},
	{"caughtUp", func(s *frameScanner, r *LoginResult) error { return s.boolean(&r.CaughtUp) }},
	{"heartbeatIntervalMs", func(s *frameScanner, r *LoginResult) error { return s.integer(&r.HeartbeatIntervalMs) }},
	{"heartbeatTimeoutMs", func(s *frameScanner, r *LoginResult) error { return s.integer(&r.HeartbeatTimeoutMs) }},
	{"serverTime", func(s *frameScanner, r *LoginResult) error { return s.integer(&r.ServerTime) }},
}

var callIDResultFields = []field[CallIDResult]{
	{"callID", func(s *frameScanner, r *CallIDResult) error { return s.string(&r.CallID) }},
}

var errorUserInfoFields = []field[ErrorUserInfo]{
	{"userID", func(s *frameScanner, u *ErrorUserInfo) error { return s.string(&u.UserID) }},
	{"reason", func(s *frameScanner, u *ErrorUserInfo) error { return readInt(s, &u.Reason) }},
}

var callInfoFields = []field[CallInfo]{
	{"callID", func(s *frameScanner, c *CallInfo) error { return s.string(&c.CallID) }},
	{"caller", func(s *frameScanner, c *CallInfo) error { return s.string(&c.Caller) }},
	{"inviter", func(s *frameScanner, c *CallInfo) error { return s.string(&c.Inviter) }},
	{"mode", func(s *frameScanner, c *CallInfo) error { return readInt(s, &c.Mode) }},
	{"state", func(s *frameScanner, c *CallInfo) error { return readInt(s, &c.State) }},
	{"extendedData", func(s *frameScanner, c *CallInfo) error { return s.string(&c.ExtendedData) }},
	{"createTime", func(s *frameScanner, c *CallInfo) error { return s.integer(&c.CreateTime) }},
	{"endTime", func(s *frameScanner, c *CallInfo) error { return s.integer(&c.EndTime) }},
	{"version", func(s *frameScanner, c *CallInfo) error { return s.integer(&c.Version) }},
	{"callUserList", func(s *frameScanner, c *CallInfo) error { return readList(s, &c.CallUserList, callUserInfoFields) }},
}

var inviteResultFields = []field[CallInviteResult]{
	{"callID", func(s *frameScanner, r *CallInviteResult) error { return s.string(&r.CallID) }},
	{"timeout", func(s *frameScanner, r *CallInviteResult) error { return readInt(s, &r.Timeout) }},
	{"errorUserList", func(s *frameScanner, r *CallInviteResult) error {
		return readList(s, &r.ErrorUserList, errorUserInfoFields)
	}},
	{"callInfo", func(s *frameScanner, r *CallInviteResult) error { return readObject(s, &r.CallInfo, callInfoFields) }},
}

var endResultFields = []field[CallEndResult]{
	{"callID", func(s *frameScanner, r *CallEndResult) error { return s.string(&r.CallID) }},
	{"createTime", func(s *frameScanner, r *CallEndResult) error { return s.integer(&r.CreateTime) }},
	{"acceptTime", func(s *frameScanner, r *CallEndResult) error { return s.integer(&r.AcceptTime) }},
	{"endTime", func(s *frameScanner, r *CallEndResult) error { return s.integer(&r.EndTime) }},
}
