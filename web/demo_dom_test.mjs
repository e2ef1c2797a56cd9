// Unit tests of the demo page's helpers that need no page (demo-dom.js).
// Run with the others: node --test web/*_test.mjs (TestSDKUnit in sdk_test.go runs them too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kickText } from './demo-dom.js';

// A kick of no reason ('': its kicked event told none, and no close named it; docs/behaviour.md
// §12, "A kick that tells no reason") is logged as such, not as an empty reason.
for (const [kick, want] of [
  [{ reason: 'replaced', retry: false }, 'kicked: replaced (retry false)'],
  [{ reason: '', retry: false }, 'kicked (no reason given, retry false)'],
  [{ reason: '', retry: true }, 'kicked (no reason given, retry true)'],
]) {
  test(`the log line of the kick ${JSON.stringify(kick)} is ${want}`, () => {
    assert.equal(kickText(kick), want);
  });
}
