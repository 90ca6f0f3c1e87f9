// The service as a real process on loopback: every answer of POST /bake, the success path with
// local storage (MP4 fetched back over HTTP, Range included), a bad tape's failure callback, status.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { getJson, post, settled, startOven, TEST_SECRET, until, type OvenProcess } from '../helpers/oven.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { makeTapeZip } from '../helpers/tapes.ts';
import { buildZip } from '../helpers/zip.ts';
import { startZipHost, type ZipHost } from '../helpers/zip-host.ts';

const run = promisify(execFile);

let oven: OvenProcess;
let host: ZipHost;
let receiver: Receiver;
let goodZip: Buffer;

function job(slug: string, zipUrl: string, extra: Record<string, unknown> = {}) {
  return {
    mongoId: `mongo-${slug}`,
    slug,
    zipUrl,
    callbackUrl: `${receiver.url}/api/oven-complete?token=abc`,
    callbackSecret: TEST_SECRET,
    code: 'c0de',
    metadata: { note: 'echo me' },
    ...extra,
  };
}

before(async () => {
  goodZip = await makeTapeZip({ width: 32, height: 24, durationsMs: [16.67, 16.67, 250, 16.67, 100, 16.67, 16.67, 33.3], soundSeconds: 0.6 });
  host = await startZipHost();
  receiver = await startReceiver();
  oven = await startOven();
});

after(async () => {
  await oven?.cleanup();
  await host?.close();
  await receiver?.stop();
});

describe('POST /bake refuses bad requests with {error, code}', () => {
  test('415 when the body is not JSON by Content-Type', async () => {
    const r = await post(`${oven.url}/bake`, 'slug=x', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(r.status, 415);
    assert.equal(r.json.code, 'UNSUPPORTED_MEDIA_TYPE');
    assert.equal(typeof r.json.error, 'string');
  });

  test('413 when the body is over 64 KiB', async () => {
    const r = await post(`${oven.url}/bake`, job('big', 'http://127.0.0.1/x.zip', { metadata: { pad: 'x'.repeat(70 * 1024) } }));
    assert.equal(r.status, 413);
    assert.equal(r.json.code, 'BODY_TOO_LARGE');
  });

  test('400 for malformed JSON', async () => {
    const r = await post(`${oven.url}/bake`, '{"slug": ');
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'BAD_JSON');
  });

  test('401 without the secret, or with a wrong one in the body or the header', async () => {
    const body = job('nosecret', host.put('nosecret.zip', goodZip));
    const { callbackSecret: _drop, ...withoutSecret } = body;
    for (const [payload, headers] of [
      [withoutSecret, {}],
      [{ ...body, callbackSecret: 'wrong-secret-wrong-secret' }, {}],
      [withoutSecret, { authorization: 'Bearer wrong-secret-wrong-secret' }],
    ] as const) {
      const r = await post(`${oven.url}/bake`, payload, headers);
      assert.equal(r.status, 401);
      assert.equal(r.json.code, 'UNAUTHORIZED');
      assert.ok(!r.text.includes(TEST_SECRET));
    }
  });

  test('a Bearer header alone is enough', async () => {
    const { callbackSecret: _drop, ...body } = job('bearer-only', host.put('bearer-only.zip', goodZip));
    const r = await post(`${oven.url}/bake`, body, { authorization: `Bearer ${TEST_SECRET}` });
    assert.equal(r.status, 202);
    await settled(oven, r.json.jobId, 60_000);
  });

  test('400 for a missing field, wrong types, a bad slug and a non-http URL', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...job('ok1', 'http://127.0.0.1/a.zip'), mongoId: undefined }, 'BAD_REQUEST'],
      [{ ...job('ok2', 'http://127.0.0.1/a.zip'), zipUrl: 42 }, 'BAD_REQUEST'],
      [{ ...job('ok3', 'http://127.0.0.1/a.zip'), code: { no: 1 } }, 'BAD_REQUEST'],
      [job('../etc/passwd', 'http://127.0.0.1/a.zip'), 'BAD_SLUG'],
      [job('.hidden', 'http://127.0.0.1/a.zip'), 'BAD_SLUG'],
      [job('ok4', 'ftp://127.0.0.1/a.zip'), 'BAD_URL'],
      [job('ok5', 'not a url'), 'BAD_URL'],
    ];
    for (const [body, code] of cases) {
      const r = await post(`${oven.url}/bake`, body);
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(r.json.code, code, JSON.stringify(body).slice(0, 80));
    }
    const arr = await post(`${oven.url}/bake`, '[1,2]');
    assert.equal(arr.status, 401); // no secret in an array: refused before anything else is read
  });

  test('metadata nested past 32 levels is a 400 with its code; 32 levels are accepted and echoed', async () => {
    const nested = (depth: number): unknown => (depth === 0 ? 'leaf' : [nested(depth - 1)]);
    const deep = await post(`${oven.url}/bake`, JSON.stringify(job('deep', 'http://127.0.0.1/a.zip')).replace('{"note":"echo me"}', '['.repeat(30_000) + ']'.repeat(30_000)));
    assert.equal(deep.status, 400, deep.text);
    assert.equal(deep.json.code, 'BAD_REQUEST');
    assert.match(deep.json.error, /at most 32 levels/);
    assert.equal((await post(`${oven.url}/bake`, job('deep-33', 'http://127.0.0.1/a.zip', { metadata: nested(33) }))).status, 400);
    const ok = await post(`${oven.url}/bake`, job("deep-32", host.put("deep-32.zip", goodZip), { metadata: nested(32) }));
    assert.equal(ok.status, 202, ok.text);
    await settled(oven, ok.json.jobId, 60_000);
  });

  test('404 JSON for an unknown job and an unknown path', async () => {
    const a = await getJson(`${oven.url}/status/nope-123`);
    assert.equal(a.status, 404);
    assert.equal(a.json.code, 'NOT_FOUND');
    const b = await getJson(`${oven.url}/no/such/thing`);
    assert.equal(b.status, 404);
  });
});

