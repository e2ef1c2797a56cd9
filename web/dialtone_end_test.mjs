// Unit tests of dialtone.js — the end of a client (docs/behaviour.md §12, "The end of a Go SDK
// client", R6.1, R7.2): after close() or logout() no listener is called again and every method
// fails at once; close() and logout() twice or together; a late reply; the saved position.
// Run with the others: node --test web/*_test.mjs (TestSDKUnit in sdk_test.go runs them too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dialtone } from './dialtone.js';
import { fakeServer, token, loginResult, quiet, loggedIn, waitFor } from './testkit.mjs';

// settledWithin resolves with 'resolved', the rejection's reason, or 'pending' when p has not
// settled within ms.
function settledWithin(p, ms = 500) {
  return Promise.race([
    p.then(() => 'resolved', (e) => e?.reason ?? String(e)),
    new Promise((r) => setTimeout(() => r('pending'), ms)),
  ]);
}

// everyMethod calls every method of c that talks to the server.
function everyMethod(c) {
  return {
    login: () => c.login(token, 'd1'),
    logout: () => c.logout(),
    callInvite: () => c.callInvite(['alice']),
    callCancel: () => c.callCancel('c1'),
    callAccept: () => c.callAccept('c1'),
    callReject: () => c.callReject('c1'),
    callingInvite: () => c.callingInvite('c1', ['dave']),
    callJoin: () => c.callJoin('c1'),
    callQuit: () => c.callQuit('c1'),
    callEnd: () => c.callEnd('c1'),
    callReceived: () => c.callReceived('c1'),
    queryCallInvitationList: () => c.queryCallInvitationList(),
    queryCall: () => c.queryCall('c1'),
    pushRegister: () => c.pushRegister({ provider: 'webhook', token: 't' }),
    pushUnregister: () => c.pushUnregister('webhook', 't'),
  };
}

for (const [how, end, want] of [
  ['close()', (c) => c.close(), 'closed'],
  ['logout()', async (c, ws) => {
    const out = c.logout();
    const f = await ws.next();
    ws.reply(f.id, {});
    await out;
  }, 'loggedOut'],
]) {
  test(`after ${how}, every method rejects at once with ${want}, sends nothing, and no listener is called again, as the Go SDK's methods fail with its end reason`, async () => {
    const { c, srv, ws } = await loggedIn({ options: { requestTimeoutMs: 60000 } });
    await end(c, ws);
    const calls = [];
    for (const name of ['connectionStateChanged', 'kicked', 'callInvitationReceived', 'callUserStateChanged']) {
      c.on(name, () => calls.push(name));
    }
    const sent = ws.sent.length;
    const outcomes = {};
    for (const [name, call] of Object.entries(everyMethod(c))) outcomes[name] = await settledWithin(call(), 200);
    const wanted = Object.fromEntries(Object.keys(outcomes).map((name) => [name, want]));
    assert.deepEqual(outcomes, wanted);
    assert.equal(ws.sent.length, sent, 'nothing sent after the end');
    // Frames that reach the old socket's handlers, had they been kept, change nothing.
    ws.event('callInvitationReceived', { callID: 'c9', version: 1, deadline: Date.now() + 30000 }, 50);
    ws.drop();
    c.close();
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(calls, [], 'no listener called after the end');
    assert.equal(srv.sockets.length, 1, 'no reconnection');
    assert.equal(c.state, 'Disconnected');
  });
}

