// Unit tests of dialtone.js against a scripted fake WebSocket: node --test web/dialtone_test.mjs
// (run by TestSDKUnit in sdk_test.go when node is installed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Dialtone, DialtoneError, ErrorCode, remainingRingTime, backoff, newIdempotencyKey, tokenSubject,
  wsURL, stateName,
} from './dialtone.js';

// FakeSocket is a WebSocket whose server side the test plays. While srv.silent is set, new
// sockets never open: the network swallows their handshake without an answer or a close.
function fakeServer() {
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

function memoryStorage() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), m };
}

const token = `x.${Buffer.from(JSON.stringify({ sub: 'bob' })).toString('base64url')}.y`;
const loginResult = (over = {}) => ({
  userID: 'bob', deviceID: 'd1', headSeq: 3, caughtUp: false, heartbeatIntervalMs: 60000,
  heartbeatTimeoutMs: 180000, serverTime: Date.now() + 5000, ...over,
});
const quiet = { warn() {} };

async function loggedIn(opts = {}) {
  const srv = fakeServer();
  const storage = opts.storage ?? memoryStorage();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage, minBackoffMs: 1, maxBackoffMs: 2, logger: quiet });
  const done = c.login(token, 'd1');
  const ws = await waitFor(() => srv.sockets[0]);
  const f = await ws.next();
  assert.equal(f.op, 'login');
  ws.reply(f.id, loginResult(opts.login));
  await done;
  return { c, srv, ws, storage, loginFrame: f };
}

async function waitFor(fn) {
  for (let i = 0; i < 200; i++) {
    const v = fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('timed out waiting');
}

test('helpers', () => {
  assert.equal(remainingRingTime(10000, 500, 9000), 500);
  assert.equal(remainingRingTime(10000, 0, 20000), 0);
  assert.equal(remainingRingTime(undefined, 0, 20000), 0, "a missing deadline leaves no ring time");
  for (let n = 0; n < 40; n++) {
    const b = backoff(250, 30000, n);
    assert.ok(b >= Math.min(30000, 250 * 2 ** n) / 2 && b <= 30000, `backoff ${n} = ${b}`);
  }
  const key = newIdempotencyKey();
  assert.match(key, /^[0-9A-Z_a-z~]{24}$/);
  assert.notEqual(key, newIdempotencyKey());
  assert.ok(newIdempotencyKey(1795000000000) < newIdempotencyKey(1795000000001), 'keys sort by time');
  assert.equal(tokenSubject(token), 'bob');
  assert.equal(tokenSubject('garbage'), '');
  assert.equal(wsURL('https://h:1'), 'wss://h:1/v1/ws');
  assert.equal(stateName(5), 'Received');
});

test('login, clock offset, receipt and duplicate events', async () => {
  const { c, ws, storage, loginFrame } = await loggedIn();
  assert.equal(loginFrame.data.lastSeq, undefined, 'a new device sends no lastSeq');
  assert.equal(c.state, 'Connected');
  assert.ok(Math.abs(c.serverTimeOffset - 5000) < 100, `offset ${c.serverTimeOffset}`);
  assert.equal(storage.getItem('dialtone:lastSeq:bob:d1'), '3', 'starts from headSeq');

  const got = [];
  c.on('callInvitationReceived', (d, meta) => got.push([d.callID, meta.seq]));
  const inv = { callID: 'c1', version: 1, deadline: c.serverNow() + 30000 };
  ws.event('callInvitationReceived', inv, 4);
  ws.event('callInvitationReceived', inv, 4); // a replay
  ws.event('callInvitationReceived', inv, 2); // older than the position
  assert.deepEqual(got, [['c1', 4]]);
  const ack = await ws.next();
  assert.deepEqual([ack.op, ack.data, ack.idem], ['callReceived', { callID: 'c1' }, undefined]);
  assert.equal(storage.getItem('dialtone:lastSeq:bob:d1'), '4');
  c.close();
});

test('a request cut by a dropped connection is sent again with the same key, after a resume', async () => {
  const { c, srv, ws } = await loggedIn({ login: { caughtUp: true } });
  ws.event('callUserStateChanged', { callID: 'c0', version: 2, callUserList: [] }, 9);
  const states = [];
  c.on('connectionStateChanged', ({ state }) => states.push(state));
  const accepted = c.callAccept('c1');
  const first = await ws.next();
  assert.equal(first.op, 'callAccept');
  assert.ok(first.idem.length >= 16);
  ws.drop();
  const ws2 = await waitFor(() => srv.sockets[1]);
  const login = await ws2.next();
  assert.equal(login.data.lastSeq, 9, 'resumes from the last processed seq');
  ws2.reply(login.id, loginResult({ headSeq: 9, caughtUp: true }));
  const again = await ws2.next();
  assert.deepEqual([again.op, again.idem, again.data], ['callAccept', first.idem, first.data]);
  ws2.reply(again.id, { callID: 'c1' });
  assert.deepEqual(await accepted, { callID: 'c1' });
  assert.deepEqual(states, ['Reconnecting', 'Connected']);
  c.close();
});

test('refusals are DialtoneErrors with the wire code', async () => {
  const { c, ws } = await loggedIn();
  const p = c.callInvite(['alice'], { timeout: 30 });
  const f = await ws.next();
  assert.deepEqual(f.data, { invitees: ['alice'], config: { timeout: 30 } });
  ws.fail(f.id, ErrorCode.Busy);
  await assert.rejects(p, (err) => err instanceof DialtoneError && err.code === 6000290 && err.reason === 'server');
  c.close();
  await assert.rejects(c.queryCall('c1'), (err) => err.reason === 'closed');
});

test('a kick without retry ends the client; with retry it reconnects', async () => {
  const { c, srv, ws } = await loggedIn();
  const kicks = [];
  c.on('kicked', (k) => kicks.push(k.reason));
  ws.event('kicked', { reason: 'shutdown', retry: true });
  ws.drop(4003);
  const ws2 = await waitFor(() => srv.sockets[1]);
  const login = await ws2.next();
  ws2.reply(login.id, loginResult({ headSeq: 3, caughtUp: true }));
  await waitFor(() => c.state === 'Connected');

  const pending = c.queryCall('c1');
  await ws2.next();
  ws2.event('kicked', { reason: 'replaced', retry: false });
  ws2.drop(4001);
  await assert.rejects(pending, (err) => err.reason === 'kicked' && err.kick.reason === 'replaced');
  assert.equal(c.state, 'Disconnected');
  assert.deepEqual(kicks, ['shutdown', 'replaced']);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(srv.sockets.length, 2, 'no reconnection after a final kick');
});

test('a refused login rejects with the code and may be retried', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, logger: quiet });
  const p = c.login(token, 'd1');
  const ws = await waitFor(() => srv.sockets[0]);
  ws.fail((await ws.next()).id, ErrorCode.AuthFailed);
  await assert.rejects(p, (err) => err.code === ErrorCode.AuthFailed);
  assert.equal(c.state, 'Disconnected');
  await assert.rejects(c.callEnd('c1'), (err) => err.reason === 'notLoggedIn');
});

