import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../service/config.ts';
import { OvenError } from '../../service/errors.ts';
import { downloadArtObject } from '../../service/storage/art.ts';
import { BLOB_CACHE_CONTROL, createBlobStore, tapeKeys, artObjectKey } from '../../service/storage/index.ts';
import { SpacesBlobStore } from '../../service/storage/spaces.ts';
import { startS3OutageProxy } from '../helpers/s3-outage.ts';
import { spacesEnv, startS3, type S3Server } from '../helpers/s3.ts';

/** The Space settings of helpers/s3.ts through `endpoint`, with `key` as its key, and a data folder. */
function storeEnv(s3: S3Server, endpoint: string, dataDir: string, key = s3.key): Record<string, string> {
  return { OVEN_DATA_DIR: dataDir, ...spacesEnv({ ...s3, key }, endpoint) };
}

async function setup(t: { after: (fn: () => Promise<void> | void) => void }) {
  const s3 = await startS3();
  t.after(() => s3.stop());
  const proxy = await startS3OutageProxy(s3.endpoint);
  t.after(() => proxy.stop());
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oven-spaces-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tape.mp4');
  await writeFile(file, Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 251)));
  return { s3, proxy, dir, file };
}

test('a Space upload is public-read with Content-Type and Cache-Control, and its URL serves it back', async (t) => {
  const { s3, proxy, dir, file } = await setup(t);
  const store = await createBlobStore(loadConfig(storeEnv(s3, proxy.endpoint, dir)));
  assert.equal(store.kind, 'spaces');
  await store.check?.();

  const keys = tapeKeys('2026.11.24.10.30.15.123');
  assert.deepEqual(keys, {
    mp4: 'tapes/2026.11.24.10.30.15.123.mp4',
    thumbnail: 'tapes/2026.11.24.10.30.15.123-thumb.jpg',
    webm: 'tapes/2026.11.24.10.30.15.123.webm',
    gif: 'tapes/2026.11.24.10.30.15.123.gif',
  });
  const stored = await store.put(keys.mp4, file, 'video/mp4');
  assert.deepEqual(stored, { key: keys.mp4, url: `${proxy.endpoint}/${s3.bucket}/${keys.mp4}`, bytes: 200_000 });
  assert.equal(store.urlFor(keys.mp4), stored.url);

  const put = proxy.seen.find((r) => r.method === 'PUT');
  assert.equal(put?.headers['x-amz-acl'], 'public-read');
  assert.equal(put?.headers['content-length'], '200000');

  const res = await fetch(stored.url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'video/mp4');
  assert.equal(res.headers.get('cache-control'), BLOB_CACHE_CONTROL);
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), await readFile(file));
});

test('an S3 endpoint answering 503 for a while, then recovering: the upload still succeeds', async (t) => {
  const { s3, proxy, dir, file } = await setup(t);
  const config = loadConfig(storeEnv(s3, proxy.endpoint, dir));
  const store = new SpacesBlobStore(config.blobs!, { retry: { baseMs: 50, maxDelayMs: 300, budgetMs: 8000 } });
  proxy.outageFor(1500);
  const stored = await store.put('tapes/flaky.mp4', file, 'video/mp4');
  assert.ok(proxy.seen.filter((r) => r.status === 503).length >= 3, 'several attempts met the outage');
  const res = await fetch(stored.url);
  assert.equal(res.status, 200);
  assert.equal((await res.arrayBuffer()).byteLength, 200_000, 'the whole file arrived although earlier attempts consumed their streams');
});

test('an outage longer than the retry budget fails as UPLOAD_FAILED, retryable', async (t) => {
  const { s3, proxy, dir, file } = await setup(t);
  const store = new SpacesBlobStore(loadConfig(storeEnv(s3, proxy.endpoint, dir)).blobs!, { retry: { baseMs: 50, maxDelayMs: 100, budgetMs: 400 } });
  proxy.outageFor(60_000);
  await assert.rejects(store.put('tapes/never.mp4', file, 'video/mp4'), (err: OvenError) => {
    assert.equal(err.code, 'UPLOAD_FAILED');
    assert.equal(err.retryable, true);
    assert.match(err.message, /503/);
    return true;
  });
});

