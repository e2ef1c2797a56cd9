// Unit tests of dialtone.js — the SDK's exported helpers and how options take their defaults.
// Run with the others: node --test web/*_test.mjs (TestSDKUnit in sdk_test.go runs them too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as sdk from './dialtone.js';
import { Dialtone, remainingRingTime, backoff, newIdempotencyKey, tokenSubject, wsURL, stateName } from './dialtone.js';
import { fakeServer, memoryStorage, token, loginResult, quiet, waitFor } from './testkit.mjs';

test('helpers', () => {
  assert.equal(remainingRingTime(10000, 500, 9000), 500);
  assert.equal(remainingRingTime(10000, 0, 20000), 0);
  assert.equal(remainingRingTime(undefined, 0, 20000), 0, "a missing deadline leaves no ring time");
  for (let n = 0; n < 40; n++) {
    const b = backoff(250, 30000, n);
    assert.ok(b >= Math.min(30000, 250 * 2 ** n) / 2 && b <= 30000, `backoff ${n} = ${b}`);
  }
  const key = newIdempotencyKey();
  assert.match(key, /^[0-9A-Z_a-z~]{24}$/);
  assert.notEqual(key, newIdempotencyKey());
  assert.ok(newIdempotencyKey(1795000000000) < newIdempotencyKey(1795000000001), 'keys sort by time');
  assert.equal(tokenSubject(token), 'bob');
  assert.equal(tokenSubject('garbage'), '');
  assert.equal(wsURL('https://h:1'), 'wss://h:1/v1/ws');
  assert.equal(stateName(5), 'Received');
});

test('dialtone.js exports exactly the values dialtone.d.ts declares, and none of its modules\' internals', () => {
  const dts = readFileSync(new URL('./dialtone.d.ts', import.meta.url), 'utf8');
  const declared = [...dts.matchAll(/^export (?:const|class|function) (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual(Object.keys(sdk).sort(), [...new Set(declared)].sort());
});

test('an option given as undefined keeps its default', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: memoryStorage(), logger: undefined,
    requestTimeoutMs: undefined, minBackoffMs: undefined });
  try {
    const done = c.login(token, 'd1');
    const ws = await waitFor(() => srv.sockets[0]);
    const f = await ws.next();
    await new Promise((r) => setTimeout(r, 20)); // an undefined timeout would have fired by now
    ws.reply(f.id, loginResult());
    await done;
    assert.equal(c.state, 'Connected');
  } finally {
    c.close();
  }
});

test('numeric options of 0 or less keep their defaults, as in the Go SDK', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, logger: quiet, requestTimeoutMs: 0, minBackoffMs: -1, maxBackoffMs: 0 });
  try {
    const done = c.login(token, 'd1');
    const ws = await waitFor(() => srv.sockets[0]);
    const f = await ws.next();
    await new Promise((r) => setTimeout(r, 20));
    ws.reply(f.id, loginResult()); // a requestTimeoutMs of 0 would have given the login up already
    await done;
  } finally {
    c.close();
  }
});

test('a maxBackoffMs below minBackoffMs is raised to it, as in the Go SDK', async () => {
  const srv = fakeServer();
  const c = new Dialtone({ url: 'ws://x', WebSocket: srv.FakeSocket, storage: null, minBackoffMs: 400, maxBackoffMs: 10, logger: quiet });
  try {
    const p = c.login(token, 'd1');
    const ws = await waitFor(() => srv.sockets[0]);
    ws.reply((await ws.next()).id, loginResult());
    await p;
    const dropped = Date.now();
    ws.drop();
    await waitFor(() => srv.sockets[1]);
    const waited = Date.now() - dropped;
    assert.ok(waited >= 190, `reconnected ${waited} ms after a drop; want at least half of minBackoffMs (200 ms)`);
  } finally {
    c.close();
  }
});
