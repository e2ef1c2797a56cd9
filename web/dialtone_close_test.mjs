// Unit tests of dialtone.js — close(): at each point of a login or a reconnection.
// Run with the others: node --test web/*_test.mjs (TestSDKUnit in sdk_test.go runs them too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dialtone } from './dialtone.js';
import { fakeServer, memoryStorage, token, loginResult, quiet, loggedIn, waitFor } from './testkit.mjs';

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
