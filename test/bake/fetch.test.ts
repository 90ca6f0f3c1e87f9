import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Agent } from 'undici';
import { fetchZip, MAX_REDIRECTS, type FetchZipOptions } from '../../service/bake/fetch.ts';
import { OvenError } from '../../service/errors.ts';
import { createGuardedDispatcher } from '../../service/net/guard.ts';
import { loadCpu } from '../helpers/cpu-load.ts';

const ZIP = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) % 256));
const OPTIONS: FetchZipOptions = { maxBytes: 1024 * 1024, connectTimeoutMs: 2000, idleTimeoutMs: 2000, totalTimeoutMs: 10_000 };

let root: string;
let server: http.Server;
let other: http.Server;
let base: string;
let otherBase: string;
const hits: { path: string; authorization?: string }[] = [];
const sockets = new Set<import('node:net').Socket>();

/** path → [status, Location]; Locations are functions since the ports are known only after listening. */
const REDIRECTS: Record<string, [number, () => string]> = {
  '/redirect': [302, () => '/tape.zip'],
  '/redirect-twice': [301, () => `${base}/redirect`],
  '/loop': [307, () => '/loop'],
  '/to-other-origin': [302, () => `${otherBase}/tape.zip`],
  '/to-file': [302, () => 'file:///etc/passwd'],
};

function route(req: http.IncomingMessage, res: http.ServerResponse): void {
  hits.push({ path: req.url ?? '', authorization: req.headers.authorization });
  const url = new URL(req.url ?? '/', base);
  const redirect = REDIRECTS[url.pathname];
  if (redirect) {
    res.writeHead(redirect[0], { location: redirect[1]() });
    res.end();
    return;
  }
  switch (url.pathname) {
    case '/tape.zip':
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': ZIP.length });
      res.end(ZIP);
      return;
    case '/chunked.zip':
      // No Content-Length: the size is only known by counting.
      res.writeHead(200, { 'content-type': 'application/zip' });
      for (let i = 0; i < ZIP.length; i += 50_000) res.write(ZIP.subarray(i, i + 50_000));
      res.end();
      return;
    case '/no-location':
      res.writeHead(302);
      res.end();
      return;
    case '/status':
      res.writeHead(Number(url.searchParams.get('code')));
      res.end('nope');
      return;
    case '/cut':
      // Promises the whole ZIP, sends a part, then drops the connection.
      res.writeHead(200, { 'content-length': ZIP.length });
      res.write(ZIP.subarray(0, 60_000), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    case '/trickle':
      // Sends a little, then goes silent for longer than the idle timeout.
      res.writeHead(200, { 'content-length': ZIP.length });
      res.write(ZIP.subarray(0, 1000));
      setTimeout(() => res.end(ZIP.subarray(1000)), 3000).unref();
      return;
    case '/drip':
      // Never silent for long, but never done either: only the total timeout stops it.
      res.writeHead(200);
      {
        const timer = setInterval(() => res.write(ZIP.subarray(0, 10)), 30);
        res.on('close', () => clearInterval(timer));
      }
      return;
    case '/silent':
      return; // never answers
    default:
      res.writeHead(404);
      res.end();
  }
}

async function listen(s: http.Server): Promise<string> {
  s.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'oven-fetch-'));
  server = http.createServer(route);
  other = http.createServer(route);
  base = await listen(server);
  otherBase = await listen(other);
});

after(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all([server, other].map((s) => new Promise((resolve) => s.close(resolve))));
  await rm(root, { recursive: true, force: true });
});

let count = 0;
function dest(): string {
  return path.join(root, `download-${count++}.zip`);
}

