// Extra outputs through the real service: a job asking for "webm" and "gif" gets both, uploaded
// beside the MP4 with their content types and named in the callback; one that cannot be made (a
// GIF over OVEN_MAX_GIF_BYTES) is a warning in the result and the callback, and the MP4 is kept.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { post, settled, startOven, TEST_SECRET, until, type OvenProcess } from '../helpers/oven.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { hitchyDurations, makeTapeZip } from '../helpers/tapes.ts';
import { startZipHost, type ZipHost } from '../helpers/zip-host.ts';

let oven: OvenProcess;
let host: ZipHost;
let receiver: Receiver;
const MAX_GIF = 64 * 1024;

before(async () => {
  host = await startZipHost();
  receiver = await startReceiver();
  oven = await startOven({ env: { OVEN_MAX_GIF_BYTES: String(MAX_GIF) } });
});
after(async () => {
  await oven?.cleanup();
  await host?.close();
  await receiver?.stop();
});

async function bake(slug: string, zip: Buffer) {
  const r = await post(`${oven.url}/bake`, { mongoId: `m-${slug}`, slug, zipUrl: host.put(`${slug}.zip`, zip), callbackUrl: `${receiver.url}/cb`, callbackSecret: TEST_SECRET, outputs: ['webm', 'gif'] });
  assert.equal(r.status, 202, r.text);
  const status = await settled(oven, r.json.jobId, 120_000);
  const callback = await until(() => receiver.requestsFor(r.json.jobId, '/cb')[0], 20_000);
  return { status, callback: JSON.parse(callback.body) };
}

test('a job asking for webm and gif gets both beside the MP4, served with their types and named in the callback', async () => {
  const { status, callback } = await bake('extras', await makeTapeZip({ width: 32, height: 24, durationsMs: [40, 40, 40, 40, 40], soundSeconds: 0.2 }));
  assert.equal(status.status, 'done');
  assert.equal(callback.status, 'success');
  assert.deepEqual(Object.keys(callback.outputs).sort(), ['gif', 'webm']);
  assert.deepEqual(callback.outputs, status.result.outputs);
  assert.equal(callback.warnings, undefined);
  assert.match(callback.mp4Url, /\/tapes\/extras\.mp4$/, 'mp4Url stays as it was');
  for (const [output, type] of [['webm', 'video/webm'], ['gif', 'image/gif']] as const) {
    assert.match(callback.outputs[output], new RegExp(`/tapes/extras\\.${output}$`));
    const served = await fetch(callback.outputs[output]);
    assert.equal(served.status, 200);
    assert.equal(served.headers.get('content-type'), type);
    const bytes = Buffer.from(await served.arrayBuffer());
    assert.ok(output === 'gif' ? bytes.toString('latin1', 0, 6) === 'GIF89a' : bytes.readUInt32BE(0) === 0x1a45dfa3, `${output} starts as one`);
  }
});

test('a GIF over OVEN_MAX_GIF_BYTES is left out with a warning; the bake is done, its MP4 and WebM kept', async () => {
  const { status, callback } = await bake('big-gif', await makeTapeZip({ width: 160, height: 120, durationsMs: hitchyDurations(2), busy: true, soundSeconds: 2 }));
  assert.equal(status.status, 'done');
  assert.deepEqual(Object.keys(callback.outputs), ['webm']);
  assert.equal(callback.warnings.length, 1);
  assert.equal(callback.warnings[0].output, 'gif');
  assert.equal(callback.warnings[0].code, 'GIF_TOO_LARGE');
  assert.match(callback.warnings[0].message, new RegExp(`${MAX_GIF}`));
  assert.deepEqual(status.result.warnings, callback.warnings);
  assert.equal((await fetch(callback.mp4Url)).status, 200);
  assert.equal((await fetch(callback.mp4Url.replace(/\.mp4$/, '.gif'))).status, 404, 'no GIF was stored');
});
