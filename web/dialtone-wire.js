// Dialtone browser SDK, part of dialtone.js: the wire protocol's constants and formats
// (docs/protocol.md), the SDK's errors, and the pure helpers dialtone.js exports. No state.

/** The protocol's WebSocket path. */
export const PATH = '/v1/ws';

/** Connection states, reported by the connectionStateChanged event. */
export const ConnectionState = Object.freeze({
  Connecting: 'Connecting',
  Connected: 'Connected',
  Reconnecting: 'Reconnecting',
  Disconnected: 'Disconnected',
});

/** CallUserState wire values (behaviour §2). */
export const CallUserState = Object.freeze({
  Unknown: -1, Inviting: 0, Accepted: 1, Rejected: 2, Cancelled: 3, Received: 5, Timeout: 6,
  Quit: 7, Ended: 8, NotYetReceived: 9, BeCancelled: 10,
});

/** CallState wire values (behaviour §2). */
export const CallState = Object.freeze({ Unknown: -1, Started: 1, Ended: 2 });

/** CallInvitationMode wire values (behaviour §2). */
export const CallMode = Object.freeze({ General: 0, Advanced: 1 });

/** Wire error codes (behaviour §8), the values of DialtoneError.code. */
export const ErrorCode = Object.freeze({
  InvalidParameter: 6000001, UnknownOp: 6000002, NotLoggedIn: 6000121, Internal: 6000270,
  CancelAccepted: 6000271, TooManyUsers: 6000272, NotInviter: 6000273, StateForbids: 6000274,
  CallUnavailable: 6000276, NoValidInvitee: 6000281, AlreadyActive: 6000283,
  NotAdvanced: 6000286, Busy: 6000290, AuthFailed: 6000291, RateLimited: 6000292,
  TooManyDevices: 6000293,
});

/** The protocol's kick table: close code and whether the client reconnects. */
export const KickReasons = Object.freeze({
  replaced: { closeCode: 4001, retry: false },
  logout: { closeCode: 4002, retry: false },
  shutdown: { closeCode: 4003, retry: true },
  slowConsumer: { closeCode: 4004, retry: true },
  badFrames: { closeCode: 4005, retry: true },
  authFailed: { closeCode: 4006, retry: false },
  loginTimeout: { closeCode: 4007, retry: true },
  tooManyDevices: { closeCode: 4008, retry: false },
  heartbeatTimeout: { closeCode: 4009, retry: true },
});

/** The protocol's call events. */
export const CallEvents = Object.freeze([
  'callInvitationCreated', 'callInvitationReceived', 'callInvitationCancelled',
  'callInvitationTimeout', 'callInvitationEnded', 'callUserStateChanged', 'callMainDeviceChanged',
]);

// MIN_IDEM_BYTES and MAX_IDEM_BYTES bound an idempotency key (protocol.md "Envelopes").
const MIN_IDEM_BYTES = 16;
const MAX_IDEM_BYTES = 64;
// MAX_FRAME_BYTES is the protocol's limit of a client frame; the server closes the connection on
// a longer one (1009), and would again after every resend.
const MAX_FRAME_BYTES = 65536;

/**
 * An error of the SDK. For a refusal by the server, code is the wire code (ErrorCode) and
 * reason is 'server' (also for a request the client refuses as the server would: one over the
 * protocol's 64 KiB frame limit, InvalidParameter); for a failure on the client side, code is 0
 * and reason is one of 'timeout', 'aborted' (the operation's AbortSignal aborted; its reason is
 * .cause), 'protocol' (the reply does not follow the protocol: its result is not JSON, not an
 * object of the op's fields' types, or absent, or its error has no code; it was the request's
 * one reply, so the operation is not sent again), 'closed', 'loggedOut', 'notLoggedIn', 'alreadyLoggedIn',
 * 'kicked', 'heartbeatTimeout' (this client heard nothing from the server for the heartbeat
 * timeout and dropped the connection; the server's own heartbeatTimeout kick is 'kicked'),
 * 'network'.
 */
export class DialtoneError extends Error {
  constructor(code, message, reason = code ? 'server' : 'network', kick = undefined) {
    super(message);
    this.name = 'DialtoneError';
    this.code = code;
    this.reason = reason;
    if (kick) this.kick = kick;
  }
}