async function refusal(promise: Promise<unknown>, code: string): Promise<OvenError> {
  const err = await promise.then(
    () => assert.fail(`expected ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof OvenError, String(err));
  assert.equal(err.code, code, err.message);
  return err;
}

/** A failed download leaves no file behind. */
async function refusedWithoutFile(source: string, code: string, options: Partial<FetchZipOptions> = {}): Promise<OvenError> {
  const target = dest();
  const err = await refusal(fetchZip(source, target, { ...OPTIONS, ...options }), code);
  assert.equal(existsSync(target), false, 'no partial file');
  return err;
}

test('streams a ZIP to disk, reporting progress', async () => {
  const target = dest();
  const progress: [number, number | undefined][] = [];
  const { bytes, path: at } = await fetchZip(`${base}/tape.zip`, target, { ...OPTIONS, onProgress: (n, total) => progress.push([n, total]) });
  assert.equal(bytes, ZIP.length);
  assert.equal(at, target);
  assert.deepEqual(await readFile(target), ZIP);
  assert.deepEqual(progress.at(-1), [ZIP.length, ZIP.length]);
  assert.ok(progress.every(([n], i) => i === 0 || n > progress[i - 1]![0]));
});

test('streams a ZIP sent without Content-Length', async () => {
  const target = dest();
  assert.equal((await fetchZip(`${base}/chunked.zip`, target, OPTIONS)).bytes, ZIP.length);
  assert.deepEqual(await readFile(target), ZIP);
});

test('follows redirects by hand, asking checkUrl about every hop', async () => {
  const checked: string[] = [];
  const target = dest();
  await fetchZip(`${base}/redirect-twice`, target, { ...OPTIONS, checkUrl: async (url) => void checked.push(url.pathname) });
  assert.deepEqual(checked, ['/redirect-twice', '/redirect', '/tape.zip']);
  assert.deepEqual(await readFile(target), ZIP);
});

test('checkUrl throwing on a redirect stops it before the next request', async () => {
  hits.length = 0;
  const err = await refusedWithoutFile(`${base}/redirect`, 'URL_REFUSED', {
    checkUrl: async (url) => {
      if (url.pathname === '/tape.zip') throw new OvenError('URL_REFUSED', 'That host is private.');
    },
  });
  assert.equal(err.message, 'That host is private.');
  assert.deepEqual(hits.map((h) => h.path), ['/redirect']);
});

test('headers go to the first origin only', async () => {
  hits.length = 0;
  await fetchZip(`${base}/to-other-origin`, dest(), { ...OPTIONS, headers: { authorization: 'Bearer s3cret' } });
  assert.deepEqual(hits.map((h) => [h.path, h.authorization]), [
    ['/to-other-origin', 'Bearer s3cret'],
    ['/tape.zip', undefined],
  ]);
});

test(`stops after ${MAX_REDIRECTS} redirects`, async () => {
  hits.length = 0;
  await refusedWithoutFile(`${base}/loop`, 'FETCH_HTTP_STATUS');
  assert.equal(hits.length, MAX_REDIRECTS + 1);
});

test('refuses a redirect to another scheme, or to nowhere', async () => {
  await refusedWithoutFile(`${base}/to-file`, 'BAD_URL');
  await refusedWithoutFile(`${base}/no-location`, 'FETCH_HTTP_STATUS');
});

test('only http and https URLs are fetched', async () => {
  await refusedWithoutFile('ftp://127.0.0.1/tape.zip', 'BAD_URL');
  await refusedWithoutFile('file:///etc/passwd', 'BAD_URL');
  await refusedWithoutFile('http://[not a host/', 'BAD_URL');
});

test('a 404 is FETCH_HTTP_STATUS and not worth retrying; 5xx and 429 are', async () => {
  assert.equal((await refusedWithoutFile(`${base}/status?code=404`, 'FETCH_HTTP_STATUS')).retryable, false);
  assert.equal((await refusedWithoutFile(`${base}/status?code=403`, 'FETCH_HTTP_STATUS')).retryable, false);
  assert.equal((await refusedWithoutFile(`${base}/status?code=503`, 'FETCH_HTTP_STATUS')).retryable, true);
  assert.equal((await refusedWithoutFile(`${base}/status?code=429`, 'FETCH_HTTP_STATUS')).retryable, true);
});

test('a Content-Length over the cap is refused before the body is read', async () => {
  let progressCalls = 0;
  await refusedWithoutFile(`${base}/tape.zip`, 'ZIP_TOO_LARGE', { maxBytes: ZIP.length - 1, onProgress: () => progressCalls++ });
  assert.equal(progressCalls, 0);
});

test('a body passing the cap without Content-Length is cut off at once', async () => {
  let most = 0;
  await refusedWithoutFile(`${base}/chunked.zip`, 'ZIP_TOO_LARGE', { maxBytes: 120_000, onProgress: (n) => (most = n) });
  assert.ok(most <= 120_000, `never wrote past the cap (reached ${most})`);
});

test('a server closing mid-body is FETCH_FAILED, retryable', async () => {
  const err = await refusedWithoutFile(`${base}/cut`, 'FETCH_FAILED');
  assert.equal(err.retryable, true);
});

test('a server going silent mid-body hits the idle timeout', async () => {
  const err = await refusedWithoutFile(`${base}/trickle`, 'FETCH_TIMEOUT', { idleTimeoutMs: 200 });
  assert.equal(err.retryable, true);
});

test('a server that never answers hits the idle timeout', async () => {
  await refusedWithoutFile(`${base}/silent`, 'FETCH_TIMEOUT', { idleTimeoutMs: 200 });
});

test('a download that drips forever hits the total timeout', async () => {
  const err = await refusedWithoutFile(`${base}/drip`, 'FETCH_TIMEOUT', { idleTimeoutMs: 1000, totalTimeoutMs: 300 });
  assert.match(err.message, /longer than 0.3 s/);
});

test('a refused connection is FETCH_FAILED, retryable', async () => {
  const closed = http.createServer();
  const url = await listen(closed);
  await new Promise((resolve) => closed.close(resolve));
  const err = await refusedWithoutFile(`${url}/tape.zip`, 'FETCH_FAILED');
  assert.equal(err.retryable, true);
});

test("the caller's signal stops a download", async () => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  await refusedWithoutFile(`${base}/drip`, 'INTERRUPTED', { signal: controller.signal });
});

test('uses the dispatcher it is given, and its errors pass through', async () => {
  const refusing = new Agent({
    connect: (_options, callback) => callback(new OvenError('URL_REFUSED', 'Connecting to a private address is not allowed.'), null),
  });
  try {
    await refusedWithoutFile(`${base}/tape.zip`, 'URL_REFUSED', { dispatcher: refusing });
  } finally {
    await refusing.close();
  }
  const plain = new Agent();
  try {
    assert.equal((await fetchZip(`${base}/tape.zip`, dest(), { ...OPTIONS, dispatcher: plain })).bytes, ZIP.length);
  } finally {
    await plain.close();
  }
});

test("the service's guarded dispatcher refuses loopback, by address and by name", async () => {
  const guarded = createGuardedDispatcher({ allowPrivateNetworks: false });
  try {
    await refusedWithoutFile(`${base}/tape.zip`, 'URL_REFUSED', { dispatcher: guarded });
    await refusedWithoutFile(base.replace('127.0.0.1', 'localhost') + '/tape.zip', 'URL_REFUSED', { dispatcher: guarded });
  } finally {
    await guarded.close();
  }
});

test('never overwrites or deletes a file already at the destination', async () => {
  const target = dest();
  await writeFile(target, 'precious');
  const err = await refusal(fetchZip(`${base}/tape.zip`, target, OPTIONS), 'INTERNAL');
  assert.equal(err.retryable, false);
  assert.equal(await readFile(target, 'utf8'), 'precious');
});

test('a local ZIP is read where it is (not copied), with the same cap', async () => {
  const source = path.join(root, 'local source.zip');
  await writeFile(source, ZIP);
  const target = dest();
  assert.deepEqual(await fetchZip(source, target, OPTIONS), { path: source, bytes: ZIP.length });
  assert.equal(existsSync(target), false, 'nothing was copied');
  await refusedWithoutFile(source, 'ZIP_TOO_LARGE', { maxBytes: 1000 });
  await refusedWithoutFile(path.join(root, 'missing.zip'), 'FETCH_FAILED');
  await refusedWithoutFile(root, 'FETCH_FAILED');
  // A source that has been through checkUrl came from outside: it must be a URL.
  await refusedWithoutFile(source, 'BAD_URL', { checkUrl: async () => undefined });
});

test('a server that closes the connection right after a large body does not crash the oven (nodejs/undici#5360)', async () => {
  // `Connection: close` and FIN straight after the body: with a body paused by backpressure, undici 7
  // threw an uncatchable assertion from the socket's end handler and took the whole process down.
  const body = Buffer.alloc(8 * 1024 * 1024, 0x61);
  const net = await import('node:net');
  const server = net.createServer((sock) => {
    sock.once('data', () => {
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
      sock.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const folder = await mkdtemp(path.join(os.tmpdir(), 'oven-fetch-close-'));
  try {
    // The crash depended on timing; five downloads made it show every time here.
    for (let i = 0; i < 5; i++) {
      const dest = path.join(folder, `close-${i}.zip`);
      const result = await fetchZip(`http://127.0.0.1:${port}/close.zip`, dest, { ...OPTIONS, maxBytes: 16 * 1024 * 1024 });
      assert.equal(result.bytes, body.length);
      assert.ok((await readFile(dest)).equals(body));
    }
  } finally {
    server.close();
    await rm(folder, { recursive: true, force: true });
  }
});

