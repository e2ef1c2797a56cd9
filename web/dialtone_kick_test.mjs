// Unit tests of dialtone.js — kicks and the kick table.
// Run with the others: node --test web/*_test.mjs (TestSDKUnit in sdk_test.go runs them too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dialtone, ErrorCode } from './dialtone.js';
import { fakeServer, token, loginResult, quiet, loggedIn, waitFor } from './testkit.mjs';

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

test('a kick heard on a connection that then goes silent, its close lost, ends the client as the kick says, before the watchdog could drop it, as in the Go SDK', async () => {
  // The Go SDK's conn.reason prefers the kicked event to whatever ended the connection.
  const { c, srv, ws } = await loggedIn({ login: { heartbeatIntervalMs: 20, heartbeatTimeoutMs: 60 } });
  try {
    const states = [];
    c.on('connectionStateChanged', ({ state, reason }) => states.push([state, reason?.reason, reason?.kick?.reason]));
    ws.event('kicked', { reason: 'replaced', retry: false }); // a newer connection of the device took it
    await waitFor(() => c.state === 'Disconnected' || srv.sockets.length > 1); // its close never comes
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(states, [['Disconnected', 'kicked', 'replaced']]);
    assert.equal(srv.sockets.length, 1, 'no reconnection taking the device back');
  } finally {
    c.close();
  }
});

test('a refused reconnection whose connection heard the replaced kick, its close lost, ends the client without asking tokenSource for a token', async () => {
  let asked = 0;
  const tokenSource = () => { asked++; return token; };
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, minBackoffMs: 40, maxBackoffMs: 80, tokenSource, logger: quiet });
  try {
    const done = c.login(token, 'd1');
    const ws = await waitFor(() => srv.sockets[0]);
    ws.reply((await ws.next()).id, loginResult());
    await done;
    ws.drop();
    const ws2 = await waitFor(() => srv.sockets[1]);
    ws2.fail((await ws2.next()).id, ErrorCode.InvalidParameter); // a newer connection of the device logged in
    await new Promise((r) => setTimeout(r, 0));
    ws2.event('kicked', { reason: 'replaced', retry: false }); // and its close never comes
    await waitFor(() => c.state === 'Disconnected');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(srv.sockets.length, 2, 'no third connection');
    assert.equal(asked, 1, 'tokenSource asked for the second connection only');
    await assert.rejects(c.queryCall('c1'), (e) => e.reason === 'kicked' && e.kick.reason === 'replaced');
  } finally {
    c.close();
  }
});

for (const [reason, retry] of [['shutdown', true], ['replaced', false]]) {
  test(`a ${reason} kick whose close is lost ends its connection at once with a normal close: the ops in flight and sent after it are ${retry ? 'sent again on the next connection' : 'failed with the kick'}, not left to their timeout, as in the Go SDK`, async () => {
    const { c, srv, ws } = await loggedIn({ options: { requestTimeoutMs: 300 } });
    try {
      const inFlight = c.callAccept('c1');
      const first = await ws.next();
      ws.event('kicked', { reason, retry }); // and its close never comes
      const after = c.queryCall('c1');
      const sentBefore = ws.sent.length;
      const resent = [];
      if (retry) { // the next connection answers what is sent again on it
        (async () => {
          const ws2 = await waitFor(() => srv.sockets[1]);
          ws2.reply((await ws2.next()).id, loginResult({ headSeq: 3, caughtUp: true }));
          for (;;) {
            const f = await ws2.next();
            resent.push(f);
            ws2.reply(f.id, f.op === 'queryCall' ? { callInfo: { callID: 'c1' } } : { callID: 'c1' });
          }
        })().catch(() => {}); // the ops' outcomes tell what went wrong
      }
      const outcomes = await Promise.allSettled([after, inFlight]);
      for (const [what, o] of [['the op sent after the kick', outcomes[0]], ['the op in flight at the kick', outcomes[1]]]) {
        if (retry) assert.equal(o.status, 'fulfilled', `${what}: ${o.reason?.message}`);
        else assert.ok(o.status === 'rejected' && o.reason.reason === 'kicked' && o.reason.kick.reason === reason, `${what}: ${o.reason?.message ?? 'fulfilled'}`);
      }
      assert.equal(ws.sent.length, sentBefore, 'nothing sent on the kicked connection');
      assert.deepEqual([ws.closed, ws.closeCode], [true, 1000], 'closed by the client with a normal close');
      assert.equal(c.state, retry ? 'Connected' : 'Disconnected');
      if (retry) assert.equal(resent.find((f) => f.op === 'callAccept')?.idem, first.idem, 'sent again under its key (R7.3)');
      if (!retry) {
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(srv.sockets.length, 1, 'no reconnection after a final kick');
      }
    } finally {
      c.close();
    }
  });
}

