// Package call is Dialtone's pure call-invitation state machine: every rule of behaviour R3–R6
// about one call, and nothing else.
//
// A Call is a value. Create makes one from a callInvite; Expire applies the deadlines that are
// due (ring timeouts R3.5, not-received checks R5.2); Apply applies one Input (an operation or a
// lost device). Each returns an Outcome — the new call and the effects to carry out: the events
// with their exact recipients and device targets (§5), the webhook records (§10), the pushes
// (§9) and the changes to who is "in a call" — or a *Error with a code of §8 and no change.
//
// The package reads no clock (callers pass now, Unix milliseconds), does no I/O and starts no
// goroutine. Rules that span calls or sessions — busy and glare (R3.1, R3.3b), device loss
// detection (R6.1), delivery (R7.2) and idempotency (R7.3) — belong to the shell, which uses
// Outcome.MustBeFree, Outcome.Busy and GlareCancel to carry them out.
//
// A Call also has one compact binary encoding (codec.go), so that every store and the
// idempotency records keep calls the same way.
package call
