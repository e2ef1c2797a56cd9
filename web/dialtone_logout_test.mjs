// Unit tests of dialtone.js — a logout() that fails (docs/behaviour.md §12, "A Go Logout that
// fails", R6.1): only one that logged the device out ends the client; any other leaves it
// running for the app to call logout() again or close(). Logins and logouts run one at a time.
// Run with the others: node --test web/*_test.mjs (TestSDKUnit in sdk_test.go runs them too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dialtone, ErrorCode } from './dialtone.js';
import { fakeServer, token, loginResult, quiet, loggedIn, waitFor } from './testkit.mjs';

// outcome resolves with 'resolved', or the rejection's reason (its code for a server's
// refusal), once p settles.
function outcome(p) {
  return p.then(() => 'resolved', (e) => (e?.code || e?.reason) ?? String(e));
}

// settledWithin resolves with p's outcome, or 'pending' when p has not settled within ms.
function settledWithin(p, ms = 500) {
  return Promise.race([outcome(p), new Promise((r) => setTimeout(() => r('pending'), ms))]);
}

// recordStates returns the [state, reason] of every state change c reports from now on.
function recordStates(c) {
  const states = [];
  c.on('connectionStateChanged', ({ state, reason }) => states.push([state, reason?.reason]));
  return states;
}

// logsOut has the server log the device out on ws: logout()'s next frame is the logout, and
// its reply, the kick and the close follow (protocol.md `logout`).
async function logsOut(c, ws) {
  const out = c.logout();
  const f = await ws.next();
  assert.equal(f.op, 'logout');
  ws.reply(f.id, {});
  ws.event('kicked', { reason: 'logout', retry: false });
  ws.drop(4002);
  await out;
  assert.equal(c.state, 'Disconnected');
}

// newClient returns a client of a fake server that has not logged in.
function newClient(options = {}) {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, minBackoffMs: 1, maxBackoffMs: 2, logger: quiet, ...options });
  return { c, srv };
}

// answerLogin answers the login frame of the server's socket number n with result, or refuses
// it with code.
async function answerLogin(srv, n, { code } = {}) {
  const ws = await waitFor(() => srv.sockets[n]);
  const f = await ws.next();
  assert.equal(f.op, 'login');
  if (code) ws.fail(f.id, code);
  else ws.reply(f.id, loginResult());
  return ws;
}

test('a logout the server refuses, or whose reply cannot be read, leaves the client connected and logged in, and a second logout logs the device out (R6.1), as in the Go SDK', async () => {
  for (const [what, answer, want] of [
    ['refused with 6000270 (the server cannot write)', (ws, id) => ws.fail(id, ErrorCode.Internal), ErrorCode.Internal],
    ['answered with an error without a code', (ws, id) => ws.text(JSON.stringify({ id, error: {} })), 'protocol'],
  ]) {
    const { c, srv, ws } = await loggedIn();
    const states = recordStates(c);
    const out = c.logout();
    const f = await ws.next();
    assert.equal(f.op, 'logout');
    answer(ws, f.id);
    assert.equal(await settledWithin(out), want, what);
    assert.equal(c.state, 'Connected', `${what}: the client goes on`);
    assert.deepEqual(states, [], `${what}: no state change`);
    const query = c.queryCall('c1');
    const q = await ws.next();
    ws.reply(q.id, { callInfo: { callID: 'c1' } });
    assert.deepEqual(await query, { callID: 'c1' }, `${what}: an operation after it`);
    await logsOut(c, ws);
    assert.deepEqual(states, [['Disconnected', 'loggedOut']], what);
    await assert.rejects(c.queryCall('c1'), (e) => e.reason === 'loggedOut');
    assert.equal(srv.sockets.length, 1, `${what}: both logouts on the first connection`);
  }
});

test('a logout given up while its connection is down (its signal aborted, or requestTimeoutMs past) leaves the client reconnecting, and a logout repeated after the reconnection logs the device out, as a Go Logout whose ctx ends', async () => {
  for (const how of ['aborted', 'timeout']) {
    const { c, srv, ws } = await loggedIn({ options: { requestTimeoutMs: 300 } });
    const ctl = new AbortController();
    const out = c.logout({ signal: ctl.signal });
    assert.equal((await ws.next()).op, 'logout');
    srv.silent = true; // the reconnection's sockets do not open
    ws.drop(); // the logout is lost with its connection: it may or may not have been carried out
    await waitFor(() => srv.sockets[1]);
    if (how === 'aborted') ctl.abort(new Error('the user went away'));
    assert.equal(await settledWithin(out, 1000), how);
    assert.equal(c.state, 'Reconnecting', `${how}: the client goes on`);
    srv.silent = false;
    const n = srv.sockets.length;
    const ws2 = await answerLogin(srv, n);
    assert.equal(c.state, 'Connected', `${how}: reconnected`);
    assert.equal(ws2.sent.filter((f) => f.op === 'logout').length, 0, `${how}: the logout given up is not sent again`);
    await logsOut(c, ws2);
  }
});

