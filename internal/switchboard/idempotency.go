package switchboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/dialtone/dialtone/internal/call"
)

// Idempotency keys are 16–64 bytes (protocol.md "Envelopes").
const (
	minIdemKey = 16
	maxIdemKey = 64
)

// idempotent runs op, which carries out req, at most once per (userID, key) within the window
// (R7.3). A repeat of a committed success returns its first reply; the same key with another
// op or other parameters (request.matches) is refused with 6000001; a repeat that arrives
// while the first is in flight waits for it. Failures are not remembered. op receives the
// claim to commit with its change (nil when key is "").
//
// A fresh key is the common case, so op runs first and nothing is read for it: every success
// of op commits the record, and that commit fails with ErrKeyTaken if the key is taken. Only
// when op fails (a repeat usually does, the call having moved on) or meets ErrKeyTaken is the
// remembered success looked up, and then it is the answer. A failing op may still have
// committed deadlines that were due, as every op does first (R3); that is the clock's change,
// not the repeat's.
func (s *Switchboard) idempotent(ctx context.Context, userID, key string, req request, op func(*idemClaim) (Result, error)) (Result, error) {
	if key == "" {
		return op(nil)
	}
	if len(key) < minIdemKey || len(key) > maxIdemKey {
		return Result{}, &call.Error{Code: call.CodeInvalidParameter, Reason: "idempotency key must be 16 to 64 bytes"}
	}
	lockKey := userID + "\x00" + key
	s.idem.Lock(lockKey)
	defer s.idem.Unlock(lockKey)
	// One cutoff for op's commit and the lookup below: the lookup finds every record the
	// commit finds live.
	since := s.idemCutoff()
	res, err := op(&idemClaim{record: IdempotencyRecord{UserID: userID, Key: key, Fingerprint: req.fingerprint()}, since: since})
	if err == nil {
		return res, nil
	}
	first, found, rerr := s.remembered(ctx, userID, key, req, since)
	switch {
	case rerr != nil:
		return Result{}, rerr
	case !found:
		return Result{}, err
	}
	return first, nil
}

// Repeat returns the first reply of the request in (on callID; "" for a callInvite) if userID
// carried it out with key within the window (R7.3), waiting for a duplicate in flight; found
// is false otherwise, also when the key was used for another request. It changes nothing: it
// lets a request refused before it is carried out (past the invite limit) still get its first
// reply when it is a repeat.
func (s *Switchboard) Repeat(ctx context.Context, userID, callID string, in any, key string) (res Result, found bool, err error) {
	if len(key) < minIdemKey || len(key) > maxIdemKey {
		return Result{}, false, nil // never accepted, so never remembered
	}
	lockKey := userID + "\x00" + key
	s.idem.Lock(lockKey)
	defer s.idem.Unlock(lockKey)
	res, found, err = s.remembered(ctx, userID, key, request{callID: callID, in: in}, s.idemCutoff())
	var ce *call.Error
	if errors.As(err, &ce) {
		return Result{}, false, nil
	}
	return res, found, err
}

// idemClaim is what an op commits with its change to claim an idempotency key (R7.3): the
// record of the request, and the cutoff (Unix ms) before which a record of the key has
// expired, which frees the key.
type idemClaim struct {
	record IdempotencyRecord
	since  int64
}

// idemCutoff returns the date (Unix ms) before which an idempotency record is older than the
// window (R7.3): measured on the monotonic clock like retention's (ageClock), so that a step
// of the wall clock neither ends the window of a request early nor frees its key.
func (s *Switchboard) idemCutoff() int64 {
	return s.age.cutoffs(s.cfg.IdempotencyWindow)[0]
}

// remembered returns the reply of userID's success with key committed at or after since, and
// found false when there is none; a success of another request than req is 6000001.
func (s *Switchboard) remembered(ctx context.Context, userID, key string, req request, since int64) (res Result, found bool, err error) {
	rec, found, err := s.store.Idempotency(ctx, userID, key, since)
	switch {
	case err != nil:
		return Result{}, false, fmt.Errorf("idempotency record: %w", err)
	case !found:
		return Result{}, false, nil
	case !req.matches(rec.Fingerprint):
		return Result{}, false, &call.Error{Code: call.CodeInvalidParameter, Reason: "idempotency key reused for another request"}
	}
	if res, err = decodeReply(rec.Reply); err != nil {
		return Result{}, false, s.store.Damaged(fmt.Errorf("idempotency reply of %s: %w", userID, err))
	}
	res.Repeated = true
	return res, true, nil
}

