// Dialtone browser SDK: one device of one user, speaking docs/protocol.md over a WebSocket.
// A dependency-free ES module; see web/README.md for the API and an example.
//
// Once logged in, a client keeps its session alive by itself until close() or logout():
//   - it sends a heartbeat every heartbeatIntervalMs and drops a connection that stayed silent
//     for heartbeatTimeoutMs (behaviour R6.1), reason 'heartbeatTimeout';
//   - it acknowledges every callInvitationReceived with callReceived (R5.1), once: a synthesized
//     one (R5.3) whose receipt is still on its way is not acknowledged again;
//   - after a dropped connection, or a kick whose reason allows it (protocol kick table), it
//     reconnects with exponential backoff and jitter (cut short when the browser tells the
//     network is back) and logs in again with the seq of the last
//     event it processed (kept in localStorage per user and device), so missed events are
//     replayed (R7.2); replayed events already processed are dropped;
//   - an operation whose connection dropped before the reply is sent again after the
//     reconnection, with the same idempotency key when it changes state (R7.3); logout too,
//     unless the server's logout kick says it was carried out.

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
// ONLINE_SPREAD_MS bounds the random wait of a reconnection made because the network is back.
const ONLINE_SPREAD_MS = 500;
const MIN_IDEM_BYTES = 16;
const MAX_IDEM_BYTES = 64;
// MAX_FRAME_BYTES is the protocol's limit of a client frame; the server closes the connection on
// a longer one (1009), and would again after every resend.
const MAX_FRAME_BYTES = 65536;

const DEFAULTS = Object.freeze({
  minBackoffMs: 250, maxBackoffMs: 30000, requestTimeoutMs: 15000,
  heartbeatIntervalMs: 10000, heartbeatTimeoutMs: 35000,
});

/**
 * An error of the SDK. For a refusal by the server, code is the wire code (ErrorCode) and
 * reason is 'server' (also for a request the client refuses as the server would: one over the
 * protocol's 64 KiB frame limit, InvalidParameter); for a failure on the client side, code is 0
 * and reason is one of 'timeout', 'closed', 'loggedOut', 'notLoggedIn', 'alreadyLoggedIn',
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

// One WebSocket and the requests sent on it.
class Conn {
  constructor(ws) {
    this.ws = ws;
    this.pending = new Map(); // id → request
    this.lastRecv = performance.now(); // the local monotonic clock, which no wall clock step moves
    this.ready = false; // logged in
    this.dead = false;
    this.kick = null; // {reason, retry} from a kicked event
    this.refusal = null; // the DialtoneError of a frame refusing the connection, if any
    this.refused = false; // a reconnection's login on it was refused (#endAttempt)
  }
}

/** A connection to a Dialtone server for one device of one user. */
export class Dialtone {
  #url;
  #opts;
  #storage;
  #WebSocket;
  #listeners = new Map();
  #emitQueue = []; // emissions made while listeners run, in order
  #emitting = false;
  #state = ConnectionState.Disconnected;
  #conn = null;
  #nextID = 1;
  #queue = []; // requests waiting for a logged-in connection
  #token = '';
  #userID = '';
  #deviceID = '';
  #loggingIn = false;
  #loginDone = null; // while a login is in flight, a promise resolved when it ends
  #loggedIn = false;
  #loggingOut = false;
  #finished = null; // the DialtoneError that ended the client
  #lastSeq = null; // last processed seq; null before the device's first login
  #serverBase = null; // the server's Unix ms at performance.now() 0; null before the first login
  #serverSample = null; // { rtt, at } of the reply serverBase comes from
  #heartbeat = null;
  #watchdog = null;
  #retryTimer = null;
  #retryNow = null; // the reconnection attempt #retryTimer waits to make, if any
  #network; // where the browser tells the network is back ('online'), or null
  #tokenWait = null; // the AbortController of a reconnection's wait for tokenSource, if any
  #opening = null; // gives up the socket being opened, with an error; null when none is
  #attempt = 0; // the next reconnection's attempt number, kept across short sessions
  #hb = { every: DEFAULTS.heartbeatIntervalMs, timeout: DEFAULTS.heartbeatTimeoutMs };
  #receipts = new Map(); // callID → its automatic callReceived not yet settled (#acknowledge)

