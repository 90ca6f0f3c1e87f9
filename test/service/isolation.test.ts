// The server never bakes: each bake runs in a bake process, and whatever happens to that process
// costs only its job an attempt. Against the real service, with Python's HTTP/1.0 file server as
// the ZIP host (what the README's local try-out uses), under CPU load.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadCpu } from '../helpers/cpu-load.ts';
import { freePort, getJson, post, settled, startOven, TEST_SECRET, until, type OvenProcess } from '../helpers/oven.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { hitchyDurations, makeTapeZip } from '../helpers/tapes.ts';

let receiver: Receiver;
let files: string;
let python: ChildProcess;
let pythonUrl: string;
const ovens: OvenProcess[] = [];

before(async () => {
  receiver = await startReceiver();
  files = await mkdtemp(path.join(os.tmpdir(), 'oven-http10-'));
  const port = await freePort();
  python = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', files], { stdio: 'ignore' });
  pythonUrl = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${pythonUrl}/`)).ok, 10_000);
});

after(async () => {
  for (const o of ovens) await o.cleanup();
  python?.kill('SIGKILL');
  await receiver?.stop();
  await rm(files, { recursive: true, force: true });
});

function job(slug: string, zipUrl: string) {
  return { mongoId: `m-${slug}`, slug, zipUrl, callbackUrl: `${receiver.url}/cb`, callbackSecret: TEST_SECRET };
}

/** Polls /health every 100 ms until stopped; every answer's status is kept. */
function watchHealth(o: OvenProcess) {
  const statuses: number[] = [];
  let going = true;
  const loop = (async () => {
    while (going) {
      statuses.push(await fetch(`${o.url}/health`, { signal: AbortSignal.timeout(5000) }).then((r) => r.status, () => 0));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    statuses,
    stop: async () => {
      going = false;
      await loop;
    },
  };
}

test('kill -9 of the bake process mid-encode: the server carries on, the job is retried and ends done with one callback', async () => {
  const o = await startOven({ env: { OVEN_CONCURRENCY: '1' } });
  ovens.push(o);
  const zip = await makeTapeZip({ width: 160, height: 120, durationsMs: hitchyDurations(4), busy: true, soundSeconds: 4 });
  await writeFile(path.join(files, 'kill-me.zip'), zip);
  const health = watchHealth(o);
  const r = await post(`${o.url}/bake`, job('kill-me', `${pythonUrl}/kill-me.zip`));
  assert.equal(r.status, 202);
  const took = await o.waitForLog((l) => l.msg === 'bake process took the job' && l.jobId === r.json.jobId, 30_000);
  await until(async () => (await getJson(`${o.url}/status/${r.json.jobId}`)).json.status === 'encoding', 30_000, 20);
  process.kill(took.pid as number, 'SIGKILL');

  const done = await settled(o, r.json.jobId);
  await until(() => receiver.requestsFor(r.json.jobId, '/cb').length === 1, 20_000);
  await new Promise((resolve) => setTimeout(resolve, 500));
  await health.stop();

  assert.equal(done.status, 'done');
  assert.equal(done.attempts, 2, 'the killed bake cost one attempt');
  assert.equal(receiver.requestsFor(r.json.jobId, '/cb').length, 1);
  assert.equal(o.proc.exitCode, null, 'the server is still running');
  assert.equal(o.logs().filter((l) => l.msg === 'oven listening').length, 1, 'the server never restarted');
  assert.ok(o.logs().some((l) => l.msg === 'bake process died mid-bake' && l.jobId === r.json.jobId));
  assert.ok(health.statuses.length > 10);
  assert.deepEqual([...new Set(health.statuses)], [200], '/health answered 200 throughout');
  assert.notEqual(took.pid, o.proc.pid);
});

test('eight small tapes from an HTTP/1.0 host, with both cores busy: all done, the server never restarted', async () => {
  const o = await startOven();
  ovens.push(o);
  const slugs: string[] = [];
  for (let i = 0; i < 8; i++) {
    // 64–128 KiB ZIPs: the size that crashed the whole service when its download was read late.
    const zip = await makeTapeZip({ width: 32, height: 24, durationsMs: Array(12).fill(33.3), soundSeconds: 0.34 + i * 0.035 });
    assert.ok(zip.length > 64 * 1024 && zip.length < 128 * 1024, `tape ${i} is ${zip.length} bytes`);
    slugs.push(`http10-${i}`);
    await writeFile(path.join(files, `http10-${i}.zip`), zip);
  }
  const load = loadCpu({ seconds: 120 });
  try {
    const accepted = await Promise.all(slugs.map((slug) => post(`${o.url}/bake`, job(slug, `${pythonUrl}/${slug}.zip`))));
    assert.deepEqual(accepted.map((a) => a.status), Array(8).fill(202));
    const outcomes = await until(async () => {
      const all = await Promise.all(accepted.map(async (a) => (await getJson(`${o.url}/status/${a.json.jobId}`)).json));
      return all.every((s) => s.status === 'done' || s.status === 'failed') ? all : undefined;
    }, 180_000, 250);
    assert.deepEqual(outcomes.map((s) => [s.slug, s.status, s.error?.code ?? null]), slugs.map((slug) => [slug, 'done', null]));
    assert.ok(outcomes.every((s) => s.attempts === 1), 'no download needed a second attempt');
  } finally {
    await load.stop();
  }
  assert.equal(o.proc.exitCode, null);
  assert.equal(o.logs().filter((l) => l.msg === 'oven listening').length, 1, 'the server never restarted');
});

test('a bake over OVEN_BAKE_MEMORY_MB is stopped with BAKE_MEMORY_LIMIT and one failure callback; the next bake runs in a fresh process', async () => {
  const o = await startOven({ env: { OVEN_CONCURRENCY: '1', OVEN_BAKE_MEMORY_MB: '220' } });
  ovens.push(o);
  // 1280×720 frames: ffmpeg's buffers alone pass the ceiling on top of the bake process's own ~110 MB.
  await writeFile(path.join(files, 'heavy.zip'), await makeTapeZip({ width: 1280, height: 720, durationsMs: Array(20).fill(50), busy: true, soundSeconds: null }));
  await writeFile(path.join(files, 'light.zip'), await makeTapeZip({ width: 32, height: 24, durationsMs: [50, 50, 50], soundSeconds: null }));
  const heavy = await post(`${o.url}/bake`, job('heavy', `${pythonUrl}/heavy.zip`));
  const first = await o.waitForLog((l) => l.msg === 'bake process took the job' && l.jobId === heavy.json.jobId, 30_000);
  const failed = await settled(o, heavy.json.jobId);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.error.code, 'BAKE_MEMORY_LIMIT', failed.error.message);
  assert.match(failed.error.message, /more than the 220 MiB/);
  assert.equal(failed.attempts, 1, 'not retried: the same tape would pass the ceiling again');
  await until(() => receiver.requestsFor(heavy.json.jobId, '/cb').length === 1, 20_000);
  assert.equal(JSON.parse(receiver.requestsFor(heavy.json.jobId, '/cb')[0]!.body).errorCode, 'BAKE_MEMORY_LIMIT');

  const light = await post(`${o.url}/bake`, job('light', `${pythonUrl}/light.zip`));
  const second = await o.waitForLog((l) => l.msg === 'bake process took the job' && l.jobId === light.json.jobId, 30_000);
  const done = await settled(o, light.json.jobId);
  assert.equal(done.status, 'done');
  assert.notEqual(second.pid, first.pid, 'the bloated bake process was replaced');
  assert.equal((await getJson(`${o.url}/health`)).status, 200);
});
