// Unit tests of dialtone.js — an operation's AbortSignal, the browser's form of the Go SDK's
// operation ctx: it ends the operation's wait at once, wherever the operation is.
// Run with the others: node --test web/*_test.mjs (TestSDKUnit in sdk_test.go runs them too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loginResult, loggedIn, waitFor } from './testkit.mjs';

// settledWithin resolves with 'resolved', the rejection's reason, or 'pending' when p has not
// settled within ms.
function settledWithin(p, ms = 500) {
  return Promise.race([
    p.then(() => 'resolved', (e) => e?.reason ?? String(e)),
    new Promise((r) => setTimeout(() => r('pending'), ms)),
  ]);
}

test('an operation whose AbortSignal aborts mid-flight rejects at once (aborted, the signal\'s reason as cause) and its late reply is dropped, as the Go SDK\'s operation ends with its ctx', async () => {
  const { c, ws } = await loggedIn({ options: { requestTimeoutMs: 2000 } });
  try {
    const cases = [
      ['callInvite', (signal) => c.callInvite(['alice'], {}, { signal })],
      ['callCancel', (signal) => c.callCancel('c1', [], {}, { signal })],
      ['callAccept', (signal) => c.callAccept('c1', {}, { signal })],
      ['callReject', (signal) => c.callReject('c1', {}, { signal })],
      ['callingInvite', (signal) => c.callingInvite('c1', ['dave'], {}, { signal })],
      ['callJoin', (signal) => c.callJoin('c1', {}, { signal })],
      ['callQuit', (signal) => c.callQuit('c1', {}, { signal })],
      ['callEnd', (signal) => c.callEnd('c1', {}, { signal })],
      ['callReceived', (signal) => c.callReceived('c1', undefined, { signal })],
      ['queryCallInvitationList', (signal) => c.queryCallInvitationList(0, 0, { signal })],
      ['queryCall', (signal) => c.queryCall('c1', { signal })],
      ['pushRegister', (signal) => c.pushRegister({ provider: 'webhook', token: 't' }, { signal })],
      ['pushUnregister', (signal) => c.pushUnregister('webhook', 't', { signal })],
    ];
    for (const [op, call] of cases) {
      const ctl = new AbortController();
      const p = call(ctl.signal);
      const f = await ws.next();
      assert.equal(f.op, op);
      const why = new Error('the user went away');
      ctl.abort(why);
      const err = await p.then(() => null, (e) => e);
      assert.ok(err?.reason === 'aborted' && err.cause === why && err.code === 0, `${op}: rejects with aborted, got ${err?.reason ?? err}`);
      const next = c.queryCall('c2');
      const g = await ws.next();
      ws.reply(f.id, { callID: 'c1', callInfo: { callID: 'c1' } }); // the late reply
      ws.reply(g.id, { callInfo: { callID: 'c2' } });
      assert.deepEqual(await next, { callID: 'c2' }, `${op}: the late reply is not taken for the next request`);
    }
    // A signal aborted before the call: nothing is sent, the call rejects at once.
    const sent = ws.sent.length;
    const err = await c.callAccept('c1', {}, { signal: AbortSignal.abort() }).then(() => null, (e) => e);
    assert.equal(err?.reason, 'aborted');
    assert.equal(ws.sent.length, sent, 'nothing sent for an aborted signal');
  } finally {
    c.close();
  }
});

test('an operation whose AbortSignal aborts while it waits for a reconnection rejects at once and is not sent after it', async () => {
  const { c, srv, ws } = await loggedIn({ options: { requestTimeoutMs: 60000 } });
  try {
    const ctl = new AbortController();
    const p = c.callAccept('c1', {}, { signal: ctl.signal });
    await ws.next();
    srv.silent = true;
    ws.drop();
    await waitFor(() => srv.sockets[1]);
    ctl.abort();
    assert.equal(await settledWithin(p), 'aborted');
    srv.silent = false;
    srv.sockets[1].onopen?.();
    const ws2 = srv.sockets[1];
    const login = await ws2.next();
    ws2.reply(login.id, loginResult({ caughtUp: true }));
    const q = c.queryCall('c2');
    const f = await ws2.next();
    assert.equal(f.op, 'queryCall', 'the aborted callAccept is not sent after the reconnection');
    ws2.reply(f.id, { callInfo: { callID: 'c2' } });
    await q;
  } finally {
    c.close();
  }
});
