// The job lifecycle through the real process: the bounded queue, callbacks that must be retried,
// SIGKILL mid-bake and restart, SIGTERM drain, and /health when ffmpeg is missing.

import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { getJson, post, settled, startOven, TEST_SECRET, until, type OvenProcess } from '../helpers/oven.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { makeTapeZip } from '../helpers/tapes.ts';
import { startZipHost, type ZipHost } from '../helpers/zip-host.ts';

let host: ZipHost;
let receiver: Receiver;
let zip: Buffer;
const ovens: OvenProcess[] = [];

async function oven(options: Parameters<typeof startOven>[0] = {}) {
  const o = await startOven(options);
  ovens.push(o);
  return o;
}

function job(slug: string, zipUrl: string, callbackPath = '/cb') {
  return { mongoId: `m-${slug}`, slug, zipUrl, callbackUrl: `${receiver.url}${callbackPath}`, callbackSecret: TEST_SECRET };
}

async function statusOf(o: OvenProcess, jobId: string) {
  return (await getJson(`${o.url}/status/${jobId}`)).json;
}

/** A ZIP that takes about `seconds` to download. */
function slowZipUrl(name: string, seconds: number) {
  return host.put(name, zip, { kind: 'trickle', bytesPerSecond: Math.ceil(zip.length / seconds) });
}

before(async () => {
  zip = await makeTapeZip({ width: 16, height: 12, durationsMs: [33.3, 33.3, 33.3, 33.3], soundSeconds: null });
  host = await startZipHost();
  receiver = await startReceiver();
});

after(async () => {
  for (const o of ovens) await o.cleanup();
  await host?.close();
  await receiver?.stop();
});

test('a full queue answers 429 with Retry-After, and every accepted job still finishes', async () => {
  const o = await oven({ env: { OVEN_CONCURRENCY: '1', OVEN_QUEUE_LIMIT: '1' } });
  const a = await post(`${o.url}/bake`, job('q-a', slowZipUrl('q-a.zip', 2)));
  await until(async () => (await statusOf(o, a.json.jobId)).status !== 'queued');
  const b = await post(`${o.url}/bake`, job('q-b', host.put('q-b.zip', zip)));
  const c = await post(`${o.url}/bake`, job('q-c', host.put('q-c.zip', zip)));
  assert.equal(a.status, 202);
  assert.equal(b.status, 202);
  assert.equal(b.json.position, 1);
  assert.equal(c.status, 429);
  assert.equal(c.json.code, 'QUEUE_FULL');
  assert.match(c.headers.get('retry-after') ?? '', /^\d+$/);
  assert.equal((await settled(o, a.json.jobId, 60_000)).status, 'done');
  assert.equal((await settled(o, b.json.jobId, 60_000)).status, 'done');
});

test('a callback answered 500 is retried with the same webhook-id until it is delivered', async () => {
  const o = await oven();
  receiver.respond({ status: 500 }, { status: 500 });
  const r = await post(`${o.url}/bake`, job('cb-500', host.put('cb-500.zip', zip), '/cb-500'));
  await settled(o, r.json.jobId, 60_000);
  const s = await until(async () => {
    const v = await statusOf(o, r.json.jobId);
    return v.callback?.state === 'delivered' ? v : undefined;
  }, 20_000);
  assert.equal(s.status, 'done', 'a failing receiver never turns a good bake into a failed one');
  const calls = receiver.requestsFor(r.json.jobId);
  assert.equal(calls.length, 3);
  assert.equal(new Set(calls.map((c) => c.headers['webhook-id'])).size, 1);
  assert.equal(s.callback.attempts, 3);
});

test('a receiver that is down, then up, gets the callback', async () => {
  const o = await oven();
  await receiver.down();
  try {
    const r = await post(`${o.url}/bake`, job('cb-down', host.put('cb-down.zip', zip)));
    await until(async () => (await statusOf(o, r.json.jobId)).callback?.attempts >= 2, 20_000);
    assert.equal((await statusOf(o, r.json.jobId)).callback.state, 'pending');
    await receiver.up();
    await until(async () => (await statusOf(o, r.json.jobId)).callback?.state === 'delivered', 20_000);
    assert.equal(receiver.requestsFor(r.json.jobId).length, 1);
  } finally {
    await receiver.up().catch(() => {});
  }
});

