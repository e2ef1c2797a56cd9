package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dialtone/dialtone/protocol"
)

// decodeFrame decodes a frame from the server in one pass over its text, and takes and
// refuses exactly what json.Unmarshal into a protocol.Frame takes and refuses: the text must
// be one JSON value, an object (or null, which is a zero frame); a name is matched to an
// envelope field as encoding/json matches it (an exact match, else one that differs only in
// case, escapes undone), unknown names are ignored, and a repeated name keeps its last value
// (two error objects merge); id and seq must be integers that fit in 64 bits, event a string,
// error an object of its fields' types, each or null. Result and Data, any JSON value, are
// slices of data, not copies: they are decoded into their destination later.
func decodeFrame(data []byte) (protocol.Frame, error) {
	s := frameScanner{data: data}
	var f protocol.Frame
	s.skipSpace()
	switch {
	case s.literal("null"):
	case s.peek() == '{':
		if err := s.envelope(&f); err != nil {
			return protocol.Frame{}, err
		}
	default:
		if _, err := s.value(); err != nil {
			return protocol.Frame{}, err
		}
		return protocol.Frame{}, errors.New("a frame must be a JSON object")
	}
	s.skipSpace()
	if s.pos < len(data) {
		return protocol.Frame{}, s.syntaxError("after the frame")
	}
	return f, nil
}

// maxNesting is how deep encoding/json lets objects and lists nest.
const maxNesting = 10000

// frameScanner validates JSON text as encoding/json's scanner does (RFC 8259; a string may
// hold bytes that are not UTF-8) while reading it once.
type frameScanner struct {
	data  []byte
	pos   int
	depth int // the objects and lists open at pos
}

// envelope reads the frame's object, at pos, into f.
func (s *frameScanner) envelope(f *protocol.Frame) error {
	return s.object(func(name []byte) error {
		switch envelopeField(name) {
		case "id":
			return s.integer(&f.ID)
		case "seq":
			return s.integer(&f.Seq)
		case "event":
			return s.eventName(&f.Event)
		case "result":
			return s.raw(&f.Result)
		case "data":
			return s.raw(&f.Data)
		case "error":
			return s.errorObject(&f.Error)
		}
		return s.skipValue()
	})
}

// envelopeFields are the JSON names of protocol.Frame's fields.
var envelopeFields = []string{"id", "result", "error", "event", "seq", "data"}

// envelopeField returns the envelope field that encoding/json reads the member named by the
// string literal name into, or "" for none.
func envelopeField(name []byte) string {
	text := name[1 : len(name)-1]
	if bytes.IndexByte(text, '\\') >= 0 || !isASCII(text) {
		var unquoted string
		if json.Unmarshal(name, &unquoted) != nil {
			return ""
		}
		text = []byte(unquoted)
	}
	for _, field := range envelopeFields {
		if string(text) == field {
			return field
		}
	}
	for _, field := range envelopeFields {
		if bytes.EqualFold(text, []byte(field)) {
			return field
		}
	}
	return ""
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// object reads the object at pos, calling member with each name (the string literal, quotes
// included) once pos is at its value, which member must read.
func (s *frameScanner) object(member func(name []byte) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.pos++ // '{'
	s.skipSpace()
	if s.peek() == '}' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		s.skipSpace()
		start := s.pos
		if err := s.str(); err != nil {
			return err
		}
		name := s.data[start:s.pos]
		s.skipSpace()
		if s.peek() != ':' {
			return s.syntaxError("after an object's name")
		}
		s.pos++
		s.skipSpace()
		if err := member(name); err != nil {
			return err
		}
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.depth--
			return nil
		default:
			return s.syntaxError("after an object's value")
		}
	}
}