test('a refused upload (unknown key; s3rver checks keys, not v4 signatures) fails at once, not retryable', async (t) => {
  const { s3, proxy, dir, file } = await setup(t);
  const store = new SpacesBlobStore(loadConfig(storeEnv(s3, proxy.endpoint, dir, 'NOT-A-KEY')).blobs!, { retry: { baseMs: 50, maxDelayMs: 100, budgetMs: 5000 } });
  await assert.rejects(store.put('tapes/x.mp4', file, 'video/mp4'), (err: OvenError) => {
    assert.equal(err.code, 'UPLOAD_FAILED');
    assert.equal(err.retryable, false);
    assert.match(err.message, /403/);
    assert.match(err.message, /AT_BLOBS_SPACES_/);
    return true;
  });
  assert.equal(proxy.seen.filter((r) => r.method === 'PUT').length, 1);
});

test('artObjectKey recognises the art bucket in every URL style, and nothing else', () => {
  const art = { key: 'k', secret: 's', endpoint: 'https://sfo3.digitaloceanspaces.com', bucket: 'art-aesthetic-computer', region: 'sfo3', forcePathStyle: false };
  const key = (u: string) => artObjectKey(new URL(u), art);
  assert.equal(key('https://art-aesthetic-computer.sfo3.digitaloceanspaces.com/2026.11.24.zip'), '2026.11.24.zip');
  assert.equal(key('https://art-aesthetic-computer.sfo3.cdn.digitaloceanspaces.com/a/b%20c.zip'), 'a/b c.zip');
  assert.equal(key('https://sfo3.digitaloceanspaces.com/art-aesthetic-computer/x.zip'), 'x.zip');
  assert.equal(key('https://ART-AESTHETIC-COMPUTER.SFO3.digitaloceanspaces.com/x.zip'), 'x.zip');
  assert.equal(key('https://other.sfo3.digitaloceanspaces.com/x.zip'), undefined);
  assert.equal(key('https://art-aesthetic-computer.nyc3.digitaloceanspaces.com/x.zip'), undefined);
  assert.equal(key('https://sfo3.digitaloceanspaces.com/art-aesthetic-computer-2/x.zip'), undefined);
  assert.equal(key('https://art-aesthetic-computer.sfo3.digitaloceanspaces.com/'), undefined);
  assert.equal(key('https://evil.example/art-aesthetic-computer.sfo3.digitaloceanspaces.com/x.zip'), undefined);
});

test('downloadArtObject fetches with credentials, caps the size and names a missing object', async (t) => {
  const { s3, dir, file } = await setup(t);
  const config = loadConfig({ ...storeEnv(s3, s3.endpoint, dir), ART_SPACES_KEY: s3.key, ART_SPACES_SECRET: s3.secret, ART_SPACES_ENDPOINT: s3.endpoint, ART_SPACES_BUCKET: s3.bucket });
  const art = config.art!;
  assert.equal(art.forcePathStyle, true);
  await (await createBlobStore(config)).put('tapes/in-art.zip', file, 'application/zip');
  assert.equal(artObjectKey(new URL(`${s3.endpoint}/${s3.bucket}/tapes/in-art.zip`), art), 'tapes/in-art.zip');

  const dest = path.join(dir, 'down.zip');
  assert.deepEqual(await downloadArtObject(art, 'tapes/in-art.zip', dest, 1_000_000), { bytes: 200_000 });
  assert.deepEqual(await readFile(dest), await readFile(file));

  const capped = path.join(dir, 'capped.zip');
  await assert.rejects(downloadArtObject(art, 'tapes/in-art.zip', capped, 100_000), (err: OvenError) => err.code === 'ZIP_TOO_LARGE');
  await assert.rejects(stat(capped), { code: 'ENOENT' });

  await assert.rejects(downloadArtObject(art, 'tapes/missing.zip', path.join(dir, 'm.zip'), 1_000_000), (err: OvenError) => {
    assert.equal(err.code, 'FETCH_HTTP_STATUS');
    assert.match(err.message, /404/);
    return true;
  });
  const wrong = { ...art, key: 'NOT-A-KEY' };
  await assert.rejects(downloadArtObject(wrong, 'tapes/in-art.zip', path.join(dir, 'w.zip'), 1_000_000), (err: OvenError) => {
    assert.equal(err.code, 'FETCH_HTTP_STATUS');
    assert.match(err.message, /ART_SPACES_/);
    return true;
  });
});
