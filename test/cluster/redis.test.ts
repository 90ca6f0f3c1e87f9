// Redis mode with real processes: API and worker ovens (the real service, started as `npm start`
// starts it) sharing a real Redis (redis-server on a loopback port, AOF always) and a real S3 server
// (s3rver) as the Space. Every job ends with exactly one callback and its MP4 served from the Space,
// whatever process dies: a worker mid-bake, Redis itself, the API.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, afterEach, before, test } from 'node:test';
import { getJson, post, settled, startOven, TEST_SECRET, until, type OvenProcess, type StartOptions } from '../helpers/oven.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { spacesEnv, startS3, type S3Server } from '../helpers/s3.ts';
import { hitchyDurations, makeTapeZip } from '../helpers/tapes.ts';
import { startZipHost, type ZipHost } from '../helpers/zip-host.ts';

let redis: RedisServer;
let s3: S3Server;
let host: ZipHost;
let receiver: Receiver;
let quick: Buffer;
let slow: Buffer;
/** Every oven started; each test's are killed when it ends, passed or failed, so none bakes into the next. */
const ovens: OvenProcess[] = [];

before(async () => {
  [redis, s3, host, receiver] = await Promise.all([startRedis(), startS3(), startZipHost(), startReceiver()]);
  quick = await makeTapeZip({ width: 32, height: 24, durationsMs: [50, 50, 50, 50], soundSeconds: 0.2 });
  // Some seconds of encoding: long enough to kill something mid-bake.
  slow = await makeTapeZip({ width: 160, height: 120, durationsMs: hitchyDurations(3), busy: true, soundSeconds: 3 });
});

after(async () => {
  await Promise.all(ovens.map((o) => o.cleanup()));
  await Promise.all([redis?.stop(), s3?.stop(), host?.close(), receiver?.stop()]);
});

function clusterEnv(role: 'api' | 'worker' | 'all', extra: Record<string, string> = {}): Record<string, string> {
  return {
    OVEN_REDIS_URL: redis.url,
    OVEN_ROLE: role,
    ...spacesEnv(s3),
    OVEN_CONCURRENCY: '1',
    // A dead worker's bake is taken up within 3 + 1 s here (20 + 15 s by default).
    OVEN_LOCK_SECONDS: '5',
    OVEN_STALLED_CHECK_SECONDS: '1',
    ...extra,
  };
}

async function oven(role: 'api' | 'worker' | 'all', extra: Record<string, string> = {}, options: StartOptions = {}): Promise<OvenProcess> {
  const o = await startOven({ ...options, env: clusterEnv(role, extra) });
  ovens.push(o);
  return o;
}

afterEach(async () => {
  // An oven already stopped is left as it is.
  await Promise.all(ovens.map((o) => o.stop('SIGKILL')));
});

/** Process ids of the processes a process started (Linux: /proc/<pid>/task/<pid>/children). */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? text.split(/\s+/).map(Number) : [];
}

function job(slug: string, zip: Buffer) {
  return { mongoId: `m-${slug}`, slug, zipUrl: host.put(`${slug}.zip`, zip), callbackUrl: `${receiver.url}/cb`, callbackSecret: TEST_SECRET };
}

/** Terminal callbacks only (progress webhooks go to /progress). */
const callbacksFor = (jobId: string) => receiver.requestsFor(jobId, '/cb');

/** Done, with exactly one callback (delivered), and the MP4 served from the Space. */
async function assertBakedOnce(api: OvenProcess, jobId: string): Promise<void> {
  const s = await settled(api, jobId);
  assert.equal(s.status, 'done', JSON.stringify(s.error));
  await until(() => callbacksFor(jobId).length >= 1, 30_000);
  await new Promise((r) => setTimeout(r, 300));
  const calls = callbacksFor(jobId);
  assert.equal(calls.length, 1, `one callback for ${jobId}`);
  const body = JSON.parse(calls[0]!.body);
  assert.equal(body.status, 'success');
  assert.ok(body.mp4Url.startsWith(`${s3.endpoint}/${s3.bucket}/tapes/`), body.mp4Url);
  const mp4 = await fetch(body.mp4Url);
  assert.equal(mp4.status, 200);
  assert.equal(Number(mp4.headers.get('content-length')), body.bytes);
  await until(async () => (await getJson(`${api.url}/status/${jobId}`)).json.callback?.state === 'delivered', 10_000);
}

