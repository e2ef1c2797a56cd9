// Dialtone browser SDK: one device of one user, speaking docs/protocol.md over a WebSocket.
// Dependency-free ES modules; this one is what apps import: see web/README.md for the API and an
// example.
//
// Once logged in, a client keeps its session alive by itself until close() or logout():
//   - it sends a heartbeat every heartbeatIntervalMs and drops a connection that stayed silent
//     for heartbeatTimeoutMs (behaviour R6.1), reason 'heartbeatTimeout', on time also in a page
//     the browser has hidden for long, whose chained timers Chrome runs once a minute
//     (dialtone-conn.js Heartbeat);
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
//
// This module holds the client, Dialtone, and exports the whole API. The modules it imports,
// served beside it and not meant for apps to import, each do one job: dialtone-wire.js (the
// protocol's constants and formats, the errors), dialtone-time.js (timers, the server clock
// estimate), dialtone-conn.js (a connection and its heartbeat), dialtone-delivery.js
// (listeners, the saved position), dialtone-receipts.js (invitation receipts) and
// dialtone-reconnect.js (the backoff and token waits of a reconnection).

export {
  PATH, ConnectionState, CallUserState, CallState, CallMode, ErrorCode, KickReasons, CallEvents,
  DialtoneError, stateName, remainingRingTime, backoff, newIdempotencyKey, tokenSubject, wsURL,
} from './dialtone-wire.js';
import {
  ConnectionState, ErrorCode, CallEvents, DialtoneError, backoff, tokenSubject, wsURL,
  encodeBody, frameText, keyOf, idemKeyError, frameSizeError, abortError, toError, final, remainingRingTime,
  isObject, protocolError, replyError, replyID, kickOf,
} from './dialtone-wire.js';
import { Timers, ServerClock } from './dialtone-time.js';
import { Conn, Heartbeat, KICK_CLOSE_WAIT_MS } from './dialtone-conn.js';
import { Emitter, SavedPosition } from './dialtone-delivery.js';
import { Receipts } from './dialtone-receipts.js';
import { Backoff, TokenWait } from './dialtone-reconnect.js';

const DEFAULTS = Object.freeze({
  minBackoffMs: 250, maxBackoffMs: 30000, requestTimeoutMs: 15000,
  heartbeatIntervalMs: 10000, heartbeatTimeoutMs: 35000,
});