  /**
   * @param {object} [options]
   * @param {string} [options.url] server URL (ws://, wss://, http://, https://, or a path);
   *   default: the page's own server, path /v1/ws.
   * @param {Storage|null} [options.storage] where the last processed seq is kept per device;
   *   default localStorage, null keeps it in memory only.
   * @param {number} [options.minBackoffMs] first reconnection wait bound (250).
   * @param {number} [options.maxBackoffMs] largest reconnection wait bound (30000; raised to
   *   minBackoffMs when below it). Each failed attempt doubles the bound; a session that ends
   *   within maxBackoffMs of its login counts as one, and a longer one starts again from
   *   minBackoffMs.
   * @param {number} [options.requestTimeoutMs] how long an operation waits for its reply,
   *   retries across reconnections included, and a connection attempt for its socket to open
   *   (15000). Waits are cut to 2^31 − 1 ms (24.8 days), the longest a timer keeps, so Infinity
   *   is that long.
   * @param {(signal: AbortSignal) => (string|Promise<string>)} [options.tokenSource] returns the
   *   token for each reconnection's login; default: the token given to login(). One that fails,
   *   or gives no token within requestTimeoutMs, is asked again at the next attempt, with
   *   backoff. signal is aborted when the client stops waiting for the token: after
   *   requestTimeoutMs (reason a DialtoneError 'timeout') or when the client finishes (close(),
   *   a final kick; reason the client's end reason), so a fetch given it is cancelled; a token
   *   given after that is not used.
   * @param {typeof WebSocket} [options.WebSocket] the WebSocket class (for tests).
   * @param {EventTarget|null} [options.network] where the browser tells the network is back
   *   ('online' events), which makes a reconnection waiting out its backoff within half a
   *   second; default the page's window, null: none (for tests).
   * @param {{warn: Function, debug?: Function}} [options.logger] diagnostics (console).
   */
  constructor(options = {}) {
    // An option given as undefined keeps its default, and so does a number of those in
    // DEFAULTS that is not above 0, as a zero setting does in the Go SDK.
    this.#opts = { ...DEFAULTS, logger: console };
    for (const [name, value] of Object.entries(options)) {
      if (value === undefined || (name in DEFAULTS && !(value > 0))) continue;
      this.#opts[name] = value;
    }
    // A maxBackoffMs below minBackoffMs is raised to it, as in the Go SDK.
    this.#opts.maxBackoffMs = Math.max(this.#opts.maxBackoffMs, this.#opts.minBackoffMs);
    this.#url = wsURL(options.url);
    this.#WebSocket = options.WebSocket || globalThis.WebSocket;
    this.#network = options.network !== undefined ? options.network
      : typeof globalThis.addEventListener === 'function' ? globalThis : null;
    this.#storage = options.storage === undefined ? safeLocalStorage() : options.storage;
  }

