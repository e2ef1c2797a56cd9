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
    close() { this.closed = true; }
    // next resolves with the next frame the client sends.
    next() {
      if (this.read < this.sent.length) return Promise.resolve(this.sent[this.read++]);
      return new Promise((resolve) => this.waiters.push(resolve));
    }
    reply(id, result) { this.onmessage?.({ data: JSON.stringify({ id, result }) }); }
    fail(id, code) { this.onmessage?.({ data: JSON.stringify({ id, error: { code, message: 'no' } }) }); }
    event(event, data, seq) { this.onmessage?.({ data: JSON.stringify({ event, data, seq }) }); }
    drop(code = 1006) { this.onclose?.({ code, reason: '' }); }
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
