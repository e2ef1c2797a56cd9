// The fakes and helpers the unit tests of dialtone.js share (the *_test.mjs files): a scripted
// fake WebSocket server, an in-memory storage, a token and a logged-in client. Not served.
import assert from 'node:assert/strict';
import { Dialtone } from './dialtone.js';

// FakeSocket is a WebSocket whose server side the test plays. While srv.silent is set, new
// sockets never open: the network swallows their handshake without an answer or a close.
export function fakeServer() {
  const sockets = [];
  const srv = { sockets, silent: false };
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.sent = [];
      this.waiters = [];
      this.read = 0;
      this.closed = false;
      sockets.push(this);
      if (!srv.silent) setTimeout(() => this.onopen?.(), 0);
    }
    send(text) {
      this.sent.push(JSON.parse(text));
      if (this.waiters.length) this.waiters.shift()(this.sent[this.read++]);
    }
    close(code) { this.closed = true; this.closeCode = code; }
    // next resolves with the next frame the client sends.
    next() {
      if (this.read < this.sent.length) return Promise.resolve(this.sent[this.read++]);
      return new Promise((resolve) => this.waiters.push(resolve));
    }
    reply(id, result) { this.onmessage?.({ data: JSON.stringify({ id, result }) }); }
    fail(id, code) { this.onmessage?.({ data: JSON.stringify({ id, error: { code, message: 'no' } }) }); }
    event(event, data, seq) { this.onmessage?.({ data: JSON.stringify({ event, data, seq }) }); }
    drop(code = 1006) { this.onclose?.({ code, reason: '' }); }
    // text sends text as it is, in one frame: a frame that need not be JSON.
    text(text) { this.onmessage?.({ data: text }); }
  }
  srv.FakeSocket = FakeSocket;
  return srv;
}

export function memoryStorage() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), m };
}

export const token = `x.${Buffer.from(JSON.stringify({ sub: 'bob' })).toString('base64url')}.y`;
export const loginResult = (over = {}) => ({
  userID: 'bob', deviceID: 'd1', headSeq: 3, caughtUp: false, heartbeatIntervalMs: 60000,
  heartbeatTimeoutMs: 180000, serverTime: Date.now() + 5000, ...over,
});
export const quiet = { warn() {} };

// loggedIn returns a client logged in on a fake server; opts.options are more Dialtone options.
export async function loggedIn(opts = {}) {
  const srv = fakeServer();
  const storage = opts.storage ?? memoryStorage();
  const c = new Dialtone({
    url: 'ws://x', WebSocket: srv.FakeSocket, storage, minBackoffMs: 1, maxBackoffMs: 2, logger: quiet, ...opts.options,
  });
  const done = c.login(token, 'd1');
  const ws = await waitFor(() => srv.sockets[0]);
  const f = await ws.next();
  assert.equal(f.op, 'login');
  ws.reply(f.id, loginResult(opts.login));
  await done;
  return { c, srv, ws, storage, loginFrame: f };
}

export async function waitFor(fn) {
  for (let i = 0; i < 200; i++) {
    const v = fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('timed out waiting');
}

// hiddenPage is a virtual clock and its timers, throttled as Chrome throttles the timers of a
// page hidden for more than five minutes (intensive wake up throttling,
// https://chromestatus.com/feature/4718288976216064): a timer whose nesting level is 5 or more
// runs on the first wake up aligned to a minute at or after its time, any other on one aligned
// to a second. A timer set from a timer's callback nests one level deeper than that timer (each
// run of a setInterval does too); one set from any other task, such as a socket's message, has
// level 1. timers is a Dialtone timers option; net(ms, fn) runs fn as a task of the network (a
// socket's event) ms from now; run(ms) runs the tasks due within ms, in order, each followed by
// its promise reactions, as a browser's event loop does.
export function hiddenPage() {
  let now = 0;
  let level = 0; // the nesting level of the timer running, 0 in other tasks
  let seq = 0;
  const tasks = new Map(); // id → {at, fn, level}
  const timers = {
    now: () => now,
    setTimeout(fn, ms) {
      const nesting = level + 1;
      const align = nesting >= 5 ? 60000 : 1000;
      tasks.set(++seq, { at: Math.ceil((now + Math.max(0, ms)) / align) * align, fn, level: nesting });
      return seq;
    },
    clearTimeout(id) { tasks.delete(id); },
  };
  const net = (ms, fn) => { tasks.set(++seq, { at: now + ms, fn, level: 0 }); };
  async function run(ms) {
    const end = now + ms;
    for (;;) {
      let next = null; // the earliest task due by end; of two due together, the first set
      for (const [id, t] of tasks) if (t.at <= end && (!next || t.at < next.at)) next = { id, ...t };
      if (!next) break;
      tasks.delete(next.id);
      now = Math.max(now, next.at);
      level = next.level;
      try {
        next.fn();
      } finally {
        await new Promise((r) => setImmediate(r)); // the task's promise reactions
        level = 0;
      }
    }
    now = end;
  }
  return { timers, net, run, now: () => now };
}