/** Returns the name of a CallUserState value ("Accepted"), or "State(n)". */
export function stateName(state) {
  for (const [name, v] of Object.entries(CallUserState)) if (v === state) return name;
  return `State(${state})`;
}

/**
 * Returns how many milliseconds an invitation whose deadline is deadlineMs (server Unix ms)
 * should still ring at local time nowMs, given offsetMs = server clock − local clock. Never
 * negative; 0 means it must not ring (protocol "Ring time").
 */
export function remainingRingTime(deadlineMs, offsetMs, nowMs = Date.now()) {
  const left = deadlineMs - (nowMs + offsetMs);
  return left > 0 ? left : 0; // also 0 for a missing deadline (NaN), as in the Go SDK
}

/**
 * Returns the wait before reconnection attempt n (from 0): a random duration in [b/2, b] where
 * b = min·2ⁿ capped at max, so clients dropped together spread out.
 */
export function backoff(minMs, maxMs, attempt, random = Math.random) {
  const b = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return b / 2 + random() * (b / 2);
}

// URL-unreserved characters in ASCII order: keys encoded with them sort by their bytes.
const SORTABLE = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~';

/**
 * Returns a new idempotency key (R7.3) of 24 URL-safe characters: the time in milliseconds
 * (48 bits) then 96 random bits, so keys sort by creation and the server appends its
 * idempotency records instead of scattering them.
 */
export function newIdempotencyKey(now = Date.now()) {
  const bytes = new Uint8Array(18);
  globalThis.crypto.getRandomValues(bytes.subarray(6));
  for (let i = 5, t = now; i >= 0; i--, t = Math.floor(t / 256)) bytes[i] = t % 256;
  let out = '';
  for (let i = 0; i < 18; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += SORTABLE[n >> 18] + SORTABLE[(n >> 12) & 63] + SORTABLE[(n >> 6) & 63] + SORTABLE[n & 63];
  }
  return out;
}

/**
 * Returns the unverified "sub" claim of a JWT, or "" when token is not one. The SDK uses it
 * only to name the device's saved seq before login; the server verifies the token.
 */
export function tokenSubject(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3) return '';
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)),
      (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
    const sub = JSON.parse(json).sub;
    return typeof sub === 'string' ? sub : '';
  } catch {
    return '';
  }
}

/** Returns the WebSocket URL for url: the page's server when empty, /v1/ws when it has no path. */
export function wsURL(url) {
  const base = globalThis.location ? globalThis.location.href : 'ws://127.0.0.1:3425/';
  const u = new URL(url || '/', base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.pathname === '' || u.pathname === '/') u.pathname = PATH;
  return u.toString();
}

// encodeBody returns the JSON of a request without its id: {"op":…,"data":…,"idem":…}, with
// data and idem left out when undefined.
export function encodeBody(op, data, idem) {
  return JSON.stringify({ op, data, idem });
}

// frameText returns the request frame of body (from encodeBody) with id, the id first.
export function frameText(id, body) {
  return `{"id":${id},${body.slice(1)}`;
}

// keyOf returns the idempotency key of an operation's options, or a fresh one.
export function keyOf(options) {
  return options?.idempotencyKey ?? newIdempotencyKey();
}

// idemKeyError returns the error of an idempotency key the server would refuse (6000001), or
// that would not reach it as it is, or null for a well-formed string (no lone surrogate, which
// would be sent as U+FFFD, so that distinct keys met as one) of MIN_IDEM_BYTES to MAX_IDEM_BYTES
// bytes in UTF-8.
export function idemKeyError(op, key) {
  const size = typeof key === 'string' && key.isWellFormed() ? new TextEncoder().encode(key).length : -1;
  if (size >= MIN_IDEM_BYTES && size <= MAX_IDEM_BYTES) return null;
  return new DialtoneError(ErrorCode.InvalidParameter,
    `dialtone: ${op}: an idempotency key is a string of ${MIN_IDEM_BYTES} to ${MAX_IDEM_BYTES} bytes of UTF-8, without lone surrogates`);
}