// list reads the list at pos, calling entry once pos is at each of its entries, which entry
// must read.
func (s *frameScanner) list(entry func() error) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.pos++ // '['
	s.skipSpace()
	if s.peek() == ']' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		s.skipSpace()
		if err := entry(); err != nil {
			return err
		}
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.depth--
			return nil
		default:
			return s.syntaxError("after a list's entry")
		}
	}
}

// enter counts an object or list opened at pos.
func (s *frameScanner) enter() error {
	if s.depth++; s.depth > maxNesting {
		return s.syntaxError("nested too deep")
	}
	return nil
}

// value reads the value at pos and returns its text.
func (s *frameScanner) value() ([]byte, error) {
	start := s.pos
	var err error
	switch c := s.peek(); {
	case c == '{':
		err = s.object(func([]byte) error { return s.skipValue() })
	case c == '[':
		err = s.list(s.skipValue)
	case c == '"':
		err = s.str()
	case c == '-' || c >= '0' && c <= '9':
		err = s.number()
	case s.literal("true"), s.literal("false"), s.literal("null"):
	default:
		err = s.syntaxError("looking for a value")
	}
	return s.data[start:s.pos], err
}

// skipValue reads the value at pos.
func (s *frameScanner) skipValue() error {
	_, err := s.value()
	return err
}

// raw reads the value at pos into *dst, as a slice of the frame.
func (s *frameScanner) raw(dst *json.RawMessage) error {
	v, err := s.value()
	*dst = v
	return err
}

// integer reads the value at pos into *dst when it is an integer that fits in 64 bits, leaves
// *dst when it is null, and fails otherwise.
func (s *frameScanner) integer(dst *int64) error {
	v, err := s.value()
	switch {
	case err != nil || string(v) == "null":
		return err
	case v[0] != '-' && (v[0] < '0' || v[0] > '9'):
		return fmt.Errorf("a JSON %s is not an integer", v)
	}
	n, ok := parseInt64(v)
	if !ok {
		return fmt.Errorf("%s is not an integer of 64 bits", v)
	}
	*dst = n
	return nil
}

// parseInt64 parses the JSON number v as strconv.ParseInt does: it fails when v has a
// fraction or an exponent, or does not fit in an int64.
func parseInt64(v []byte) (int64, bool) {
	negative := v[0] == '-'
	if negative {
		v = v[1:]
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' || n > (1<<63)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case negative && n <= 1<<63:
		return -int64(n), true
	case !negative && n < 1<<63:
		return int64(n), true
	}
	return 0, false
}

// string reads the value at pos into *dst when it is a string, as encoding/json decodes it,
// leaves *dst when it is null, and fails otherwise.
func (s *frameScanner) string(dst *string) error {
	v, err := s.value()
	switch {
	case err != nil || string(v) == "null":
		return err
	case v[0] != '"':
		return fmt.Errorf("a JSON %s is not a string", v)
	}
	if text := v[1 : len(v)-1]; bytes.IndexByte(text, '\\') < 0 && utf8.Valid(text) {
		*dst = string(text)
		return nil
	}
	// Escapes, or bytes that are not UTF-8. The string is decoded into a variable of its own,
	// so that dst need not be on the heap for the common case above.
	var unquoted string
	if err := json.Unmarshal(v, &unquoted); err != nil {
		return err
	}
	*dst = unquoted
	return nil
}

// knownEvents are the names of the events the client knows.
var knownEvents = []string{
	protocol.EventCallInvitationCreated, protocol.EventCallInvitationReceived,
	protocol.EventCallInvitationCancelled, protocol.EventCallInvitationTimeout,
	protocol.EventCallInvitationEnded, protocol.EventCallUserStateChanged,
	protocol.EventCallMainDeviceChanged, protocol.EventKicked,
}

// eventName reads the value at pos into *dst as s.string does, but sets a name of knownEvents
// written without escapes as the constant, which allocates nothing.
func (s *frameScanner) eventName(dst *string) error {
	start := s.pos
	if s.str() == nil {
		text := s.data[start+1 : s.pos-1]
		for _, name := range knownEvents {
			if string(text) == name {
				*dst = name
				return nil
			}
		}
	}
	s.pos = start
	return s.string(dst)
}

