// Dialtone browser SDK, part of dialtone.js: one WebSocket connection, why it ended, and the
// heartbeat that keeps it alive (behaviour R6.1).
import { DialtoneError, KickReasons } from './dialtone-wire.js';

/** How long a connection that heard a kick of no reason waits for the close that names it. */
export const KICK_CLOSE_WAIT_MS = 1000;

// Conn is one WebSocket and the requests sent on it.
export class Conn {
  #markEnded; // resolves ended

  constructor(ws, now) {
    this.ws = ws;
    this.pending = new Map(); // id → request
    this.lastRecv = now; // on the monotonic clock (Timers.now), which no wall clock step moves
    this.ready = false; // logged in
    this.dead = false;
    this.kick = null; // {reason, retry} from a kicked event
    this.unnamedKick = null; // a kicked event's kick of no reason, until the close names it
    this.refusal = null; // the DialtoneError of a frame refusing the connection, if any
    this.refused = false; // a reconnection's login on it was refused (Dialtone #endAttempt)
    /** Resolves once the connection is shut (dead), for whatever reason. */
    this.ended = new Promise((resolve) => { this.#markEnded = resolve; });
  }

  // shut marks the connection dead and closes its socket, whose handlers no longer run.
  shut() {
    this.dead = true;
    this.#markEnded();
    this.ws.onclose = this.ws.onmessage = this.ws.onopen = null;
    try { this.ws.close(1000); } catch { /* already closed */ }
  }

  // usable reports whether requests may be sent on the connection: logged in, and neither dead
  // nor closing after a kick.
  get usable() {
    return this.ready && !this.dead && !this.unnamedKick;
  }

  // kickClosed returns the kick that the close code of a connection that heard a kick of no
  // reason names: the kick table's, else that kick (docs/behaviour.md §12, "A kick that tells
  // no reason").
  kickClosed(code) {
    return kickByCloseCode(code) ?? this.unnamedKick;
  }

  // endReason returns why the connection ended when the client ends it for reason: the kick it
  // heard, if any, since the server was closing it for that reason (the socket's close may be
  // lost, and the watchdog end it), else reason. As the Go SDK's conn.reason does.
  endReason(reason) {
    return this.kick ? kickError(this.kick) : reason;
  }

  // closeReason turns the socket's close event into the DialtoneError that ended it: the kicked
  // event's reason, else the kick table's reason for the close code, else the server's refusal
  // of the connection (6000292), else a network error.
  closeReason(ev) {
    if (this.kick) return kickError(this.kick);
    const kick = kickByCloseCode(ev.code);
    if (kick) return kickError(kick);
    if (this.refusal) return this.refusal;
    return new DialtoneError(0, `dialtone: connection closed (${ev.code}${ev.reason ? ' ' + ev.reason : ''})`, 'network');
  }
}

// kickByCloseCode returns the kick of the kick table whose close code is code, or null.
function kickByCloseCode(code) {
  for (const [reason, k] of Object.entries(KickReasons)) {
    if (k.closeCode === code) return { reason, retry: k.retry };
  }
  return null;
}

// kickError returns the error of a connection ended by kick; its message says when the kick
// told no reason ('', docs/behaviour.md §12, "A kick that tells no reason").
function kickError(kick) {
  const told = kick.reason ? `: ${kick.reason}` : ' (no reason given)';
  return new DialtoneError(0, `dialtone: kicked by the server${told}`, 'kicked', kick);
}

// Heartbeat keeps the logged-in connection alive (R6.1): beat sends a heartbeat every interval,
// and silent is called once the connection has heard nothing for the timeout.
//
// Chrome runs the timers of a page hidden for five minutes on one wake up a minute once they are
// chained five deep (a timer set from a timer's callback, each run of a setInterval): heartbeats
// would be up to a minute apart, past the server's heartbeat timeout (35 s by default), which
// would drop the session every minute or two, and a dead connection would be noticed up to a
// minute late. A timer set from a socket's message starts no chain and keeps Chrome's
// one-second alignment. So both timers, the heartbeat's and the watchdog's, are set again from
// every frame the connection receives (heard), a heartbeat's reply at least every interval; the
// watchdog's is set from nothing else, so it fires on time however long the silence
// (web/README.md, "Hidden pages").
export class Heartbeat {
  #timers;
  #conn = null; // the connection kept alive; null when stopped
  #settings; // {every, timeout}
  #beat;
  #silent;
  #lastBeat; // when the last heartbeat was sent, or the heartbeat started
  #beatTimer = null;
  #watchdog = null;

  constructor(timers) {
    this.#timers = timers;
  }

  // start starts the heartbeat of conn with the login's settings {every, timeout}, stopping the
  // one running, if any. The first heartbeat is sent an interval after it.
  start(conn, settings, beat, silent) {
    this.stop();
    this.#conn = conn;
    this.#settings = settings;
    this.#beat = beat;
    this.#silent = silent;
    this.#lastBeat = this.#timers.now();
    this.heard(conn);
  }

  // heard tells that conn received a frame (conn.lastRecv is now); the timers are set again from
  // the frame's task.
  heard(conn) {
    if (conn !== this.#conn) return;
    this.#armBeat();
    this.#armWatchdog();
  }

  stop() {
    this.#timers.cancel(this.#beatTimer);
    this.#timers.cancel(this.#watchdog);
    this.#beatTimer = this.#watchdog = null;
    this.#conn = null;
  }

  #armBeat() {
    this.#timers.cancel(this.#beatTimer);
    const wait = this.#lastBeat + this.#settings.every - this.#timers.now();
    this.#beatTimer = this.#timers.after(() => {
      this.#lastBeat = this.#timers.now();
      this.#armBeat();
      this.#beat();
    }, Math.max(0, wait));
  }

  #armWatchdog() {
    this.#timers.cancel(this.#watchdog);
    const conn = this.#conn;
    const wait = conn.lastRecv + this.#settings.timeout - this.#timers.now();
    this.#watchdog = this.#timers.after(() => {
      if (this.#timers.now() - conn.lastRecv >= this.#settings.timeout) this.#silent(); // drops conn: stop
      else this.#armWatchdog();
    }, Math.max(0, wait));
  }
}
