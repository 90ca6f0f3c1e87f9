import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newJob, type Job } from '../../service/jobs/job.ts';
import { expired, summarize } from '../../service/jobs/read-model.ts';

const HOUR = 3600_000;

function job(slug: string, status: Job['status'], finishedMsAgo?: number, callbackState?: 'pending' | 'delivered' | 'gave-up'): Job {
  const j = newJob({ mongoId: 'm', slug, zipUrl: 'https://x/z.zip', callbackUrl: 'https://x/cb' });
  j.status = status;
  if (finishedMsAgo !== undefined) j.finishedAt = new Date(Date.now() - finishedMsAgo).toISOString();
  if (callbackState) j.callback = { id: 'msg_x', url: 'https://x/cb', payload: {}, createdAt: 0, attempts: 1, nextAttemptAt: 0, state: callbackState };
  return j;
}

test('summarize: waiting jobs in the order they start (a retry without a place last), baking ones, the newest finished first', () => {
  const a = job('a', 'queued');
  const b = job('b', 'queued');
  const retrying = job('r', 'queued');
  const baking = job('k', 'encoding');
  const old = job('old', 'done', 2 * HOUR, 'delivered');
  const recent = job('new', 'failed', 1000, 'delivered');
  const positions: Record<string, number> = { [a.jobId]: 2, [b.jobId]: 1 };
  const s = summarize([a, b, retrying, baking, old, recent], (id) => positions[id] ?? 0, 1);
  assert.deepEqual(s.queued.map((v) => v.slug), ['b', 'a', 'r']);
  assert.deepEqual(s.queued.map((v) => v.position), [1, 2, 0]);
  assert.deepEqual(s.active.map((v) => v.slug), ['k']);
  assert.deepEqual(s.recent.map((v) => v.slug), ['new'], 'at most recentCount, newest first');
});

test('expired: past the count or the age, never a job whose callback is pending, never an unfinished one', () => {
  const jobs = [
    job('fresh-1', 'done', 1_000, 'delivered'),
    job('fresh-2', 'done', 2_000, 'gave-up'),
    job('fresh-3', 'failed', 3_000, 'delivered'),
    job('ancient', 'done', 100 * HOUR, 'delivered'),
    job('ancient-pending', 'done', 100 * HOUR, 'pending'),
    job('waiting', 'queued'),
  ];
  assert.deepEqual(expired(jobs, 2, 72 * HOUR).map((j) => j.request.slug), ['fresh-3', 'ancient']);
  assert.deepEqual(expired(jobs, 100, 72 * HOUR).map((j) => j.request.slug), ['ancient']);
  assert.deepEqual(expired(jobs, 100, 1_500).map((j) => j.request.slug), ['fresh-2', 'fresh-3', 'ancient']);
});
