// Unit tests of dialtone.js — replies and events that do not follow the protocol.
// Run with the others: node --test web/*_test.mjs (TestSDKUnit in sdk_test.go runs them too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dialtone, DialtoneError } from './dialtone.js';
import { fakeServer, memoryStorage, token, loginResult, quiet, loggedIn, waitFor } from './testkit.mjs';

// isProtocolError returns the check of a rejection with the protocol error of op.
const isProtocolError = (op) => (err) => err instanceof DialtoneError && err.reason === 'protocol' &&
  err.code === 0 && err.message.includes(op);

// A reply whose result is not of the op's shape (protocol.md "Envelopes": an object, {} when the
// op has nothing to return), or not JSON, or a reply with neither result nor error, or an error
// without a code, is the request's one reply: the operation rejects at once with 'protocol',
// naming the op, rather than wait for another reply until its timeout, and is not sent again.
// The connection stays, and carries the next operation, as in the Go SDK (ErrProtocol).
for (const [name, op, reply, call] of [
  ['a string for an object', 'callAccept', '{"id":%d,"result":"c1"}', (c) => c.callAccept('c1')],
  ['a list for an object', 'queryCall', '{"id":%d,"result":[{"callID":"c1"}]}', (c) => c.queryCall('c1')],
  ['a field of another type', 'callAccept', '{"id":%d,"result":{"callID":7}}', (c) => c.callAccept('c1')],
  ['not JSON', 'callAccept', '{"id":%d,"result":{"callID":c1}}', (c) => c.callAccept('c1')],
  ['a string for {}', 'callReceived', '{"id":%d,"result":"ok"}', (c) => c.callReceived('c1')],
  ['null', 'callAccept', '{"id":%d,"result":null}', (c) => c.callAccept('c1')],
  ['neither result nor error', 'callReceived', '{"id":%d}', (c) => c.callReceived('c1')],
  ['an error without a code', 'callAccept', '{"id":%d,"error":{}}', (c) => c.callAccept('c1')],
  ['an error of another shape', 'callAccept', '{"id":%d,"error":"busy"}', (c) => c.callAccept('c1')],
]) {
  test(`a reply of ${name} fails its operation at once with a protocol error naming the op; the connection stays, as in the Go SDK`, async () => {
    const { c, srv, ws } = await loggedIn();
    try {
      const failed = call(c);
      const f = await ws.next();
      assert.equal(f.op, op);
      ws.text(reply.replace('%d', f.id));
      await assert.rejects(failed, isProtocolError(op));
      const next = c.callJoin('c2');
      const g = await ws.next();
      assert.equal(g.op, 'callJoin', `the next frame sent after the failed ${op}`);
      ws.reply(g.id, { callID: 'c2' });
      assert.deepEqual(await next, { callID: 'c2' });
      assert.equal(c.state, 'Connected');
      assert.equal(srv.sockets.length, 1, 'no reconnection');
    } finally {
      c.close();
    }
  });
}

// A login reply that is not a login result fails the login at once with a protocol error: the
// device is not logged in, and login() may be called again.
for (const result of ['"bob"', '{"userID":"bob","headSeq":"7"}', '{"userID":bob}', 'null']) {
  test(`a login answered with the result ${result} fails with a protocol error, and may be called again, as in the Go SDK`, async () => {
    const srv = fakeServer();
    const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, logger: quiet });
    try {
      const first = c.login(token, 'd1');
      const ws = await waitFor(() => srv.sockets[0]);
      ws.text(`{"id":${(await ws.next()).id},"result":${result}}`);
      await assert.rejects(first, isProtocolError('login'));
      assert.equal(c.state, 'Disconnected');
      const again = c.login(token, 'd1');
      const ws2 = await waitFor(() => srv.sockets[1]);
      ws2.reply((await ws2.next()).id, loginResult());
      assert.equal((await again).userID, 'bob');
    } finally {
      c.close();
    }
  });
}

// A login result that lacks a field the client needs and the protocol always sends (protocol.md
// "Login"), absent or null, fails the login with a protocol error naming the field, rather than
// read it as nothing: a missing headSeq would move the device's position to undefined (the Go
// SDK reads 0, moving it back to the log's start). The heartbeat settings, which R6.1 gives
// defaults, are read as those when missing (docs/behaviour.md §12, "A reply the SDKs cannot read").
for (const field of ['userID', 'deviceID', 'headSeq', 'caughtUp', 'serverTime']) {
  for (const missing of ['absent', 'null']) {
    test(`a login result whose ${field} is ${missing} fails the login with a protocol error naming it, and keeps the position`, async () => {
      const srv = fakeServer();
      const storage = memoryStorage();
      const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage, logger: quiet });
      try {
        const result = loginResult();
        if (missing === 'absent') delete result[field];
        else result[field] = null;
        const first = c.login(token, 'd1');
        const ws = await waitFor(() => srv.sockets[0]);
        ws.reply((await ws.next()).id, result);
        await assert.rejects(first, (err) => isProtocolError('login')(err) && err.message.includes(field));
        assert.equal(c.state, 'Disconnected');
        assert.deepEqual([...storage.m.values()], [], 'no position saved');
      } finally {
        c.close();
      }
    });
  }
}

test('a login result without heartbeat settings reads the defaults of R6.1, 10 s and 35 s', async () => {
  const waits = []; // the whole ms of each timer set
  const timers = {
    now: () => performance.now(),
    setTimeout(fn, ms) { waits.push(Math.round(ms)); return setTimeout(fn, ms); },
    clearTimeout: (id) => clearTimeout(id),
  };
  const { c } = await loggedIn({
    options: { timers }, login: { heartbeatIntervalMs: undefined, heartbeatTimeoutMs: null },
  });
  try {
    assert.equal(c.state, 'Connected');
    assert.ok(waits.includes(10000), `a timer of the 10 s interval among ${waits}`);
    assert.ok(waits.includes(35000), `a timer of the 35 s timeout among ${waits}`);
  } finally {
    c.close();
  }
});
