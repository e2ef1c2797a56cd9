package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/dialtone/dialtone/protocol"
)

// call performs op with data and decodes its result into out (nil to discard it).
//
// When the connection dies before the reply, the request is sent again on the next connection,
// until ctx ends: a mutating op (idempotent true) carries one idempotency key for all its
// attempts (behaviour R7.3), so the server applies it at most once and answers a repeat with the
// first reply. A ctx without deadline gets Options.RequestTimeout.
func (c *Client) call(ctx context.Context, op string, data any, idempotent bool, out any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("dialtone: %s: %w", op, err)
	}
	var idem string
	if idempotent {
		if idem = idemKeyOf(ctx); !validIdemKey(idem) {
			return fmt.Errorf("dialtone: %s: %w", op, &protocol.Error{Code: protocol.CodeInvalidParameter,
				Message: fmt.Sprintf("an idempotency key is %d to %d bytes of UTF-8", protocol.MinIdemBytes, protocol.MaxIdemBytes)})
		}
	}
	if err := c.usable(); err != nil {
		return fmt.Errorf("dialtone: %s: %w", op, err)
	}
	if err := checkFrameSize(op, raw, idem); err != nil {
		return fmt.Errorf("dialtone: %s: %w", op, err)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	for {
		cn, err := c.connection(ctx)
		if err != nil {
			return fmt.Errorf("dialtone: %s: %w", op, err)
		}
		f, err := cn.roundTrip(ctx, op, raw, idem, nil)
		if errors.Is(err, errConnLost) {
			continue // connection() waits for the reconnection
		}
		if err != nil {
			return fmt.Errorf("dialtone: %s: %w", op, err)
		}
		if f.Error != nil {
			return fmt.Errorf("dialtone: %s: %w", op, replyError(f.Error))
		}
		if err := decodeResult(f, out); err != nil {
			return fmt.Errorf("dialtone: %s: %w", op, err)
		}
		return nil
	}
}

// decodeResult decodes the result of the successful reply f into out, which must point to a
// zero value, as json.Unmarshal does (unmarshal); nil out only checks it.
// A result that is not a JSON object ({} when the op has nothing to return), absent or null
// included, or whose fields do not have out's types, fails with ErrProtocol.
func decodeResult(f protocol.Frame, out any) error {
	if len(f.Result) == 0 {
		return fmt.Errorf("%w: a reply with neither result nor error", ErrProtocol)
	}
	if !isObject(f.Result) {
		return fmt.Errorf("%w: the result %.40s is not an object", ErrProtocol, f.Result)
	}
	if out == nil {
		return nil
	}
	if err := unmarshal(f.Result, out); err != nil {
		return fmt.Errorf("%w: the result is not of the op's shape: %w", ErrProtocol, err)
	}
	return nil
}

// usable returns why the client cannot carry an operation, without waiting: its end reason
// once finished, ErrNotLoggedIn before Login; nil while it is logged in, reconnecting, or
// waiting for its first login's reply.
func (c *Client) usable() error {
	if err := c.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loggedIn && !c.loggingIn {
		return ErrNotLoggedIn
	}
	return nil
}

// isObject reports whether the JSON value raw is an object.
func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{'
}

// checkFrameSize refuses, as CodeInvalidParameter, a request whose frame would be over
// protocol.MaxFrameBytes with the longest id it may be sent with: the server would close the
// connection (1009), and every resend would again. The answer does not depend on the
// connection, so a request is refused before its first send or never, not when it is sent
// again after a reconnection with a longer id. data is json.Marshal's output, which the frame
// carries as it is; op and idem may grow as JSON escapes them, a byte to at most six.
func checkFrameSize(op string, data json.RawMessage, idem string) error {
	if len(data)+maxEscapedBytes*(len(op)+len(idem))+maxEnvelopeBytes <= protocol.MaxFrameBytes {
		return nil
	}
	if n := len(appendRequest(nil, protocol.MaxInteger, op, data, idem)); n > protocol.MaxFrameBytes {
		return &protocol.Error{Code: protocol.CodeInvalidParameter,
			Message: fmt.Sprintf("request of up to %d bytes; a frame is at most %d", n, protocol.MaxFrameBytes)}
	}
	return nil
}

// maxEnvelopeBytes bounds what a request's frame adds to its op, data and idempotency key:
// {"id":9007199254740991,"op":"","data":,"idem":""} is 49 bytes.
const maxEnvelopeBytes = 64

