package call

import "strconv"

// Code is a domain error code. The values are the wire codes of behaviour §8, so the wire
// mapping is one table of identities; only the shell adds the codes that are not about a call.
type Code int

// The codes a call rule can produce.
const (
	CodeInvalidParameter Code = 6000001
	CodeCancelAccepted   Code = 6000271
	CodeTooManyUsers     Code = 6000272
	CodeNotInviter       Code = 6000273
	CodeStateForbids     Code = 6000274
	CodeCallUnavailable  Code = 6000276
	CodeNoValidInvitee   Code = 6000281
	CodeAlreadyActive    Code = 6000283
	CodeNotAdvanced      Code = 6000286
	CodeBusy             Code = 6000290
)

// Error is a refused input: its code and a short human reason safe to show to clients.
type Error struct {
	Code   Code
	Reason string
}

func (e *Error) Error() string { return strconv.Itoa(int(e.Code)) + ": " + e.Reason }

func fail(code Code, reason string) error { return &Error{Code: code, Reason: reason} }

// Unavailable refuses an op on a call that is unknown, ended or not visible to the user
// (6000276). All three get this one reply, code and reason, so that a user not in a call
// cannot tell from a refusal whether the call exists (§11).
func Unavailable() error { return fail(CodeCallUnavailable, "call unknown, ended or not visible") }
