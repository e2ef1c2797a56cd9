// Unit tests of dialtone.js — a page Chrome has hidden for long, whose timers it throttles.
// Run with the others: node --test web/*_test.mjs (TestSDKUnit in sdk_test.go runs them too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dialtone } from './dialtone.js';
import { fakeServer, hiddenPage, token, loginResult, quiet } from './testkit.mjs';

const MINUTE = 60000;

// hiddenClient logs a client in, in a hidden page (hiddenPage), on a fake server that answers
// after rttMs with the heartbeat settings of login, and, as the real server does (R6.1), kicks a
// connection that sent nothing for the heartbeat timeout (heartbeatTimeout, close 4009). The
// server stops answering, without closing, once deaf(now) is true. Returns the client, the page,
// the frames the server got ([virtual time, op]) and the state changes ([time, state,
// reason]).
async function hiddenClient({ login, rttMs = 20, deaf = () => false }) {
  const page = hiddenPage();
  const srv = fakeServer();
  srv.silent = true; // sockets open as the page's network says, below
  const settings = loginResult(login);
  const frames = [];
  class ServerSocket extends srv.FakeSocket {
    constructor(url) {
      super(url);
      this.heard = 0;
      page.net(5, () => this.onopen?.());
      this.#watch();
    }
    #watch() {
      const heard = this.heard;
      page.net(settings.heartbeatTimeoutMs, () => {
        if (this.heard !== heard || this.closed) return;
        this.event('kicked', { reason: 'heartbeatTimeout', retry: true });
        this.drop(4009);
      });
    }
    send(text) {
      super.send(text);
      const f = JSON.parse(text);
      frames.push([page.now(), f.op]);
      this.heard++;
      this.#watch();
      if (deaf(page.now())) return;
      const result = f.op === 'login' ? { ...settings, serverTime: Date.now() }
        : f.op === 'heartbeat' ? { serverTime: Date.now() } : {};
      page.net(rttMs, () => { if (!this.closed) this.reply(f.id, result); });
    }
  }
  const c = new Dialtone({
    url: 'ws://x', WebSocket: ServerSocket, storage: null, logger: quiet, network: null, timers: page.timers,
  });
  const states = [];
  c.on('connectionStateChanged', ({ state, reason }) => states.push([page.now(), state, reason?.reason]));
  const done = c.login(token, 'd1');
  await page.run(1000);
  await done;
  return { c, page, srv, frames, states };
}

test('a page hidden for long keeps its session: Chrome\'s one-minute alignment of chained timers delays no heartbeat past the server\'s timeout (R6.1)', async () => {
  // The server's defaults: a heartbeat every 10 s, a connection silent for 35 s is dropped.
  const { c, page, srv, frames, states } = await hiddenClient({ login: { heartbeatIntervalMs: 10000, heartbeatTimeoutMs: 35000 } });
  try {
    await page.run(10 * MINUTE);
    const silences = frames.slice(1).map(([at], i) => at - frames[i][0]);
    assert.ok(Math.max(...silences) < 35000, `the server heard nothing for ${Math.max(...silences)} ms; states ${JSON.stringify(states)}`);
    assert.ok(frames.length > 50, `${frames.length} frames in 10 minutes, want a heartbeat about every 10 s`);
    assert.deepEqual(states.map(([, state, reason]) => [state, reason]), [['Connecting', undefined], ['Connected', undefined]]);
    assert.equal(srv.sockets.length, 1, 'one connection');
  } finally {
    c.close();
  }
});

test('in a page hidden for long, a connection that went silent is still dropped the heartbeat timeout after its last frame, not up to a minute later', async () => {
  // Settings a heartbeat once a minute would satisfy: only the watchdog is at stake.
  let deafFrom = Infinity;
  const { c, page, frames, states } = await hiddenClient({
    login: { heartbeatIntervalMs: 20000, heartbeatTimeoutMs: 180000 },
    deaf: (now) => now >= deafFrom,
  });
  try {
    await page.run(3 * MINUTE + 17000);
    deafFrom = page.now(); // the server stops answering, the connection stays open
    const lastReply = frames.at(-1)[0] + 20; // the reply to the last frame answered
    await page.run(6 * MINUTE);
    const dropped = states.find(([, state]) => state === 'Reconnecting');
    assert.ok(dropped, `no drop: ${JSON.stringify(states)}`);
    assert.equal(dropped[2], 'heartbeatTimeout');
    const after = dropped[0] - lastReply;
    assert.ok(after >= 180000 && after <= 182000, `dropped ${after} ms after the last frame, want the 180000 ms timeout and at most a wake up more`);
  } finally {
    c.close();
  }
});
