// Package restapi is the server REST API under /v1/api (docs/api.md): the operations of
// protocol.md made by a user without a device (behaviour §1), for app servers. It authenticates
// with the server API key as a bearer token, maps each request to the same switchboard input as
// the WebSocket op (same validation, idempotency keys and error codes) and each result to the
// protocol's result shape. It holds no call rule.
package restapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/internal/wire"
	"github.com/dialtone/dialtone/protocol"
)

// Prefix is the path prefix of every endpoint.
const Prefix = "/v1/api/"

// Backend carries out the operations; the switchboard implements it.
type Backend interface {
	Invite(ctx context.Context, in call.Invite, idemKey string) (switchboard.Result, error)
	Do(ctx context.Context, callID string, in call.Input, idemKey string) (switchboard.Result, error)
	QueryCall(ctx context.Context, userID, callID string) (call.Call, error)
	ListCalls(ctx context.Context, userID string, count int, next int64) ([]call.Call, int64, error)
	LogoutUser(ctx context.Context, userID string) error
}

// Sessions logs a user's connected devices out; the WebSocket endpoint implements it.
type Sessions interface {
	LogoutUser(ctx context.Context, userID string)
}

// PushTargets drops a user's push registrations at logout (§9); nil when push is unused.
type PushTargets interface {
	DeletePushTargets(ctx context.Context, userID, deviceID string) error
}

// Config holds the API's settings and dependencies.
type Config struct {
	APIKey      string            // bearer key; "" disables the API (every path answers 404)
	ValidUserID func(string) bool // behaviour §1
	Backend     Backend
	Sessions    Sessions
	PushTargets PushTargets // optional
	Log         *slog.Logger
}

// maxBody bounds a request body, as protocol.md bounds a client frame.
const maxBody = protocol.MaxFrameBytes

type api struct{ Config }

// Routes registers the API on mux and returns the handler to serve in mux's place. Go's router
// answers a path that is not clean (an empty segment such as calls//accept, "." or "..") with
// a redirect to its clean form, which has no coded body and comes before the key check; under
// Prefix the returned handler answers such a path as an unknown endpoint instead (docs/api.md).
// Both judge the path as sent: a segment "%2E" or "%2E%2E" is clean, and names the user "." or
// ".." (behaviour §1). Prefix without its slash, which Go's router would redirect to Prefix, is
// an unknown endpoint too. With the API off (no APIKey) every such path is 404, as every other
// path under Prefix.
func Routes(mux *http.ServeMux, cfg Config) http.Handler {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	a := &api{cfg}
	if cfg.APIKey == "" {
		mux.HandleFunc(Prefix, http.NotFound)
		return unredirected(mux, http.NotFound)
	}
	for pattern, h := range map[string]endpoint{
		"POST " + Prefix + "calls":                 a.invite,
		"POST " + Prefix + "calls/{callID}/accept": a.accept,
		"POST " + Prefix + "calls/{callID}/reject": a.reject,
		"POST " + Prefix + "calls/{callID}/cancel": a.cancel,
		"POST " + Prefix + "calls/{callID}/end":    a.end,
		"GET " + Prefix + "calls/{callID}":         a.queryCall,
		"GET " + Prefix + "users/{userID}/calls":   a.listCalls,
		"POST " + Prefix + "users/{userID}/logout": a.logout,
	} {
		mux.Handle(pattern, a.handle(h))
	}
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) { a.notAllowed(w, r, mux) })
	return unredirected(mux, a.unknown)
}

