// Unit tests of dialtone.js — operations: the frames they send, their idempotency keys, refusals,
// timeouts and logout.
// Run with the others: node --test web/*_test.mjs (TestSDKUnit in sdk_test.go runs them too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dialtone, DialtoneError, ErrorCode, newIdempotencyKey } from './dialtone.js';
import { fakeServer, memoryStorage, token, loginResult, quiet, loggedIn, waitFor } from './testkit.mjs';

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

// The frame limit counts the idempotency key as JSON.stringify writes it, as the frame carries
// it: a key of control characters takes six bytes a character (\u0001), and one of quotes two.
// A request over 64 KiB only once its key is written so is refused unsent, as in the Go SDK;
// the same request with a key of as many plain bytes fits exactly, and is sent.
test('a request over 64 KiB only once its idempotency key is escaped is refused without being sent', async () => {
  const { c, ws } = await loggedIn();
  try {
    const plain = 'k'.repeat(64);
    const longest = (extendedData, idem) => JSON.stringify({
      id: Number.MAX_SAFE_INTEGER, op: 'callAccept', data: { callID: 'c1', config: { extendedData } }, idem,
    }).length;
    const extendedData = 'x'.repeat(65536 - longest('', plain));
    for (const idempotencyKey of ['\u0001'.repeat(64), '"'.repeat(64)]) {
      await assert.rejects(c.callAccept('c1', { extendedData }, { idempotencyKey }),
        (e) => e.code === ErrorCode.InvalidParameter && e.reason === 'server', JSON.stringify(idempotencyKey));
    }
    assert.equal(ws.sent.length, 1, 'only the login was sent');
    const sent = c.callAccept('c1', { extendedData }, { idempotencyKey: plain });
    const f = await ws.next();
    assert.equal(f.idem, plain);
    ws.reply(f.id, { callID: 'c1' });
    await sent;
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
      // A lone surrogate would reach the server as U+FFFD (docs/behaviour.md §12), so two
      // distinct keys of the app could meet there as one.
      for (const bad of ['k'.repeat(15), 'k'.repeat(63) + 'é', 7, 'k'.repeat(20) + '\ud800', '\udc00' + 'k'.repeat(20)]) {
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
