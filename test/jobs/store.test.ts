import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { OvenError } from '../../service/errors.ts';
import { newJob, type Job } from '../../service/jobs/job.ts';
import { FileJobStore } from '../../service/jobs/store.ts';
import { setLogSink } from '../../service/log.ts';

let dataDir: string;
let jobsDir: string;
let logLines: Record<string, unknown>[];

beforeEach(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'oven-store-'));
  jobsDir = path.join(dataDir, 'jobs');
  logLines = [];
  setLogSink((line) => logLines.push(JSON.parse(line) as Record<string, unknown>));
});

afterEach(async () => {
  setLogSink((line) => process.stdout.write(line + '\n'));
  await fs.rm(dataDir, { recursive: true, force: true });
});

function jobAt(slug: string, ms: number): Job {
  return newJob({ mongoId: `m-${slug}`, slug, zipUrl: `https://art.example/${slug}.zip`, callbackUrl: 'https://hook.example/done' }, new Date(ms));
}

test('saved jobs load back whole, oldest first', async () => {
  const store = await new FileJobStore(dataDir).init();
  const older = jobAt('older', Date.UTC(2024, 0, 1));
  const newer = jobAt('newer', Date.UTC(2024, 0, 2));
  const middle = jobAt('middle', Date.UTC(2024, 0, 1, 12));
  for (const job of [newer, older, middle]) await store.save(job);

  const loaded = await new FileJobStore(dataDir).init().then((s) => s.loadAll());
  assert.deepEqual(loaded, [older, middle, newer]);
});

test('a save leaves no temp file behind', async () => {
  const store = await new FileJobStore(dataDir).init();
  const job = jobAt('tidy', Date.now());
  await store.save(job);
  await store.save({ ...job, status: 'downloading', attempts: 1 });
  assert.deepEqual(await fs.readdir(jobsDir), [`${job.jobId}.json`]);
});

test('init clears temp files a kill left between write and rename', async () => {
  await fs.mkdir(jobsDir, { recursive: true });
  await fs.writeFile(path.join(jobsDir, 'abc-0123.json.999.tmp'), '{"half":');
  await new FileJobStore(dataDir).init();
  assert.deepEqual(await fs.readdir(jobsDir), []);
});

test('an unreadable file and a file that is JSON but not a job are both moved aside as .corrupt and logged', async () => {
  const store = await new FileJobStore(dataDir).init();
  const good = jobAt('good', Date.now());
  await store.save(good);
  const broken = 'lzzzzz-00aa.json';
  const wrongShape = 'lzzzzz-00bb.json';
  const badStatus = 'lzzzzz-00cc.json';
  await fs.writeFile(path.join(jobsDir, broken), '{"jobId": "lzzzzz-00aa", "request": ');
  await fs.writeFile(path.join(jobsDir, wrongShape), JSON.stringify({ jobId: 'lzzzzz-00bb', request: { slug: 'x' }, status: 'queued', createdAt: 'now', attempts: 0 }));
  await fs.writeFile(path.join(jobsDir, badStatus), JSON.stringify({ ...good, jobId: 'lzzzzz-00cc', status: 'baking' }));

  assert.deepEqual(await store.loadAll(), [good]);
  assert.deepEqual((await fs.readdir(jobsDir)).sort(), [`${good.jobId}.json`, `${broken}.corrupt`, `${wrongShape}.corrupt`, `${badStatus}.corrupt`].sort());

  const aside = logLines.filter((l) => l.level === 'error');
  assert.deepEqual(aside.map((l) => l.file).sort(), [broken, wrongShape, badStatus].sort());
  for (const line of aside) {
    assert.match(String(line.msg), /^A job file .+\.$/, 'each is logged as a sentence');
    assert.equal(line.folder, jobsDir);
  }
  assert.match(String(aside.find((l) => l.file === broken)!.error), /JSON/);

  // Moved aside once: the next load neither sees nor logs them again.
  logLines.length = 0;
  assert.deepEqual(await store.loadAll(), [good]);
  assert.deepEqual(logLines, []);
});

test('remove deletes the job and tolerates one that is already gone', async () => {
  const store = await new FileJobStore(dataDir).init();
  const kept = jobAt('kept', Date.UTC(2024, 0, 1));
  const gone = jobAt('gone', Date.UTC(2024, 0, 2));
  await store.save(kept);
  await store.save(gone);
  await store.remove(gone.jobId);
  await store.remove(gone.jobId);
  assert.deepEqual(await store.loadAll(), [kept]);
});

test('saves of one job run in order: the later state wins on disk', async () => {
  const store = await new FileJobStore(dataDir).init();
  const job = jobAt('racing', Date.now());
  const big = { ...job, status: 'downloading' as const, attempts: 1, request: { ...job.request, metadata: 'x'.repeat(1 << 20) } };
  const small = { ...job, status: 'failed' as const, attempts: 2 };
  // The larger, earlier write takes longer; without the chain the smaller one could land first.
  const saves = [store.save(big), store.save(small), store.remove('unrelated-00'), store.save({ ...small, progress: 1 })];
  await Promise.all(saves);
  const onDisk = JSON.parse(await fs.readFile(path.join(jobsDir, `${job.jobId}.json`), 'utf8')) as Job;
  assert.equal(onDisk.status, 'failed');
  assert.equal(onDisk.attempts, 2);
  assert.equal(onDisk.progress, 1);
  assert.deepEqual(await fs.readdir(jobsDir), [`${job.jobId}.json`]);
});

test('a folder that cannot be written makes save reject with STORE_UNAVAILABLE naming the folder', async () => {
  const store = await new FileJobStore(dataDir).init();
  // The tests run as root, which chmod cannot stop; a file where the folder should be refuses everyone.
  await fs.rm(jobsDir, { recursive: true });
  await fs.writeFile(jobsDir, 'not a folder');

  await assert.rejects(store.save(jobAt('refused', Date.now())), (err: unknown) => {
    assert.ok(err instanceof OvenError);
    assert.equal(err.code, 'STORE_UNAVAILABLE');
    assert.ok(err.message.includes(jobsDir), err.message);
    assert.match(err.message, /not a folder/);
    return true;
  });

  // A refused save does not block the next one once the folder is back.
  await fs.rm(jobsDir);
  await fs.mkdir(jobsDir);
  const later = jobAt('later', Date.now());
  await store.save(later);
  assert.deepEqual(await store.loadAll(), [later]);
});