describe('a good tape', () => {
  test('is accepted, baked, stored, fetchable with Range, and called back with a valid signature', async () => {
    const before = receiver.requests.length;
    const r = await post(`${oven.url}/bake`, job('2026.11.24.10.30.15.123', host.put('good.zip', goodZip)));
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.status, 'queued');
    assert.equal(r.json.statusUrl, `/status/${r.json.jobId}`);
    assert.equal(typeof r.json.position, 'number');

    const done = await settled(oven, r.json.jobId, 60_000);
    assert.equal(done.status, 'done', JSON.stringify(done.error));
    assert.equal(done.progress, 1);
    assert.equal(done.result.frames, 8);
    assert.equal(done.result.width, 96);
    assert.equal(done.result.height, 72);
    assert.ok(Math.abs(done.result.durationMs - 466.7) < 25, `duration ${done.result.durationMs}`);
    assert.match(done.result.mp4Url, /\/blobs\/tapes\/2026\.11\.24\.10\.30\.15\.123\.mp4$/);
    assert.match(done.result.thumbnailUrl, /-thumb\.jpg$/);

    // The MP4 served back is a real H.264 video of the right size.
    const mp4 = await fetch(done.result.mp4Url);
    assert.equal(mp4.status, 200);
    assert.equal(mp4.headers.get('content-type'), 'video/mp4');
    const bytes = Buffer.from(await mp4.arrayBuffer());
    assert.equal(bytes.length, done.result.bytes);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'oven-api-'));
    try {
      await writeFile(path.join(dir, 'v.mp4'), bytes);
      const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,width,height,pix_fmt', '-of', 'json', path.join(dir, 'v.mp4')]);
      const streams = JSON.parse(stdout).streams as Array<Record<string, unknown>>;
      assert.deepEqual(streams.find((s) => s.codec_name === 'h264'), { codec_name: 'h264', width: 96, height: 72, pix_fmt: 'yuv420p' });
      assert.ok(streams.some((s) => s.codec_name === 'aac'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    // Range requests on local blobs.
    const part = await fetch(done.result.mp4Url, { headers: { range: 'bytes=0-99' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 0-99/${bytes.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(0, 100));
    const thumb = await fetch(done.result.thumbnailUrl);
    assert.equal(thumb.headers.get('content-type'), 'image/jpeg');

    // Exactly one callback, signed as Standard Webhooks, with the contract's body.
    const [callback] = (await receiver.waitFor(before + 1, 20_000)).slice(before);
    assert.ok(callback);
    const wh = new Webhook('whsec_' + Buffer.from(TEST_SECRET).toString('base64'));
    const payload = wh.verify(callback.body, {
      'webhook-id': String(callback.headers['webhook-id']),
      'webhook-timestamp': String(callback.headers['webhook-timestamp']),
      'webhook-signature': String(callback.headers['webhook-signature']),
    }) as Record<string, unknown>;
    assert.equal(payload.status, 'success');
    assert.equal(payload.mongoId, 'mongo-2026.11.24.10.30.15.123');
    assert.equal(payload.slug, '2026.11.24.10.30.15.123');
    assert.equal(payload.code, 'c0de');
    assert.equal(payload.jobId, r.json.jobId);
    assert.equal(payload.secret, TEST_SECRET);
    assert.equal(payload.mp4Url, done.result.mp4Url);
    assert.equal(payload.thumbnailUrl, done.result.thumbnailUrl);
    assert.deepEqual(payload.metadata, { note: 'echo me' });
    for (const key of ['durationMs', 'frames', 'width', 'height', 'bytes']) assert.equal(typeof payload[key], 'number', key);

    const view = await settled(oven, r.json.jobId, 60_000);
    await until(async () => (await getJson(`${oven.url}/status/${r.json.jobId}`)).json.callback.state === 'delivered', 10_000);
    assert.ok(!JSON.stringify(view).includes('token=abc'), 'status must not show the callback URL');
  });

  test('a second POST of a slug in flight answers the same job with duplicate: true', async () => {
    const url = host.put('dupe.zip', goodZip);
    const [a, b] = await Promise.all([post(`${oven.url}/bake`, job('dupe', url)), post(`${oven.url}/bake`, job('dupe', url))]);
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    assert.equal(a.json.jobId, b.json.jobId);
    assert.equal([a.json.duplicate, b.json.duplicate].filter(Boolean).length, 1);
    await settled(oven, a.json.jobId, 60_000);
    // Once ended, the same slug may be baked again (operators re-bake).
    const again = await post(`${oven.url}/bake`, job('dupe', url));
    assert.equal(again.status, 202);
    assert.notEqual(again.json.jobId, a.json.jobId);
    assert.equal(again.json.duplicate, undefined);
    await settled(oven, again.json.jobId, 60_000);
  });

  test('GET /status lists queued, active and recent jobs', async () => {
    const { json } = await getJson(`${oven.url}/status`);
    assert.ok(Array.isArray(json.queued) && Array.isArray(json.active) && Array.isArray(json.recent));
    assert.ok(json.recent.some((j: { slug: string }) => j.slug === 'dupe'));
  });
});

describe('a bad tape', () => {
  test('fails with its code and one failure callback, and the oven stays healthy', async () => {
    const evil = buildZip([{ name: '../evil.png', data: 'x' }, { name: 'timing.json', data: '[]' }]);
    const before = receiver.requests.length;
    const r = await post(`${oven.url}/bake`, job('evil-tape', host.put('evil.zip', evil)));
    assert.equal(r.status, 202);
    const failed = await settled(oven, r.json.jobId, 60_000);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error.code, 'ZIP_UNSAFE_PATH');
    const [callback] = (await receiver.waitFor(before + 1, 20_000)).slice(before);
    const body = JSON.parse(callback!.body);
    assert.equal(body.status, 'failed');
    assert.equal(body.errorCode, 'ZIP_UNSAFE_PATH');
    assert.equal(typeof body.error, 'string');
    assert.equal(body.jobId, r.json.jobId);
    const health = await getJson(`${oven.url}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.json.status, 'healthy');
  });

  test('a ZIP that does not exist fails with FETCH_HTTP_STATUS', async () => {
    const r = await post(`${oven.url}/bake`, job('missing-zip', `${host.url}/missing.zip`));
    const failed = await settled(oven, r.json.jobId, 60_000);
    assert.equal(failed.error.code, 'FETCH_HTTP_STATUS');
  });
});

test('GET /health reports queue figures and the ffmpeg version', async () => {
  const { status, json } = await getJson(`${oven.url}/health`);
  assert.equal(status, 200);
  assert.equal(json.status, 'healthy');
  assert.equal(typeof json.version, 'string');
  assert.equal(typeof json.uptimeSeconds, 'number');
  assert.deepEqual(Object.keys(json.queue).sort(), ['concurrency', 'limit', 'queued', 'running']);
  assert.match(json.ffmpeg, /^\d|^n/);
});

test('the work folder is empty once jobs have ended', async () => {
  const { readdir } = await import('node:fs/promises');
  await until(async () => (await readdir(path.join(oven.tempDir, 'oven-jobs'))).length === 0, 10_000);
});

test('no log line carries the secret', () => {
  assert.ok(oven.lines.length > 10);
  for (const line of oven.lines) assert.ok(!line.includes(TEST_SECRET), line);
});