test('a connection the server refuses (too many not logged in from the address) rejects login with 6000292, as with the Go SDK', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, logger: quiet });
  const p = c.login(token, 'd1');
  const ws = await waitFor(() => srv.sockets[0]);
  await ws.next();
  ws.onmessage?.({ data: JSON.stringify({ error: { code: ErrorCode.RateLimited, message: 'too many' } }) });
  ws.drop(1008);
  await assert.rejects(p, (err) => err instanceof DialtoneError && err.code === ErrorCode.RateLimited && err.reason === 'server');
  assert.equal(c.state, 'Disconnected');
});

test('clock offset: a reply slower than the best one does not move it', async () => {
  const { c, ws } = await loggedIn({ login: { heartbeatIntervalMs: 20 } });
  try {
    const before = c.serverTimeOffset;
    let hb;
    do { hb = await ws.next(); } while (hb.op !== 'heartbeat');
    await new Promise((r) => setTimeout(r, 150)); // a round trip far longer than the login's
    // The server read its clock 100 ms before the reply arrived: alone, the reply says 25 ms less.
    ws.reply(hb.id, { serverTime: Math.trunc(Date.now() + before - 100) });
    assert.ok(Math.abs(c.serverTimeOffset - before) < 1, `offset ${before} → ${c.serverTimeOffset}`);
  } finally {
    c.close(); // its heartbeat timer would keep the test runner alive
  }
});

test('clock offset: a slower reply the estimate cannot explain (a clock jumped) replaces it, as in the Go SDK', async () => {
  const { c, ws } = await loggedIn({ login: { heartbeatIntervalMs: 20 } });
  try {
    const before = c.serverTimeOffset;
    let hb;
    do { hb = await ws.next(); } while (hb.op !== 'heartbeat');
    await new Promise((r) => setTimeout(r, 150));
    ws.reply(hb.id, { serverTime: Math.trunc(Date.now() + before + 60000) }); // read as it answers
    const moved = c.serverTimeOffset - before; // 60 s, and the half round trip after the midpoint
    assert.ok(moved > 60000 && moved < 60300, `offset ${before} → ${c.serverTimeOffset}, want 60 s and about 75 ms more`);
  } finally {
    c.close();
  }
});

test('a step of the local wall clock after the login leaves the ring time right and the connection up, as in the Go SDK', async () => {
  const { c, ws } = await loggedIn({ login: { heartbeatIntervalMs: 20 } });
  const realNow = Date.now;
  try {
    const deadline = realNow() + 5000 + 30000; // the server's clock is 5 s ahead
    for (const step of [300000, -300000]) {
      Date.now = () => realNow() + step; // an NTP correction of the local clock
      const left = c.remainingRingTime(deadline);
      assert.ok(left > 29000 && left <= 31000, `step ${step}: rings for ${left} ms, want about 30000`);
      assert.ok(Math.abs(c.serverTimeOffset - (5000 - step)) < 1000, `step ${step}: offset ${c.serverTimeOffset}`);
    }
    Date.now = () => realNow() + 300000;
    for (let n = 0; n < 2;) if ((await ws.next()).op === 'heartbeat') n++; // the watchdog has looked
    assert.equal(c.state, 'Connected', 'a connection the server answered a moment ago is not silent');
  } finally {
    Date.now = realNow;
    c.close();
  }
});

test('close() while the first socket opens keeps the client finished', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: memoryStorage(), logger: quiet });
  const login = c.login(token, 'd1');
  c.close(); // before the socket's open event
  await assert.rejects(login, (e) => e.reason === 'closed');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(c.state, 'Disconnected');
  assert.ok(srv.sockets[0].closed, 'the socket was closed');
  assert.equal(srv.sockets[0].sent.length, 0, 'nothing was sent on it');
});

test('a request over 64 KiB is refused without being sent', async () => {
  const { c, ws } = await loggedIn();
  try {
    const sent = ws.sent.length;
    await assert.rejects(c.callInvite(['alice'], { extendedData: 'x'.repeat(70000) }),
      (e) => e.code === ErrorCode.InvalidParameter && e.reason === 'server');
    assert.equal(ws.sent.length, sent, 'nothing was sent');
    assert.equal(c.state, 'Connected');
  } finally {
    c.close();
  }
});

test('a login over 64 KiB is refused without being sent, as the Go SDK refuses it', async () => {
  // protocol.md Transport: the server would close the connection with 1009, without the
  // InvalidParameter a request too big for one frame gets from the SDKs.
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: memoryStorage(), logger: quiet });
  try {
    const [head, payload, sig] = token.split('.');
    const big = `${head}.${payload}.${sig}${'t'.repeat(65536)}`;
    const login = c.login(big, 'd1');
    const refused = await Promise.race([
      login.then(() => 'logged in', (e) => e),
      waitFor(() => srv.sockets[0]?.sent.length).then(() => 'sent'),
    ]);
    assert.ok(refused instanceof DialtoneError, `login: ${refused}`);
    assert.equal(refused.code, ErrorCode.InvalidParameter);
    assert.equal(srv.sockets[0]?.sent.length ?? 0, 0, 'nothing was sent');
  } finally {
    c.close();
  }
});

test('a socket that opens late is waited for with a request timeout longer than a timer can wait', async () => {
  for (const requestTimeoutMs of [2 ** 31, Infinity]) {
    const srv = fakeServer();
    srv.silent = true; // the test opens the socket itself, 30 ms on
    const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: memoryStorage(), logger: quiet, requestTimeoutMs });
    try {
      const done = c.login(token, 'd1');
      const ws = await waitFor(() => srv.sockets[0]);
      await new Promise((r) => setTimeout(r, 30)); // an overflowing timer fires after 1 ms
      ws.onopen?.();
      ws.reply((await ws.next()).id, loginResult());
      await done;
      assert.equal(srv.sockets.length, 1, `requestTimeoutMs ${requestTimeoutMs}: the first socket was given up`);
    } finally {
      c.close();
    }
  }
});