test('one API and two workers bake a burst, each job once, its MP4 served from the Space; a worker answers only /health and /metrics', async () => {
  const api = await oven('api');
  const workers = [await oven('worker'), await oven('worker')];
  const accepted: Awaited<ReturnType<typeof post>>[] = [];
  for (let i = 0; i < 6; i++) {
    // The first also asks for progress webhooks (in Redis mode the worker baking it sends them) and a GIF.
    const body = i === 0 ? { ...job(`burst-${i}`, quick), progressUrl: `${receiver.url}/progress`, outputs: ['gif'] } : job(`burst-${i}`, quick);
    accepted.push(await post(`${api.url}/bake`, body));
  }
  assert.deepEqual(accepted.map((a) => a.status), Array(6).fill(202));
  for (const a of accepted) await assertBakedOnce(api, a.json.jobId);
  const progress = receiver.requestsFor(accepted[0]!.json.jobId, '/progress').map((q) => JSON.parse(q.body));
  assert.ok(progress.length >= 2 && progress.every((p) => p.type === 'bake.progress'), `progress webhooks: ${JSON.stringify(progress)}`);
  const withGif = JSON.parse(callbacksFor(accepted[0]!.json.jobId)[0]!.body);
  assert.ok(withGif.outputs.gif.startsWith(`${s3.endpoint}/${s3.bucket}/tapes/burst-0.gif`), withGif.outputs.gif);
  assert.equal((await fetch(withGif.outputs.gif)).headers.get('content-type'), 'image/gif');
  const bakedBy = workers.map((w) => w.logs().filter((l) => l.msg === 'bake started').length);
  assert.ok(bakedBy.every((n) => n > 0), `both workers baked: ${bakedBy}`);
  assert.equal(api.logs().filter((l) => l.msg === 'bake started').length, 0, 'the API never bakes');
  assert.equal((await getJson(`${workers[0]!.url}/health`)).status, 200);
  assert.equal((await fetch(`${workers[0]!.url}/metrics`)).status, 200);
  assert.equal((await fetch(`${workers[0]!.url}/status`)).status, 404);
  assert.equal((await fetch(`${workers[0]!.url}/bake`, { method: 'POST' })).status, 404);
  const summary = (await getJson(`${api.url}/status`)).json;
  assert.ok(accepted.every((a) => summary.recent.some((r: { jobId: string }) => r.jobId === a.json.jobId)));
});