// errorObject reads the value at pos into *dst, as encoding/json decodes a JSON object into a
// pointer (into *dst when set: two error objects merge), sets *dst nil when it is null, and
// fails otherwise. An error object is read twice: it is rare.
func (s *frameScanner) errorObject(dst **protocol.Error) error {
	v, err := s.value()
	switch {
	case err != nil:
		return err
	case string(v) == "null":
		*dst = nil
		return nil
	case v[0] != '{':
		return fmt.Errorf("a JSON %s is not an error object", v)
	}
	if *dst == nil {
		*dst = new(protocol.Error)
	}
	return json.Unmarshal(v, *dst)
}

// str reads the string at pos: no byte below 0x20 and only JSON's escapes.
func (s *frameScanner) str() error {
	if s.peek() != '"' {
		return s.syntaxError("looking for a string")
	}
	for s.pos++; s.pos < len(s.data); s.pos++ {
		switch c := s.data[s.pos]; {
		case c == '"':
			s.pos++
			return nil
		case c < 0x20:
			return s.syntaxError("in a string")
		case c == '\\':
			if err := s.escape(); err != nil {
				return err
			}
		}
	}
	return s.syntaxError("in a string")
}

// escape reads the escape whose '\\' is at pos, leaving pos at its last byte.
func (s *frameScanner) escape() error {
	s.pos++
	switch s.peek() {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return nil
	case 'u':
		for range 4 {
			s.pos++
			if !isHex(s.peek()) {
				return s.syntaxError("in a \\u escape")
			}
		}
		return nil
	}
	return s.syntaxError("in an escape")
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number reads the number at pos: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *frameScanner) number() error {
	if s.peek() == '-' {
		s.pos++
	}
	switch c := s.peek(); {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return s.syntaxError("in a number")
	}
	if s.peek() == '.' {
		s.pos++
		if s.digits() == 0 {
			return s.syntaxError("in a number's fraction")
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.pos++
		if c := s.peek(); c == '+' || c == '-' {
			s.pos++
		}
		if s.digits() == 0 {
			return s.syntaxError("in a number's exponent")
		}
	}
	return nil
}

// digits reads the digits at pos and returns how many there were.
func (s *frameScanner) digits() int {
	start := s.pos
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos - start
}

// literal reads word (true, false or null) when it is at pos, and reports whether it was.
func (s *frameScanner) literal(word string) bool {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(word)) {
		return false
	}
	s.pos += len(word)
	return true
}

// skipSpace skips the white space JSON allows between tokens.
func (s *frameScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the byte at pos, or 0 at the end.
func (s *frameScanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func (s *frameScanner) syntaxError(where string) error {
	return fmt.Errorf("invalid JSON at offset %d, %s", s.pos, where)
}

// replyID returns the id of a frame that decodeFrame refused, when what can be read of it,
// up to its fault, is a reply's envelope: an object whose "id" member is a positive integer,
// and whose "event" member is absent or the empty string, each as encoding/json reads it (the
// last string or integer read: null, or a value of another type, keeps the one before). It
// returns 0 otherwise: the frame answers no request the client can tell. It reads the frame
// again, on this rare path only.
func replyID(data []byte) int64 {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0
	}
	var id int64
	var event bool // the frame names an event
	for dec.More() {
		t, err := dec.Token()
		name, isName := t.(string)
		var v json.RawMessage
		if err != nil || !isName || dec.Decode(&v) != nil {
			break
		}
		switch {
		case strings.EqualFold(name, "id"):
			if n, ok := parseInt64(v); ok {
				id = n
			}
		case strings.EqualFold(name, "event") && v[0] == '"':
			event = string(v) != `""`
		}
	}
	if event {
		return 0
	}
	return max(id, 0)
}