test('a request timeout longer than a timer can wait (2^31 ms, Infinity) waits, as a long one does in the Go SDK', async () => {
  for (const requestTimeoutMs of [2 ** 31, Infinity]) {
    const srv = fakeServer();
    const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: memoryStorage(), logger: quiet, requestTimeoutMs });
    try {
      const done = c.login(token, 'd1');
      const ws = await waitFor(() => srv.sockets[0]);
      const f = await ws.next();
      const outcome = await Promise.race([
        done.then(() => 'logged in', (e) => `login failed: ${e.message}`),
        new Promise((r) => setTimeout(() => r('waiting'), 20)), // an overflowing timer fires after 1 ms
      ]);
      assert.equal(outcome, 'waiting', `requestTimeoutMs ${requestTimeoutMs}`);
      ws.reply(f.id, loginResult());
      await done;
      const query = c.queryCall('c1');
      const q = await ws.next();
      assert.equal(await Promise.race([
        query.then(() => 'answered', (e) => `failed: ${e.message}`),
        new Promise((r) => setTimeout(() => r('waiting'), 20)),
      ]), 'waiting', `requestTimeoutMs ${requestTimeoutMs}`);
      ws.reply(q.id, { callInfo: { callID: 'c1' } });
      assert.equal((await query).callID, 'c1');
    } finally {
      c.close();
    }
  }
});

test('an option given as undefined keeps its default', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: memoryStorage(), logger: undefined,
    requestTimeoutMs: undefined, minBackoffMs: undefined });
  try {
    const done = c.login(token, 'd1');
    const ws = await waitFor(() => srv.sockets[0]);
    const f = await ws.next();
    await new Promise((r) => setTimeout(r, 20)); // an undefined timeout would have fired by now
    ws.reply(f.id, loginResult());
    await done;
    assert.equal(c.state, 'Connected');
  } finally {
    c.close();
  }
});

test('Connected tells whether the missed events follow (caughtUp), so the app knows to read its calls again', async () => {
  const states = [];
  const srv = fakeServer();
  const storage = memoryStorage();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage, minBackoffMs: 1, maxBackoffMs: 2, logger: quiet });
  c.on('connectionStateChanged', ({ state, caughtUp }) => states.push([state, caughtUp]));
  try {
    const done = c.login(token, 'd1');
    const ws = await waitFor(() => srv.sockets[0]);
    ws.reply((await ws.next()).id, loginResult({ headSeq: 3, caughtUp: false }));
    await done;
    ws.event('callUserStateChanged', { callID: 'c0', version: 2, callUserList: [] }, 4);

    // The server still holds what the device missed: it is replayed.
    ws.drop();
    const ws2 = await waitFor(() => srv.sockets[1]);
    const login2 = await ws2.next();
    assert.equal(login2.data.lastSeq, 4);
    ws2.reply(login2.id, loginResult({ headSeq: 6, caughtUp: true }));
    await waitFor(() => c.state === 'Connected');

    // It does not (R7.2): only the invitations still ringing follow, synthesized (R5.3).
    ws2.drop();
    const ws3 = await waitFor(() => srv.sockets[2]);
    const login3 = await ws3.next();
    assert.equal(login3.data.lastSeq, 4);
    ws3.reply(login3.id, loginResult({ headSeq: 40, caughtUp: false }));
    await waitFor(() => c.state === 'Connected');
    assert.equal(c.lastSeq, 40, 'starts from headSeq');

    // The server's log is behind the device (reset): nothing can be replayed either.
    ws3.drop();
    const ws4 = await waitFor(() => srv.sockets[3]);
    ws4.reply((await ws4.next()).id, loginResult({ headSeq: 2, caughtUp: true }));
    await waitFor(() => c.state === 'Connected');

    assert.deepEqual(states, [
      ['Connecting', undefined], ['Connected', false], // a new device has nothing to catch up
      ['Reconnecting', undefined], ['Connected', true],
      ['Reconnecting', undefined], ['Connected', false],
      ['Reconnecting', undefined], ['Connected', false],
    ]);
  } finally {
    c.close();
  }
});

test('a request carries the parameters it was made with, on every send of its key (R7.3)', async () => {
  const { c, srv, ws } = await loggedIn({ login: { caughtUp: true } });
  try {
    const config = { extendedData: 'as asked' };
    const accepted = c.callAccept('c1', config);
    const first = await ws.next();
    config.extendedData = 'changed afterwards'; // the app reuses its object
    ws.drop();
    // A request made while reconnecting, changed before a connection carries it.
    const rejectConfig = { extendedData: 'no thanks' };
    const rejected = c.callReject('c2', rejectConfig);
    rejectConfig.extendedData = 'changed afterwards';
    const ws2 = await waitFor(() => srv.sockets[1]);
    const login = await ws2.next();
    ws2.reply(login.id, loginResult({ headSeq: 3, caughtUp: true }));
    const again = await ws2.next();
    // The server answers a repeat of the key with other parameters with 6000001 (R7.3).
    assert.deepEqual([again.op, again.idem, again.data], ['callAccept', first.idem, { callID: 'c1', config: { extendedData: 'as asked' } }]);
    const reject = await ws2.next();
    assert.deepEqual([reject.op, reject.data], ['callReject', { callID: 'c2', config: { extendedData: 'no thanks' } }]);
    ws2.reply(again.id, { callID: 'c1' });
    ws2.reply(reject.id, { callID: 'c2' });
    assert.deepEqual(await accepted, { callID: 'c1' });
    assert.deepEqual(await rejected, { callID: 'c2' });
  } finally {
    c.close();
  }
});

test('a kick follows the kick table, whatever retry flag the event carries', async () => {
  const { c, srv, ws } = await loggedIn();
  try {
    const kicks = [];
    c.on('kicked', (k) => kicks.push(k));
    ws.event('kicked', { reason: 'replaced', retry: true }); // the table says: do not reconnect
    ws.drop(4001);
    assert.equal(c.state, 'Disconnected');
    assert.deepEqual(kicks, [{ reason: 'replaced', retry: false }]);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(srv.sockets.length, 1, 'no reconnection: another device took this one over');
  } finally {
    c.close();
  }
});

test('a connection silent for the heartbeat timeout is dropped with reason heartbeatTimeout, then replaced', async () => {
  const { c, srv } = await loggedIn({ login: { heartbeatIntervalMs: 20, heartbeatTimeoutMs: 60 } });
  try {
    const states = [];
    c.on('connectionStateChanged', ({ state, reason }) => states.push([state, reason?.reason]));
    await waitFor(() => srv.sockets[1]); // the fake server answers no heartbeat
    assert.deepEqual(states, [['Reconnecting', 'heartbeatTimeout']]);
  } finally {
    c.close();
  }
});

