package protocol

// Code is a wire error code (behaviour §8).
type Code int

// The error codes. When several apply, Precedence gives the one that wins.
const (
	CodeInvalidParameter Code = 6000001 // shape, range, size, idempotency key reuse
	CodeUnknownOp        Code = 6000002 // unknown op (never a bad frame)
	CodeNotLoggedIn      Code = 6000121 // op before login
	CodeInternal         Code = 6000270 // internal error, retryable
	CodeCancelAccepted   Code = 6000271 // cancel refused: a targeted user already accepted
	CodeTooManyUsers     Code = 6000272 // too many invitees or call users
	CodeNotInviter       Code = 6000273 // cancel by someone who did not invite the targets, or is not active
	CodeStateForbids     Code = 6000274 // the user's state does not allow this operation
	CodeCallUnavailable  Code = 6000276 // call unknown, ended, not visible, or invitation timed out
	CodeNoValidInvitee   Code = 6000281 // no valid invitee
	CodeAlreadyActive    Code = 6000283 // callJoin from the main device; invitee already active
	CodeNotAdvanced      Code = 6000286 // advanced-mode operation on a general-mode call
	CodeBusy             Code = 6000290 // user is in another call
	CodeAuthFailed       Code = 6000291 // authentication failed (login only)
	CodeRateLimited      Code = 6000292 // rate limited
	CodeTooManyDevices   Code = 6000293 // too many devices
)

// Precedence lists the codes in the order in which they win when several apply (behaviour §8).
// Codes not listed (6000270, 6000293) never compete with another.
func Precedence() []Code {
	return []Code{
		CodeNotLoggedIn, CodeRateLimited, CodeUnknownOp, CodeInvalidParameter, CodeAuthFailed,
		CodeCallUnavailable, CodeNotAdvanced, CodeNotInviter, CodeStateForbids, CodeCancelAccepted,
		CodeTooManyUsers, CodeNoValidInvitee, CodeBusy, CodeAlreadyActive,
	}
}
