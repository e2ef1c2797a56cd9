// Dialtone browser SDK, part of dialtone.js: handing events to the app, one at a time and in
// order, and keeping the device's position in its user's event log (behaviour R7.2), so that a
// reloaded page resumes where it stopped.

// Emitter runs the listeners of the client's events.
export class Emitter {
  #listeners = new Map();
  #queue = []; // emissions made while listeners run, in order
  #emitting = false;
  #logger;

  constructor(logger) {
    this.#logger = logger;
  }

  on(event, fn) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(fn);
  }

  off(event, fn) {
    this.#listeners.get(event)?.delete(fn);
  }

  // emit runs the listeners of event. One made from inside a listener (a state change caused by
  // close(), say) waits until the listeners running have returned: they run one at a time. As
  // with the DOM's events, the listeners are those registered when the event's turn came, less
  // any removed meanwhile. An exception in one is logged, and the others still run.
  emit(event, ...args) {
    this.#queue.push([event, args]);
    if (this.#emitting) return;
    this.#emitting = true;
    try {
      while (this.#queue.length) {
        const [name, params] = this.#queue.shift();
        const listeners = this.#listeners.get(name) ?? new Set();
        for (const fn of [...listeners]) {
          if (!listeners.has(fn)) continue; // removed by a listener before it
          try {
            fn(...params);
          } catch (err) {
            this.#logger.warn('dialtone: listener failed', name, err);
          }
        }
      }
    } finally {
      this.#emitting = false;
    }
  }
}

// SavedPosition keeps the seq of the last event each device processed in storage (localStorage
// by default; null keeps nothing), under a key naming the device: its user and deviceID.
export class SavedPosition {
  #storage;

  constructor(storage) {
    this.#storage = storage === undefined ? safeLocalStorage() : storage;
  }

  // load returns the saved position of the device, or null when it has none.
  load(userID, deviceID) {
    try {
      // Only what save writes, a whole number in decimal: Number('') would be 0.
      const v = this.#storage?.getItem(seqKey(userID, deviceID));
      const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
      return Number.isSafeInteger(n) ? n : null;
    } catch {
      return null;
    }
  }

  save(userID, deviceID, seq) {
    try {
      this.#storage?.setItem(seqKey(userID, deviceID), String(seq));
    } catch { /* storage full or denied: the worst outcome is a replay after a reload */ }
  }
}

// seqKey names the device (userID, deviceID) in storage. Both IDs may hold ':' (behaviour §1):
// the userID's '%' and ':' are escaped, so its first ':' ends it and no two devices share a
// key, while the keys of userIDs without them stay as they always were.
function seqKey(userID, deviceID) {
  const user = userID.replace(/[%:]/g, (ch) => (ch === '%' ? '%25' : '%3A'));
  return `dialtone:lastSeq:${user}:${deviceID}`;
}

function safeLocalStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}