test('a reconnection whose socket never opens (a network gone silent) is given up after requestTimeoutMs and made again, as the Go SDK does', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, minBackoffMs: 1, maxBackoffMs: 2, requestTimeoutMs: 50, logger: quiet });
  try {
    const done = c.login(token, 'd1');
    const ws = await waitFor(() => srv.sockets[0]);
    ws.reply((await ws.next()).id, loginResult());
    await done;
    srv.silent = true;
    ws.drop();
    const stuck = await waitFor(() => srv.sockets[1]);
    srv.silent = false; // the network is back; the socket opened into the silence never answers
    const ws3 = await waitFor(() => srv.sockets[2]);
    assert.ok(stuck.closed, 'the socket that never opened is closed');
    assert.equal((await ws3.next()).op, 'login');
  } finally {
    c.close();
  }
});

test('a login whose socket never opens rejects after requestTimeoutMs, as the Go SDK\'s Login does', async () => {
  const srv = fakeServer();
  srv.silent = true;
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, requestTimeoutMs: 50, logger: quiet });
  const start = performance.now();
  await assert.rejects(c.login(token, 'd1'), (e) => e instanceof DialtoneError && e.reason === 'timeout');
  assert.ok(performance.now() - start < 1000, 'rejected in time');
  assert.ok(srv.sockets[0].closed, 'the socket that never opened is closed');
  assert.equal(c.state, 'Disconnected');
});

test('close() while the first socket opens into a silent network rejects login with closed at once, as the Go SDK does', async () => {
  const srv = fakeServer();
  srv.silent = true;
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, requestTimeoutMs: 60000, logger: quiet });
  const done = c.login(token, 'd1');
  const ws = await waitFor(() => srv.sockets[0]);
  c.close();
  const settled = done.then(() => 'resolved', (e) => e.reason);
  const outcome = await Promise.race([settled, new Promise((r) => setTimeout(() => r('still pending after 1 s'), 1000))]);
  assert.equal(outcome, 'closed');
  assert.ok(ws.closed, 'the socket that was opening is closed');
});

test('a login while another is in flight waits for it, as the Go SDK does', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, logger: quiet });
  const d = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, logger: quiet });
  try {
    const settled = [];
    const first = c.login('bad', 'd1');
    const second = c.login(token, 'd1');
    second.then(() => settled.push('second'), () => settled.push('second'));
    const ws = await waitFor(() => srv.sockets[0]);
    const f = await ws.next();
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(settled, [], 'the second login waits for the first');
    assert.equal(srv.sockets.length, 1, 'and sends nothing meanwhile');
    ws.fail(f.id, ErrorCode.AuthFailed);
    await assert.rejects(first, (e) => e.code === ErrorCode.AuthFailed);
    // The first was refused: the second makes its own attempt, with its own token.
    const ws2 = await waitFor(() => srv.sockets[1]);
    const f2 = await ws2.next();
    assert.equal(f2.data.token, token);
    ws2.reply(f2.id, loginResult());
    assert.equal((await second).userID, 'bob');

    // Once a login succeeded, one that waited for it is refused: a client logs in once.
    const third = d.login(token, 'd2');
    const fourth = d.login(token, 'd2');
    const ws3 = await waitFor(() => srv.sockets[2]);
    ws3.reply((await ws3.next()).id, loginResult());
    await third;
    await assert.rejects(fourth, (e) => e.reason === 'alreadyLoggedIn');
  } finally {
    c.close();
    d.close();
  }
});

test('close() while a login waits for another makes both fail with closed', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, logger: quiet });
  const first = c.login(token, 'd1');
  const second = c.login(token, 'd1');
  const ws = await waitFor(() => srv.sockets[0]);
  await ws.next();
  c.close();
  await assert.rejects(first, (e) => e.reason === 'closed');
  await assert.rejects(second, (e) => e.reason === 'closed');
  assert.equal(srv.sockets.length, 1, 'the waiting login opened no socket');
});

test('a logout lost with its connection is sent again after the reconnection, as every operation is', async () => {
  const { c, srv, ws } = await loggedIn({ login: { caughtUp: true } });
  const states = [];
  c.on('connectionStateChanged', ({ state, reason }) => states.push([state, reason?.reason]));
  const out = c.logout();
  const first = await ws.next();
  assert.equal(first.op, 'logout');
  ws.drop(); // lost with the connection, never carried out
  const ws2 = await waitFor(() => srv.sockets[1]);
  const login = await ws2.next();
  assert.equal(login.op, 'login');
  ws2.reply(login.id, loginResult({ headSeq: 3, caughtUp: true }));
  const again = await ws2.next();
  assert.equal(again.op, 'logout');
  ws2.reply(again.id, {});
  ws2.event('kicked', { reason: 'logout', retry: false });
  ws2.drop(4002);
  await out;
  assert.equal(c.state, 'Disconnected');
  assert.deepEqual(states, [['Reconnecting', 'network'], ['Connected', undefined], ['Disconnected', 'loggedOut']]);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(srv.sockets.length, 2, 'no reconnection after the logout');
});

test('a logout whose reply is lost, the logout kick telling it was carried out, resolves', async () => {
  for (const withEvent of [true, false]) {
    const { c, srv, ws } = await loggedIn();
    const states = [];
    c.on('connectionStateChanged', ({ state, reason }) => states.push([state, reason?.reason]));
    const out = c.logout();
    assert.equal((await ws.next()).op, 'logout');
    if (withEvent) ws.event('kicked', { reason: 'logout', retry: false });
    ws.drop(4002); // no reply: only the kick and the close
    await out;
    assert.deepEqual(states, [['Disconnected', 'loggedOut']]);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(srv.sockets.length, 1, 'no reconnection, no second logout');
    assert.equal(ws.sent.filter((f) => f.op === 'logout').length, 1);
  }
});

test('a server that drops every session right after its login is retried less and less often', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, minBackoffMs: 20, maxBackoffMs: 10000, logger: quiet });
  let answered = 0;
  let stop = false;
  const serve = (async () => {
    while (!stop) {
      const ws = srv.sockets[answered];
      if (!ws) {
        await new Promise((r) => setTimeout(r, 2));
        continue;
      }
      answered++;
      const f = await ws.next();
      ws.reply(f.id, loginResult());
      setTimeout(() => ws.drop(), 0);
    }
  })();
  await c.login(token, 'd1');
  await new Promise((r) => setTimeout(r, 600));
  stop = true;
  await serve;
  c.close();
  // Growing from 20 ms the waits are at least 10, 20, 40, 80, 160, 320 ms: at most six
  // reconnections fit in 600 ms. Starting again from 20 ms after each login gives 25 or more.
  assert.ok(srv.sockets.length >= 2 && srv.sockets.length <= 7, `${srv.sockets.length} connections in 600 ms`);
});

