import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import polka from 'polka';
import { loadConfig } from '../../service/config.ts';
import { createBlobStore, localBlobRoot, tapeKeys } from '../../service/storage/index.ts';
import { serveBlob } from '../../service/http/blobs.ts';

const content = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 256));

/** A raw GET, so paths reach the server exactly as written (no client-side normalising). */
function get(port: number, rawPath: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function setup(t: { after: (fn: () => Promise<void> | void) => void }) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oven-local-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const dataDir = path.join(dir, 'data');
  // A secret next to the blob root, which no request may reach.
  await mkdir(dataDir, { recursive: true });
  await writeFile(path.join(dataDir, 'jobs.json'), 'SECRET-STATE');
  const app = polka().get('/blobs/*', serveBlob(localBlobRoot({ dataDir }))).head('/blobs/*', serveBlob(localBlobRoot({ dataDir })));
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => new Promise<void>((resolve) => app.server.close(() => resolve())));
  const port = (app.server.address() as AddressInfo).port;
  const config = loadConfig({ OVEN_DATA_DIR: dataDir, OVEN_PUBLIC_URL: `http://127.0.0.1:${port}` });
  const src = path.join(dir, 'out.mp4');
  await writeFile(src, content);
  return { dir, dataDir, port, store: await createBlobStore(config), src };
}

test('local put is atomic and its URL serves the file with the right headers', async (t) => {
  const { port, store, src, dataDir } = await setup(t);
  assert.equal(store.kind, 'local');
  const keys = tapeKeys('2026.11.24.10.30.15.123');
  const stored = await store.put(keys.mp4, src, 'video/mp4');
  assert.deepEqual(stored, { key: keys.mp4, url: `http://127.0.0.1:${port}/blobs/${keys.mp4}`, bytes: 1000 });
  assert.deepEqual(await readdir(path.join(dataDir, 'blobs', 'tapes')), ['2026.11.24.10.30.15.123.mp4'], 'no temp file left behind');

  const res = await fetch(stored.url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'video/mp4');
  assert.equal(res.headers.get('content-length'), '1000');
  assert.equal(res.headers.get('accept-ranges'), 'bytes');
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), content);

  // Replacing a blob works (re-bakes write the same key).
  await writeFile(src, 'new');
  await store.put(keys.mp4, src, 'video/mp4');
  assert.equal(await (await fetch(stored.url)).text(), 'new');

  await writeFile(src, content);
  await store.put(keys.thumbnail, src, 'image/jpeg');
  assert.equal((await fetch(store.urlFor(keys.thumbnail))).headers.get('content-type'), 'image/jpeg');
});

test('Range requests: a-b, a-, -n, beyond the end, unsatisfiable, several, HEAD, If-None-Match', async (t) => {
  const { port, store, src } = await setup(t);
  await store.put('tapes/r.mp4', src, 'video/mp4');
  const p = '/blobs/tapes/r.mp4';

  let r = await get(port, p, { range: 'bytes=10-19' });
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], 'bytes 10-19/1000');
  assert.equal(r.headers['content-length'], '10');
  assert.deepEqual(r.body, content.subarray(10, 20));

  r = await get(port, p, { range: 'bytes=990-' });
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], 'bytes 990-999/1000');
  assert.deepEqual(r.body, content.subarray(990));

  r = await get(port, p, { range: 'bytes=-5' });
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], 'bytes 995-999/1000');
  assert.deepEqual(r.body, content.subarray(995));

  r = await get(port, p, { range: 'bytes=-5000' });
  assert.equal(r.status, 206);
  assert.equal(r.body.length, 1000);

  r = await get(port, p, { range: 'bytes=900-5000' });
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], 'bytes 900-999/1000');

  for (const unsatisfiable of ['bytes=1000-', 'bytes=2000-3000', 'bytes=-0']) {
    r = await get(port, p, { range: unsatisfiable });
    assert.equal(r.status, 416, unsatisfiable);
    assert.equal(r.headers['content-range'], 'bytes */1000');
    assert.equal(JSON.parse(r.body.toString()).code, 'RANGE_NOT_SATISFIABLE');
  }

  for (const ignored of ['bytes=0-1,5-6', 'items=0-1', 'bytes=5-2']) {
    r = await get(port, p, { range: ignored });
    assert.equal(r.status, 200, ignored);
    assert.equal(r.body.length, 1000);
  }

  r = await get(port, p, { range: 'bytes=0-9' }, 'HEAD');
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-length'], '10');
  assert.equal(r.body.length, 0);

  const etag = String((await get(port, p)).headers.etag);
  assert.equal((await get(port, p, { 'if-none-match': etag })).status, 304);
  assert.equal((await get(port, p, { range: 'bytes=0-9', 'if-range': '"old"' })).status, 200);
  assert.equal((await get(port, p, { range: 'bytes=0-9', 'if-range': etag })).status, 206);
});

test('no path escapes: traversal, encodings, absolute paths, NUL, backslashes, hidden and symlinked files', async (t) => {
  const { port, store, src, dataDir, dir } = await setup(t);
  await store.put('tapes/ok.mp4', src, 'video/mp4');
  await writeFile(path.join(dataDir, 'blobs', 'tapes', '.half-written.mp4.tmp'), 'partial');
  await writeFile(path.join(dir, 'outside.mp4'), 'SECRET-OUTSIDE');
  await symlink(path.join(dir, 'outside.mp4'), path.join(dataDir, 'blobs', 'tapes', 'link.mp4'));

  const attempts = [
    '/blobs/../jobs.json',
    '/blobs/tapes/../../jobs.json',
    '/blobs/%2e%2e/jobs.json',
    '/blobs/%2E%2E/jobs.json',
    '/blobs/tapes/%2e%2e%2f%2e%2e%2fjobs.json',
    '/blobs/..%2fjobs.json',
    '/blobs/..%5cjobs.json',
    '/blobs/tapes\\..\\..\\jobs.json',
    '/blobs//etc/passwd',
    '/blobs/%2fetc%2fpasswd',
    '/blobs/tapes/ok.mp4%00.jpg',
    '/blobs/tapes/.half-written.mp4.tmp',
    '/blobs/tapes/link.mp4',
    '/blobs/tapes/%zz',
    '/blobs/tapes/',
    '/blobs/tapes',
    '/blobs/tapes/missing.mp4',
  ];
  for (const attempt of attempts) {
    const r = await get(port, attempt);
    assert.ok(r.status === 400 || r.status === 404, `${attempt} → ${r.status}`);
    const body = JSON.parse(r.body.toString());
    assert.ok(body.error && body.code, attempt);
    assert.doesNotMatch(r.body.toString(), /SECRET/);
  }
  assert.equal((await get(port, '/blobs/tapes/ok.mp4')).status, 200, 'the real file is still served');
});

test('serveBlob works on a bare node:http server too', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oven-local-bare-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'tapes'));
  await writeFile(path.join(dir, 'tapes', 'a-thumb.jpg'), 'jpeg!');
  const server = http.createServer(serveBlob(dir));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  const r = await get(port, '/blobs/tapes/a-thumb.jpg?v=2');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'image/jpeg');
  assert.equal(r.body.toString(), 'jpeg!');
  const refused = await get(port, '/blobs/tapes/a-thumb.jpg', {}, 'DELETE');
  assert.equal(refused.status, 405);
  assert.equal(refused.headers.allow, 'GET, HEAD');
  assert.equal(JSON.parse(refused.body.toString()).code, 'METHOD_NOT_ALLOWED');
});