test('a logout right after a kick with retry whose close is lost is sent on the next connection, not on the kicked one, as in the Go SDK', async () => {
  const { c, srv, ws } = await loggedIn({ options: { requestTimeoutMs: 300 } });
  try {
    ws.event('kicked', { reason: 'shutdown', retry: true }); // and its close never comes
    const out = c.logout();
    const settled = out.then(() => null, (err) => err);
    (async () => {
      const ws2 = await waitFor(() => srv.sockets[1]);
      ws2.reply((await ws2.next()).id, loginResult({ headSeq: 3, caughtUp: true }));
      const f = await ws2.next();
      assert.equal(f.op, 'logout');
      ws2.reply(f.id, {});
    })().catch(() => {}); // the logout's outcome tells what went wrong
    const err = await settled;
    assert.equal(err, null, `logout: ${err?.message}`);
    assert.equal(ws.sent.filter((f) => f.op === 'logout').length, 0, 'no logout on the kicked connection');
    assert.equal(c.state, 'Disconnected');
  } finally {
    c.close();
  }
});

// A kicked event that tells no reason (no data, data not of the kicked shape, or no reason in it)
// is still a kick (kick table): nothing more is sent on its connection, and the close that
// follows names the kick by its code, which the kicked listener and the state change carry;
// an op made meanwhile is sent on the next connection when the kick allows one. When no close
// of the table comes within a second, the kick has no reason and the event's retry, false when
// it has none. As in the Go SDK (docs/behaviour.md §12, "A kick that tells no reason").
for (const [name, event, closeCode, want] of [
  ['no data', '{"event":"kicked"}', 4003, { reason: 'shutdown', retry: true }],
  ['data of another shape', '{"event":"kicked","data":"replaced"}', 4001, { reason: 'replaced', retry: false }],
  ['no reason', '{"event":"kicked","data":{}}', 4009, { reason: 'heartbeatTimeout', retry: true }],
  ['no data, its close lost', '{"event":"kicked"}', 0, { reason: '', retry: false }],
  ['no reason, a close of no kick', '{"event":"kicked","data":{"retry":true}}', 1011, { reason: '', retry: true }],
]) {
  test(`a kicked event of ${name} is the kick its close names, as in the Go SDK`, async () => {
    const { c, srv, ws } = await loggedIn();
    try {
      const kicks = [];
      c.on('kicked', (k) => kicks.push(k));
      const ended = new Promise((resolve) => c.on('connectionStateChanged', (sc) => {
        if (sc.state !== 'Connected') resolve(sc);
      }));
      ws.text(event);
      const op = c.queryCall('c1');
      op.catch(() => {}); // settled below
      await new Promise((r) => setTimeout(r, 0));
      assert.deepEqual(ws.sent.slice(1), [], 'nothing is sent after the kick');
      if (closeCode) ws.drop(closeCode);
      const sc = await ended;
      assert.deepEqual(kicks, [want]);
      assert.deepEqual([sc.state, sc.reason?.reason, sc.reason?.kick],
        [want.retry ? 'Reconnecting' : 'Disconnected', 'kicked', want]);
      if (want.reason === '') {
        assert.equal(sc.reason.message, 'dialtone: kicked by the server (no reason given)');
      }
      if (!want.retry) {
        await assert.rejects(op, (e) => e.reason === 'kicked' && e.kick.reason === want.reason);
        return;
      }
      const ws2 = await waitFor(() => srv.sockets[1]);
      ws2.reply((await ws2.next()).id, loginResult({ caughtUp: true }));
      const f = await ws2.next();
      assert.equal(f.op, 'queryCall', 'the op made while the kick was heard, on the next connection');
      ws2.reply(f.id, { callInfo: { callID: 'c1' } });
      assert.deepEqual(await op, { callID: 'c1' });
    } finally {
      c.close();
    }
  });
}