test('a session that lasted maxBackoffMs starts the reconnection backoff again', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, minBackoffMs: 10, maxBackoffMs: 300, logger: quiet });
  const p = c.login(token, 'd1');
  for (let i = 0; ; i++) {
    const ws = await waitFor(() => srv.sockets[i]);
    const f = await ws.next();
    ws.reply(f.id, loginResult());
    await waitFor(() => c.state === 'Connected');
    if (i === 5) break; // the bound has grown to 300 ms: the next wait would be at least 150 ms
    ws.drop();
  }
  await p;
  await new Promise((r) => setTimeout(r, 350)); // the session lasts past maxBackoffMs
  const dropped = Date.now();
  srv.sockets[5].drop();
  await waitFor(() => srv.sockets[6]);
  const waited = Date.now() - dropped;
  c.close();
  assert.ok(waited < 150, `reconnected ${waited} ms after a lasting session; want about minBackoffMs`);
});

test('a maxBackoffMs below minBackoffMs is raised to it, as in the Go SDK', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, minBackoffMs: 400, maxBackoffMs: 10, logger: quiet });
  try {
    const p = c.login(token, 'd1');
    const ws = await waitFor(() => srv.sockets[0]);
    ws.reply((await ws.next()).id, loginResult());
    await p;
    const dropped = Date.now();
    ws.drop();
    await waitFor(() => srv.sockets[1]);
    const waited = Date.now() - dropped;
    assert.ok(waited >= 190, `reconnected ${waited} ms after a drop; want at least half of minBackoffMs (200 ms)`);
  } finally {
    c.close();
  }
});

test('a saved position that is not a whole number in decimal is no position', async () => {
  for (const garbage of ['', '  ', 'abc', '-1', '1.5']) {
    const storage = memoryStorage();
    storage.setItem('dialtone:lastSeq:bob:d1', garbage);
    const { c, loginFrame } = await loggedIn({ storage });
    c.close();
    assert.equal(loginFrame.data.lastSeq, undefined, `stored ${JSON.stringify(garbage)}`);
  }
});

test('a tokenSource that never answers is given up after requestTimeoutMs and asked again, as the Go SDK does', async () => {
  const srv = fakeServer();
  let calls = 0;
  const tokenSource = () => (++calls === 1 ? new Promise(() => {}) : Promise.resolve('fresh'));
  const c = new Dialtone({
    url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, minBackoffMs: 1, maxBackoffMs: 2,
    requestTimeoutMs: 50, tokenSource, logger: quiet,
  });
  try {
    const done = c.login(token, 'd1');
    const ws = await waitFor(() => srv.sockets[0]);
    ws.reply((await ws.next()).id, loginResult());
    await done;
    ws.drop();
    const ws2 = await waitFor(() => srv.sockets[1]);
    const login = await ws2.next();
    assert.deepEqual([login.op, login.data.token, calls], ['login', 'fresh', 2]);
  } finally {
    c.close();
  }
});

test('two devices whose user and device IDs join alike keep their positions apart', async () => {
  // ':' is allowed in userIDs and deviceIDs (behaviour §1): (a:b, c) and (a, b:c) are two devices.
  const jwt = (sub) => `x.${Buffer.from(JSON.stringify({ sub })).toString('base64url')}.y`;
  const storage = memoryStorage();
  const srv = fakeServer();
  const login = async (user, device, lr) => {
    const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage, logger: quiet });
    const n = srv.sockets.length;
    const done = c.login(jwt(user), device);
    const ws = await waitFor(() => srv.sockets[n]);
    const f = await ws.next();
    ws.reply(f.id, loginResult({ userID: user, deviceID: device, ...lr }));
    await done;
    c.close();
    return f.data;
  };
  await login('a:b', 'c', { headSeq: 7 });
  const other = await login('a', 'b:c', { headSeq: 2 });
  assert.equal(other.lastSeq, undefined, 'the other device has no position');
  assert.equal((await login('a:b', 'c', { headSeq: 7, caughtUp: true })).lastSeq, 7);
});

test('an operation made while the first login is in flight fails with notLoggedIn when that login is refused, as with the Go SDK', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, logger: quiet });
  try {
    const login = c.login(token, 'd1');
    const query = c.queryCall('c1');
    const ws = await waitFor(() => srv.sockets[0]);
    ws.fail((await ws.next()).id, ErrorCode.AuthFailed);
    await assert.rejects(login, (e) => e.code === ErrorCode.AuthFailed);
    await assert.rejects(query, (e) => e.code === 0 && e.reason === 'notLoggedIn');
  } finally {
    c.close();
  }
});

test('every operation sends the data of the protocol, with a new key exactly when it changes state, as the Go SDK does', async () => {
  const { c, ws } = await loggedIn();
  try {
    const push = { title: 'Alice' };
    const info = { callID: 'c1', caller: 'bob', callUserList: [] };
    const cases = [
      [() => c.callInvite(['alice', 'carol']), 'callInvite', { invitees: ['alice', 'carol'], config: {} }, true],
      [() => c.callInvite(['alice'], { timeout: 30, mode: 1, extendedData: 'x', pushConfig: push, enableNotReceivedCheck: true }),
        'callInvite', { invitees: ['alice'], config: { timeout: 30, mode: 1, extendedData: 'x', pushConfig: push, enableNotReceivedCheck: true } }, true],
      [() => c.callCancel('c1'), 'callCancel', { callID: 'c1', invitees: [], config: {} }, true],
      [() => c.callCancel('c1', ['alice'], { extendedData: 'x', pushConfig: push }), 'callCancel',
        { callID: 'c1', invitees: ['alice'], config: { extendedData: 'x', pushConfig: push } }, true],
      [() => c.callAccept('c1', { extendedData: 'x' }), 'callAccept', { callID: 'c1', config: { extendedData: 'x' } }, true],
      [() => c.callAccept('c1', { extendedData: 'x' }), 'callAccept', { callID: 'c1', config: { extendedData: 'x' } }, true],
      [() => c.callReject('c1'), 'callReject', { callID: 'c1', config: {} }, true],
      [() => c.callingInvite('c1', ['dave'], { timeout: 20, extendedData: 'x', pushConfig: push }), 'callingInvite',
        { callID: 'c1', invitees: ['dave'], config: { timeout: 20, extendedData: 'x', pushConfig: push } }, true],
      [() => c.callJoin('c1'), 'callJoin', { callID: 'c1', config: {} }, true],
      [() => c.callQuit('c1', { pushConfig: push }), 'callQuit', { callID: 'c1', config: { pushConfig: push } }, true],
      [() => c.callEnd('c1', { extendedData: 'bye' }), 'callEnd', { callID: 'c1', config: { extendedData: 'bye' } }, true],
      [() => c.callReceived('c1'), 'callReceived', { callID: 'c1' }, false],
      [() => c.queryCallInvitationList(), 'queryCallInvitationList', { config: { count: 0, nextFlag: 0 } }, false],
      [() => c.queryCallInvitationList(50, 7), 'queryCallInvitationList', { config: { count: 50, nextFlag: 7 } }, false],
      [() => c.queryCall('c1'), 'queryCall', { callID: 'c1' }, false],
      [() => c.pushRegister({ provider: 'apns', token: 't', voip: true, bundleID: 'b' }), 'pushRegister',
        { provider: 'apns', token: 't', voip: true, bundleID: 'b' }, false],
      [() => c.pushUnregister('fcm', 't'), 'pushUnregister', { provider: 'fcm', token: 't' }, false],
    ];
    const keys = new Set();
    for (const [call, op, data, mutating] of cases) {
      const p = call();
      const f = await ws.next();
      assert.deepEqual([f.op, f.data], [op, data]);
      if (mutating) {
        assert.ok(typeof f.idem === 'string' && !keys.has(f.idem), `${op}: a new key, got ${f.idem}`);
        keys.add(f.idem);
      } else {
        assert.equal(f.idem, undefined, `${op} changes no state`);
      }
      const result = op === 'queryCall' ? { callInfo: info } : { callID: 'c1', errorUserList: [] };
      ws.reply(f.id, result);
      const got = await p;
      if (op === 'queryCall') assert.deepEqual(got, info, 'queryCall resolves with the CallInfo');
      else if (['callReceived', 'pushRegister', 'pushUnregister'].includes(op)) assert.equal(got, undefined);
      else assert.deepEqual(got, result, `${op} resolves with the result unchanged`);
    }
  } finally {
    c.close();
  }
});

