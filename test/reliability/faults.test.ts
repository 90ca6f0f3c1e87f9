// Faults, CI-sized: a ZIP host that cuts, stalls or trickles; a Space answering 500/503 for 5 s;
// callback receivers that are down, fail, time out, redirect or are gone; ffmpeg killed mid-encode;
// a full work disk; SIGKILL at random moments. Every accepted job ends with exactly one terminal
// callback, and a good tape ends done once the fault clears. `npm run reliability` runs the full
// sizes (a 30 s Space outage, a 2 minute receiver outage, 24 kill trials) and records the figures.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toOvenError } from '../../service/errors.ts';
import { callbackFaults, diskFull, ffmpegKilled, killTrials, s3Outage, zipHostFaults } from './scenarios.ts';

test('the ZIP host closing mid-download, stalling or trickling: the job is tried again and ends done', { timeout: 90_000 }, async () => {
  const figures = await zipHostFaults();
  assert.equal(figures.filter((f) => f.outcome === 'done').length, 3);
});

test('the Space answering 500/503 for 5 s, then recovering: the upload rides it out and the job ends done', { timeout: 90_000 }, async () => {
  const figure = await s3Outage(5_000);
  assert.equal(figure.outcome, 'done');
});

test('callback receivers down for 5 s, answering 500, timing out, redirecting or 410: the bake stays done, one callback each', { timeout: 90_000 }, async () => {
  const figures = await callbackFaults({ downMs: 5_000, retryBaseMs: 200 });
  assert.deepEqual(
    figures.map((f) => f.state),
    ['delivered', 'delivered', 'delivered', 'delivered', 'gave-up'],
  );
});

test('ffmpeg killed by SIGKILL mid-encode: the crash is retried and the tape bakes', { timeout: 90_000 }, async () => {
  const figure = await ffmpegKilled();
  assert.equal(figure.attempts, 2);
});

test('the work disk full: DISK_FULL, failed cleanly or retried once cleared, /health names the low disk', { timeout: 90_000 }, async (t) => {
  const result = await diskFull();
  if ('skipped' in result) {
    // Where no tmpfs can be mounted, at least the classification stands.
    assert.equal(toOvenError(Object.assign(new Error('write'), { code: 'ENOSPC' })).code, 'DISK_FULL');
    t.skip(result.skipped);
    return;
  }
  assert.deepEqual(
    result.map((f) => f.outcome),
    ['failed DISK_FULL, 1 failure callback', 'done', 'done'],
  );
});

test('SIGKILL at random moments over 8 trials: no job lost, no duplicate callback', { timeout: 300_000 }, async (t) => {
  const figures = await killTrials({ trials: 8, jobsPerTrial: 4, seed: 20261124, maxDelayMs: 4_000 });
  t.diagnostic(`kill trials: ${figures.survived}/${figures.trials} survived, ${figures.jobsAccepted} jobs, lost ${figures.jobsLost}, duplicates ${figures.duplicateCallbacks}, same webhook-id re-sent after a crash ${figures.resentSameId}`);
  assert.equal(figures.jobsLost, 0, figures.lostDetails.join('\n'));
  assert.equal(figures.duplicateCallbacks, 0);
  assert.equal(figures.survived, figures.trials);
  assert.ok(figures.jobsAccepted >= figures.trials, `jobs were accepted before the kills (${figures.jobsAccepted})`);
});
