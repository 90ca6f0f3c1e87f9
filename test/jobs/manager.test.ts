// The embedded manager's state machine in-process, with a real file store in a temp folder and a
// bake that does what each test says: accept, de-duplicate, bound the queue, retry a passing fault,
// fail a bad tape, resume after a crash, stop after too many, forget old jobs, drain.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { CallbackDelivery } from '../../service/callback/outbox.ts';
import { OvenError } from '../../service/errors.ts';
import type { BakeRequest, Job } from '../../service/jobs/job.ts';
import { JobManager, type BakeControl, type BakeRun, type ManagerOptions } from '../../service/jobs/manager.ts';
import { FileJobStore } from '../../service/jobs/store.ts';
import { setLogSink } from '../../service/log.ts';

let root: string;
before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'oven-manager-test-'));
  setLogSink(() => {});
});
after(async () => {
  setLogSink((line) => process.stdout.write(line + '\n'));
  await rm(root, { recursive: true, force: true });
});

const request = (slug: string): BakeRequest => ({ mongoId: `m-${slug}`, slug, zipUrl: `https://example.com/${slug}.zip`, callbackUrl: 'https://example.com/cb' });
const outcome = (slug: string): BakeRun => ({ outcome: { mp4Url: `https://cdn/${slug}.mp4`, durationMs: 100, frames: 3, width: 96, height: 72, bytes: 1000 } });

type Bake = (job: Job, control: BakeControl) => Promise<BakeRun>;

async function manager(bake: Bake, overrides: Partial<ManagerOptions> = {}, dataDir?: string) {
  const dir = dataDir ?? (await mkdtemp(path.join(root, 'data-')));
  const store = await new FileJobStore(dir).init();
  const delivered: CallbackDelivery[] = [];
  const m = new JobManager({
    store,
    runBake: bake,
    deliver: (d) => delivered.push(d),
    concurrency: 1,
    queueLimit: 10,
    maxAttempts: 3,
    retryBaseMs: 10,
    keepFinished: 100,
    keepFinishedMs: 3600_000,
    ...overrides,
  });
  await m.recover();
  return { m, delivered, dir };
}

/** Resolves once the job reaches done or failed. */
function finished(m: JobManager, jobId: string): Promise<Job> {
  return new Promise((resolve) => {
    const check = (job: Job) => {
      if (job.jobId === jobId && (job.status === 'done' || job.status === 'failed')) {
        m.off('change', check);
        resolve(job);
      }
    };
    m.on('change', check);
    const now = m.get(jobId);
    if (now) check(now);
  });
}

test('a job goes queued → its stages → done, saved at each step, with one terminal callback saved with it', async () => {
  const { m, delivered, dir } = await manager(async (job, control) => {
    control.onStage('extracting');
    control.onProgress(0.5);
    control.onStage('encoding');
    return outcome(job.request.slug);
  });
  const statuses: string[] = [];
  m.on('change', (j) => statuses.push(j.status));
  const { job, duplicate } = await m.submit(request('one'));
  assert.equal(duplicate, false);
  const done = await finished(m, job.jobId);
  assert.equal(done.status, 'done');
  assert.equal(done.attempts, 1);
  assert.deepEqual([...new Set(statuses)], ['queued', 'downloading', 'extracting', 'encoding', 'done']);
  assert.equal(delivered.length, 1);
  assert.equal(delivered[0]!.payload.status, 'success');
  assert.equal(delivered[0]!.payload.jobId, job.jobId);
  const saved = (await new FileJobStore(dir).init().then((s) => s.loadAll())).find((j) => j.jobId === job.jobId)!;
  assert.equal(saved.status, 'done');
  assert.equal(saved.callback?.id, delivered[0]!.id, 'the callback is saved with the outcome, same webhook-id');
});

test('the same slug while its job waits or bakes answers that job; once it has ended, the slug bakes again', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { m } = await manager(async (job) => {
    await gate;
    return outcome(job.request.slug);
  });
  const first = await m.submit(request('dupe'));
  const second = await m.submit(request('dupe'));
  assert.equal(second.duplicate, true);
  assert.equal(second.job.jobId, first.job.jobId);
  release();
  await finished(m, first.job.jobId);
  const again = await m.submit(request('dupe'));
  assert.equal(again.duplicate, false);
  assert.notEqual(again.job.jobId, first.job.jobId);
});

test('the queue limit counts waiting jobs, also those accepted at the same moment', async () => {
  const { m } = await manager(() => new Promise(() => {}), { queueLimit: 3 });
  const answers = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => m.submit(request(`limit-${i}`))));
  const accepted = answers.filter((a) => a.status === 'fulfilled').length;
  // All ten arrive before any is saved, so none has started yet: three places, three accepted.
  assert.equal(accepted, 3);
  assert.ok(answers.every((a) => a.status === 'fulfilled' || (a.reason as OvenError).code === 'QUEUE_FULL'));
  assert.equal(m.runningCount(), 1, 'then one starts (it never ends here)');
  assert.equal(m.waitingCount(), 2);
});

