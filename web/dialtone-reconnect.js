// Dialtone browser SDK, part of dialtone.js: what a reconnection attempt waits for before it
// connects: its backoff, cut short when the browser tells the network is back, and a fresh
// token from the app's tokenSource.
import { DialtoneError } from './dialtone-wire.js';

// ONLINE_SPREAD_MS bounds the random wait of a reconnection made because the network is back.
const ONLINE_SPREAD_MS = 500;

// Backoff is the wait of one reconnection attempt at a time: run is called after its backoff,
// or within ONLINE_SPREAD_MS when the browser tells the network is back meanwhile (an 'online'
// event of network, when not null): a network that was down for long, with waits grown to
// maxBackoffMs, is used as soon as it returns rather than up to maxBackoffMs later.
export class Backoff {
  #timers;
  #network;
  #timer = null;
  #online = null; // the 'online' listener of the wait, if any

  constructor(timers, network) {
    this.#timers = timers;
    this.#network = network;
  }

  start(run, ms) {
    this.#timer = this.#timers.after(run, ms);
    // Browsers whose network returns together (an office's, a region's) spread their attempts.
    this.#online = () => {
      this.#timers.cancel(this.#timer);
      this.#timer = this.#timers.after(run, Math.random() * ONLINE_SPREAD_MS);
    };
    this.#network?.addEventListener('online', this.#online);
  }

  // stop ends the wait: its timer and its 'online' listener.
  stop() {
    this.#timers.cancel(this.#timer);
    this.#timer = null;
    if (this.#online) this.#network?.removeEventListener('online', this.#online);
    this.#online = null;
  }
}

// TokenWait asks the app's tokenSource for a token, with an AbortSignal that is aborted when the
// wait ends without it, as the Go SDK's TokenSource ctx is: after ms ('timeout'; a token source
// that never answers is asked again by the next attempt) or by abort (the client finishing,
// with its reason). Either way the wait rejects at once, whether or not the token source heeds
// the signal.
export class TokenWait {
  #timers;
  #ctl = null; // the AbortController of the wait in progress, if any

  constructor(timers) {
    this.#timers = timers;
  }

  ask(tokenSource, ms) {
    const ctl = new AbortController();
    this.#ctl = ctl;
    const timer = this.#timers.after(() => ctl.abort(new DialtoneError(0, `dialtone: tokenSource: no token within ${ms} ms`, 'timeout')), ms);
    const aborted = new Promise((_, reject) => {
      ctl.signal.addEventListener('abort', () => reject(ctl.signal.reason), { once: true });
    });
    return Promise.race([Promise.resolve().then(() => tokenSource(ctl.signal)), aborted])
      .finally(() => {
        this.#timers.cancel(timer);
        if (this.#ctl === ctl) this.#ctl = null;
      });
  }

  abort(reason) {
    this.#ctl?.abort(reason);
  }
}
