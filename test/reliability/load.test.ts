// Load, CI-sized: 120 submissions over 20 connections at once against one oven (queue limit 30).
// Every request is answered 202 or 429, every accepted job ends done with one callback, and /health,
// polled every 20 ms from its own connection while the bakes run, keeps p99 under 100 ms.
// `npm run reliability` runs the full size (300 over 50) and records the figures.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadBurst } from './scenarios.ts';

test('a burst of 120 submissions over 20 connections: 202 or 429 each, nothing lost, /health stays quick', { timeout: 150_000 }, async () => {
  const f = await loadBurst({ submissions: 120, connections: 20, queueLimit: 30 });
  assert.equal(f.socketErrors, 0, 'no socket errors');
  assert.equal(f.otherAnswers, 0, 'every answer is 202 or 429');
  assert.equal(f.accepted + f.refused429, f.submissions);
  assert.ok(f.refused429 > 0, 'the queue limit was reached');
  assert.ok(f.accepted >= 30, `at least the queue's worth accepted (${f.accepted})`);
  assert.equal(f.lost, 0, 'every accepted job ended done with its callback delivered');
  assert.equal(f.finished, f.accepted);
  assert.equal(f.duplicateCallbacks, 0);
  assert.equal(f.healthNon200, 0);
  assert.ok(f.healthSamples > 50, `enough /health samples (${f.healthSamples})`);
  assert.ok(f.healthP99Ms < 100, `/health p99 ${f.healthP99Ms} ms (p50 ${f.healthP50Ms}, max ${f.healthMaxMs})`);
});
