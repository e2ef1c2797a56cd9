package switchboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	rec, found, rerr := s.store.Idempotency(ctx, userID, key, since)
	switch {
	case rerr != nil:
		return Result{}, fmt.Errorf("idempotency record: %w", rerr)
	case !found:
		return Result{}, err
	case rec.Fingerprint != fp:
		return Result{}, &call.Error{Code: call.CodeInvalidParameter, Reason: "idempotency key reused for another request"}
	}
	res, err = decodeReply(rec.Reply)
	if err != nil {
		return Result{}, fmt.Errorf("decode remembered reply: %w", err)
	}
	return res, nil
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