// storedReply is how an idempotency record keeps its Result: the call in its compact binary
// encoding (call.Call.AppendBinary), the rest as short JSON; about a third of the Result's own
// JSON, and records are a good part of what every op writes.
type storedReply struct {
	Call          []byte           `json:"c"`
	Now           int64            `json:"n"`
	Timeout       int              `json:"t,omitempty"`
	ErrorUsers    []call.ErrorUser `json:"e,omitempty"`
	ErrorInvitees []string         `json:"i,omitempty"`
}

func encodeReply(res Result) ([]byte, error) {
	c, _ := res.Call.MarshalBinary() // never fails
	return json.Marshal(storedReply{Call: c, Now: res.Now, Timeout: res.Timeout,
		ErrorUsers: res.ErrorUsers, ErrorInvitees: res.ErrorInvitees})
}

// decodeReply decodes what encodeReply wrote, or a record of an earlier version, which kept
// the Result's own JSON (its keys are the field names, so it has no "c"). Every reply holds a
// call: one without (JSON such as {} or null) is no reply either version wrote.
func decodeReply(b []byte) (Result, error) {
	var r storedReply
	if err := json.Unmarshal(b, &r); err != nil {
		return Result{}, err
	}
	if r.Call == nil {
		var res Result
		if err := json.Unmarshal(b, &res); err != nil {
			return Result{}, err
		}
		if res.Call.ID == "" {
			return Result{}, errors.New("the reply holds no call")
		}
		return res, nil
	}
	res := Result{Now: r.Now, Timeout: r.Timeout, ErrorUsers: r.ErrorUsers, ErrorInvitees: r.ErrorInvitees}
	return res, res.Call.UnmarshalBinary(r.Call)
}

// request is an op's input and the call it targets ("" for a callInvite), as idempotency
// records know it (R7.3).
type request struct {
	callID string
	in     any
}

// fingerprint identifies the request by what it means (docs/behaviour.md §12, "The same
// parameters"): the input's type, the call it targets and the input with its defaults
// applied (withDefaults), so that a request that writes a default out and one that leaves it
// out are one request.
func (r request) fingerprint() string { return hashInput(r.callID, withDefaults(r.in)) }

// matches reports whether an idempotency record's fingerprint is r's. A record may also hold
// the fingerprint of the input as written, as records made before defaults were applied do
// (they live on for one window after an upgrade); that one is r's only when r is spelled as
// the recorded request was.
func (r request) matches(fp string) bool {
	return fp == r.fingerprint() || fp == hashInput(r.callID, r.in)
}

// withDefaults returns in with the defaults of the spec applied where a field can be left
// out: an invitation's timeout 0 is 90 seconds (R3.1, R3.6), and a callCancel's empty
// invitees are none (R3.2). The wire already reads an absent or -1 mode as General, and an
// absent string, flag or pushConfig as its zero value. Everything else stays as written: the
// order and repeats of invitees shape the reply, extendedData is the app's own bytes, and an
// empty pushConfig asks for pushes where none asks for none (§9).
func withDefaults(in any) any {
	switch v := in.(type) {
	case call.Invite:
		v.Timeout = call.RingTimeout(v.Timeout)
		return v
	case call.CallingInvite:
		v.Timeout = call.RingTimeout(v.Timeout)
		return v
	case call.Cancel:
		if len(v.Invitees) == 0 {
			v.Invitees = nil
		}
		return v
	}
	return in
}

// hashInput hashes an input's type (as %T prints it) and JSON encoding with the call it
// targets: the SHA-256 of "type\x00callID\x00json", in hex. in is not nil.
func hashInput(callID string, in any) string {
	b, _ := json.Marshal(in) // inputs are plain data: encoding cannot fail
	typ := reflect.TypeOf(in).String()
	hashed := make([]byte, 0, len(typ)+len(callID)+2+len(b))
	hashed = append(append(append(append(hashed, typ...), 0), callID...), 0)
	sum := sha256.Sum256(append(hashed, b...))
	var digits [2 * sha256.Size]byte
	hex.Encode(digits[:], sum[:])
	return string(digits[:])
}