test('a logout before a login succeeded rejects with notLoggedIn and leaves the client, which may log in and then log out', async () => {
  const { c, srv } = newClient();
  const states = recordStates(c);
  assert.equal(await settledWithin(c.logout()), 'notLoggedIn');
  assert.deepEqual(states, [], 'the client is not ended');
  const login = c.login(token, 'd1');
  const ws = await answerLogin(srv, 0);
  await login;
  await logsOut(c, ws);
});

test('a logout called while a login is in flight waits for it: after a refused login it rejects with notLoggedIn, leaving the client to log in again; after a successful one it logs the device out, as the Go SDK\'s Logout waits for the Login', async () => {
  const { c, srv } = newClient();
  // The login is refused.
  const refused = c.login(token, 'd1');
  const early = outcome(c.logout());
  const ws = await answerLogin(srv, 0, { code: ErrorCode.AuthFailed });
  await assert.rejects(refused, (e) => e.code === ErrorCode.AuthFailed);
  assert.equal(await early, 'notLoggedIn');
  assert.equal(ws.sent.filter((f) => f.op === 'logout').length, 0, 'no logout sent');
  assert.equal(await outcome(c.queryCall('c1')), 'notLoggedIn', 'the client is not ended');
  // The next login succeeds: the logout called during it is sent once it has resolved.
  const order = [];
  const login = c.login(token, 'd1').then(() => order.push('login'));
  const out = c.logout().then(() => order.push('logout'));
  const ws2 = await answerLogin(srv, 1);
  const f = await ws2.next();
  assert.equal(f.op, 'logout');
  assert.deepEqual(order, ['login'], 'the logout is sent once the login has resolved');
  ws2.reply(f.id, {});
  await Promise.all([login, out]);
  assert.deepEqual(order, ['login', 'logout']);
  assert.equal(c.state, 'Disconnected');
});

test('logouts called together run one after the other: the second waits for the first, makes its own attempt when the first was refused, and rejects with loggedOut when it logged the device out; a login called meanwhile waits too, as in the Go SDK', async () => {
  const { c, ws } = await loggedIn();
  const first = c.logout();
  const f1 = await ws.next();
  assert.equal(f1.op, 'logout');
  const second = c.logout();
  const login = outcome(c.login(token, 'd1'));
  assert.equal(await settledWithin(second, 50), 'pending', 'the second logout waits for the first');
  assert.equal(ws.sent.length, ws.read, 'nothing sent while the first logout waits for its reply');
  ws.fail(f1.id, ErrorCode.Internal);
  assert.equal(await settledWithin(first), ErrorCode.Internal);
  const f2 = await ws.next();
  assert.equal(f2.op, 'logout', 'the second logout makes its own attempt');
  const third = outcome(c.logout());
  ws.reply(f2.id, {});
  assert.equal(await settledWithin(second), 'resolved');
  assert.equal(await third, 'loggedOut', 'a logout that waited for one that logged the device out');
  assert.equal(await login, 'loggedOut', 'a login that waited for the logouts');
  assert.equal(ws.sent.filter((f) => f.op === 'logout').length, 2);
});

test('close() while a logout waits for the login in flight: both reject with closed, and no logout is sent', async () => {
  const { c, srv } = newClient();
  const login = outcome(c.login(token, 'd1'));
  const out = outcome(c.logout());
  const ws = await waitFor(() => srv.sockets[0]);
  assert.equal((await ws.next()).op, 'login');
  c.close();
  assert.equal(await login, 'closed');
  assert.equal(await out, 'closed');
  assert.deepEqual(ws.sent.map((f) => f.op), ['login']);
});

test('a logout waiting for another one in flight ends its wait when its signal aborts, sending nothing, and the other goes on', async () => {
  const { c, ws } = await loggedIn();
  const first = c.logout();
  const f = await ws.next();
  assert.equal(f.op, 'logout');
  const ctl = new AbortController();
  const second = c.logout({ signal: ctl.signal });
  ctl.abort(new Error('the user went away'));
  assert.equal(await settledWithin(second), 'aborted');
  ws.reply(f.id, {});
  assert.equal(await settledWithin(first), 'resolved');
  assert.equal(ws.sent.filter((s) => s.op === 'logout').length, 1);
});