test('close() twice, logout() twice and close() during logout() settle at once, with one Disconnected, as the Go SDK\'s Close and Logout may be called together', async () => {
  // close() twice.
  {
    const { c } = await loggedIn();
    const states = [];
    c.on('connectionStateChanged', ({ state, reason }) => states.push([state, reason?.reason]));
    c.close();
    c.close();
    assert.deepEqual(states, [['Disconnected', 'closed']]);
  }
  // logout() twice: the first resolves with the reply, the second fails with the end reason.
  {
    const { c, ws } = await loggedIn();
    const states = [];
    c.on('connectionStateChanged', ({ state, reason }) => states.push([state, reason?.reason]));
    const first = c.logout();
    const second = c.logout();
    const f = await ws.next();
    assert.equal(f.op, 'logout');
    ws.reply(f.id, {});
    assert.equal(await settledWithin(first), 'resolved');
    assert.equal(await settledWithin(second), 'loggedOut');
    assert.deepEqual(states, [['Disconnected', 'loggedOut']]);
  }
  // close() while logout() waits for its reply: logout rejects with closed at once.
  {
    const { c, ws } = await loggedIn({ options: { requestTimeoutMs: 60000 } });
    const states = [];
    c.on('connectionStateChanged', ({ state, reason }) => states.push([state, reason?.reason]));
    const out = c.logout();
    assert.equal((await ws.next()).op, 'logout');
    c.close();
    assert.equal(await settledWithin(out), 'closed');
    assert.deepEqual(states, [['Disconnected', 'closed']]);
  }
  // logout() while reconnecting, then close(): it rejects with closed at once.
  {
    const { c, srv, ws } = await loggedIn({ options: { requestTimeoutMs: 60000 } });
    srv.silent = true;
    ws.drop();
    const out = c.logout();
    await waitFor(() => srv.sockets[1]);
    c.close();
    assert.equal(await settledWithin(out), 'closed');
  }
});

test('an operation that timed out drops its late reply: the next request gets its own, as the Go SDK forgets a request whose ctx ended', async () => {
  const { c, ws } = await loggedIn({ options: { requestTimeoutMs: 50 } });
  try {
    await assert.rejects(c.queryCall('c1'), (e) => e.reason === 'timeout');
    const late = await ws.next();
    const next = c.queryCall('c2');
    const f = await ws.next();
    assert.notEqual(f.id, late.id, 'a new request id');
    ws.reply(late.id, { callInfo: { callID: 'c1' } }); // the late reply of the first
    ws.reply(f.id, { callInfo: { callID: 'c2' } });
    assert.deepEqual(await next, { callID: 'c2' });
  } finally {
    c.close();
  }
});

test('close() from a listener: the event\'s other listeners still get it, it counts as processed, and nothing after the last Disconnected is called', async () => {
  const { c, srv, ws, storage } = await loggedIn({ login: { caughtUp: true, headSeq: 3 } });
  const seen = [];
  c.on('callUserStateChanged', (d, { seq }) => { seen.push(`first ${seq}`); if (seq === 5) c.close(); });
  c.on('callUserStateChanged', (d, { seq }) => seen.push(`second ${seq}`));
  c.on('connectionStateChanged', ({ state }) => seen.push(state));
  ws.event('callUserStateChanged', { callID: 'c1', version: 1, callUserList: [] }, 4);
  ws.event('callUserStateChanged', { callID: 'c1', version: 2, callUserList: [] }, 5);
  ws.event('callUserStateChanged', { callID: 'c1', version: 3, callUserList: [] }, 6);
  assert.deepEqual(seen, ['first 4', 'second 4', 'first 5', 'second 5', 'Disconnected']);
  assert.equal(storage.getItem('dialtone:lastSeq:bob:d1'), '5', 'the last event handled is saved');
  // A new client of the device resumes after it: no duplicate, no gap.
  const c2 = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage, logger: quiet });
  const done = c2.login(token, 'd1');
  const ws2 = await waitFor(() => srv.sockets[1]);
  const f = await ws2.next();
  assert.equal(f.data.lastSeq, 5);
  ws2.reply(f.id, loginResult({ headSeq: 6, caughtUp: true }));
  await done;
  c2.close();
});