// heldBackoffs returns a Dialtone timers option whose timers shorter than the second a kick of
// no reason waits for its close (the backoffs of these tests) run only when fire() is called,
// the others on the real clock.
function heldBackoffs() {
  const held = new Map();
  let seq = 0;
  const timers = {
    now: () => performance.now(),
    setTimeout(fn, ms) {
      if (ms >= 1000) return setTimeout(fn, ms);
      held.set(`held${++seq}`, fn);
      return `held${seq}`;
    },
    clearTimeout(id) {
      if (!held.delete(id)) clearTimeout(id);
    },
  };
  const fire = () => {
    const due = [...held.values()];
    held.clear();
    for (const fn of due) fn();
  };
  return { timers, fire };
}

test('a kicked event of no reason on a refused reconnection is the kick its close names even when the next attempt starts before that close: replaced ends the client instead of taking the device back', async () => {
  const { timers, fire } = heldBackoffs();
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, timers, logger: quiet });
  try {
    const done = c.login(token, 'd1');
    const ws = await waitFor(() => srv.sockets[0]);
    ws.reply((await ws.next()).id, loginResult());
    await done;
    const kicks = [];
    c.on('kicked', (k) => kicks.push(k));
    ws.drop();
    fire();
    const ws2 = await waitFor(() => srv.sockets[1]);
    ws2.fail((await ws2.next()).id, ErrorCode.InvalidParameter); // a newer connection of the device logged in
    await new Promise((r) => setTimeout(r, 0)); // the kick comes in a frame of its own
    ws2.text('{"event":"kicked"}');
    fire(); // the next attempt starts while the client waits for the close that names the kick
    await new Promise((r) => setTimeout(r, 0));
    ws2.drop(4001);
    await waitFor(() => c.state === 'Disconnected' || srv.sockets.length > 2);
    assert.equal(srv.sockets.length, 2, 'no reconnection taking the device back');
    assert.deepEqual(kicks, [{ reason: 'replaced', retry: false }]);
    await assert.rejects(c.queryCall('c1'), (e) => e.reason === 'kicked' && e.kick.reason === 'replaced');
  } finally {
    c.close();
  }
});

// liveTimers returns a Dialtone timers option on the real clock and pending(), the waits (ms)
// of its timers neither run nor cancelled.
function liveTimers() {
  const live = new Map();
  const timers = {
    now: () => performance.now(),
    setTimeout(fn, ms) {
      const id = setTimeout(() => { live.delete(id); fn(); }, ms);
      live.set(id, Math.round(ms));
      return id;
    },
    clearTimeout(id) { live.delete(id); clearTimeout(id); },
  };
  return { timers, pending: () => [...live.values()] };
}

for (const [name, end] of [
  ['its close comes', (c, ws) => ws.drop(4001)],
  ['the app closes the client before its close', (c) => c.close()],
]) {
  test(`a kicked event of no reason leaves no timer of its wait for the close once ${name} and the client ends`, async () => {
    const { timers, pending } = liveTimers();
    const { c, ws } = await loggedIn({ options: { timers } });
    try {
      ws.text('{"event":"kicked"}');
      end(c, ws);
      await waitFor(() => c.state === 'Disconnected');
      await new Promise((r) => setTimeout(r, 0));
      assert.deepEqual(pending(), [], 'timers left pending');
    } finally {
      c.close();
    }
  });
}
