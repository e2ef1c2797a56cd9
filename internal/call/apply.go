package call

// Create applies callInvite (R3.1) at now and returns the new call (Version 1) or an error.
// Outcome.MustBeFree names the caller: the shell refuses with CodeBusy when it is in a call.
func Create(in Invite, cfg Config, now int64) (Outcome, error) {
	panic("not implemented")
}

// Expire applies every deadline of c due at now (deadline ≤ now), earliest first: ring
// timeouts (R3.5; users due at the same instant in one change; a timeout wins over a
// not-received check due with it) and not-received checks (R5.2). Each instant is its own
// change with its own version. Changed is false when nothing was due.
func Expire(c Call, cfg Config, now int64) Outcome {
	panic("not implemented")
}

// Apply applies in to c at now. c must have no deadline due at now: the shell calls Expire
// first and commits both outcomes together (R3 preamble). On error the call is unchanged and
// the error is a *Error.
func Apply(c Call, in Input, cfg Config, now int64) (Outcome, error) {
	panic("not implemented")
}
