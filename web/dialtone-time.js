// Dialtone browser SDK, part of dialtone.js: time. Timers that wait as long as they are asked to,
// and the estimate of the server's clock that ring times are counted on (protocol "Ring time").

// MAX_TIMER_MS is the longest wait setTimeout keeps: it calls back at once after a longer one
// (2^31 ms, about 24.8 days, or Infinity).
const MAX_TIMER_MS = 2 ** 31 - 1;

// Timers is the monotonic clock and the timers the client runs on: performance.now() and the
// page's setTimeout, or those of the client's timers option (tests run the client on a virtual
// clock with them). after cuts a wait longer than MAX_TIMER_MS to it, so that a long request
// timeout or backoff waits, as it does in the Go SDK, instead of ending at once.
export class Timers {
  #source; // {now, setTimeout, clearTimeout}, or null for the page's

  constructor(source) {
    this.#source = source ?? null;
  }

  now() { return this.#source ? this.#source.now() : performance.now(); }

  after(fn, ms) {
    const wait = Math.min(ms, MAX_TIMER_MS);
    return this.#source ? this.#source.setTimeout(fn, wait) : setTimeout(fn, wait);
  }

  cancel(timer) {
    if (this.#source) this.#source.clearTimeout(timer);
    else clearTimeout(timer);
  }
}

// ServerClock is the server's clock as estimated from the replies that carry serverTime. The
// estimate is kept against the monotonic clock (Timers.now), so a step of the local wall clock
// does not move the server time, only the offset between the two clocks.
export class ServerClock {
  #timers;
  #base = null; // the server's Unix ms at monotonic reading 0; null before the first sample
  #sample = null; // { rtt, at } of the reply #base comes from

  constructor(timers) {
    this.#timers = timers;
  }

  /** The server's current time (Unix ms); the local time before the first sample. */
  now() { return this.#base === null ? Date.now() : this.#base + this.#timers.now(); }

  /** Server clock − local clock in ms; 0 before the first sample. */
  offset() { return this.#base === null ? 0 : this.now() - Date.now(); }

  // record takes a reply's serverTime (truncated ms) to a request sent at sent (a monotonic
  // reading): the server read its clock, on average, halfway through the round trip.
  // The reply with the shortest round trip wins, for a minute; a login's (fresh) always does,
  // and so does one the estimate cannot explain: its serverTime lies outside the server times
  // the estimate gives the round trip, widened by the estimate's own error (half its round trip
  // and a millisecond), so a clock jumped since (the monotonic clock may stop while the machine
  // sleeps). As the Go SDK does.
  record(serverTime, sent, fresh) {
    if (!(serverTime > 0)) return;
    const recv = this.#timers.now();
    const rtt = recv - sent;
    const best = this.#sample;
    if (!fresh && best && rtt > best.rtt && recv - best.at < 60000) {
      const slack = best.rtt / 2 + 1;
      const explained = serverTime + 1 > this.#base + sent - slack && serverTime <= this.#base + recv + slack;
      if (explained) return;
    }
    this.#sample = { rtt, at: recv };
    this.#base = serverTime + 0.5 - (sent + rtt / 2);
  }
}