test('an idempotencyKey option is carried by every operation that changes a call, and a bad one is refused unsent', async () => {
  const { c, ws } = await loggedIn();
  try {
    const key = newIdempotencyKey();
    const ops = [
      ['callInvite', (o) => c.callInvite(['alice'], {}, o)],
      ['callCancel', (o) => c.callCancel('c1', [], {}, o)],
      ['callAccept', (o) => c.callAccept('c1', {}, o)],
      ['callReject', (o) => c.callReject('c1', {}, o)],
      ['callingInvite', (o) => c.callingInvite('c1', ['dave'], {}, o)],
      ['callJoin', (o) => c.callJoin('c1', {}, o)],
      ['callQuit', (o) => c.callQuit('c1', {}, o)],
      ['callEnd', (o) => c.callEnd('c1', {}, o)],
    ];
    for (const [op, call] of ops) {
      const p = call({ idempotencyKey: key });
      const f = await ws.next();
      assert.deepEqual([f.op, f.idem], [op, key]);
      ws.reply(f.id, { callID: 'c1' });
      await p;
      for (const bad of ['k'.repeat(15), 'k'.repeat(63) + 'é', 7]) {
        await assert.rejects(call({ idempotencyKey: bad }),
          (e) => e.code === ErrorCode.InvalidParameter && e.reason === 'server', `${op} under the key ${bad}`);
      }
    }
    const p = c.queryCall('c1'); // the first frame sent after the refused ones
    const f = await ws.next();
    assert.equal(f.op, 'queryCall', 'a request under a refused key was sent');
    ws.reply(f.id, { callInfo: { callID: 'c1' } });
    await p;
  } finally {
    c.close();
  }
});

test('an operation on data JSON cannot encode rejects, as every operation does, and throws nothing', async () => {
  const { c } = await loggedIn();
  try {
    let p;
    assert.doesNotThrow(() => { p = c.callInvite(['alice'], { extendedData: 1n }); });
    await assert.rejects(p, TypeError);
  } finally {
    c.close();
  }
});

test('numeric options of 0 or less keep their defaults, as in the Go SDK', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, logger: quiet, requestTimeoutMs: 0, minBackoffMs: -1, maxBackoffMs: 0 });
  try {
    const done = c.login(token, 'd1');
    const ws = await waitFor(() => srv.sockets[0]);
    const f = await ws.next();
    await new Promise((r) => setTimeout(r, 20));
    ws.reply(f.id, loginResult()); // a requestTimeoutMs of 0 would have given the login up already
    await done;
  } finally {
    c.close();
  }
});

test('a listener that closes the client finishes before the Disconnected state change runs, as in the Go SDK', async () => {
  const { c, ws } = await loggedIn();
  try {
    const seen = [];
    c.on('callInvitationReceived', (d) => {
      seen.push(`begin ${d.callID}`);
      c.close();
      seen.push(`end ${d.callID}`);
    });
    c.on('callInvitationReceived', (d) => seen.push(`second listener ${d.callID}`));
    c.on('connectionStateChanged', ({ state }) => seen.push(state));
    ws.event('callInvitationReceived', { callID: 'c1', version: 1, deadline: c.serverNow() + 30000 }, 4);
    assert.deepEqual(seen, ['begin c1', 'end c1', 'second listener c1', 'Disconnected']);
    assert.equal(c.state, 'Disconnected');
  } finally {
    c.close();
  }
});

test('an unknown event is skipped, its seq still processed, and unknown fields reach the listeners, as in the Go SDK', async () => {
  const { c, srv, ws } = await loggedIn();
  try {
    const seen = [];
    for (const name of ['callInvitationCreated', 'callUserStateChanged']) {
      c.on(name, (d, meta) => seen.push([meta.event, d.callID, meta.seq, d.futureField]));
    }
    ws.event('callInvitationCreated', { callID: 'a', version: 1, futureField: 'x' }, 4);
    ws.event('someFutureEvent', { x: 1 }, 6);
    ws.event('callUserStateChanged', { callID: 'b', version: 2, callUserList: [] }, 8);
    assert.deepEqual(seen, [['callInvitationCreated', 'a', 4, 'x'], ['callUserStateChanged', 'b', 8, undefined]]);
    ws.event('someFutureEvent', { x: 2 }, 9);
    ws.drop();
    const ws2 = await waitFor(() => srv.sockets[1]);
    assert.equal((await ws2.next()).data.lastSeq, 9, 'the unknown event counts as processed');
  } finally {
    c.close();
  }
});