// maxEscapedBytes is the most bytes JSON writes for one byte of a string: \u003c for '<'.
const maxEscapedBytes = 6

// appendRequest appends to b the frame of a request, byte for byte what json.Marshal makes of
// protocol.Request{ID: id, Op: op, Data: data, Idem: idem}, without reflection. data must be
// json.Marshal's output, or empty: it is compact and its HTML characters are escaped, so
// json.Marshal would carry it unchanged, and appendRequest carries it as it is.
func appendRequest(b []byte, id int64, op string, data json.RawMessage, idem string) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"op":`...)
	b = appendJSONString(b, op)
	if len(data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, data...)
	}
	if idem != "" {
		b = append(b, `,"idem":`...)
		b = appendJSONString(b, idem)
	}
	return append(b, '}')
}

// appendJSONString appends s as json.Marshal encodes a string: as it is between quotes when
// it is printable ASCII that needs no escape, through json.Marshal otherwise.
func appendJSONString(b []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// connection returns the logged-in connection, waiting for a reconnection while there is none
// or it heard a kick (it is closing: nothing more is sent on it). It fails with the client's end reason once finished, and with ErrNotLoggedIn before Login.
func (c *Client) connection(ctx context.Context) (*conn, error) {
	for {
		if err := c.usable(); err != nil {
			return nil, err
		}
		c.mu.Lock()
		cn, ready := c.cur, c.ready
		if cn != nil && (cn.isDead() || cn.kicked()) {
			// Its reader has not run onDead yet, or is closing it after a kick; do it now rather
			// than spin.
			c.cur, cn = nil, nil
			c.ready = make(chan struct{})
			ready = c.ready
		}
		c.mu.Unlock()
		if cn != nil {
			return cn, nil
		}
		select {
		case <-ready:
		case <-c.life.Done():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// withTimeout gives ctx the default request timeout when it has no deadline.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.RequestTimeout)
}

// idemKeyContext is the context key under which WithIdempotencyKey keeps its key.
type idemKeyContext struct{}

// WithIdempotencyKey returns a copy of ctx under which an operation that changes a call
// (CallInvite, CallCancel, CallAccept, CallReject, CallingInvite, CallJoin, CallQuit, CallEnd)
// carries key as its idempotency key (behaviour R7.3) instead of a fresh one; other operations
// ignore it. The client itself sends an operation again under one key after a reconnection,
// until its ctx ends; an operation whose ctx ended before the reply (a network gone silent,
// say) may still have been carried out, or may be when the network comes back. An application
// that tries it again under the same key gets the first reply instead of carrying it out twice,
// or a refusal of the state the first attempt made. The key must be used by the same device for
// the same operation and parameters (else 6000001), and counts for the server's idempotency
// window (15 minutes by default). It must be 16 to 64 bytes of UTF-8, with at least 96 random
// bits: NewIdempotencyKey makes one; an operation under another key fails with
// CodeInvalidParameter without being sent.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idemKeyContext{}, key)
}

// validIdemKey reports whether key may be sent as an idempotency key: 16 to 64 bytes (R7.3),
// of UTF-8, since JSON would carry each invalid byte as U+FFFD and so make distinct keys one.
func validIdemKey(key string) bool {
	return len(key) >= protocol.MinIdemBytes && len(key) <= protocol.MaxIdemBytes && utf8.ValidString(key)
}

// idemKeyOf returns the key of WithIdempotencyKey in ctx, or a fresh one.
func idemKeyOf(ctx context.Context) string {
	if key, ok := ctx.Value(idemKeyContext{}).(string); ok {
		return key
	}
	return NewIdempotencyKey()
}

// NewIdempotencyKey returns a fresh idempotency key (see WithIdempotencyKey) of 24 URL-safe
// characters: the time in milliseconds (48 bits) then 96 random bits, in an alphabet ordered
// like ASCII so keys sort by creation. The server then stores its idempotency records in append
// order.
func NewIdempotencyKey() string {
	var b [18]byte
	ms := uint64(time.Now().UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails
	return sortableBase64.EncodeToString(b[:])
}

// sortableBase64 is base64 over URL-unreserved characters in ASCII order. It is never modified.
var sortableBase64 = base64.NewEncoding("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~").WithPadding(base64.NoPadding)