// frameSizeError returns the InvalidParameter refusal of a request whose frame, with the
// longest id it may be sent with, is over MAX_FRAME_BYTES, or null when it fits: the answer does
// not depend on the id a send gives it, so a request is refused before its first send or never.
export function frameSizeError(op, body) {
  const size = new TextEncoder().encode(frameText(Number.MAX_SAFE_INTEGER, body)).length;
  if (size <= MAX_FRAME_BYTES) return null;
  return new DialtoneError(ErrorCode.InvalidParameter,
    `dialtone: ${op}: request of ${size} bytes; a frame is at most ${MAX_FRAME_BYTES}`);
}

// abortError returns the error of op ended by signal, aborted: reason 'aborted', with the
// signal's reason as its cause.
export function abortError(op, signal) {
  const err = new DialtoneError(0, `dialtone: ${op}: aborted`, 'aborted');
  err.cause = signal.reason;
  return err;
}

export function toError(err) {
  return err instanceof DialtoneError ? err : new DialtoneError(0, String(err?.message ?? err), 'network');
}

// final reports whether a reconnection that failed with err must not be retried.
export function final(err) {
  if (err.kick) return !err.kick.retry;
  return err.code === ErrorCode.AuthFailed || err.code === ErrorCode.TooManyDevices;
}

// kickOf returns the kick that a kicked event's data tells, {reason, retry}: the kick table's
// retry for a known reason, the event's for another. Data that tells no reason (none, not of the
// kicked shape, or without a reason) gives a kick of reason '', with the event's retry (false
// when it has none or its data is not of the kicked shape), which the close that follows may
// name (docs/behaviour.md §12, "A kick that tells no reason").
export function kickOf(data) {
  const shaped = isObject(data) && ['string', 'null'].includes(jsonType(data.reason ?? null)) &&
    ['boolean', 'null'].includes(jsonType(data.retry ?? null));
  const reason = shaped ? data.reason ?? '' : '';
  if (Object.hasOwn(KickReasons, reason)) return { reason, retry: KickReasons[reason].retry };
  return { reason, retry: shaped && data.retry === true };
}

// RESULT_FIELDS holds, by op, the JSON type of each field of its result (protocol.md "Ops"): a
// result must be an object whose fields have these types or are null, as the Go SDK decodes
// it. An op not listed has nothing to return: its result is {}, any object.
const RESULT_FIELDS = Object.freeze({
  login: {
    userID: 'string', deviceID: 'string', headSeq: 'number', caughtUp: 'boolean',
    heartbeatIntervalMs: 'number', heartbeatTimeoutMs: 'number', serverTime: 'number',
  },
  heartbeat: { serverTime: 'number' },
  callInvite: { callID: 'string', timeout: 'number', errorUserList: 'array', callInfo: 'object' },
  callCancel: { callID: 'string', errorInvitees: 'array' },
  callAccept: { callID: 'string' },
  callReject: { callID: 'string' },
  callingInvite: { callID: 'string', errorUserList: 'array' },
  callJoin: { callID: 'string', createTime: 'number', joinTime: 'number', callUserList: 'array', extendedData: 'string' },
  callQuit: { callID: 'string', createTime: 'number', acceptTime: 'number', quitTime: 'number' },
  callEnd: { callID: 'string', createTime: 'number', acceptTime: 'number', endTime: 'number' },
  queryCallInvitationList: { callList: 'array', nextFlag: 'number' },
  queryCall: { callInfo: 'object' },
});

// REQUIRED_RESULT_FIELDS holds, by op, the fields of its result that the protocol always sends
// and the client cannot do without (protocol.md "Login"): a result lacking one, or with one null,
// does not follow the protocol. The login's heartbeat settings are not among them: R6.1 gives
// their defaults, which the client reads when they are missing (docs/behaviour.md §12, "A reply
// the SDKs cannot read").
const REQUIRED_RESULT_FIELDS = Object.freeze({
  login: ['userID', 'deviceID', 'headSeq', 'caughtUp', 'serverTime'],
});

// jsonType returns the JSON type of v: 'object', 'array', 'string', 'number', 'boolean' or 'null'.
function jsonType(v) {
  if (v === null) return 'null';
  return Array.isArray(v) ? 'array' : typeof v;
}

// isObject reports whether v, parsed from JSON, is an object.
export function isObject(v) {
  return jsonType(v) === 'object';
}

// protocolError returns the error of op whose reply does not follow the protocol, as what says.
export function protocolError(op, what) {
  return new DialtoneError(0, `dialtone: ${op}: protocol error: ${what}`, 'protocol');
}

