// Unit tests of dialtone.js — the server clock offset and the ring time it gives.
// Run with the others: node --test web/*_test.mjs (TestSDKUnit in sdk_test.go runs them too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loggedIn } from './testkit.mjs';

test('clock offset: a reply slower than the best one does not move it', async () => {
  const { c, ws } = await loggedIn({ login: { heartbeatIntervalMs: 20 } });
  try {
    const before = c.serverTimeOffset;
    let hb;
    do { hb = await ws.next(); } while (hb.op !== 'heartbeat');
    await new Promise((r) => setTimeout(r, 150)); // a round trip far longer than the login's
    // The server read its clock 100 ms before the reply arrived: alone, the reply says 25 ms less.
    ws.reply(hb.id, { serverTime: Math.trunc(Date.now() + before - 100) });
    assert.ok(Math.abs(c.serverTimeOffset - before) < 1, `offset ${before} → ${c.serverTimeOffset}`);
  } finally {
    c.close(); // its heartbeat timer would keep the test runner alive
  }
});

test('clock offset: a slower reply the estimate cannot explain (a clock jumped) replaces it, as in the Go SDK', async () => {
  const { c, ws } = await loggedIn({ login: { heartbeatIntervalMs: 20 } });
  try {
    const before = c.serverTimeOffset;
    let hb;
    do { hb = await ws.next(); } while (hb.op !== 'heartbeat');
    await new Promise((r) => setTimeout(r, 150));
    ws.reply(hb.id, { serverTime: Math.trunc(Date.now() + before + 60000) }); // read as it answers
    const moved = c.serverTimeOffset - before; // 60 s, and the half round trip after the midpoint
    assert.ok(moved > 60000 && moved < 60300, `offset ${before} → ${c.serverTimeOffset}, want 60 s and about 75 ms more`);
  } finally {
    c.close();
  }
});

test('a step of the local wall clock after the login leaves the ring time right and the connection up, as in the Go SDK', async () => {
  const { c, ws } = await loggedIn({ login: { heartbeatIntervalMs: 20 } });
  const realNow = Date.now;
  try {
    const deadline = realNow() + 5000 + 30000; // the server's clock is 5 s ahead
    for (const step of [300000, -300000]) {
      Date.now = () => realNow() + step; // an NTP correction of the local clock
      const left = c.remainingRingTime(deadline);
      assert.ok(left > 29000 && left <= 31000, `step ${step}: rings for ${left} ms, want about 30000`);
      assert.ok(Math.abs(c.serverTimeOffset - (5000 - step)) < 1000, `step ${step}: offset ${c.serverTimeOffset}`);
    }
    Date.now = () => realNow() + 300000;
    for (let n = 0; n < 2;) if ((await ws.next()).op === 'heartbeat') n++; // the watchdog has looked
    assert.equal(c.state, 'Connected', 'a connection the server answered a moment ago is not silent');
  } finally {
    Date.now = realNow;
    c.close();
  }
});
