package switchboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dialtone/dialtone/internal/call"
)

// Idempotency keys are 16–64 bytes (protocol.md "Envelopes").
const (
	minIdemKey = 16
	maxIdemKey = 64
)

// idempotent runs op at most once per (userID, key) within the window (R7.3). A repeat of a
// committed success returns its first reply; the same key with another op or other parameters
// is refused with 6000001; a repeat that arrives while the first is in flight waits for it.
// Failures are not remembered. op receives the record to commit with its change (nil when
// key is "").
//
// A fresh key is the common case, so op runs first and nothing is read for it: every success
// of op commits the record, and that commit fails with ErrKeyTaken if the key is taken. Only
// when op fails (a repeat usually does, the call having moved on) or meets ErrKeyTaken is the
// remembered success looked up, and then it is the answer. A failing op may still have
// committed deadlines that were due, as every op does first (R3); that is the clock's change,
// not the repeat's.
func (s *Switchboard) idempotent(ctx context.Context, userID, key, fp string, op func(*IdempotencyRecord) (Result, error)) (Result, error) {
	if key == "" {
		return op(nil)
	}
	if len(key) < minIdemKey || len(key) > maxIdemKey {
		return Result{}, &call.Error{Code: call.CodeInvalidParameter, Reason: "idempotency key must be 16 to 64 bytes"}
	}
	unlock := s.idem.Lock(userID + "\x00" + key)
	defer unlock()
	// Taken before op decides, so the lookup below finds every record its commit finds live.
	since := s.now().Add(-s.cfg.IdempotencyWindow).UnixMilli()
	res, err := op(&IdempotencyRecord{UserID: userID, Key: key, Fingerprint: fp})
	if err == nil {
		return res, nil
	}
	first, found, rerr := s.remembered(ctx, userID, key, fp, since)
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
	unlock := s.idem.Lock(userID + "\x00" + key)
	defer unlock()
	since := s.now().Add(-s.cfg.IdempotencyWindow).UnixMilli()
	res, found, err = s.remembered(ctx, userID, key, fingerprint(callID, in), since)
	var ce *call.Error
	if errors.As(err, &ce) {
		return Result{}, false, nil
	}
	return res, found, err
}

// remembered returns the reply of userID's success with key committed at or after since, and
// found false when there is none; a success of another request (fingerprint) is 6000001.
func (s *Switchboard) remembered(ctx context.Context, userID, key, fp string, since int64) (res Result, found bool, err error) {
	rec, found, err := s.store.Idempotency(ctx, userID, key, since)
	switch {
	case err != nil:
		return Result{}, false, fmt.Errorf("idempotency record: %w", err)
	case !found:
		return Result{}, false, nil
	case rec.Fingerprint != fp:
		return Result{}, false, &call.Error{Code: call.CodeInvalidParameter, Reason: "idempotency key reused for another request"}
	}
	if res, err = decodeReply(rec.Reply); err != nil {
		return Result{}, false, fmt.Errorf("decode remembered reply: %w", err)
	}
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
	c, _ := res.Call.AppendBinary(nil) // never fails
	return json.Marshal(storedReply{Call: c, Now: res.Now, Timeout: res.Timeout,
		ErrorUsers: res.ErrorUsers, ErrorInvitees: res.ErrorInvitees})
}

// decodeReply decodes what encodeReply wrote, or a record of an earlier version, which kept
// the Result's own JSON (its keys are the field names, so it has no "c").
func decodeReply(b []byte) (Result, error) {
	var r storedReply
	if err := json.Unmarshal(b, &r); err != nil {
		return Result{}, err
	}
	if r.Call == nil {
		var res Result
		err := json.Unmarshal(b, &res)
		return res, err
	}
	res := Result{Now: r.Now, Timeout: r.Timeout, ErrorUsers: r.ErrorUsers, ErrorInvitees: r.ErrorInvitees}
	return res, res.Call.UnmarshalBinary(r.Call)
}

// fingerprint identifies an op and its parameters: the input's type and JSON encoding, and
// the call it targets.
func fingerprint(callID string, in any) string {
	b, _ := json.Marshal(in) // inputs are plain data: encoding cannot fail
	h := sha256.New()
	fmt.Fprintf(h, "%T\x00%s\x00", in, callID)
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}