/** A connection to a Dialtone server for one device of one user. */
export class Dialtone {
  #url;
  #opts;
  #position; // the device's saved position (SavedPosition)
  #WebSocket;
  #events; // the listeners (Emitter)
  #state = ConnectionState.Disconnected;
  #conn = null;
  #nextID = 1;
  #queue = []; // requests waiting for a logged-in connection
  #token = '';
  #userID = '';
  #deviceID = '';
  #loggingIn = false; // a login() is on its way: operations wait for it rather than fail
  #turn = null; // while a login() or logout() is in flight, a promise resolved when it ends
  #loggedIn = false;
  #loggingOut = false;
  #finished = null; // the DialtoneError that ended the client
  #lastSeq = null; // last processed seq; null before the device's first login
  #timers; // the monotonic clock and the timers (Timers)
  #clock; // the server's clock, measured at each login, refined by the heartbeats (ServerClock)
  #heartbeat; // the logged-in connection's (Heartbeat)
  #backoff; // the wait of the next reconnection attempt (Backoff)
  #tokenWait; // a reconnection's wait for tokenSource (TokenWait)
  #opening = null; // gives up the socket being opened, with an error; null when none is
  #attempt = 0; // the next reconnection's attempt number, kept across short sessions
  #hb = { every: DEFAULTS.heartbeatIntervalMs, timeout: DEFAULTS.heartbeatTimeoutMs };
  // Acknowledges each invitation (R5.1), retrying across reconnections until its deadline (at
  // least requestTimeoutMs).
  #receipts = new Receipts((callID, deadline) => {
    const wait = Math.max(this.#opts.requestTimeoutMs, this.remainingRingTime(deadline || 0));
    return this.callReceived(callID, wait).catch((err) => {
      if (!this.#finished) this.#opts.logger.warn('dialtone: cannot acknowledge an invitation', callID, err);
    });
  });

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
   *   retries across reconnections included (a logout(), its wait for a login() or another
   *   logout() in flight too), a login() for its result, from the call (its socket's opening,
   *   its reply, and its wait for another login or a logout in flight included), and a
   *   reconnection attempt for its token, its socket and its login together (15000), as
   *   RequestTimeout bounds them in the Go SDK. Waits are cut to 2^31 − 1 ms (24.8 days), the
   *   longest a timer keeps, so Infinity is that long.
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
   * @param {{now: () => number, setTimeout: Function, clearTimeout: Function}} [options.timers]
   *   the monotonic clock and the timers the client runs on (for tests: a virtual clock);
   *   default performance.now() and the page's setTimeout and clearTimeout.
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
    this.#timers = new Timers(options.timers);
    this.#clock = new ServerClock(this.#timers);
    this.#heartbeat = new Heartbeat(this.#timers);
    this.#tokenWait = new TokenWait(this.#timers);
    this.#backoff = new Backoff(this.#timers, options.network !== undefined ? options.network
      : typeof globalThis.addEventListener === 'function' ? globalThis : null);
    this.#position = new SavedPosition(options.storage);
    this.#events = new Emitter(this.#opts.logger);
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
  get serverTimeOffset() { return this.#clock.offset(); }
  /** The server's current time (Unix ms), estimated as serverTimeOffset is. */
  serverNow() { return this.#clock.now(); }
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
    this.#events.on(event, fn);
    return () => this.off(event, fn);
  }

  /** Removes a listener added with on. */
  off(event, fn) {
    this.#events.off(event, fn);
  }

  /**
   * Authenticates the device with token (a JWT for the user) and deviceID (stable across page
   * loads of this device), resuming from the device's saved seq. Resolves with the login
   * result; rejects with a DialtoneError (code AuthFailed, TooManyDevices, …). A refused login
   * may be retried; a client logs in successfully once. A login called while another, or a
   * logout(), is in flight waits for it, as the Go SDK's Login does: then it rejects with
   * 'alreadyLoggedIn' if the device is logged in, with 'loggedOut' if that logout logged it out,
   * and otherwise makes its own attempt, with its own token and deviceID.
   * close() before it settles, from a listener of the Connecting or Connected state it reports
   * too, makes it reject with 'closed' (the Go SDK's ErrClosed), never resolve. requestTimeoutMs
   * bounds it whole, from the call: the wait for another login or a logout, the socket's opening
   * and the reply; past it, it rejects with 'timeout', as ctx bounds the Go SDK's Login.
   */
  async login(token, deviceID) {
    const deadline = this.#deadline();
    while (this.#turn) await this.#turnEnds('login', deadline);
    const endTurn = this.#takeTurn();
    try {
      if (this.#finished) throw this.#finished;
      if (this.#loggedIn) {
        throw new DialtoneError(0, 'dialtone: already logged in', 'alreadyLoggedIn');
      }
      return await this.#firstLogin(token, deviceID, deadline);
    } finally {
      endTurn();
    }
  }

  // firstLogin logs in for login(), in its turn, on a socket of its own.
  async #firstLogin(token, deviceID, deadline) {
    this.#loggingIn = true;
    this.#token = token;
    this.#deviceID = deviceID;
    this.#userID = tokenSubject(token);
    this.#lastSeq = this.#position.load(this.#userID, this.#deviceID);
    this.#setState(ConnectionState.Connecting);
    try {
      const conn = await this.#open(deadline);
      const result = await this.#loginOn(conn, token, deadline);
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
    }
  }

  // takeTurn marks a login() or logout() as in flight, and returns the function that ends its
  // turn. They run one at a time, as the Go SDK's Login and Logout do: each waits while another
  // is in flight (turnEnds), then takes its turn right after, with nothing awaited between, so
  // that of the callers a turn's end wakes, the first takes the next turn and the others wait
  // for it.
  #takeTurn() {
    let ended;
    this.#turn = new Promise((resolve) => { ended = resolve; });
    return () => {
      this.#turn = null;
      ended();
    };
  }

  // turnEnds waits for the turn in flight to end, and rejects with 'timeout' when deadline
  // passes first, or 'aborted' when signal aborts first.
  async #turnEnds(what, deadline, signal) {
    let timer;
    let onAbort;
    const givenUp = new Promise((_, reject) => {
      timer = this.#timers.after(() => reject(this.#timeout(what, deadline)), this.#left(deadline));
      onAbort = () => reject(abortError(what, signal));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([this.#turn, givenUp]);
    } finally {
      this.#timers.cancel(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  // deadline returns the deadline of a wait that starts now and lasts requestTimeoutMs: {at, ms}
  // on the monotonic clock. One deadline bounds a login() or a reconnection attempt whole.
  #deadline() {
    return { at: this.#timers.now() + this.#opts.requestTimeoutMs, ms: this.#opts.requestTimeoutMs };
  }

  // left returns the ms left before deadline, 0 once it has passed.
  #left(deadline) {
    return Math.max(0, deadline.at - this.#timers.now());
  }

  // timeout returns the 'timeout' error of what, given up at deadline.
  #timeout(what, deadline) {
    return new DialtoneError(0, `dialtone: ${what}: no answer within ${deadline.ms} ms`, 'timeout');
  }

  /**
   * Logs the device out (its session ends at once, R6.1, and its push targets are dropped) and,
   * once it is, finishes the client ('loggedOut'). It resolves once the server logged the device
   * out: its reply, or its logout kick when the reply was lost. Like every operation, it waits
   * for the reconnection when the client is reconnecting, and is sent again after it when its
   * connection drops before the reply. A logout() that rejects leaves the client running, as it
   * was (docs/behaviour.md §12, "A Go Logout that fails"), for the app to call logout() again
   * or close(): refused by the server (6000270 when it cannot write: the connection stays logged
   * in), a reply that does not follow the protocol, 'notLoggedIn' before a successful login(),
   * and 'aborted' or 'timeout' (options.signal, requestTimeoutMs) when it is given up first. The
   * client ends meanwhile only as it would without it: close() ('closed'), or a kick or refused
   * login that forbids reconnecting (its reason), with which logout() then rejects. Logins and
   * logouts run one at a time: called while either is in flight, it waits for it, then rejects
   * with 'loggedOut' if a logout it waited for logged the device out, and otherwise makes its
   * own attempt; requestTimeoutMs and the signal bound that wait too.
   */
  async logout({ signal } = {}) {
    if (this.#finished) throw this.#finished;
    if (signal?.aborted) throw abortError('logout', signal);
    const deadline = this.#deadline();
    while (this.#turn) await this.#turnEnds('logout', deadline, signal);
    const endTurn = this.#takeTurn();
    try {
      this.#loggingOut = true;
      await this.#request('logout', undefined, undefined, { timeoutMs: this.#left(deadline), signal });
      this.#finish(new DialtoneError(0, 'dialtone: logged out', 'loggedOut'));
    } finally {
      this.#loggingOut = false;
      endTurn();
    }
  }

  /**
   * Closes the connection and finishes the client; pending operations reject ('closed'), the
   * last state change (Disconnected, 'closed') is reported, and no listener is called after it
   * (dialtone.d.ts tells the whole contract).
   */
  close() {
    this.#finish(new DialtoneError(0, 'dialtone: client closed', 'closed'));
  }

  // The operations that change a call take, last, options {idempotencyKey, signal}: a key
  // (newIdempotencyKey(), 16–64 bytes) to carry instead of a fresh one, for an app that tries
  // an operation again after it failed without a reply ('timeout', 'aborted', 'network'): the
  // first may still have been carried out, and the same key then gets its reply instead of a
  // refusal of the state it made (R7.3). The SDK itself sends an operation again under one key
  // after a reconnection, within requestTimeoutMs. Every operation but login takes options
  // {signal} last (logout as its only argument): an AbortSignal that, once aborted, makes the
  // operation reject at once with 'aborted' (the signal's reason as .cause), wherever it is (not
  // sent yet, waiting for a reconnection, or waiting for its reply, which is then dropped), as
  // the Go SDK's operation ends with its ctx.

  /** Creates a call and invites invitees (R3.1). config: {timeout, mode, extendedData, pushConfig, enableNotReceivedCheck}. */
  callInvite(invitees, config = {}, options = {}) {
    return this.#request('callInvite', { invitees, config }, keyOf(options), options);
  }

  /** Withdraws invitations (R3.2): the whole call when invitees is empty or in general mode. */
  callCancel(callID, invitees = [], config = {}, options = {}) {
    return this.#request('callCancel', { callID, invitees, config }, keyOf(options), options);
  }

  /** Accepts an invitation (R3.3); this device becomes the main device. */
  callAccept(callID, config = {}, options = {}) {
    return this.#request('callAccept', { callID, config }, keyOf(options), options);
  }

  /** Rejects an invitation (R3.4). */
  callReject(callID, config = {}, options = {}) {
    return this.#request('callReject', { callID, config }, keyOf(options), options);
  }

  /** Invites more users into an advanced-mode call (R3.6). config: {timeout, extendedData, pushConfig}. */
  callingInvite(callID, invitees, config = {}, options = {}) {
    return this.#request('callingInvite', { callID, invitees, config }, keyOf(options), options);
  }

  /** Joins an advanced-mode call, or moves the main device here (R3.7). */
  callJoin(callID, config = {}, options = {}) {
    return this.#request('callJoin', { callID, config }, keyOf(options), options);
  }

  /** Leaves an advanced-mode call (R3.8). */
  callQuit(callID, config = {}, options = {}) {
    return this.#request('callQuit', { callID, config }, keyOf(options), options);
  }

  /** Ends an advanced-mode call for everyone (R3.9). */
  callEnd(callID, config = {}, options = {}) {
    return this.#request('callEnd', { callID, config }, keyOf(options), options);
  }

  /**
   * Acknowledges an invitation (R3.11, R5.1). The SDK already sends it for every
   * callInvitationReceived; call it only for invitations learnt otherwise (a push).
   */
  async callReceived(callID, timeoutMs, options = {}) {
    await this.#request('callReceived', { callID }, undefined, { ...options, timeoutMs });
  }

  /** A page of the user's calls, newest first (R3.10): count 1..100 (0 = 20), nextFlag 0 = newest. */
  queryCallInvitationList(count = 0, nextFlag = 0, options = {}) {
    return this.#request('queryCallInvitationList', { config: { count, nextFlag } }, undefined, options);
  }

  /** Resolves with the CallInfo of a call the user is in (R3.10). */
  async queryCall(callID, options = {}) {
    return (await this.#request('queryCall', { callID }, undefined, options)).callInfo;
  }

  /**
   * Registers this device's push target for offline pushes (protocol.md "Extensions: push
   * targets"): {provider: 'webhook'|'fcm'|'apns', token, voip, bundleID (required for apns), appID}.
   */
  async pushRegister(target, options = {}) {
    await this.#request('pushRegister', target, undefined, options);
  }

  /** Removes a push target registered by this user. */
  async pushUnregister(provider, token, options = {}) {
    await this.#request('pushUnregister', { provider, token }, undefined, options);
  }

  // ---- requests ----

  // request queues op until a logged-in connection carries it, and resolves with its result.
  // idem is the idempotency key of an op that changes a call, undefined for other ops. A
  // request whose connection drops is sent again after the reconnection, with the same key
  // and the same parameters: data is encoded now, so that changes the caller makes to it
  // afterwards reach no send (the server refuses a key repeated with other parameters, R7.3).
  // timeoutMs (default requestTimeoutMs) bounds the whole wait; signal, an AbortSignal, ends
  // it when aborted (see #abortOn). Either way the request is forgotten: its reply, if it
  // comes, is dropped.
  #request(op, data, idem, { timeoutMs = this.#opts.requestTimeoutMs, signal } = {}) {
    if (this.#finished) return Promise.reject(this.#finished);
    if (signal?.aborted) return Promise.reject(abortError(op, signal));
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
      req.timer = this.#timers.after(() => {
        this.#forget(req);
        req.reject(new DialtoneError(0, `dialtone: ${op}: no reply within ${timeoutMs} ms`, 'timeout'));
      }, timeoutMs);
      if (signal) this.#abortOn(req, signal);
      this.#queue.push(req);
      this.#flush();
    });
  }

  // abortOn ends req when signal aborts: its timer cancelled, the request forgotten wherever it
  // is (queued, or in flight, whose reply is then dropped), and rejected with 'aborted'. The
  // signal's listener is removed when req settles, however it settles.
  #abortOn(req, signal) {
    const onAbort = () => {
      this.#timers.cancel(req.timer);
      this.#forget(req);
      req.reject(abortError(req.op, signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const { resolve, reject } = req;
    req.resolve = (v) => { signal.removeEventListener('abort', onAbort); resolve(v); };
    req.reject = (e) => { signal.removeEventListener('abort', onAbort); reject(e); };
  }

  #flush() {
    const conn = this.#conn;
    if (!conn?.usable) return;
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

  // raw sends an internal request (login, heartbeat) on conn; it is never re-sent, and rejects
  // with 'timeout' when its reply has not come by deadline (default: requestTimeoutMs from now).
  // A login too big for one frame (a long token) is refused without being sent, as #request
  // refuses others.
  #raw(conn, op, data, onResult, deadline = this.#deadline()) {
    return new Promise((resolve, reject) => {
      const body = encodeBody(op, data);
      const tooBig = frameSizeError(op, body);
      if (tooBig) {
        reject(tooBig);
        return;
      }
      const req = { op, body, internal: true, onResult, resolve, reject };
      req.timer = this.#timers.after(() => {
        conn.pending.delete(req.id);
        reject(this.#timeout(op, deadline));
      }, this.#left(deadline));
      this.#send(conn, req);
    });
  }

  // ---- connection ----

  // open connects a socket. One that has not opened by deadline (the login's or the
  // reconnection attempt's) is closed and the attempt fails ('timeout'), as the Go SDK's dial is
  // bounded by its ctx: a network gone silent may take the connection and never answer its
  // handshake, nor close it. A deadline passed already opens nothing. Closing the client
  // meanwhile closes the socket and fails the attempt with the client's end reason (see
  // #opening), and so does a client closed before (by a listener of the state change that came
  // before the attempt), without opening one.
  #open(deadline) {
    return new Promise((resolve, reject) => {
      if (this.#finished) {
        reject(this.#finished);
        return;
      }
      if (this.#left(deadline) <= 0) {
        reject(this.#timeout('connect', deadline));
        return;
      }
      let ws;
      try {
        ws = new this.#WebSocket(this.#url);
      } catch (err) {
        reject(new DialtoneError(0, `dialtone: connect: ${err.message}`, 'network'));
        return;
      }
      const conn = new Conn(ws, this.#timers.now());
      let opened = false;
      const settle = () => {
        this.#timers.cancel(timer);
        if (this.#opening === abandon) this.#opening = null;
      };
      const abandon = (err) => {
        settle();
        ws.onopen = ws.onmessage = ws.onclose = null;
        try { ws.close(); } catch { /* already closed */ }
        reject(err);
      };
      const timer = this.#timers.after(() => abandon(this.#timeout('connect', deadline)), this.#left(deadline));
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
        if (conn.unnamedKick) {
          this.#hearKick(conn, conn.kickClosed(ev.code));
          return;
        }
        const err = conn.closeReason(ev);
        if (!opened) reject(err);
        else this.#drop(conn, err);
      };
    });
  }

  // loginOn logs in on conn, giving up at deadline. The result is applied synchronously in the
  // reply's frame handler, before any event that follows it.
  #loginOn(conn, token, deadline) {
    const data = { token, deviceID: this.#deviceID };
    if (this.#lastSeq !== null) data.lastSeq = this.#lastSeq;
    const sent = this.#timers.now();
    return this.#raw(conn, 'login', data, (lr) => {
      this.#userID = lr.userID;
      this.#clock.record(lr.serverTime, sent, true);
      // A device without a position, or one ahead of the server's log (the log was reset), or
      // one whose position was too old to replay (caughtUp false), starts from headSeq: the
      // events it missed are lost, and the app is told so (caughtUp false in the Connected
      // state change) to read its calls again.
      const caughtUp = this.#lastSeq !== null && lr.caughtUp && this.#lastSeq <= lr.headSeq;
      if (!caughtUp) {
        this.#lastSeq = lr.headSeq;
        this.#savePosition();
      }
      this.#hb = {
        every: lr.heartbeatIntervalMs > 0 ? lr.heartbeatIntervalMs : DEFAULTS.heartbeatIntervalMs,
        timeout: lr.heartbeatTimeoutMs > 0 ? lr.heartbeatTimeoutMs : DEFAULTS.heartbeatTimeoutMs,
      };
      conn.ready = true;
      conn.readyAt = this.#timers.now();
      this.#startHeartbeat(conn);
      this.#setState(ConnectionState.Connected, null, { caughtUp });
      this.#flush();
    }, deadline);
  }

  #onFrame(conn, text) {
    if (conn.dead || conn.unnamedKick) return; // nothing is carried out after a kick
    conn.lastRecv = this.#timers.now();
    this.#heartbeat.heard(conn);
    let f;
    try {
      f = JSON.parse(text);
    } catch {
      this.#onUndecodable(conn, text);
      return;
    }
    if (f === null || typeof f !== 'object') return;
    if (typeof f.event === 'string') {
      this.#onEvent(conn, f);
      return;
    }
    const req = typeof f.id === 'number' ? this.#answered(conn, f.id) : undefined;
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
    const failure = replyError(req.op, f);
    if (failure) {
      if (failure.reason === 'protocol') this.#opts.logger.warn('dialtone: a reply that does not follow the protocol', text);
      req.reject(failure);
      return;
    }
    const result = f.result;
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

  // answered returns the request of conn that the reply with id answers, no longer pending and
  // its timer cancelled, or undefined when none awaits it.
  #answered(conn, id) {
    const req = conn.pending.get(id);
    if (!req) return undefined;
    conn.pending.delete(id);
    this.#timers.cancel(req.timer);
    return req;
  }

  // onUndecodable handles a frame that is not JSON: the one reply of the request whose id it
  // reads as (replyID), which then fails with a protocol error, as in the Go SDK; otherwise
  // ignored.
  #onUndecodable(conn, text) {
    this.#opts.logger.warn('dialtone: undecodable frame', text);
    const req = this.#answered(conn, replyID(text));
    req?.reject(protocolError(req.op, 'the reply is not JSON'));
  }

  #onEvent(conn, f) {
    if (f.event === 'kicked') {
      this.#onKicked(conn, kickOf(f.data));
      return;
    }
    const seq = typeof f.seq === 'number' ? f.seq : 0;
    if (seq > 0 && this.#lastSeq !== null && seq <= this.#lastSeq) return; // a replay already processed
    this.#deliver(f.event, f.data, seq);
    if (seq > 0) {
      this.#lastSeq = seq;
      this.#savePosition();
    }
  }

  // onKicked handles the kick of a kicked event. The kick table is the contract for a known
  // reason; the event's flag only echoes it. A kick of no reason (kickOf) is named by the close
  // that follows it at once, for which the connection waits KICK_CLOSE_WAIT_MS at most, sending
  // nothing meanwhile (docs/behaviour.md §12, "A kick that tells no reason"), as the Go SDK does.
  #onKicked(conn, kick) {
    if (kick.reason) {
      this.#hearKick(conn, kick);
      return;
    }
    conn.unnamedKick = kick;
    this.#heartbeat.stop();
    const wait = this.#timers.after(() => this.#hearKick(conn, kick), KICK_CLOSE_WAIT_MS);
    conn.ended.then(() => this.#timers.cancel(wait)); // the close came, or the client ended
  }

  // hearKick ends conn for kick, which the kicked listeners hear first. The server no longer
  // reads the connection, and the close that should follow may be lost (docs/behaviour.md §12,
  // "A kick whose close is lost"): it is ended now, with a normal close, for its kick, as its
  // close would. Nothing is done for a connection ended already.
  #hearKick(conn, kick) {
    if (conn.dead) return;
    conn.kick = kick;
    this.#events.emit('kicked', kick);
    this.#drop(conn, conn.endReason(null));
  }

  // deliver hands the event named event to its listeners with its data, an invitation
  // acknowledged first (R5.1). A call event whose data is not an object tells no call
  // (protocol.md "Events": its data holds callID and the call's version): it is logged and
  // skipped, as in the Go SDK.
  #deliver(event, data, seq) {
    if (CallEvents.includes(event) && !isObject(data)) {
      this.#opts.logger.warn('dialtone: a call event whose data is not an object', event, data);
      return;
    }
    data ??= {};
    if (event === 'callInvitationReceived' && data.callID) this.#receipts.acknowledge(data);
    this.#events.emit(event, data, { event, seq });
  }

  // drop handles the end of conn for reason (or the kick conn heard): reconnect, or finish the
  // client when that is not allowed.
  #drop(conn, why) {
    if (conn.dead) return;
    const reason = conn.endReason(why);
    conn.shut();
    this.#heartbeat.stop();
    const resend = [];
    for (const req of conn.pending.values()) {
      req.conn = undefined;
      if (req.internal) {
        this.#timers.cancel(req.timer);
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
          this.#timers.cancel(req.timer);
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
    if (this.#timers.now() - conn.readyAt >= this.#opts.maxBackoffMs) this.#attempt = 0;
    this.#reconnect(this.#attempt);
  }

  // reconnect makes reconnection attempt number attempt after its backoff, which the browser
  // telling the network is back cuts short (Backoff).
  #reconnect(attempt) {
    this.#attempt = attempt + 1;
    const wait = backoff(this.#opts.minBackoffMs, this.#opts.maxBackoffMs, attempt);
    const run = async () => {
      this.#backoff.stop();
      // A kick of no reason heard on the refused connection kept open is named by its close
      // (#onKicked), which may end the client: the attempt waits for it.
      if (this.#conn?.unnamedKick) await this.#conn.ended;
      if (this.#finished) return;
      if (this.#conn?.refused) {
        // Its kick, when it heard one without its close, may end the client (#drop).
        this.#drop(this.#conn, new DialtoneError(0, 'dialtone: login refused', 'network'));
        if (this.#finished) return;
      }
      let conn;
      // requestTimeoutMs bounds the attempt whole, as RequestTimeout bounds each of the Go SDK's.
      const deadline = this.#deadline();
      try {
        // A token source that fails, or gives no token in the attempt's time, is asked again by
        // the next attempt (TokenWait); close() ends the wait at once.
        const token = this.#opts.tokenSource
          ? await this.#tokenWait.ask(this.#opts.tokenSource, this.#left(deadline)) : this.#token;
        if (this.#finished) return;
        conn = await this.#open(deadline);
        await this.#loginOn(conn, token, deadline);
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
    this.#backoff.start(run, wait);
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

  #startHeartbeat(conn) {
    this.#heartbeat.start(conn, this.#hb, () => {
      const sent = this.#timers.now();
      this.#raw(conn, 'heartbeat', undefined, (r) => this.#clock.record(r.serverTime, sent, false))
        .catch(() => {});
    }, () => {
      this.#drop(conn, new DialtoneError(0, 'dialtone: connection silent for the heartbeat timeout', 'heartbeatTimeout'));
    });
  }

  #finish(err) {
    if (this.#finished) return;
    this.#finished = err;
    this.#backoff.stop();
    this.#tokenWait.abort(err);
    this.#opening?.(err);
    this.#heartbeat.stop();
    const conn = this.#conn;
    this.#conn = null;
    if (conn) {
      conn.shut();
      for (const req of conn.pending.values()) {
        this.#timers.cancel(req.timer);
        req.reject(err);
      }
      conn.pending.clear();
    }
    this.#failQueue(err);
    // The last state change, with the end reason, also when the state was Disconnected already
    // (a refused login, or none made), as the Go SDK's Close reports it.
    this.#state = ConnectionState.Disconnected;
    this.#events.emit('connectionStateChanged', { state: this.#state, reason: err });
  }

  #failQueue(err) {
    const queue = this.#queue;
    this.#queue = [];
    for (const req of queue) {
      this.#timers.cancel(req.timer);
      req.reject(err);
    }
  }

  #setState(state, reason = null, extra = {}) {
    if (this.#state === state && state !== ConnectionState.Reconnecting) return;
    this.#state = state;
    this.#events.emit('connectionStateChanged', { state, reason, ...extra });
  }

  // ---- the device's saved position (R7.2) ----

  #savePosition() {
    this.#position.save(this.#userID, this.#deviceID, this.#lastSeq);
  }
}