// unredirected returns mux with the requests it would redirect under Prefix (a path that is
// not clean, or Prefix without its slash) answered by other instead.
func unredirected(mux *http.ServeMux, other http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == strings.TrimSuffix(Prefix, "/") || strings.HasPrefix(p, Prefix) && !isClean(r.URL.EscapedPath()) {
			other(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// unknown answers a path under Prefix that is no endpoint: 404 and 6000002, once the key is
// checked.
func (a *api) unknown(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(r) {
		unauthorized(w)
		return
	}
	writeError(w, protocol.CodeUnknownOp, "no such endpoint")
}

// methods are the methods of the endpoint table, in the order Allow lists them.
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost}

// notAllowed answers a request that no endpoint took: when the path is an endpoint's with
// other methods, 405 with Allow and 6000002 (RFC 9110 section 15.5.6), else as unknown; the
// key is checked first either way. The methods are found by asking mux, so the endpoint table
// stays the one list.
func (a *api) notAllowed(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	var allow []string
	for _, m := range methods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != Prefix {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 || !a.authorized(r) {
		a.unknown(w, r)
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeStatus(w, http.StatusMethodNotAllowed, protocol.CodeUnknownOp,
		r.Method+" is not allowed here; allowed: "+strings.Join(allow, ", "))
}

// isClean reports whether p is a clean path as Go's router sees it: path.Clean of p, with p's
// trailing slash kept.
func isClean(p string) bool {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// authorized reports whether r carries the API key as a bearer token: the scheme's name in any
// case (RFC 9110 section 11.1), then one or more spaces and the key (RFC 6750 section 2.1).
// The header given more than once is no single credential and is refused.
func (a *api) authorized(r *http.Request) bool {
	const scheme = "Bearer"
	v := r.Header.Values("Authorization")
	if len(v) != 1 {
		return false
	}
	h := v[0]
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) || h[len(scheme)] != ' ' {
		return false
	}
	// The digests are compared, not the keys: ConstantTimeCompare returns at once on keys of
	// different lengths, which would tell the key's length.
	given, want := sha256.Sum256([]byte(strings.TrimLeft(h[len(scheme):], " "))), sha256.Sum256([]byte(a.APIKey))
	return subtle.ConstantTimeCompare(given[:], want[:]) == 1
}

// unauthorized refuses a request without the API key: 401 and 6000291, with the challenge every
// 401 carries (RFC 9110 section 15.5.2, RFC 6750 section 3).
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="dialtone"`)
	writeError(w, protocol.CodeAuthFailed, "missing or wrong API key")
}

type errorBody struct {
	Error protocol.Error `json:"error"`
}

// endpoint carries out one endpoint's request, given the request's Idempotency-Key ("" for
// none), already checked by handle; it returns the result to write or the error to answer.
// Endpoints that keep no idempotency record (the GETs, logout) ignore it (docs/api.md).
type endpoint func(r *http.Request, idemKey string) (any, error)

// handle authenticates, reads and checks the Idempotency-Key whatever the endpoint (as the
// WebSocket checks idem whatever the op), runs h with it and writes its result (200) or error.
func (a *api) handle(h endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(r) {
			unauthorized(w)
			return
		}
		key, err := idemKey(r)
		var res any
		if err == nil {
			res, err = h(r, key)
		}
		if errors.Is(err, errBodyTooLarge) {
			writeStatus(w, http.StatusRequestEntityTooLarge, protocol.CodeInvalidParameter, errBodyTooLarge.Reason)
			return
		}
		if err != nil {
			a.writeFailure(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(res)
	})
}

// Status maps a protocol error code to the HTTP status of its response (docs/api.md).
func Status(code protocol.Code) int {
	switch code {
	case protocol.CodeInvalidParameter, protocol.CodeTooManyUsers, protocol.CodeNoValidInvitee:
		return http.StatusBadRequest
	case protocol.CodeAuthFailed:
		return http.StatusUnauthorized
	case protocol.CodeNotInviter:
		return http.StatusForbidden
	case protocol.CodeCallUnavailable, protocol.CodeUnknownOp:
		return http.StatusNotFound
	case protocol.CodeCancelAccepted, protocol.CodeStateForbids, protocol.CodeAlreadyActive,
		protocol.CodeNotAdvanced, protocol.CodeBusy:
		return http.StatusConflict
	case protocol.CodeRateLimited:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// writeError answers with code's status (Status) and the coded error body.
func writeError(w http.ResponseWriter, code protocol.Code, msg string) {
	writeStatus(w, Status(code), code, msg)
}

// writeStatus answers with status and the coded error body of docs/api.md.
func writeStatus(w http.ResponseWriter, status int, code protocol.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorBody{Error: protocol.Error{Code: code, Message: msg}})
}

// retryAfter is the Retry-After, in seconds, of a 503: the interval at which /readyz tries a
// write of its own once the store could not write (docs/operations.md, "When the disk fills").
const retryAfter = "5"

// writeFailure answers err: a coded error with its code's status, or, when the server could
// not carry the request out for a temporary reason (the store cannot write, the server is
// draining), 503 with Retry-After, so an HTTP client's retry logic repeats it (RFC 9110
// section 15.6.4); the body's code stays 6000270 (§8, retryable) either way.
func (a *api) writeFailure(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := a.errorCode(r.Context(), err)
	if code == protocol.CodeInternal && temporary(err) {
		w.Header().Set("Retry-After", retryAfter)
		writeStatus(w, http.StatusServiceUnavailable, code, msg)
		return
	}
	writeError(w, code, msg)
}

// temporary reports whether err is a failure that goes away by itself: the store could not
// write, or the server is draining.
func temporary(err error) bool {
	return errors.Is(err, switchboard.ErrStorageUnavailable) || errors.Is(err, switchboard.ErrClosed)
}

// errorCode maps an error of the request whose context is ctx to its code and a message safe
// to show; internal errors are logged, and told as wire.MsgStorageUnavailable when the store
// could not write. A request that failed because its caller hung up (ctx ended) is no fault of
// the server's and is logged at DEBUG only; nobody reads its answer.
func (a *api) errorCode(ctx context.Context, err error) (protocol.Code, string) {
	var ce *call.Error
	switch {
	case errors.As(err, &ce):
		return protocol.Code(ce.Code), ce.Reason
	case errors.Is(err, switchboard.ErrClosed):
		return protocol.CodeInternal, wire.MsgShuttingDown
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		a.Log.Debug("api request abandoned by its caller", "err", err)
		return protocol.CodeInternal, wire.MsgInternal
	}
	a.Log.Error("api request failed", "err", err)
	if errors.Is(err, switchboard.ErrStorageUnavailable) {
		return protocol.CodeInternal, wire.MsgStorageUnavailable
	}
	return protocol.CodeInternal, wire.MsgInternal
}

func invalid(reason string) error {
	return &call.Error{Code: call.CodeInvalidParameter, Reason: reason}
}

// errBodyTooLarge is decode's error for a body over maxBody: 6000001, answered with 413.
var errBodyTooLarge = &call.Error{Code: call.CodeInvalidParameter, Reason: "body is larger than 64 KiB"}

// decode reads the JSON object body strictly into v (an empty body is {}); a body over maxBody
// is errBodyTooLarge. A body that is not UTF-8 is refused (protocol.DecodeData), as the
// WebSocket refuses such a message (protocol.md), rather than decoded with U+FFFD in place of
// the bad bytes.
func decode(r *http.Request, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errBodyTooLarge
	}
	if err != nil {
		return invalid("body is unreadable")
	}
	if len(data) == 0 {
		return nil
	}
	if err := protocol.DecodeData(data, v); err != nil {
		return invalid("invalid body: " + err.Error())
	}
	return nil
}

// user checks a userID given in a body, path or query.
func (a *api) user(id string) (string, error) {
	if !a.ValidUserID(id) {
		return "", invalid("userID is missing or invalid")
	}
	return id, nil
}

// idemKey returns the Idempotency-Key header (R7.3), 16–64 bytes when present; the header
// given more than once is ambiguous and refused.
func idemKey(r *http.Request) (string, error) {
	v := r.Header.Values("Idempotency-Key")
	if len(v) > 1 {
		return "", invalid("Idempotency-Key is given more than once")
	}
	k := r.Header.Get("Idempotency-Key")
	if k != "" && (len(k) < protocol.MinIdemBytes || len(k) > protocol.MaxIdemBytes) {
		return "", invalid("Idempotency-Key must be 16 to 64 bytes")
	}
	return k, nil
}

// queryParam returns the query parameter name, "" when absent; one given more than once is
// ambiguous and refused, and so is a query that does not parse (a malformed percent-encoding,
// a ";" between parameters), which url.Values would read in part, dropping what it cannot.
func queryParam(r *http.Request, name string) (string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", invalid("the query is malformed: " + err.Error())
	}
	v := q[name]
	if len(v) > 1 {
		return "", invalid(name + " is given more than once")
	}
	if len(v) == 0 {
		return "", nil
	}
	return v[0], nil
}

// queryInt parses an optional non-negative integer query parameter of at most 53 bits, written
// as JSON writes an integer, as every integer of the protocol (protocol.md "Shapes"), so that
// a query's value and the same value in an op's data are refused alike: "+5" and "05", which
// strconv would read, are no JSON.
func queryInt(r *http.Request, name string) (int64, error) {
	s, err := queryParam(r, name)
	if err != nil || s == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || !isJSONInteger(s) || n < 0 || n > protocol.MaxInteger {
		return 0, invalid(name + " must be a non-negative integer of at most 53 bits, written as JSON writes it")
	}
	return n, nil
}

// isJSONInteger reports whether s is an integer as JSON's grammar writes one (RFC 8259
// section 6): an optional minus sign, then 0 or digits that do not start with 0.
func isJSONInteger(s string) bool {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || digits[0] == '0' && len(digits) > 1 {
		return false
	}
	return strings.Trim(digits, "0123456789") == ""
}