test('after a reconnection, Connected comes before the replayed and synthesized events, which carry their seq or 0', async () => {
  const { c, srv, ws } = await loggedIn();
  try {
    const seen = [];
    c.on('connectionStateChanged', ({ state }) => seen.push(state));
    c.on('callInvitationReceived', (d, meta) => seen.push([d.callID, meta.seq, d.synthetic]));
    ws.drop();
    const ws2 = await waitFor(() => srv.sockets[1]);
    const login = await ws2.next();
    ws2.reply(login.id, loginResult({ headSeq: 5, caughtUp: true }));
    ws2.event('callInvitationReceived', { callID: 'replayed', version: 1, deadline: c.serverNow() + 30000 }, 5);
    ws2.drop();
    const ws3 = await waitFor(() => srv.sockets[2]);
    const login3 = await ws3.next();
    assert.equal(login3.data.lastSeq, 5);
    ws3.reply(login3.id, loginResult({ headSeq: 90, caughtUp: false }));
    ws3.event('callInvitationReceived', { callID: 'ringing', version: 3, deadline: c.serverNow() + 30000, synthetic: true });
    assert.deepEqual(seen, [
      'Reconnecting', 'Connected', ['replayed', 5, undefined],
      'Reconnecting', 'Connected', ['ringing', 0, true],
    ]);
    assert.equal(c.lastSeq, 90, 'a synthesized invitation moves no position');
  } finally {
    c.close();
  }
});

test('a kick told by its close code alone follows the kick table, with no kicked listener call, as in the Go SDK', async () => {
  const { c, srv, ws } = await loggedIn();
  try {
    const kicks = [];
    const states = [];
    c.on('kicked', (k) => kicks.push(k));
    c.on('connectionStateChanged', ({ state, reason }) => states.push([state, reason?.reason, reason?.kick]));
    ws.drop(4009);
    const ws2 = await waitFor(() => srv.sockets[1]);
    ws2.reply((await ws2.next()).id, loginResult({ headSeq: 3, caughtUp: true }));
    ws2.drop(4008);
    assert.deepEqual(states, [
      ['Reconnecting', 'kicked', { reason: 'heartbeatTimeout', retry: true }],
      ['Connected', undefined, undefined],
      ['Disconnected', 'kicked', { reason: 'tooManyDevices', retry: false }],
    ]);
    assert.deepEqual(kicks, []);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(srv.sockets.length, 2, 'no reconnection after tooManyDevices');
  } finally {
    c.close();
  }
});

test('a listener removed by another during a dispatch is not called from then on, as with the DOM\'s removeEventListener; one added is called from the next event', async () => {
  const { c, ws } = await loggedIn();
  try {
    const seen = [];
    let removeSecond;
    c.on('callInvitationEnded', (d) => {
      seen.push(`first ${d.callID}`);
      removeSecond?.();
      c.on('callInvitationEnded', (e) => seen.push(`added ${e.callID}`));
    });
    removeSecond = c.on('callInvitationEnded', (d) => seen.push(`second ${d.callID}`));
    ws.event('callInvitationEnded', { callID: 'c1', version: 1 }, 4);
    ws.event('callInvitationEnded', { callID: 'c2', version: 1 }, 5);
    assert.deepEqual(seen, ['first c1', 'first c2', 'added c2']);
  } finally {
    c.close();
  }
});

test('the socket of a login that timed out, closing only after a login retried on another succeeded, leaves the new connection its heartbeat and watchdog', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, requestTimeoutMs: 50, logger: quiet });
  try {
    const first = c.login(token, 'd1');
    const ws1 = await waitFor(() => srv.sockets[0]);
    await ws1.next(); // never answered
    await assert.rejects(first, (e) => e.reason === 'timeout');
    assert.ok(ws1.closed, 'the client closed the socket of the login given up');
    const second = c.login(token, 'd1');
    const ws2 = await waitFor(() => srv.sockets[1]);
    ws2.reply((await ws2.next()).id, loginResult({ heartbeatIntervalMs: 20, heartbeatTimeoutMs: 60 }));
    await second;
    ws1.drop(1000); // its close handshake ends only now
    const hb = await Promise.race([ws2.next(), new Promise((r) => setTimeout(() => r({ op: 'none within 500 ms' }), 500))]);
    assert.equal(hb.op, 'heartbeat');
    const states = [];
    c.on('connectionStateChanged', ({ state, reason }) => states.push([state, reason?.reason]));
    await waitFor(() => srv.sockets[2]); // the fake server answers no heartbeat: the watchdog drops ws2
    assert.deepEqual(states, [['Reconnecting', 'heartbeatTimeout']]);
  } finally {
    c.close();
  }
});

test('a mutating operation timed out after its send may be tried again with the key of the app, which every send of each try carries (R7.3), as with the Go SDK\'s WithIdempotencyKey', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, requestTimeoutMs: 50, logger: quiet });
  try {
    const done = c.login(token, 'd1');
    const ws = await waitFor(() => srv.sockets[0]);
    ws.reply((await ws.next()).id, loginResult());
    await done;
    const idempotencyKey = newIdempotencyKey();
    const cases = [
      ['callInvite', () => c.callInvite(['alice'], {}, { idempotencyKey })],
      ['callCancel', () => c.callCancel('c1', [], {}, { idempotencyKey })],
      ['callAccept', () => c.callAccept('c1', {}, { idempotencyKey })],
      ['callReject', () => c.callReject('c1', {}, { idempotencyKey })],
      ['callingInvite', () => c.callingInvite('c1', ['dave'], {}, { idempotencyKey })],
      ['callJoin', () => c.callJoin('c1', {}, { idempotencyKey })],
      ['callQuit', () => c.callQuit('c1', {}, { idempotencyKey })],
      ['callEnd', () => c.callEnd('c1', {}, { idempotencyKey })],
    ];
    for (const [op, call] of cases) {
      // The first try is sent, then times out: the server may have carried it out.
      await assert.rejects(call(), (e) => e.reason === 'timeout');
      const first = await ws.next();
      const again = call();
      const second = await ws.next();
      assert.deepEqual([first.op, first.idem, second.op, second.idem], [op, idempotencyKey, op, idempotencyKey]);
      ws.reply(second.id, { callID: 'c1' });
      await again;
    }
  } finally {
    c.close();
  }
});

test('close() from a listener of the Connecting that login() reports rejects the login with closed at once and opens no socket, as close() while the socket opens does', async () => {
  const srv = fakeServer();
  srv.silent = true;
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, requestTimeoutMs: 60000, logger: quiet });
  c.on('connectionStateChanged', ({ state }) => { if (state === 'Connecting') c.close(); });
  const settled = c.login(token, 'd1').then(() => 'resolved', (e) => e.reason);
  const outcome = await Promise.race([settled, new Promise((r) => setTimeout(() => r('still pending after 1 s'), 1000))]);
  assert.equal(outcome, 'closed');
  assert.equal(srv.sockets.length, 0, 'no socket opened after close()');
  assert.equal(c.state, 'Disconnected');
});

