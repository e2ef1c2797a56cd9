package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
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
// or without a positive integer id or a string op. Such a frame counts as a bad frame.
var ErrBadFrame = errors.New("protocol: bad frame")

// DecodeRequest parses one client frame. It returns ErrBadFrame (wrapped with the reason) when
// the frame is not a JSON object or lacks a positive integer "id" or a string "op". The data is
// not interpreted: a known op with invalid data is the op's own error, not a bad frame.
func DecodeRequest(frame []byte) (Request, error) {
	var raw struct {
		ID   json.RawMessage `json:"id"`
		Op   json.RawMessage `json:"op"`
		Data json.RawMessage `json:"data"`
		Idem json.RawMessage `json:"idem"`
	}
	trimmed := bytes.TrimSpace(frame)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Request{}, badFrame("frame is not a JSON object")
	}
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return Request{}, badFrame("frame is not a JSON object")
	}
	var req Request
	if err := json.Unmarshal(raw.ID, &req.ID); err != nil || len(raw.ID) == 0 || req.ID <= 0 {
		return Request{}, badFrame("id must be a positive integer")
	}
	if err := json.Unmarshal(raw.Op, &req.Op); err != nil || len(raw.Op) == 0 || raw.Op[0] != '"' {
		return Request{}, badFrame("op must be a string")
	}
	if len(raw.Data) > 0 && !bytes.Equal(raw.Data, []byte("null")) {
		req.Data = raw.Data
	}
	if len(raw.Idem) > 0 && !bytes.Equal(raw.Idem, []byte("null")) {
		if err := json.Unmarshal(raw.Idem, &req.Idem); err != nil {
			// A malformed key is the op's invalid parameter, not a bad frame.
			req.Idem = string(raw.Idem)
			return req, ErrBadIdem
		}
	}
	return req, nil
}

// ErrBadIdem is returned by DecodeRequest, with the rest of the request filled in, when "idem"
// is present but not a string; the server answers it with 6000001.
var ErrBadIdem = errors.New("protocol: idem must be a string")

type frameError struct{ reason string }

func (e frameError) Error() string { return "protocol: bad frame: " + e.reason }
func (e frameError) Unwrap() error { return ErrBadFrame }

func badFrame(reason string) error { return frameError{reason} }

// DecodeData parses an op's data strictly into v: the data must be a JSON object (absent data
// decodes as {}), integers must be integers and every known field must have its type. Unknown
// fields are ignored.
func DecodeData(data json.RawMessage, v any) error {
	if len(data) == 0 {
		return nil
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("data must be a JSON object")
	}
	return json.Unmarshal(trimmed, v)
}
