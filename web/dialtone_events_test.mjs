// Unit tests of dialtone.js — events: their order, seqs and saved positions, listeners.
// Run with the others: node --test web/*_test.mjs (TestSDKUnit in sdk_test.go runs them too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dialtone } from './dialtone.js';
import { fakeServer, memoryStorage, token, loginResult, quiet, loggedIn, waitFor } from './testkit.mjs';

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

test('a saved position that is not a whole number in decimal is no position', async () => {
  for (const garbage of ['', '  ', 'abc', '-1', '1.5']) {
    const storage = memoryStorage();
    storage.setItem('dialtone:lastSeq:bob:d1', garbage);
    const { c, loginFrame } = await loggedIn({ storage });
    c.close();
    assert.equal(loginFrame.data.lastSeq, undefined, `stored ${JSON.stringify(garbage)}`);
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

test('an invitation synthesized after a reconnection while its receipt is on its way again is acknowledged once (R5.1, R5.3); a later one again', async () => {
  const { c, srv, ws } = await loggedIn({ login: { caughtUp: true } });
  try {
    const deadline = Date.now() + 30000;
    ws.event('callInvitationReceived', { callID: 'c1', version: 1, deadline }, 4);
    const ack = await ws.next();
    assert.deepEqual([ack.op, ack.data], ['callReceived', { callID: 'c1' }]);
    ws.drop(); // before the receipt's reply: it is sent again after the reconnection
    const ws2 = await waitFor(() => srv.sockets[1]);
    const login = await ws2.next();
    ws2.reply(login.id, loginResult({ headSeq: 9, caughtUp: false }));
    ws2.event('callInvitationReceived', { callID: 'c1', version: 2, deadline, synthetic: true });
    const receipts = () => ws2.sent.filter((f) => f.op === 'callReceived');
    assert.equal(receipts().length, 1, `receipts sent after the reconnection: ${JSON.stringify(receipts())}`);
    ws2.reply(receipts()[0].id, {});
    // Once that receipt is answered, an invitation told again (a re-invitation, R3.6) is acknowledged.
    await new Promise((r) => setImmediate(r));
    ws2.event('callInvitationReceived', { callID: 'c1', version: 5, deadline }, 10);
    assert.equal(receipts().length, 2);
  } finally {
    c.close();
  }
});

test('an operation settles in the wire\'s order with the events around its reply: the app sees an event sent before the reply before the operation resolves, and one sent after, after', async () => {
  // protocol.md Envelopes: a reply may come before or after the events its request caused.
  const { c, ws } = await loggedIn();
  try {
    const seen = [];
    c.on('callUserStateChanged', (d) => seen.push(`event ${d.callID}`));
    const before = c.callAccept('c1').then(() => seen.push('callAccept resolved'));
    const f1 = await ws.next();
    ws.event('callUserStateChanged', { callID: 'c1', version: 2, callUserList: [] }, 4);
    ws.reply(f1.id, { callID: 'c1' });
    await new Promise((r) => setTimeout(r, 0)); // the next frame comes in a task of its own
    ws.event('callUserStateChanged', { callID: 'c1', version: 3, callUserList: [] }, 5);
    await before;
    assert.deepEqual(seen, ['event c1', 'callAccept resolved', 'event c1']);
  } finally {
    c.close();
  }
});
// A call event without data, or with data that is not an object, tells no call (protocol.md
// "Events": every call event's data holds callID and the call's version): it is not delivered
// and an invitation of no call is not acknowledged; its seq still counts as processed, as an
// unknown event's does.
test('a call event without data, or with data that is not an object, is not delivered, as in the Go SDK', async () => {
  const { c, ws } = await loggedIn();
  try {
    const seen = [];
    c.on('callInvitationReceived', (d) => seen.push(d.callID));
    c.on('callInvitationCreated', (d) => seen.push(d.callID));
    ws.text('{"event":"callInvitationReceived","seq":4}');
    ws.text('{"event":"callInvitationReceived","data":null,"seq":5}');
    ws.text('{"event":"callInvitationCreated","data":"c7","seq":6}');
    ws.event('callInvitationReceived', { callID: 'c9', version: 1, deadline: Date.now() + 30000 }, 7);
    assert.deepEqual(seen, ['c9']);
    const receipt = await ws.next();
    assert.deepEqual([receipt.op, receipt.data], ['callReceived', { callID: 'c9' }]);
    assert.equal(c.lastSeq, 7);
  } finally {
    c.close();
  }
});
