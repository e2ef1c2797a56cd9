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
// an "idem" that is not a key (ErrBadIdem). The request's Data is a slice of frame, not a copy:
// frame must not change while the request is in use.
func DecodeRequest(frame []byte) (Request, error) {
	trimmed := trimJSONSpace(frame)
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		return Request{}, badFrame("frame is not a JSON object")
	}
	env, ok := readEnvelope(trimmed)
	if !ok {
		env = envelopeOfMap(trimmed)
	}
	var req Request
	if req.ID = jsonInt(env.id); req.ID <= 0 || req.ID > MaxInteger {
		return Request{}, badFrame("id must be a positive integer of at most 53 bits")
	}
	if req.Op, ok = jsonString(env.op); !ok {
		return Request{}, badFrame("op must be a string")
	}
	if len(env.data) > 0 && !bytes.Equal(env.data, []byte("null")) {
		req.Data = env.data
	}
	if idem := env.idem; len(idem) > 0 && !bytes.Equal(idem, []byte("null")) {
		// A malformed key is the op's invalid parameter, not a bad frame.
		if req.Idem, ok = jsonString(idem); !ok {
			req.Idem = string(idem)
			return req, ErrBadIdem
		}
		if req.Idem != "" && (len(req.Idem) < MinIdemBytes || len(req.Idem) > MaxIdemBytes) {
			return req, ErrBadIdem
		}
	}
	return req, nil
}

// envelope holds the values of a request frame's members id, op, data and idem, as JSON text
// (nil for a member the frame does not have).
type envelope struct{ id, op, data, idem []byte }

// readEnvelope returns the envelope of obj, a valid JSON object, as encoding/json decodes obj
// into a map[string]json.RawMessage: names are matched exactly, and a name that repeats takes
// its last value. It reads obj once and copies nothing. ok is false when a name holds an
// escape, which might stand for a letter of one of those names: envelopeOfMap reads such a
// frame.
func readEnvelope(obj []byte) (env envelope, ok bool) {
	for i := 1; i < len(obj); {
		if obj[i] != '"' { // white space, ',' or the closing '}'
			i++
			continue
		}
		nameEnd := stringEnd(obj, i)
		name := obj[i+1 : nameEnd-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			return envelope{}, false
		}
		start := skipJSONSpace(obj, skipJSONSpace(obj, nameEnd)+1) // past the ':'
		end := valueEnd(obj, start)
		switch string(name) {
		case "id":
			env.id = obj[start:end]
		case "op":
			env.op = obj[start:end]
		case "data":
			env.data = obj[start:end]
		case "idem":
			env.idem = obj[start:end]
		}
		i = end
	}
	return env, true
}

// envelopeOfMap is readEnvelope for any valid JSON object, through a map: a map, not a
// struct, so that names are matched exactly, as protocol.md requires, where encoding/json would
// also accept "ID" or "Op" for a struct field.
func envelopeOfMap(obj []byte) envelope {
	var raw map[string]json.RawMessage
	json.Unmarshal(obj, &raw) // obj is a valid JSON object: it decodes into the map
	return envelope{id: raw["id"], op: raw["op"], data: raw["data"], idem: raw["idem"]}
}

// jsonInt returns the JSON value v as encoding/json decodes it into an int64, or 0 when it
// decodes into none (a null, a value of another type, a number that is no integer or out of
// range) or v is empty.
func jsonInt(v []byte) int64 {
	if len(v) == 0 || v[0] != '-' && (v[0] < '0' || v[0] > '9') {
		return 0
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// jsonString returns the JSON value v as encoding/json decodes it into a string; ok is false
// when v is no string or is empty. A string without escapes, in UTF-8, is taken as it is.
func jsonString(v []byte) (s string, ok bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	if inner := v[1 : len(v)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	return unmarshalString(v)
}

// unmarshalString is jsonString through encoding/json, for strings with escapes or bytes that
// are not UTF-8 (a function of its own, so that the plain strings' result stays off the heap).
func unmarshalString(v []byte) (string, bool) {
	var s string
	err := json.Unmarshal(v, &s)
	return s, err == nil
}

// skipJSONSpace returns the index of the first byte from data[i] on that is not JSON white
// space.
func skipJSONSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index just past the JSON value that begins at data[i], in valid JSON.
func valueEnd(data []byte, i int) int {
	switch data[i] {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				j = stringEnd(data, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(data)
	case 't', 'n':
		return i + len("true")
	case 'f':
		return i + len("false")
	}
	end, _ := numberEnd(data, i)
	return end
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
	if err := json.Unmarshal(last, v); err != nil {
		return dataError(err)
	}
	return nil
}

// dataError returns the error DecodeData reports for err, json.Unmarshal's error: the field
// and the value it could not take, in the terms of the wire.
func dataError(err error) error {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Errorf("%s: a JSON %s is not a valid value", typeErr.Field, typeErr.Value)
	case errors.As(err, &typeErr):
		return fmt.Errorf("a JSON %s is not a valid value", typeErr.Value)
	}
	return errors.New("data is not valid JSON")
}