test('a passing fault is tried again, with the fault shown while it waits; a bad tape fails at once', async () => {
  let calls = 0;
  const { m, delivered } = await manager(async (job) => {
    calls += 1;
    if (job.request.slug === 'bad') throw new OvenError('TAPE_BAD_TIMING', 'timing.json is not valid JSON.');
    if (calls === 1) throw new OvenError('FETCH_FAILED', 'The connection was reset.', { retryable: true });
    return outcome(job.request.slug);
  });
  const waiting: Job[] = [];
  m.on('change', (j) => j.status === 'queued' && j.error && waiting.push(structuredClone(j)));
  const flaky = await m.submit(request('flaky'));
  const done = await finished(m, flaky.job.jobId);
  assert.equal(done.status, 'done');
  assert.equal(done.attempts, 2);
  assert.equal(waiting[0]?.error?.code, 'FETCH_FAILED');
  assert.ok(waiting[0]?.retryAt, 'a waiting retry says when');
  const bad = await m.submit(request('bad'));
  const failed = await finished(m, bad.job.jobId);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.attempts, 1, 'not retried: retrying cannot fix a bad tape');
  assert.equal(failed.error?.code, 'TAPE_BAD_TIMING');
  assert.equal(delivered.at(-1)!.payload.errorCode, 'TAPE_BAD_TIMING');
});

test('after a crash: a queued job resumes, an interrupted bake starts again, and one interrupted too often fails INTERRUPTED', async () => {
  // A first manager accepts three jobs and "dies" with two of them baking.
  const { m: first, dir } = await manager(() => new Promise(() => {}), { concurrency: 2 });
  const a = await first.submit(request('crash-a'));
  const b = await first.submit(request('crash-b'));
  const c = await first.submit(request('crash-c'));
  await new Promise((r) => setTimeout(r, 50));
  // b has been started as many times as allowed already.
  const store = await new FileJobStore(dir).init();
  const bSaved = (await store.loadAll()).find((j) => j.jobId === b.job.jobId)!;
  await store.save({ ...bSaved, attempts: 3 });

  const { m: second, delivered } = await manager(async (job) => outcome(job.request.slug), { concurrency: 2 }, dir);
  const [doneA, failedB, doneC] = await Promise.all([finished(second, a.job.jobId), finished(second, b.job.jobId), finished(second, c.job.jobId)]);
  assert.equal(doneA.status, 'done');
  assert.equal(doneA.attempts, 2, 'the interrupted bake started again');
  assert.equal(failedB.status, 'failed');
  assert.equal(failedB.error?.code, 'INTERRUPTED');
  assert.equal(doneC.status, 'done');
  assert.equal(doneC.attempts, 1);
  assert.equal(delivered.length, 3);
});

test('finished jobs past OVEN_KEEP_FINISHED_JOBS are forgotten, on disk too, but never one whose callback is pending', async () => {
  const { m, dir } = await manager(async (job) => outcome(job.request.slug), { keepFinished: 2 });
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    const { job } = await m.submit(request(`keep-${i}`));
    await finished(m, job.jobId);
    ids.push(job.jobId);
    await new Promise((r) => setTimeout(r, 5));
  }
  // Callbacks are all pending (nothing delivers them here): nothing is forgotten yet.
  assert.equal(ids.filter((id) => m.get(id)).length, 4);
  for (const id of ids) await m.callbackChanged({ ...m.get(id)!.callback!, state: 'delivered', attempts: 1 });
  await m.submit(request('keep-next')).then(({ job }) => finished(m, job.jobId));
  // The newest two whose callbacks have ended are kept, and the new one (its callback pending) too.
  const kept = ids.filter((id) => m.get(id));
  assert.deepEqual(kept, [ids[2], ids[3]]);
  // Their files go in the background.
  const files = async () => (await readdir(path.join(dir, 'jobs'))).filter((f) => f.endsWith('.json')).length;
  for (let i = 0; i < 50 && (await files()) !== 3; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await files(), 3);
});

test('drain: no new jobs (DRAINING); a bake past the grace is stopped and put back without counting an attempt', async () => {
  const { m, dir } = await manager((_job, control) => new Promise((_, reject) => control.signal.addEventListener('abort', () => reject(new OvenError('INTERRUPTED', 'stopped', { retryable: true })))));
  const { job } = await m.submit(request('drain'));
  await new Promise((r) => setTimeout(r, 20));
  const drained = await m.drain(50);
  assert.deepEqual(drained, { finished: 0, requeued: 1 });
  await assert.rejects(m.submit(request('late')), (err: OvenError) => err.code === 'DRAINING');
  const saved = (await new FileJobStore(dir).init().then((s) => s.loadAll())).find((j) => j.jobId === job.jobId)!;
  assert.equal(saved.status, 'queued');
  assert.equal(saved.attempts, 0);
});
