package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// Request is a client-to-server frame: {"id": 7, "op": "callAccept", "data": {…}, "idem": "…"}.
// ID is positive and unique among the connection's requests in flight; Idem is an optional
// idempotency key of 16–64 bytes for mutating ops.
type Request struct {
	ID   int64           `json:"id"`
	Op   string          `json:"op"`
	Data json.RawMessage `json:"data,omitempty"`
	Idem string          `json:"idem,omitempty"`
}

// Reply answers exactly one Request. Exactly one of Result and Error is set; a connection-level
// error (a bad frame) has ID 0, which is omitted on the wire.
type Reply struct {
	ID     int64           `json:"id,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// Event is a server-to-client notification. Seq is the user's log sequence number; it is 0
// (absent on the wire) for synthesized invitations and for kicked.
type Event struct {
	Event string          `json:"event"`
	Seq   int64           `json:"seq,omitempty"`
	Data  json.RawMessage `json:"data"`
}

// Error is the error object of a Reply. It implements the error interface so SDKs can return it
// directly; callers inspect Code with errors.As.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return "dialtone error " + strconv.Itoa(int(e.Code)) + ": " + e.Message
}

// Frame is any server-to-client frame decoded by a client: a reply when Event is empty,
// otherwise an event.
type Frame struct {
	ID     int64           `json:"id,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
	Event  string          `json:"event,omitempty"`
	Seq    int64           `json:"seq,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// ErrBadFrame is returned by DecodeRequest for a frame that is not a request: not a JSON object,
// or without a positive integer id (at most MaxInteger) or a string op. Such a frame counts as
// a bad frame.
var ErrBadFrame = errors.New("protocol: bad frame")

// DecodeRequest parses one client frame. It returns ErrBadFrame (wrapped with the reason) when
// the frame is not a JSON object or lacks a positive integer "id" of at most 53 bits or a
// string "op"; envelope field names are matched exactly and unknown ones are ignored. "data"
// and "idem" that are null count as absent, and so does an empty "idem". The data is not
// interpreted: a known op with invalid data is the op's own error, not a bad frame, and so is
// an "idem" that is not a key (ErrBadIdem).
func DecodeRequest(frame []byte) (Request, error) {
	trimmed := trimJSONSpace(frame)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Request{}, badFrame("frame is not a JSON object")
	}
	// A map, not a struct: field names are matched exactly, as protocol.md requires, where
	// encoding/json would also accept "ID" or "Op" for a struct field.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return Request{}, badFrame("frame is not a JSON object")
	}
	var req Request
	if id := raw["id"]; len(id) == 0 || json.Unmarshal(id, &req.ID) != nil || req.ID <= 0 || req.ID > MaxInteger {
		return Request{}, badFrame("id must be a positive integer of at most 53 bits")
	}
	if op := raw["op"]; len(op) == 0 || op[0] != '"' || json.Unmarshal(op, &req.Op) != nil {
		return Request{}, badFrame("op must be a string")
	}
	if data := raw["data"]; len(data) > 0 && !bytes.Equal(data, []byte("null")) {
		req.Data = data
	}
	if idem := raw["idem"]; len(idem) > 0 && !bytes.Equal(idem, []byte("null")) {
		// A malformed key is the op's invalid parameter, not a bad frame.
		if err := json.Unmarshal(idem, &req.Idem); err != nil {
			req.Idem = string(idem)
			return req, ErrBadIdem
		}
		if req.Idem != "" && (len(req.Idem) < MinIdemBytes || len(req.Idem) > MaxIdemBytes) {
			return req, ErrBadIdem
		}
	}
	return req, nil
}

// MinIdemBytes and MaxIdemBytes bound an idempotency key (protocol.md "Envelopes").
const (
	MinIdemBytes = 16
	MaxIdemBytes = 64
)

// ErrBadIdem is returned by DecodeRequest, with the rest of the request filled in, when "idem"
// is present but not a string of MinIdemBytes to MaxIdemBytes bytes (an empty one is absent),
// whatever the op; the server answers it with 6000001.
var ErrBadIdem = errors.New("protocol: idem must be a string of 16 to 64 bytes")

// trimJSONSpace returns b without the white space JSON allows around a value: space, tab, CR
// and LF (RFC 8259 section 2). Other white space, such as a vertical tab or a no-break space,
// is left, so the text is not JSON.
func trimJSONSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

type frameError struct{ reason string }

func (e frameError) Error() string { return "protocol: bad frame: " + e.reason }
func (e frameError) Unwrap() error { return ErrBadFrame }

func badFrame(reason string) error { return frameError{reason} }

// DecodeData parses an op's data strictly into v: the data must be a JSON object in UTF-8
// (absent data decodes as {}) of at most MaxDataItems names and values, integers must be integers (no fraction or exponent) of at most
// 53 bits and within the field's range, a list of values that cannot be null (userIDs) must
// hold no null, and every known field must have its type. Unknown fields are ignored, a name
// repeated in an object takes its last value, whole (two objects under one name are not
// merged), and a null field leaves its value unset. Field names are matched exactly
// (protocol.md "Shapes"): a name that differs from a field's only in case is an unknown field.
// An error names the field by its JSON path and the value it could not take, in terms of the
// wire, not of v's Go types. v is a pointer to a struct of the protocol's data types.
func DecodeData(data json.RawMessage, v any) error {
	if len(data) == 0 {
		return nil
	}
	trimmed := trimJSONSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("data must be a JSON object")
	}
	if !json.Valid(trimmed) {
		return errors.New("data is not valid JSON")
	}
	if !utf8.Valid(trimmed) {
		return errors.New("data is not UTF-8")
	}
	plain, items := scanData(trimmed, fieldNamesOf(reflect.TypeOf(v)))
	if items > MaxDataItems {
		return fmt.Errorf("data holds more than %d names and values", MaxDataItems)
	}
	last := trimmed
	if !plain {
		var err error
		if last, err = lastValues(trimmed, reflect.TypeOf(v)); err != nil {
			return err
		}
	}
	err := json.Unmarshal(last, v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Errorf("%s: a JSON %s is not a valid value", typeErr.Field, typeErr.Value)
	case errors.As(err, &typeErr):
		return fmt.Errorf("a JSON %s is not a valid value", typeErr.Value)
	}
	return errors.New("data is not valid JSON")
}
