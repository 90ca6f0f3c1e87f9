// OVEN_DATA_DIR turning read-only under a running oven (a disk remounted ro after an error, a
// full volume): new jobs get a 503 that names the problem, /health says so at once, and the jobs
// already accepted wait for the folder instead of being stranded; once it is writable again,
// each finishes with exactly one callback. The folder is a real tmpfs, remounted read-only.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { getJson, post, startOven, TEST_SECRET, until, type OvenProcess } from '../helpers/oven.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { makeTapeZip } from '../helpers/tapes.ts';
import { startZipHost, type ZipHost } from '../helpers/zip-host.ts';

const run = promisify(execFile);
let dataDir: string;
let mounted = false;
let refused: string | undefined;
let host: ZipHost;
let receiver: Receiver;
let oven: OvenProcess | undefined;

before(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'oven-ro-data-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', dataDir]);
    mounted = true;
  } catch (err) {
    refused = `mount -t tmpfs is not permitted here (${String((err as { stderr?: string }).stderr ?? err).trim().split('\n')[0]})`;
  }
  host = await startZipHost();
  receiver = await startReceiver();
});

after(async () => {
  await oven?.cleanup().catch(() => undefined);
  if (mounted) await run('umount', ['-l', dataDir]).catch(() => undefined);
  await rm(dataDir, { recursive: true, force: true });
  await host?.close();
  await receiver?.stop();
});

const remount = (mode: 'ro' | 'rw') => run('mount', ['-o', `remount,${mode}`, dataDir]);

test('a data folder that turns read-only: 503 naming it, /health at once, and the accepted jobs finish once it is writable again', async (t) => {
  if (!mounted) return t.skip(refused);
  const o = await startOven({ dataDir, env: { OVEN_CONCURRENCY: '1' } });
  oven = o;
  const zip = await makeTapeZip({ width: 16, height: 12, durationsMs: [40, 40, 40], soundSeconds: null });
  const job = (slug: string, zipUrl: string) => ({ mongoId: `m-${slug}`, slug, zipUrl, callbackUrl: `${receiver.url}/cb`, callbackSecret: TEST_SECRET });
  const a = await post(`${o.url}/bake`, job('ro-a', host.put('ro-a.zip', zip, { kind: 'trickle', bytesPerSecond: Math.ceil(zip.length / 3) })));
  const b = await post(`${o.url}/bake`, job('ro-b', host.put('ro-b.zip', zip)));
  assert.equal(a.status, 202);
  assert.equal(b.status, 202);
  await until(async () => (await getJson(`${o.url}/status/${a.json.jobId}`)).json.status === 'downloading');

  await remount('ro');
  try {
    const refusedJob = await post(`${o.url}/bake`, job('ro-c', host.put('ro-c.zip', zip)));
    assert.equal(refusedJob.status, 503);
    assert.equal(refusedJob.json.code, 'STORE_UNAVAILABLE');
    assert.match(refusedJob.json.error, /read-only/);
    assert.ok(refusedJob.json.error.includes(dataDir), 'the answer names the folder');
    assert.match(refusedJob.headers.get('retry-after') ?? '', /^\d+$/);
    const health = await getJson(`${o.url}/health`);
    assert.equal(health.status, 503);
    assert.ok(health.json.problems.some((p: string) => /read-only/.test(p)), JSON.stringify(health.json.problems));

    // Local blobs live in the data folder too, so A's upload fails and A goes back in line; B cannot
    // start, since its start cannot be saved. Both wait, queued, and nothing is called back.
    for (const { json } of [a, b]) {
      const waiting = await until(async () => {
        const s = (await getJson(`${o.url}/status/${json.jobId}`)).json;
        return s.status === 'queued' && s.error ? s : undefined;
      }, 60_000);
      assert.ok(['STORE_UNAVAILABLE', 'UPLOAD_FAILED'].includes(waiting.error.code), JSON.stringify(waiting.error));
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
    for (const { json } of [a, b]) {
      assert.equal((await getJson(`${o.url}/status/${json.jobId}`)).json.status, 'queued', 'still waiting for the folder');
      assert.equal(receiver.requestsFor(json.jobId, '/cb').length, 0);
    }
  } finally {
    await remount('rw');
  }

  for (const { json } of [a, b]) {
    const done = await until(async () => {
      const s = (await getJson(`${o.url}/status/${json.jobId}`)).json;
      return s.status === 'done' && s.callback?.state === 'delivered' ? s : undefined;
    }, 60_000);
    assert.equal(done.error, null);
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(receiver.requestsFor(a.json.jobId, '/cb').length, 1);
  assert.equal(receiver.requestsFor(b.json.jobId, '/cb').length, 1);
  await until(async () => (await getJson(`${o.url}/health`)).status === 200, 5000);
  assert.equal((await post(`${o.url}/bake`, job('ro-c', host.put('ro-c.zip', zip)))).status, 202);
});