  /** The connection state (ConnectionState). */
  get state() { return this.#state; }
  /** The logged-in user, '' before login. */
  get userID() { return this.#userID; }
  /** The device given to login. */
  get deviceID() { return this.#deviceID; }
  /** The last processed event seq, null before the first login of this device. */
  get lastSeq() { return this.#lastSeq; }
  /**
   * Server clock − local clock in ms, measured at login and refreshed by heartbeats; a step of
   * the local clock moves it at once. 0 before the first login.
   */
  get serverTimeOffset() { return this.#serverBase === null ? 0 : this.serverNow() - Date.now(); }
  /** The server's current time (Unix ms), estimated as serverTimeOffset is. */
  serverNow() { return this.#serverBase === null ? Date.now() : this.#serverBase + performance.now(); }
  /** Milliseconds an invitation with this deadline (server Unix ms) should still ring; 0: none. */
  remainingRingTime(deadlineMs) { return remainingRingTime(deadlineMs, 0, this.serverNow()); }

  /**
   * Registers fn for event: a protocol event name (its data, then {event, seq}),
   * 'connectionStateChanged' ({state, reason}, and for Connected caughtUp) or 'kicked'
   * ({reason, retry}). caughtUp is true when the events this device missed since its last
   * processed one follow (a resume, R7.2), false when they cannot (the device's first login, or
   * a position the server no longer holds): then only invitations still ringing follow,
   * synthesized (R5.3), and an app that shows calls from earlier events must read them again
   * (queryCallInvitationList, queryCall). Listeners run one at a time in arrival order; an
   * exception in one is logged. A listener added while an event is dispatched is called from
   * the next event on; one removed is not called again, for that event either. A connection
   * kicked before its first login succeeded makes no state change but Disconnected, and its
   * 'kicked' may not come (a refused login() closes its socket at once): login() rejects with
   * the refusal's code, or with the kick ('kicked', .kick) when it came without a reply, as the
   * Go SDK's Login returns them. Returns a function that removes the listener.
   */
  on(event, fn) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(fn);
    return () => this.off(event, fn);
  }

  /** Removes a listener added with on. */
  off(event, fn) {
    this.#listeners.get(event)?.delete(fn);
  }

  /**
   * Authenticates the device with token (a JWT for the user) and deviceID (stable across page
   * loads of this device), resuming from the device's saved seq. Resolves with the login
   * result; rejects with a DialtoneError (code AuthFailed, TooManyDevices, …). A refused login
   * may be retried; a client logs in successfully once. A login called while another is in
   * flight waits for it, as the Go SDK's Login does: then it rejects with 'alreadyLoggedIn' if
   * that one succeeded, and otherwise makes its own attempt, with its own token and deviceID.
   * close() before it settles, from a listener of the Connecting or Connected state it reports
   * too, makes it reject with 'closed' (the Go SDK's ErrClosed), never resolve.
   */
  async login(token, deviceID) {
    while (this.#loginDone) await this.#loginDone;
    if (this.#finished) throw this.#finished;
    if (this.#loggedIn) {
      throw new DialtoneError(0, 'dialtone: already logged in', 'alreadyLoggedIn');
    }
    let ended;
    this.#loginDone = new Promise((resolve) => { ended = resolve; });
    this.#loggingIn = true;
    this.#token = token;
    this.#deviceID = deviceID;
    this.#userID = tokenSubject(token);
    this.#lastSeq = this.#loadSeq();
    this.#setState(ConnectionState.Connecting);
    try {
      const conn = await this.#open();
      const result = await this.#loginOn(conn, token);
      // A listener of the Connected state, which the reply reports, may have closed the client:
      // that cuts the login short, as Close cuts the Go SDK's Login (ErrClosed).
      if (this.#finished) throw this.#finished;
      this.#loggedIn = true;
      return result;
    } catch (err) {
      const e = toError(err);
      // Done with its socket, whose close may come only after a later login succeeded.
      if (this.#conn) this.#drop(this.#conn, e);
      // Operations made meanwhile were made before a successful login, as the Go SDK's are.
      this.#failQueue(this.#finished || new DialtoneError(0, 'dialtone: not logged in', 'notLoggedIn'));
      if (!this.#finished) this.#setState(ConnectionState.Disconnected, e);
      throw e;
    } finally {
      this.#loggingIn = false;
      this.#loginDone = null;
      ended();
    }
  }

  /**
   * Logs the device out (its session ends at once, R6.1) and finishes the client. Like every
   * operation, it waits for the reconnection when the client is reconnecting, and is sent again
   * after it when its connection drops before the reply; the server's logout kick without the
   * reply tells it was carried out, and logout() resolves. Whatever it settles with, the client
   * is finished afterwards ('loggedOut').
   */
  async logout() {
    this.#loggingOut = true;
    try {
      await this.#request('logout', undefined);
    } finally {
      this.#finish(new DialtoneError(0, 'dialtone: logged out', 'loggedOut'));
    }
  }

  /** Closes the connection and finishes the client; pending operations reject ('closed'). */
  close() {
    this.#finish(new DialtoneError(0, 'dialtone: client closed', 'closed'));
  }

  // The operations that change a call take, last, options {idempotencyKey}: a key
  // (newIdempotencyKey(), 16–64 bytes) to carry instead of a fresh one, for an app that tries
  // an operation again after it failed without a reply ('timeout', 'network'): the first may
  // still have been carried out, and the same key then gets its reply instead of a refusal of
  // the state it made (R7.3). The SDK itself sends an operation again under one key after a
  // reconnection, within requestTimeoutMs.

  /** Creates a call and invites invitees (R3.1). config: {timeout, mode, extendedData, pushConfig, enableNotReceivedCheck}. */
  callInvite(invitees, config = {}, options = {}) {
    return this.#request('callInvite', { invitees, config }, keyOf(options));
  }

  /** Withdraws invitations (R3.2): the whole call when invitees is empty or in general mode. */
  callCancel(callID, invitees = [], config = {}, options = {}) {
    return this.#request('callCancel', { callID, invitees, config }, keyOf(options));
  }

  /** Accepts an invitation (R3.3); this device becomes the main device. */
  callAccept(callID, config = {}, options = {}) {
    return this.#request('callAccept', { callID, config }, keyOf(options));
  }

  /** Rejects an invitation (R3.4). */
  callReject(callID, config = {}, options = {}) {
    return this.#request('callReject', { callID, config }, keyOf(options));
  }

  /** Invites more users into an advanced-mode call (R3.6). config: {timeout, extendedData, pushConfig}. */
  callingInvite(callID, invitees, config = {}, options = {}) {
    return this.#request('callingInvite', { callID, invitees, config }, keyOf(options));
  }

  /** Joins an advanced-mode call, or moves the main device here (R3.7). */
  callJoin(callID, config = {}, options = {}) {
    return this.#request('callJoin', { callID, config }, keyOf(options));
  }

  /** Leaves an advanced-mode call (R3.8). */
  callQuit(callID, config = {}, options = {}) {
    return this.#request('callQuit', { callID, config }, keyOf(options));
  }

  /** Ends an advanced-mode call for everyone (R3.9). */
  callEnd(callID, config = {}, options = {}) {
    return this.#request('callEnd', { callID, config }, keyOf(options));
  }

  /**
   * Acknowledges an invitation (R3.11, R5.1). The SDK already sends it for every
   * callInvitationReceived; call it only for invitations learnt otherwise (a push).
   */
  async callReceived(callID, timeoutMs) {
    await this.#request('callReceived', { callID }, undefined, timeoutMs);
  }

  /** A page of the user's calls, newest first (R3.10): count 1..100 (0 = 20), nextFlag 0 = newest. */
  queryCallInvitationList(count = 0, nextFlag = 0) {
    return this.#request('queryCallInvitationList', { config: { count, nextFlag } });
  }

  /** Resolves with the CallInfo of a call the user is in (R3.10). */
  async queryCall(callID) {
    return (await this.#request('queryCall', { callID })).callInfo;
  }

  /**
   * Registers this device's push target for offline pushes (protocol.md "Extensions: push
   * targets"): {provider: 'webhook'|'fcm'|'apns', token, voip, bundleID (required for apns), appID}.
   */
  async pushRegister(target) {
    await this.#request('pushRegister', target);
  }

  /** Removes a push target registered by this user. */
  async pushUnregister(provider, token) {
    await this.#request('pushUnregister', { provider, token });
  }

  // ---- requests ----

  // request queues op until a logged-in connection carries it, and resolves with its result.
  // idem is the idempotency key of an op that changes a call, undefined for other ops. A
  // request whose connection drops is sent again after the reconnection, with the same key
  // and the same parameters: data is encoded now, so that changes the caller makes to it
  // afterwards reach no send (the server refuses a key repeated with other parameters, R7.3).
  #request(op, data, idem, timeoutMs = this.#opts.requestTimeoutMs) {
    if (this.#finished) return Promise.reject(this.#finished);
    if (!this.#loggedIn && !this.#loggingIn) {
      return Promise.reject(new DialtoneError(0, 'dialtone: not logged in', 'notLoggedIn'));
    }
    const badKey = idem === undefined ? null : idemKeyError(op, idem);
    if (badKey) return Promise.reject(badKey);
    let body;
    try {
      body = encodeBody(op, data, idem);
    } catch (err) {
      return Promise.reject(err); // data JSON cannot encode (a BigInt, a cycle): a TypeError
    }
    const tooBig = frameSizeError(op, body);
    if (tooBig) return Promise.reject(tooBig);
    return new Promise((resolve, reject) => {
      const req = { op, body, resolve, reject };
      req.timer = after(() => {
        this.#forget(req);
        reject(new DialtoneError(0, `dialtone: ${op}: no reply within ${timeoutMs} ms`, 'timeout'));
      }, timeoutMs);
      this.#queue.push(req);
      this.#flush();
    });
  }

  #flush() {
    const conn = this.#conn;
    if (!conn || !conn.ready || conn.dead) return;
    const queue = this.#queue;
    this.#queue = [];
    for (const req of queue) this.#send(conn, req);
  }

  #send(conn, req) {
    const id = this.#nextID++;
    req.id = id;
    req.conn = conn;
    conn.pending.set(id, req);
    try {
      conn.ws.send(frameText(id, req.body));
    } catch (err) {
      this.#drop(conn, new DialtoneError(0, `dialtone: send: ${err.message}`, 'network'));
    }
  }

  #forget(req) {
    this.#queue = this.#queue.filter((r) => r !== req);
    req.conn?.pending.delete(req.id);
  }

  // raw sends an internal request (login, heartbeat) on conn; it is never re-sent. A login too
  // big for one frame (a long token) is refused without being sent, as #request refuses others.
  #raw(conn, op, data, onResult) {
    return new Promise((resolve, reject) => {
      const body = encodeBody(op, data);
      const tooBig = frameSizeError(op, body);
      if (tooBig) {
        reject(tooBig);
        return;
      }
      const req = { op, body, internal: true, onResult, resolve, reject };
      req.timer = after(() => {
        conn.pending.delete(req.id);
        reject(new DialtoneError(0, `dialtone: ${op}: no reply within ${this.#opts.requestTimeoutMs} ms`, 'timeout'));
      }, this.#opts.requestTimeoutMs);
      this.#send(conn, req);
    });
  }

  // ---- connection ----

  // open connects a socket. One that has not opened within requestTimeoutMs is closed and the
  // attempt fails ('timeout'), as the Go SDK's dial is bounded: a network gone silent may take
  // the connection and never answer its handshake, nor close it. Closing the client meanwhile
  // closes the socket and fails the attempt with the client's end reason (see #opening), and so
  // does a client closed before (by a listener of the state change that came before the attempt),
  // without opening one.
  #open() {
    return new Promise((resolve, reject) => {
      if (this.#finished) {
        reject(this.#finished);
        return;
      }
      let ws;
      try {
        ws = new this.#WebSocket(this.#url);
      } catch (err) {
        reject(new DialtoneError(0, `dialtone: connect: ${err.message}`, 'network'));
        return;
      }
      const conn = new Conn(ws);
      let opened = false;
      const settle = () => {
        clearTimeout(timer);
        if (this.#opening === abandon) this.#opening = null;
      };
      const abandon = (err) => {
        settle();
        ws.onopen = ws.onmessage = ws.onclose = null;
        try { ws.close(); } catch { /* already closed */ }
        reject(err);
      };
      const ms = this.#opts.requestTimeoutMs;
      const timer = after(() => abandon(new DialtoneError(0, `dialtone: connect: no answer within ${ms} ms`, 'timeout')), ms);
      this.#opening = abandon;
      ws.onopen = () => {
        settle();
        opened = true;
        if (this.#finished) { // closed while the socket opened: the client stays finished
          this.#drop(conn, this.#finished);
          reject(this.#finished);
          return;
        }
        this.#conn = conn;
        resolve(conn);
      };
      ws.onmessage = (ev) => this.#onFrame(conn, ev.data);
      ws.onerror = () => {}; // onclose follows with the code
      ws.onclose = (ev) => {
        settle();
        const err = closeReason(conn, ev);
        if (!opened) reject(err);
        else this.#drop(conn, err);
      };
    });
  }

  // loginOn logs in on conn. The result is applied synchronously in the reply's frame handler,
  // before any event that follows it.
  #loginOn(conn, token) {
    const data = { token, deviceID: this.#deviceID };
    if (this.#lastSeq !== null) data.lastSeq = this.#lastSeq;
    const sent = performance.now();
    return this.#raw(conn, 'login', data, (lr) => {
      this.#userID = lr.userID;
      this.#recordServerTime(lr.serverTime, sent, true);
      // A device without a position, or one ahead of the server's log (the log was reset), or
      // one whose position was too old to replay (caughtUp false), starts from headSeq: the
      // events it missed are lost, and the app is told so (caughtUp false in the Connected
      // state change) to read its calls again.
      const caughtUp = this.#lastSeq !== null && lr.caughtUp && this.#lastSeq <= lr.headSeq;
      if (!caughtUp) {
        this.#lastSeq = lr.headSeq;
        this.#saveSeq();
      }
      this.#hb = {
        every: lr.heartbeatIntervalMs > 0 ? lr.heartbeatIntervalMs : DEFAULTS.heartbeatIntervalMs,
        timeout: lr.heartbeatTimeoutMs > 0 ? lr.heartbeatTimeoutMs : DEFAULTS.heartbeatTimeoutMs,
      };
      conn.ready = true;
      conn.readyAt = performance.now();
      this.#startHeartbeat(conn);
      this.#setState(ConnectionState.Connected, null, { caughtUp });
      this.#flush();
    });
  }

  #onFrame(conn, text) {
    if (conn.dead) return;
    conn.lastRecv = performance.now();
    let f;
    try {
      f = JSON.parse(text);
    } catch {
      this.#opts.logger.warn('dialtone: undecodable frame', text);
      return;
    }
    if (f === null || typeof f !== 'object') return;
    if (typeof f.event === 'string') {
      this.#onEvent(conn, f);
      return;
    }
    const req = typeof f.id === 'number' ? conn.pending.get(f.id) : undefined;
    if (!req) {
      if (f.error && f.id === undefined && f.error.code === ErrorCode.RateLimited) {
        // The server refuses a connection with this frame, then closes it (too many
        // connections not logged in from this address): it is why the connection ends.
        conn.refusal = new DialtoneError(f.error.code, f.error.message || `error ${f.error.code}`);
      } else if (f.error) {
        this.#opts.logger.warn('dialtone: server error', f.error);
      }
      return;
    }
    conn.pending.delete(f.id);
    clearTimeout(req.timer);
    if (f.error) {
      req.reject(new DialtoneError(f.error.code, f.error.message || `error ${f.error.code}`));
      return;
    }
    const result = f.result ?? {};
    if (req.onResult) {
      try {
        req.onResult(result);
      } catch (err) {
        req.reject(err);
        return;
      }
    }
    req.resolve(result);
  }

  #onEvent(conn, f) {
    const data = f.data ?? {};
    if (f.event === 'kicked') {
      // The kick table is the contract for a known reason; the event's flag only echoes it.
      const known = typeof data.reason === 'string' && Object.hasOwn(KickReasons, data.reason);
      conn.kick = { reason: data.reason, retry: known ? KickReasons[data.reason].retry : !!data.retry };
      this.#emit('kicked', conn.kick);
      return;
    }
    const seq = typeof f.seq === 'number' ? f.seq : 0;
    if (seq > 0 && this.#lastSeq !== null && seq <= this.#lastSeq) return; // a replay already processed
    if (f.event === 'callInvitationReceived' && data.callID) this.#acknowledge(data);
    this.#emit(f.event, data, { event: f.event, seq });
    if (seq > 0) {
      this.#lastSeq = seq;
      this.#saveSeq();
    }
  }

  // acknowledge sends callReceived for the invitation data (R5.1), sent again across
  // reconnections until the invitation's deadline (at least requestTimeoutMs). A synthesized
  // invitation (R5.3) of a call whose receipt is still on its way is not acknowledged twice: that
  // receipt, sent again after the login that the synthesized invitation follows, reaches the
  // server after it. A logged invitation always is (a re-invitation, R3.6, needs its own).
  #acknowledge(data) {
    const callID = data.callID;
    if (data.synthetic === true && this.#receipts.has(callID)) return;
    const wait = Math.max(this.#opts.requestTimeoutMs, this.remainingRingTime(data.deadline || 0));
    const receipt = this.callReceived(callID, wait).catch((err) => {
      if (!this.#finished) this.#opts.logger.warn('dialtone: cannot acknowledge an invitation', callID, err);
    }).finally(() => {
      if (this.#receipts.get(callID) === receipt) this.#receipts.delete(callID);
    });
    this.#receipts.set(callID, receipt);
  }

  // drop handles the end of conn: reconnect, or finish the client when that is not allowed.
  #drop(conn, reason) {
    if (conn.dead) return;
    conn.dead = true;
    conn.ws.onclose = conn.ws.onmessage = conn.ws.onopen = null;
    try { conn.ws.close(1000); } catch { /* already closed */ }
    this.#stopHeartbeat();
    const resend = [];
    for (const req of conn.pending.values()) {
      req.conn = undefined;
      if (req.internal) {
        clearTimeout(req.timer);
        req.reject(reason);
      } else {
        resend.push(req);
      }
    }
    conn.pending.clear();
    this.#queue = resend.concat(this.#queue);
    if (this.#conn === conn) this.#conn = null;
    if (this.#finished) return;
    if (!conn.ready) {
      // A reconnection's login refused, then the server's kick without retry (protocol
      // "Login": replaced, a newer connection of the device logged in) ends the client. A first
      // login failing is reported by login().
      if (conn.refused && reason.kick && !reason.kick.retry) this.#finish(reason);
      return;
    }
    if (this.#loggingOut && reason.kick?.reason === 'logout') {
      // The server carried the logout out; its reply, if any, was lost with the connection.
      // Otherwise the logout is sent again after the reconnection, as every operation is.
      for (const req of this.#queue) {
        if (req.op === 'logout') {
          clearTimeout(req.timer);
          req.resolve({});
        }
      }
      this.#queue = this.#queue.filter((req) => req.op !== 'logout');
      this.#finish(new DialtoneError(0, 'dialtone: logged out', 'loggedOut'));
      return;
    }
    if (reason.kick && !reason.kick.retry) {
      this.#finish(reason);
      return;
    }
    this.#setState(ConnectionState.Reconnecting, reason);
    if (this.#finished) return; // closed by a listener of the Reconnecting state
    // A session shorter than the largest wait counts as a failed attempt, so a server that
    // drops every session right after its login is retried less and less often.
    if (performance.now() - conn.readyAt >= this.#opts.maxBackoffMs) this.#attempt = 0;
    this.#reconnect(this.#attempt);
  }

  // reconnect makes reconnection attempt number attempt after its backoff, or within
  // ONLINE_SPREAD_MS when the browser tells the network is back meanwhile (an 'online' event of
  // options.network): a network that was down for long, with waits grown to maxBackoffMs, is
  // used as soon as it returns rather than up to maxBackoffMs later.
  #reconnect(attempt) {
    this.#attempt = attempt + 1;
    const wait = backoff(this.#opts.minBackoffMs, this.#opts.maxBackoffMs, attempt);
    const run = async () => {
      this.#stopWaiting();
      if (this.#finished) return;
      if (this.#conn?.refused) this.#drop(this.#conn, new DialtoneError(0, 'dialtone: login refused', 'network'));
      let conn;
      try {
        const token = this.#opts.tokenSource ? await this.#freshToken() : this.#token;
        if (this.#finished) return;
        conn = await this.#open();
        await this.#loginOn(conn, token);
      } catch (err) {
        const e = toError(err);
        if (conn) this.#endAttempt(conn, e);
        if (this.#finished) return;
        if (final(e)) {
          this.#finish(e);
          return;
        }
        this.#opts.logger.warn?.('dialtone: reconnection failed', e.message);
        this.#reconnect(attempt + 1);
      }
    };
    this.#retryTimer = after(run, wait);
    // Browsers whose network returns together (an office's, a region's) spread their attempts.
    this.#retryNow = () => {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = after(run, Math.random() * ONLINE_SPREAD_MS);
    };
    this.#network?.addEventListener('online', this.#retryNow);
  }

  // stopWaiting ends the wait of a reconnection attempt (#reconnect): its timer and its 'online'
  // listener.
  #stopWaiting() {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    if (this.#retryNow) this.#network?.removeEventListener('online', this.#retryNow);
    this.#retryNow = null;
  }

  // endAttempt ends the connection of a failed reconnection attempt. One whose login the server
  // refused, for a reason a retry may overcome, stays open until the next attempt, marked
  // refused: the server kicks after some refusals, and #drop ends the client on a kick without
  // retry rather than let the next attempt take the device back from a newer connection.
  #endAttempt(conn, err) {
    if (err.code && !final(err) && !conn.dead && !this.#finished) {
      conn.refused = true;
      return;
    }
    this.#drop(conn, err);
  }

  // freshToken asks tokenSource for a token, with an AbortSignal that is aborted when the wait
  // ends without it, as the Go SDK's TokenSource ctx is: after requestTimeoutMs ('timeout'; a
  // token source that never answers is asked again by the next attempt) or by close() and
  // every other end of the client (#finish, with its reason). Either way the wait rejects at
  // once, whether or not the token source heeds the signal.
  #freshToken() {
    const ms = this.#opts.requestTimeoutMs;
    const ctl = new AbortController();
    this.#tokenWait = ctl;
    const timer = after(() => ctl.abort(new DialtoneError(0, `dialtone: tokenSource: no token within ${ms} ms`, 'timeout')), ms);
    const aborted = new Promise((_, reject) => {
      ctl.signal.addEventListener('abort', () => reject(ctl.signal.reason), { once: true });
    });
    return Promise.race([Promise.resolve().then(() => this.#opts.tokenSource(ctl.signal)), aborted])
      .finally(() => {
        clearTimeout(timer);
        if (this.#tokenWait === ctl) this.#tokenWait = null;
      });
  }

  #startHeartbeat(conn) {
    this.#stopHeartbeat();
    const { every, timeout } = this.#hb;
    this.#heartbeat = setInterval(() => {
      const sent = performance.now();
      this.#raw(conn, 'heartbeat', undefined, (r) => this.#recordServerTime(r.serverTime, sent, false))
        .catch(() => {});
    }, every);
    this.#watchdog = setInterval(() => {
      if (performance.now() - conn.lastRecv >= timeout) {
        this.#drop(conn, new DialtoneError(0, 'dialtone: connection silent for the heartbeat timeout', 'heartbeatTimeout'));
      }
    }, Math.min(1000, every));
  }

  #stopHeartbeat() {
    clearInterval(this.#heartbeat);
    clearInterval(this.#watchdog);
    this.#heartbeat = this.#watchdog = null;
  }

  // recordServerTime takes a reply's serverTime (truncated ms) to a request sent at sent
  // (performance.now()): the server read its clock, on average, halfway through the round trip.
  // The estimate is kept against the monotonic clock, so a step of the local wall clock does
  // not move the server time. The reply with the shortest round trip wins, for a minute; a
  // login's (fresh) always does, and so does one the estimate cannot explain: its serverTime
  // lies outside the server times the estimate gives the round trip, widened by the estimate's
  // own error (half its round trip and a millisecond), so a clock jumped since (the monotonic
  // clock may stop while the machine sleeps). As the Go SDK does.
  #recordServerTime(serverTime, sent, fresh) {
    if (!(serverTime > 0)) return;
    const recv = performance.now();
    const rtt = recv - sent;
    const best = this.#serverSample;
    if (!fresh && best && rtt > best.rtt && recv - best.at < 60000) {
      const slack = best.rtt / 2 + 1;
      const explained = serverTime + 1 > this.#serverBase + sent - slack && serverTime <= this.#serverBase + recv + slack;
      if (explained) return;
    }
    this.#serverSample = { rtt, at: recv };
    this.#serverBase = serverTime + 0.5 - (sent + rtt / 2);
  }

  #finish(err) {
    if (this.#finished) return;
    this.#finished = err;
    this.#stopWaiting();
    this.#tokenWait?.abort(err);
    this.#opening?.(err);
    this.#stopHeartbeat();
    const conn = this.#conn;
    this.#conn = null;
    if (conn) {
      conn.dead = true;
      conn.ws.onclose = conn.ws.onmessage = conn.ws.onopen = null;
      try { conn.ws.close(1000); } catch { /* already closed */ }
      for (const req of conn.pending.values()) {
        clearTimeout(req.timer);
        req.reject(err);
      }
      conn.pending.clear();
    }
    this.#failQueue(err);
    this.#setState(ConnectionState.Disconnected, err);
  }

  #failQueue(err) {
    const queue = this.#queue;
    this.#queue = [];
    for (const req of queue) {
      clearTimeout(req.timer);
      req.reject(err);
    }
  }

  #setState(state, reason = null, extra = {}) {
    if (this.#state === state && state !== ConnectionState.Reconnecting) return;
    this.#state = state;
    this.#emit('connectionStateChanged', { state, reason, ...extra });
  }

  // emit runs the listeners of event. One made from inside a listener (a state change caused by
  // close(), say) waits until the listeners running have returned: they run one at a time. As
  // with the DOM's events, the listeners are those registered when the event's turn came, less
  // any removed meanwhile.
  #emit(event, ...args) {
    this.#emitQueue.push([event, args]);
    if (this.#emitting) return;
    this.#emitting = true;
    try {
      while (this.#emitQueue.length) {
        const [name, params] = this.#emitQueue.shift();
        const listeners = this.#listeners.get(name) ?? new Set();
        for (const fn of [...listeners]) {
          if (!listeners.has(fn)) continue; // removed by a listener before it
          try {
            fn(...params);
          } catch (err) {
            this.#opts.logger.warn('dialtone: listener failed', name, err);
          }
        }
      }
    } finally {
      this.#emitting = false;
    }
  }

  // ---- the device's saved position (R7.2) ----

  // seqKey names the device (user, deviceID) in storage. Both IDs may hold ':' (behaviour §1):
  // the userID's '%' and ':' are escaped, so its first ':' ends it and no two devices share a
  // key, while the keys of userIDs without them stay as they always were.
  #seqKey() {
    const user = this.#userID.replace(/[%:]/g, (ch) => (ch === '%' ? '%25' : '%3A'));
    return `dialtone:lastSeq:${user}:${this.#deviceID}`;
  }

  #loadSeq() {
    try {
      // Only what saveSeq writes, a whole number in decimal: Number('') would be 0.
      const v = this.#storage?.getItem(this.#seqKey());
      const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
      return Number.isSafeInteger(n) ? n : null;
    } catch {
      return null;
    }
  }

  #saveSeq() {
    try {
      this.#storage?.setItem(this.#seqKey(), String(this.#lastSeq));
    } catch { /* storage full or denied: the worst outcome is a replay after a reload */ }
  }
}

function safeLocalStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

// encodeBody returns the JSON of a request without its id: {"op":…,"data":…,"idem":…}, with
// data and idem left out when undefined.
function encodeBody(op, data, idem) {
  return JSON.stringify({ op, data, idem });
}

// MAX_TIMER_MS is the longest wait setTimeout keeps: it calls back at once after a longer one
// (2^31 ms, about 24.8 days, or Infinity).
const MAX_TIMER_MS = 2 ** 31 - 1;

// after is setTimeout with a wait longer than MAX_TIMER_MS cut to it, so that a long request
// timeout or backoff waits, as it does in the Go SDK, instead of ending at once.
function after(fn, ms) {
  return setTimeout(fn, Math.min(ms, MAX_TIMER_MS));
}

// frameText returns the request frame of body (from encodeBody) with id, the id first.
function frameText(id, body) {
  return `{"id":${id},${body.slice(1)}`;
}

// keyOf returns the idempotency key of an operation's options, or a fresh one.
function keyOf(options) {
  return options?.idempotencyKey ?? newIdempotencyKey();
}

// idemKeyError returns the error of an idempotency key the server would refuse (6000001), or
// null for a key of MIN_IDEM_BYTES to MAX_IDEM_BYTES bytes.
function idemKeyError(op, key) {
  const size = typeof key === 'string' ? new TextEncoder().encode(key).length : -1;
  if (size >= MIN_IDEM_BYTES && size <= MAX_IDEM_BYTES) return null;
  return new DialtoneError(ErrorCode.InvalidParameter,
    `dialtone: ${op}: an idempotency key is a string of ${MIN_IDEM_BYTES} to ${MAX_IDEM_BYTES} bytes`);
}

// frameSizeError returns the InvalidParameter refusal of a request whose frame, with the
// longest id it may be sent with, is over MAX_FRAME_BYTES, or null when it fits: the answer does
// not depend on the id a send gives it, so a request is refused before its first send or never.
function frameSizeError(op, body) {
  const size = new TextEncoder().encode(frameText(Number.MAX_SAFE_INTEGER, body)).length;
  if (size <= MAX_FRAME_BYTES) return null;
  return new DialtoneError(ErrorCode.InvalidParameter,
    `dialtone: ${op}: request of ${size} bytes; a frame is at most ${MAX_FRAME_BYTES}`);
}

function toError(err) {
  return err instanceof DialtoneError ? err : new DialtoneError(0, String(err?.message ?? err), 'network');
}

// closeReason turns a close event into the DialtoneError that ended conn: the kicked event's
// reason, else the kick table's reason for the close code, else the server's refusal of the
// connection (6000292), else a network error.
function closeReason(conn, ev) {
  let kick = conn.kick;
  if (!kick) {
    for (const [reason, k] of Object.entries(KickReasons)) {
      if (k.closeCode === ev.code) kick = { reason, retry: k.retry };
    }
  }
  if (kick) return new DialtoneError(0, `dialtone: kicked by the server: ${kick.reason}`, 'kicked', kick);
  if (conn.refusal) return conn.refusal;
  return new DialtoneError(0, `dialtone: connection closed (${ev.code}${ev.reason ? ' ' + ev.reason : ''})`, 'network');
}

// final reports whether a reconnection that failed with err must not be retried.
function final(err) {
  if (err.kick) return !err.kick.retry;
  return err.code === ErrorCode.AuthFailed || err.code === ErrorCode.TooManyDevices;
}
