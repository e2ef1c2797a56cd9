// Unit tests of dialtone.js — reconnection: resume, heartbeat, backoff and tokenSource.
// Run with the others: node --test web/*_test.mjs (TestSDKUnit in sdk_test.go runs them too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dialtone, backoff } from './dialtone.js';
import { fakeServer, token, loginResult, quiet, loggedIn, waitFor, hiddenPage } from './testkit.mjs';

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

test('a tokenSource that never answers is given up after requestTimeoutMs and asked again, as the Go SDK does', async () => {
  let calls = 0;
  const tokenSource = () => (++calls === 1 ? new Promise(() => {}) : Promise.resolve('fresh'));
  const { c, srv, ws } = await loggedIn({ options: { requestTimeoutMs: 50, tokenSource } });
  try {
    ws.drop();
    const ws2 = await waitFor(() => srv.sockets[1]);
    const login = await ws2.next();
    assert.deepEqual([login.op, login.data.token, calls], ['login', 'fresh', 2]);
  } finally {
    c.close();
  }
});

test('a tokenSource given up after requestTimeoutMs sees its signal aborted with the timeout', async () => {
  const signals = [];
  const tokenSource = (s) => {
    signals.push(s);
    return signals.length === 1 ? new Promise(() => {}) : 'fresh';
  };
  const { c, srv, ws } = await loggedIn({ options: { requestTimeoutMs: 50, tokenSource } });
  try {
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

test('a reconnection waiting out its backoff is made within half a second when the browser tells the network is back (online)', async () => {
  const network = new EventTarget();
  const { c, srv, ws } = await loggedIn({ options: { minBackoffMs: 60000, maxBackoffMs: 60000, network } });
  try {
    network.dispatchEvent(new Event('online')); // while connected: nothing to do
    ws.drop();
    assert.equal(c.state, 'Reconnecting');
    network.dispatchEvent(new Event('online'));
    const ws2 = await waitFor(() => srv.sockets[1]);
    ws2.reply((await ws2.next()).id, loginResult({ caughtUp: true }));
    await waitFor(() => c.state === 'Connected');
    network.dispatchEvent(new Event('online'));
    assert.equal(srv.sockets.length, 2, 'no second connection');
  } finally {
    c.close();
  }
});

test('requestTimeoutMs bounds a whole reconnection attempt, its token, socket and login together, as the Go SDK bounds each attempt by RequestTimeout', async () => {
  const page = hiddenPage();
  const srv = fakeServer();
  srv.silent = true; // each socket opens when the test says
  let asked = 0;
  const tokenSource = () => new Promise((resolve) => {
    asked++;
    page.net(4000, () => resolve(token)); // a slow token backend
  });
  const c = new Dialtone({
    url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, logger: quiet, network: null, timers: page.timers,
    minBackoffMs: 900, maxBackoffMs: 900, requestTimeoutMs: 10000, tokenSource,
  });
  try {
    const done = c.login(token, 'd1');
    page.net(10, () => srv.sockets[0].onopen());
    await page.run(20);
    srv.sockets[0].reply(srv.sockets[0].sent[0].id, loginResult());
    await done;
    const states = [];
    c.on('connectionStateChanged', ({ state, reason }) => states.push([page.now(), state, reason?.reason]));
    const start = page.now();
    page.net(0, () => srv.sockets[0].drop());
    await page.run(0);
    // The attempt starts after its backoff (450 to 900 ms from 20, aligned to the second: 1000,
    // whatever the jitter), gets its token 4000 ms later, its socket opens 4000 ms after that,
    // and its login is never answered: it is given up at 11000, requestTimeoutMs after it began.
    await page.run(9000);
    assert.equal(asked, 1);
    page.net(0, () => srv.sockets[1].onopen());
    await page.run(1000);
    assert.equal(srv.sockets[1].sent[0]?.op, 'login');
    assert.ok(!srv.sockets[1].closed, 'the login waits for its reply until the attempt\'s time is up');
    await page.run(1000);
    assert.ok(srv.sockets[1].closed, `the attempt begun at ${start + 980} is given up by ${page.now()}`);
    assert.deepEqual(states.at(-1)?.[1], 'Reconnecting');
    await page.run(1000);
    assert.equal(asked, 2, 'the next attempt asks for a token after its backoff');
  } finally {
    c.close();
  }
});