test('kill -9 of a worker mid-bake: the other worker takes the job once its lock lapses; one callback', async () => {
  const api = await oven('api');
  const first = await oven('worker');
  const r = await post(`${api.url}/bake`, job('worker-kill', slow));
  await until(async () => (await getJson(`${api.url}/status/${r.json.jobId}`)).json.status === 'encoding', 60_000, 50);
  const bakeProcesses = childrenOf(first.proc.pid!);
  assert.ok(bakeProcesses.length > 0, 'the worker bakes in a process of its own');
  first.proc.kill('SIGKILL');
  await first.exited;
  // Its bake process stops its ffmpeg and leaves too, rather than bake on for nobody.
  await until(() => bakeProcesses.every((pid) => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')), 10_000);
  const second = await oven('worker');
  await assertBakedOnce(api, r.json.jobId);
  const s = (await getJson(`${api.url}/status/${r.json.jobId}`)).json;
  assert.equal(s.attempts, 2);
  assert.ok(second.logs().some((l) => l.msg === 'bake done' && l.jobId === r.json.jobId), 'the second worker finished it');
});

test('Redis killed and restarted mid-run: no accepted job is lost, each ends with one callback', async () => {
  const api = await oven('api');
  await oven('worker');
  const accepted: string[] = [];
  for (let i = 0; i < 3; i++) accepted.push((await post(`${api.url}/bake`, job(`redis-kill-${i}`, i === 0 ? slow : quick))).json.jobId);
  await until(async () => (await getJson(`${api.url}/status/${accepted[0]}`)).json.status !== 'queued', 60_000, 50);
  await redis.kill('SIGKILL');
  // While Redis is down the API says so and takes no job; it does not hang.
  const refused = await post(`${api.url}/bake`, job('redis-down', quick));
  assert.equal(refused.status, 503, refused.text);
  await until(async () => (await getJson(`${api.url}/health`)).status === 503, 10_000);
  await new Promise((r) => setTimeout(r, 1000));
  await redis.start();
  for (const jobId of accepted) await assertBakedOnce(api, jobId);
  await until(async () => (await getJson(`${api.url}/health`)).status === 200, 10_000);
});

test('the API killed while workers bake: they go on, callbacks go out, and the status is whole when it returns', async () => {
  const first = await oven('api');
  await oven('worker');
  const accepted: string[] = [];
  for (let i = 0; i < 3; i++) accepted.push((await post(`${first.url}/bake`, job(`api-kill-${i}`, quick))).json.jobId);
  first.proc.kill('SIGKILL');
  await first.exited;
  await until(() => accepted.every((id) => callbacksFor(id).length === 1), 90_000);
  const again = await oven('api');
  for (const jobId of accepted) await assertBakedOnce(again, jobId);
});

test('the same slug posted to two API processes at once makes one job; the queue limit holds across API processes', async () => {
  const apis = [await oven('api', { OVEN_QUEUE_LIMIT: '4' }), await oven('api', { OVEN_QUEUE_LIMIT: '4' })];
  // No worker yet: everything waits.
  const twins = await Promise.all(apis.map((a) => post(`${a.url}/bake`, job('twin', quick))));
  assert.deepEqual(twins.map((t) => t.status), [202, 202]);
  assert.equal(twins[0]!.json.jobId, twins[1]!.json.jobId, 'one job for the slug');
  assert.equal(twins.filter((t) => t.json.duplicate).length, 1);

  const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => post(`${apis[i % 2]!.url}/bake`, job(`limit-${i}`, quick))));
  const accepted = burst.filter((b) => b.status === 202);
  assert.equal(accepted.length, 3, `4 may wait, one is the twin: ${burst.map((b) => b.status)}`);
  assert.ok(burst.every((b) => b.status === 202 || (b.status === 429 && b.json.code === 'QUEUE_FULL')));
  await oven('worker', { OVEN_CONCURRENCY: '2' });
  for (const jobId of [twins[0]!.json.jobId, ...accepted.map((a) => a.json.jobId)]) await assertBakedOnce(apis[0]!, jobId);
});

test('a worker drains on SIGTERM: it takes nothing new, hands its bake back, exits 0, and another worker finishes it', async () => {
  const api = await oven('api');
  const draining = await oven('worker', { OVEN_DRAIN_SECONDS: '1' });
  // A download that takes 6 s: the bake is still running when the 1 s of grace ends.
  const r = await post(`${api.url}/bake`, { ...job('drain', quick), zipUrl: host.put('drain.zip', quick, { kind: 'trickle', bytesPerSecond: Math.ceil(quick.length / 6) }) });
  await until(async () => (await getJson(`${api.url}/status/${r.json.jobId}`)).json.status === 'downloading', 60_000, 50);
  draining.proc.kill('SIGTERM');
  assert.equal(await draining.exited, 0);
  assert.ok(draining.logs().some((l) => l.msg === 'stopped' && l.requeued === 1), 'the running bake was handed back');
  const s = (await getJson(`${api.url}/status/${r.json.jobId}`)).json;
  assert.equal(s.status, 'queued', 'back in the queue');
  await oven('worker');
  await assertBakedOnce(api, r.json.jobId);
  assert.equal((await getJson(`${api.url}/status/${r.json.jobId}`)).json.error, null);
});

test('refuses to start on a Redis that may evict keys, and in Redis mode without a Space', async () => {
  const evicting = await startRedis({ policy: 'allkeys-lru' });
  try {
    const refused = await startOven({ env: { ...clusterEnv('all'), OVEN_REDIS_URL: evicting.url } }).then(
      () => assert.fail('started'),
      (err: Error) => err.message,
    );
    assert.match(refused, /maxmemory-policy is allkeys-lru; it must be noeviction/);
  } finally {
    await evicting.stop();
  }
  const spaceSettings = ['AT_BLOBS_SPACES_KEY', 'AT_BLOBS_SPACES_SECRET', 'AT_BLOBS_SPACES_ENDPOINT', 'AT_BLOBS_SPACES_BUCKET'];
  const env = Object.fromEntries(Object.entries(clusterEnv('worker')).filter(([name]) => !spaceSettings.includes(name)));
  const noSpace = await startOven({ env }).then(
    () => assert.fail('started'),
    (err: Error) => err.message,
  );
  assert.match(noSpace, /OVEN_REDIS_URL needs the AT_BLOBS_SPACES_\* settings/);
});