test('a 64–128 KiB body sent with its headers in one write, then a close, always arrives whole (nodejs/undici#5360)', async () => {
  // The window of that crash: a body of one to two of undici's 64 KiB high-water marks that has all
  // arrived, with the FIN, before anything reads it. Loaded cores widen it, as a baking droplet's does.
  const net = await import('node:net');
  const bodies = new Map<string, Buffer>();
  const server = net.createServer((sock) => {
    sock.once('data', (request) => {
      const body = bodies.get(/^GET \/(\S+)/.exec(request.toString('latin1'))?.[1] ?? '') ?? Buffer.alloc(0);
      sock.end(Buffer.concat([Buffer.from(`HTTP/1.0 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const folder = await mkdtemp(path.join(os.tmpdir(), 'oven-fetch-window-'));
  const load = loadCpu({ seconds: 30 });
  try {
    for (let i = 0; i < 48; i++) {
      const size = 64 * 1024 + Math.round((i / 47) * 64 * 1024);
      const body = Buffer.alloc(size, i % 251);
      body.writeUInt32BE(i, 0);
      bodies.set(`t${i}.zip`, body);
      const target = path.join(folder, `t${i}.zip`);
      const result = await fetchZip(`http://127.0.0.1:${port}/t${i}.zip`, target, { ...OPTIONS, maxBytes: 1024 * 1024 });
      assert.equal(result.bytes, size);
      assert.ok((await readFile(target)).equals(body), `download ${i} (${size} bytes) arrived whole`);
    }
  } finally {
    await load.stop();
    server.close();
    await rm(folder, { recursive: true, force: true });
  }
});

test('a keep-alive connection the server dropped is not the tape\'s fault: the GET goes again on a fresh one', async () => {
  // HTTP/1.1 without `Connection: close`, so undici pools the connection; the server then drops
  // every connection when a second request arrives on it, before answering a byte.
  const net = await import('node:net');
  let dropped = 0;
  const server = net.createServer((sock) => {
    let served = 0;
    sock.on('data', () => {
      if (served++ > 0) {
        dropped++;
        sock.destroy();
        return;
      }
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${ZIP.length}\r\n\r\n`);
      sock.write(ZIP);
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const pooled = new Agent({ keepAliveTimeout: 30_000 });
  try {
    for (let i = 0; i < 6; i++) {
      const target = dest();
      const result = await fetchZip(`http://127.0.0.1:${port}/tape-${i}.zip`, target, { ...OPTIONS, dispatcher: pooled });
      assert.equal(result.bytes, ZIP.length);
      assert.deepEqual(await readFile(target), ZIP);
    }
    assert.ok(dropped >= 1, 'the pooled connection was reused and dropped at least once');
  } finally {
    await pooled.close();
    server.close();
  }
});