test('a reconnection refused with AuthFailed or TooManyDevices ends the client; with RateLimited or Internal it is tried again, as the Go SDK\'s final() decides', async () => {
  for (const [code, ends] of [[6000291, true], [6000293, true], [6000292, false], [6000270, false]]) {
    const { c, srv, ws } = await loggedIn({ options: { requestTimeoutMs: 60000 } });
    const states = [];
    c.on('connectionStateChanged', ({ state, reason }) => states.push([state, reason?.code || reason?.reason]));
    const pending = c.queryCall('c1');
    await ws.next();
    ws.drop();
    const ws2 = await waitFor(() => srv.sockets[1]);
    ws2.fail((await ws2.next()).id, code);
    if (ends) {
      assert.equal(await settledWithin(pending), 'server', `${code}: the operation waiting fails with the refusal`);
      assert.deepEqual(states, [['Reconnecting', 'network'], ['Disconnected', code]], `${code} ends the client`);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(srv.sockets.length, 2, `${code}: no more attempts`);
      assert.equal(await settledWithin(c.queryCall('c1')), 'server', `${code}: a later operation fails at once with the refusal`);
    } else {
      const ws3 = await waitFor(() => srv.sockets[2]);
      assert.equal((await ws3.next()).op, 'login', `${code}: tried again`);
      assert.deepEqual(states, [['Reconnecting', 'network']]);
    }
    c.close();
    assert.equal(await settledWithin(pending), ends ? 'server' : 'closed');
  }
});

test('close() after a refused login, or before any, reports the last Disconnected with its reason, once, as the Go SDK\'s Close does', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, logger: quiet });
  const states = [];
  c.on('connectionStateChanged', ({ state, reason }) => states.push([state, reason?.code || reason?.reason]));
  const login = c.login(token, 'd1');
  const ws = await waitFor(() => srv.sockets[0]);
  ws.fail((await ws.next()).id, 6000291);
  await assert.rejects(login, (e) => e.code === 6000291);
  c.close();
  c.close();
  assert.deepEqual(states, [['Connecting', undefined], ['Disconnected', 6000291], ['Disconnected', 'closed']]);

  const fresh = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, logger: quiet });
  const last = [];
  fresh.on('connectionStateChanged', ({ state, reason }) => last.push([state, reason?.reason]));
  fresh.close();
  assert.deepEqual(last, [['Disconnected', 'closed']]);
});

// liveTimers returns a Dialtone timers option on the real clock that counts the timers set and
// not yet run or cleared (live()).
function liveTimers() {
  const live = new Set();
  return {
    now: () => performance.now(),
    setTimeout(fn, ms) {
      const t = setTimeout(() => { live.delete(t); fn(); }, ms);
      live.add(t);
      return t;
    },
    clearTimeout(t) { live.delete(t); clearTimeout(t); },
    live: () => live.size,
  };
}

test('close() leaves no timer, socket or online listener of the client, logged in or reconnecting', async () => {
  // Logged in, with an operation, a receipt and the heartbeat on their way.
  {
    const timers = liveTimers();
    const { c, ws } = await loggedIn({ options: { timers } });
    c.queryCall('c1').catch(() => {});
    ws.event('callInvitationReceived', { callID: 'c1', version: 1, deadline: c.serverNow() + 30000 }, 4);
    assert.ok(timers.live() >= 3, `timers of the heartbeat, the query and the receipt, got ${timers.live()}`);
    c.close();
    await new Promise((r) => setImmediate(r));
    assert.equal(timers.live(), 0, 'timers left after close()');
    assert.ok(ws.closed, 'the socket is closed');
  }
  // Reconnecting: waiting out the backoff, then waiting for the socket to open.
  for (const opening of [false, true]) {
    const timers = liveTimers();
    const network = new EventTarget();
    let listeners = 0;
    const add = network.addEventListener.bind(network);
    const remove = network.removeEventListener.bind(network);
    network.addEventListener = (...a) => { listeners++; add(...a); };
    network.removeEventListener = (...a) => { listeners--; remove(...a); };
    const { c, srv, ws } = await loggedIn({ options: { timers, network, minBackoffMs: opening ? 1 : 60000, maxBackoffMs: opening ? 2 : 60000 } });
    srv.silent = true;
    ws.drop();
    if (opening) await waitFor(() => srv.sockets[1]);
    assert.ok(timers.live() > 0);
    c.close();
    await new Promise((r) => setImmediate(r));
    assert.equal(timers.live(), 0, `timers left after close() (${opening ? 'opening a socket' : 'in the backoff'})`);
    assert.equal(listeners, 0, 'online listeners left after close()');
    if (opening) assert.ok(srv.sockets[1].closed, 'the socket being opened is closed');
  }
});
