// Unit tests of dialtone.js — login(): its result, refusals, timeouts and logins that overlap.
// Run with the others: node --test web/*_test.mjs (TestSDKUnit in sdk_test.go runs them too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dialtone, DialtoneError, ErrorCode } from './dialtone.js';
import { fakeServer, memoryStorage, token, loginResult, quiet, loggedIn, waitFor, hiddenPage } from './testkit.mjs';

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

// virtualClient returns a client on a virtual clock (hiddenPage: timers set from the network's
// tasks keep a one-second alignment) whose sockets open when the test says, and the page.
function virtualClient(options = {}) {
  const page = hiddenPage();
  const srv = fakeServer();
  srv.silent = true; // the test opens each socket: page.net(ms, () => ws.onopen())
  const c = new Dialtone({
    url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, logger: quiet, network: null,
    timers: page.timers, ...options,
  });
  return { c, srv, page };
}

test('requestTimeoutMs bounds a whole login, the socket\'s opening and the reply together, as ctx bounds the Go SDK\'s Login', async () => {
  const { c, srv, page } = virtualClient({ requestTimeoutMs: 10000 });
  try {
    let outcome = 'pending';
    c.login(token, 'd1').then(() => { outcome = 'resolved'; }, (e) => { outcome = [page.now(), e.reason]; });
    await page.run(0);
    page.net(9000, () => srv.sockets[0].onopen()); // a slow network: opens just in time
    await page.run(10000); // the login is sent at 9000 and never answered
    assert.equal(srv.sockets[0].sent[0]?.op, 'login', 'the login was sent once the socket opened');
    assert.deepEqual(outcome, [10000, 'timeout'], 'login() settles requestTimeoutMs after it was called');
  } finally {
    c.close();
  }
});

test('a login waiting for another in flight ends requestTimeoutMs after it was called, as the Go SDK\'s Login waiting for another ends with its ctx', async () => {
  const { c, srv, page } = virtualClient({ requestTimeoutMs: 10000 });
  try {
    c.login(token, 'd1').catch(() => {}); // its socket opens at 6000, its reply never comes
    await page.run(0);
    page.net(6000, () => srv.sockets[0].onopen());
    await page.run(5000);
    let outcome = 'pending';
    c.login(token, 'd1').then(() => { outcome = 'resolved'; }, (e) => { outcome = [page.now(), e.reason]; });
    await page.run(10000);
    assert.deepEqual(outcome, [15000, 'timeout'], 'the second login settles requestTimeoutMs after it was called');
  } finally {
    c.close();
  }
});

test('logins waiting for one in flight make their attempts one at a time when it is refused, as the Go SDK\'s Logins do', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, logger: quiet });
  try {
    const first = c.login(token, 'd1');
    const second = c.login(token, 'd1');
    const third = c.login(token, 'd1');
    const ws = await waitFor(() => srv.sockets[0]);
    ws.fail((await ws.next()).id, ErrorCode.AuthFailed);
    await assert.rejects(first, (e) => e.code === ErrorCode.AuthFailed);
    const ws2 = await waitFor(() => srv.sockets[1]);
    await ws2.next();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(srv.sockets.length, 2, 'the third login waits for the second: one attempt at a time');
    ws2.reply(ws2.sent[0].id, loginResult());
    assert.equal((await second).userID, 'bob');
    await assert.rejects(third, (e) => e.reason === 'alreadyLoggedIn');
  } finally {
    c.close();
  }
});