test('close() from a listener of the Connected state that login() reports rejects the login with closed, as the Go SDK\'s Login returns ErrClosed', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, logger: quiet });
  c.on('connectionStateChanged', ({ state }) => { if (state === 'Connected') c.close(); });
  const settled = c.login(token, 'd1').then((r) => `resolved for ${r.userID}`, (e) => e.reason);
  const ws = await waitFor(() => srv.sockets[0]);
  ws.reply((await ws.next()).id, loginResult());
  assert.equal(await settled, 'closed');
  assert.equal(c.state, 'Disconnected');
  assert.ok(ws.closed, 'the socket is closed');
  await assert.rejects(c.login(token, 'd1'), (e) => e.reason === 'closed', 'a later login: the client is finished');
});

test('close() while a reconnection waits for tokenSource aborts its signal and ends the wait; the token it gives later opens nothing, as the Go SDK\'s TokenSource ctx ends with Close', async () => {
  const srv = fakeServer();
  let signal;
  let give;
  const tokenSource = (s) => {
    signal = s;
    return new Promise((resolve) => { give = resolve; }); // answers only when the test says
  };
  const c = new Dialtone({
    url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, minBackoffMs: 1, maxBackoffMs: 2,
    requestTimeoutMs: 60000, tokenSource, logger: quiet,
  });
  const done = c.login(token, 'd1');
  const ws = await waitFor(() => srv.sockets[0]);
  ws.reply((await ws.next()).id, loginResult());
  await done;
  ws.drop();
  await waitFor(() => give);
  assert.ok(signal instanceof AbortSignal, `tokenSource is given an AbortSignal, got ${signal}`);
  assert.equal(signal.aborted, false);
  c.close();
  assert.equal(signal.aborted, true, 'close() aborts the wait for the token');
  assert.equal(signal.reason?.reason, 'closed');
  give('late');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(srv.sockets.length, 1, 'no socket opened after close()');
  assert.equal(c.state, 'Disconnected');
});

test('a tokenSource given up after requestTimeoutMs sees its signal aborted with the timeout', async () => {
  const srv = fakeServer();
  const signals = [];
  const tokenSource = (s) => {
    signals.push(s);
    return signals.length === 1 ? new Promise(() => {}) : 'fresh';
  };
  const c = new Dialtone({
    url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, minBackoffMs: 1, maxBackoffMs: 2,
    requestTimeoutMs: 50, tokenSource, logger: quiet,
  });
  try {
    const done = c.login(token, 'd1');
    const ws = await waitFor(() => srv.sockets[0]);
    ws.reply((await ws.next()).id, loginResult());
    await done;
    ws.drop();
    const ws2 = await waitFor(() => srv.sockets[1]);
    assert.equal((await ws2.next()).data.token, 'fresh');
    assert.equal(signals[0]?.aborted, true, 'the first wait was aborted');
    assert.equal(signals[0].reason?.reason, 'timeout');
    assert.equal(signals[1].aborted, false, 'the answered one was not');
  } finally {
    c.close();
  }
});

test('a first login refused with 6000291, then the authFailed kick and close 4006, rejects with the code and does not reconnect, as the Go SDK\'s Login', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, minBackoffMs: 1, maxBackoffMs: 2, logger: quiet });
  const states = [];
  c.on('connectionStateChanged', ({ state, reason }) => states.push([state, reason?.code ?? reason?.reason]));
  const p = c.login(token, 'd1');
  p.catch(() => {}); // rejected before the test reads it, below
  const ws = await waitFor(() => srv.sockets[0]);
  ws.fail((await ws.next()).id, ErrorCode.AuthFailed);
  await new Promise((r) => setTimeout(r, 0)); // the kick comes in a frame of its own
  ws.event('kicked', { reason: 'authFailed', retry: false });
  ws.drop(4006);
  await assert.rejects(p, (e) => e instanceof DialtoneError && e.code === ErrorCode.AuthFailed && e.reason === 'server');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(srv.sockets.length, 1, 'no reconnection');
  assert.deepEqual(states, [['Connecting', undefined], ['Disconnected', ErrorCode.AuthFailed]]);
  // The client is not finished: a login with a good token may follow.
  const again = c.login(token, 'd1');
  const ws2 = await waitFor(() => srv.sockets[1]);
  ws2.reply((await ws2.next()).id, loginResult());
  assert.equal((await again).userID, 'bob');
  c.close();
});

test('a first login whose connection is kicked before any reply rejects with the kick, and does not reconnect', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, minBackoffMs: 1, maxBackoffMs: 2, logger: quiet });
  const p = c.login(token, 'd1');
  const ws = await waitFor(() => srv.sockets[0]);
  await ws.next();
  ws.event('kicked', { reason: 'loginTimeout', retry: true });
  ws.drop(4007);
  await assert.rejects(p, (e) => e.reason === 'kicked' && e.kick.reason === 'loginTimeout' && e.kick.retry === true);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(srv.sockets.length, 1, 'no reconnection: login() reports the failure');
  assert.equal(c.state, 'Disconnected');
});

test('a reconnection refused with the replaced kick (a newer connection of the device logged in) ends the client, as the kick table says, instead of taking the device back', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, minBackoffMs: 200, maxBackoffMs: 400, logger: quiet });
  const done = c.login(token, 'd1');
  const ws = await waitFor(() => srv.sockets[0]);
  ws.reply((await ws.next()).id, loginResult());
  await done;
  const kicks = [];
  c.on('kicked', (k) => kicks.push(k.reason));
  ws.drop();
  const ws2 = await waitFor(() => srv.sockets[1]);
  ws2.fail((await ws2.next()).id, ErrorCode.InvalidParameter);
  await new Promise((r) => setTimeout(r, 0)); // the kick comes in a frame of its own
  ws2.event('kicked', { reason: 'replaced', retry: false });
  ws2.drop(4001);
  await waitFor(() => c.state === 'Disconnected');
  await assert.rejects(c.queryCall('c1'), (e) => e.reason === 'kicked' && e.kick.reason === 'replaced');
  assert.deepEqual(kicks, ['replaced']);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(srv.sockets.length, 2, 'no reconnection after the replaced kick');
});

test('close() from a listener of the Reconnecting state schedules no reconnection, as the Go SDK\'s Close stops its supervisor', async () => {
  const { c, srv, ws } = await loggedIn();
  c.on('connectionStateChanged', ({ state }) => { if (state === 'Reconnecting') c.close(); });
  const realSetTimeout = globalThis.setTimeout;
  const scheduled = [];
  globalThis.setTimeout = (fn, ms, ...args) => {
    scheduled.push(ms);
    return realSetTimeout(fn, ms, ...args);
  };
  try {
    ws.drop();
  } finally {
    globalThis.setTimeout = realSetTimeout;
  }
  assert.equal(c.state, 'Disconnected');
  assert.deepEqual(scheduled, [], 'no timer set after close()');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(srv.sockets.length, 1);
});