// replyError returns the error that the reply f (a parsed frame) fails op with: the server's
// refusal, or a protocol error for an error without an integer code, a result that is not an
// object of op's fields' types (RESULT_FIELDS) holding its required fields
// (REQUIRED_RESULT_FIELDS), or a reply with neither. It returns null when f.result is op's result.
export function replyError(op, f) {
  if (f.error !== undefined && f.error !== null) return refusal(op, f.error);
  if (f.result === undefined) return protocolError(op, 'a reply with neither result nor error');
  if (!isObject(f.result)) {
    return protocolError(op, `the result ${JSON.stringify(f.result).slice(0, 40)} is not an object`);
  }
  const missing = (REQUIRED_RESULT_FIELDS[op] ?? []).find((field) => (f.result[field] ?? null) === null);
  if (missing) return protocolError(op, `the result has no ${missing}`);
  for (const [field, type] of Object.entries(RESULT_FIELDS[op] ?? {})) {
    const t = jsonType(f.result[field] ?? null);
    if (t !== 'null' && t !== type) return protocolError(op, `the result's ${field} is a ${t}, not a ${type}`);
  }
  return null;
}

// refusal returns the DialtoneError of the error object e of a reply to op: the server's
// refusal with its wire code, or a protocol error when e has no integer code (or a message
// that is not a string), a refusal of no code the app could act on.
function refusal(op, e) {
  const coded = isObject(e) && Number.isSafeInteger(e.code) && e.code > 0;
  if (!coded || !['string', 'null'].includes(jsonType(e.message ?? null))) {
    return protocolError(op, `the error ${JSON.stringify(e).slice(0, 40)} has no code`);
  }
  return new DialtoneError(e.code, e.message || `error ${e.code}`);
}

// replyID returns the id of a frame text that JSON.parse refused, when what can be read of it,
// up to its fault, is a reply's envelope: an object whose "id" member (the last one read, as
// JSON.parse keeps the last) is a positive integer, and that names no event. It returns 0
// otherwise: the frame answers no request the client can tell. As the Go SDK's replyID.
export function replyID(text) {
  const s = String(text);
  let pos = skipSpace(s, 0);
  if (s[pos] !== '{') return 0;
  let id = 0;
  for (pos = skipSpace(s, pos + 1); s[pos] === '"'; pos = skipSpace(s, pos + 1)) {
    const nameEnd = stringEnd(s, pos);
    const name = parsed(s.slice(pos, nameEnd));
    pos = skipSpace(s, nameEnd);
    if (name === FAULT || s[pos] !== ':') break;
    pos = skipSpace(s, pos + 1);
    const end = valueEnd(s, pos);
    const value = parsed(s.slice(pos, end));
    if (value === FAULT) break;
    if (name === 'event' && typeof value === 'string') return 0;
    if (name === 'id') id = value;
    pos = skipSpace(s, end);
    if (s[pos] !== ',') break;
  }
  return Number.isSafeInteger(id) && id > 0 ? id : 0;
}

// FAULT is what parsed returns for text that is not JSON.
const FAULT = Symbol('fault');

function parsed(text) {
  try {
    return JSON.parse(text);
  } catch {
    return FAULT;
  }
}

function skipSpace(s, pos) {
  while (s[pos] === ' ' || s[pos] === '\t' || s[pos] === '\n' || s[pos] === '\r') pos++;
  return pos;
}

// stringEnd returns the index after the string literal whose quote is at pos (s.length when it
// has no end), following its escapes.
function stringEnd(s, pos) {
  for (let i = pos + 1; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '"') return i + 1;
  }
  return s.length;
}

// valueEnd returns the index after the JSON value that starts at pos, were it well formed: it
// follows strings and brackets only, and JSON.parse checks the value it bounds.
function valueEnd(s, pos) {
  let depth = 0;
  for (let i = pos; i < s.length;) {
    const c = s[i];
    if (depth === 0 && (c === ',' || c === '}' || c === ']' || skipSpace(s, i) > i)) return i; // a scalar's end
    if (c === '"') {
      i = stringEnd(s, i);
    } else {
      if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') depth--;
      i++;
    }
    if (depth === 0 && (c === '"' || c === '}' || c === ']')) return i;
  }
  return s.length;
}