test('SIGKILL mid-bake, then a restart: every job ends with exactly one callback', async () => {
  const first = await oven({ env: { OVEN_CONCURRENCY: '1' } });
  const slow = await post(`${first.url}/bake`, job('kill-a', slowZipUrl('kill-a.zip', 3)));
  const waiting = await post(`${first.url}/bake`, job('kill-b', host.put('kill-b.zip', zip)));
  // 'bake started' is logged once the start is saved: the kill then lands mid-download for sure.
  await first.waitForLog((l) => l.msg === 'bake started' && l.slug === 'kill-a');
  first.proc.kill('SIGKILL');
  await first.exited;

  const second = await oven({ dataDir: first.dataDir, tempDir: first.tempDir, env: { OVEN_CONCURRENCY: '1' } });
  const a = await settled(second, slow.json.jobId, 60_000);
  const b = await settled(second, waiting.json.jobId, 60_000);
  assert.equal(a.status, 'done');
  assert.equal(a.attempts, 2, 'the interrupted bake started again');
  assert.equal(b.status, 'done');
  await until(async () => receiver.requestsFor(slow.json.jobId).length === 1 && receiver.requestsFor(waiting.json.jobId).length === 1, 20_000);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(receiver.requestsFor(slow.json.jobId).length, 1);
  assert.equal(receiver.requestsFor(waiting.json.jobId).length, 1);
  // The killed bake's work folder was cleaned when the job ended again.
  await until(async () => (await readdir(path.join(second.tempDir, 'oven-jobs'))).length === 0, 10_000);
});

test('SIGTERM drains: new jobs get 503, the running bake finishes, the waiting one survives to the next start', async () => {
  const first = await oven({ env: { OVEN_CONCURRENCY: '1', OVEN_DRAIN_SECONDS: '30' } });
  const running = await post(`${first.url}/bake`, job('drain-a', slowZipUrl('drain-a.zip', 2)));
  const waiting = await post(`${first.url}/bake`, job('drain-b', host.put('drain-b.zip', zip)));
  await until(async () => (await statusOf(first, running.json.jobId)).status === 'downloading');
  first.proc.kill('SIGTERM');
  await first.waitForLog((l) => l.msg === 'draining for shutdown');
  const refused = await post(`${first.url}/bake`, job('drain-c', host.put('drain-c.zip', zip)));
  assert.equal(refused.status, 503);
  assert.equal(refused.json.code, 'DRAINING');
  assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
  assert.equal(await first.exited, 0);

  const saved = JSON.parse(await readFile(path.join(first.dataDir, 'jobs', `${running.json.jobId}.json`), 'utf8'));
  assert.equal(saved.status, 'done', 'the running bake finished within the drain time');
  const savedWaiting = JSON.parse(await readFile(path.join(first.dataDir, 'jobs', `${waiting.json.jobId}.json`), 'utf8'));
  assert.equal(savedWaiting.status, 'queued');

  const second = await oven({ dataDir: first.dataDir, tempDir: first.tempDir });
  assert.equal((await settled(second, waiting.json.jobId, 60_000)).status, 'done');
});

test('a bake still running when the drain time ends is put back and finished after restart', async () => {
  const first = await oven({ env: { OVEN_DRAIN_SECONDS: '1' } });
  const r = await post(`${first.url}/bake`, job('drain-slow', slowZipUrl('drain-slow.zip', 6)));
  await until(async () => (await statusOf(first, r.json.jobId)).status === 'downloading');
  first.proc.kill('SIGTERM');
  assert.equal(await first.exited, 0);
  const saved = JSON.parse(await readFile(path.join(first.dataDir, 'jobs', `${r.json.jobId}.json`), 'utf8'));
  assert.equal(saved.status, 'queued');
  host.put('drain-slow.zip', zip);
  const second = await oven({ dataDir: first.dataDir, tempDir: first.tempDir });
  assert.equal((await settled(second, r.json.jobId, 60_000)).status, 'done');
  assert.equal(receiver.requestsFor(r.json.jobId).length >= 1, true);
});

test('/health answers 503 naming the problem when ffmpeg is missing', async () => {
  const o = await oven({ env: { FFMPEG_PATH: '/nonexistent/ffmpeg' } });
  const { status, json } = await getJson(`${o.url}/health`);
  assert.equal(status, 503);
  assert.equal(json.status, 'unhealthy');
  assert.ok(json.problems.some((p: string) => p.includes('ffmpeg')), JSON.stringify(json.problems));
});

test('the queue limit holds under a burst: 100 POSTs at once with OVEN_QUEUE_LIMIT=5 accept at most 5 waiting + 1 baking', async () => {
  const o = await oven({ env: { OVEN_CONCURRENCY: '1', OVEN_QUEUE_LIMIT: '5' } });
  // Every download stalls, so nothing finishes and frees a place during the burst.
  const answers = await Promise.all(
    Array.from({ length: 100 }, (_, i) => post(`${o.url}/bake`, job(`burst-${i}`, host.put(`burst-${i}.zip`, zip, { kind: 'stall' })))),
  );
  const accepted = answers.filter((a) => a.status === 202).length;
  const full = answers.filter((a) => a.status === 429 && a.json.code === 'QUEUE_FULL').length;
  assert.equal(accepted + full, 100, `only 202 or 429: ${[...new Set(answers.map((a) => a.status))]}`);
  assert.ok(accepted >= 5 && accepted <= 6, `accepted ${accepted}`);
  assert.equal((await getJson(`${o.url}/health`)).json.queue.queued, accepted - 1);
});
