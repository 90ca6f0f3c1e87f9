// OVEN_MAX_MP4_BYTES through the real service: an MP4 over the budget is made again to fit and the
// job's result and callback say so; a tape that cannot fit fails MP4_TOO_LARGE with one callback.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { post, settled, startOven, TEST_SECRET, until, type OvenProcess } from '../helpers/oven.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { hitchyDurations, makeTapeZip } from '../helpers/tapes.ts';
import { startZipHost, type ZipHost } from '../helpers/zip-host.ts';

let oven: OvenProcess;
let host: ZipHost;
let receiver: Receiver;
const LIMIT = 120 * 1024;

before(async () => {
  host = await startZipHost();
  receiver = await startReceiver();
  oven = await startOven({ env: { OVEN_MAX_MP4_BYTES: String(LIMIT) } });
});
after(async () => {
  await oven?.cleanup();
  await host?.close();
  await receiver?.stop();
});

async function bake(slug: string, zip: Buffer) {
  const r = await post(`${oven.url}/bake`, { mongoId: `m-${slug}`, slug, zipUrl: host.put(`${slug}.zip`, zip), callbackUrl: `${receiver.url}/cb`, callbackSecret: TEST_SECRET });
  assert.equal(r.status, 202, r.text);
  const status = await settled(oven, r.json.jobId, 120_000);
  const callback = await until(() => receiver.requestsFor(r.json.jobId, '/cb')[0], 20_000);
  return { status, callback: JSON.parse(callback.body) };
}

test('an MP4 over the budget is made again to fit: the result and the callback carry sizeBudget, the served MP4 is within it', async () => {
  // Busy 160×120 pixel art for 2 s: some 150–250 KB at the chosen quality, well over 120 KiB.
  const { status, callback } = await bake('over-budget', await makeTapeZip({ width: 160, height: 120, durationsMs: hitchyDurations(2), busy: true, soundSeconds: 2 }));
  assert.equal(status.status, 'done', JSON.stringify(status.error));
  assert.ok(status.result.bytes <= LIMIT);
  assert.equal(status.result.sizeBudget.limitBytes, LIMIT);
  assert.ok(status.result.sizeBudget.firstBytes > LIMIT);
  assert.deepEqual(callback.sizeBudget, status.result.sizeBudget);
  assert.equal(callback.bytes, status.result.bytes);
  const served = await fetch(status.result.mp4Url);
  assert.equal(served.status, 200);
  assert.equal((await served.arrayBuffer()).byteLength, status.result.bytes);
});

test('a tape that cannot fit the budget fails MP4_TOO_LARGE, with one failure callback', async () => {
  const { status, callback } = await bake('cannot-fit', await makeTapeZip({ width: 160, height: 120, durationsMs: hitchyDurations(8), busy: true, soundSeconds: 8 }));
  assert.equal(status.status, 'failed');
  assert.equal(status.error.code, 'MP4_TOO_LARGE');
  assert.equal(callback.status, 'failed');
  assert.equal(callback.errorCode, 'MP4_TOO_LARGE');
  assert.equal(receiver.requestsFor(status.jobId, '/cb').length, 1);
});
