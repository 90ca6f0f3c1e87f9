import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetch, request } from 'undici';
import { checkUrl, createGuardedDispatcher, findUrlRefusal, type UrlPolicy } from '../../service/net/guard.ts';
import { OvenError } from '../../service/errors.ts';

const strict: UrlPolicy = { allowPrivateNetworks: false };
const open: UrlPolicy = { allowPrivateNetworks: true };

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof OvenError, `expected an OvenError, got ${String(err)}`);
    assert.ok(err.message.length > 10);
    return err.code;
  }
  return 'ACCEPTED';
}

test('checkUrl refuses loopback, private, link-local and metadata targets', async () => {
  for (const url of [
    'http://127.0.0.1/x.zip',
    'http://10.1.2.3/x.zip',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]:8080/',
    'http://[::ffff:127.0.0.1]/',
    'http://2130706433/', // decimal 127.0.0.1
    'http://0x7f.1/', // hex/short form
    'http://017700000001/', // octal
    'http://localhost:3000/', // a name resolving to loopback
    'http://metadata.google.internal/computeMetadata/v1/',
  ]) {
    assert.equal(await codeOf(checkUrl(url, strict, 'zipUrl')), 'URL_REFUSED', url);
  }
});

test('checkUrl: bad schemes and credentials are BAD_URL', async () => {
  assert.equal(await codeOf(checkUrl('ftp://example.com/x.zip', strict, 'zipUrl')), 'BAD_URL');
  assert.equal(await codeOf(checkUrl('file:///etc/passwd', strict, 'zipUrl')), 'BAD_URL');
  assert.equal(await codeOf(checkUrl('https://user:pw@example.com/x.zip', open, 'zipUrl')), 'BAD_URL');
  assert.equal(await codeOf(checkUrl('not a url', strict, 'zipUrl')), 'BAD_URL');
});

test('checkUrl names the field and the refusal in its sentence', async () => {
  await assert.rejects(checkUrl('http://10.0.0.1/', strict, 'callbackUrl'), /callbackUrl.*10\.0\.0\.1/);
});

test('checkUrl resolves names and accepts public answers, refuses mixed ones and DNS failures', async () => {
  const answers: Record<string, string[]> = {
    'good.test': ['93.184.216.34', '2606:2800:220:1::1'],
    'mixed.test': ['93.184.216.34', '10.0.0.8'],
    'rebind.test': ['::ffff:192.168.0.1'],
  };
  const resolve = async (host: string) => {
    const a = answers[host];
    if (!a) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return a;
  };
  const url = await checkUrl('https://good.test/tape.zip?x=1', strict, 'zipUrl', { resolve });
  assert.equal(url.href, 'https://good.test/tape.zip?x=1');
  assert.equal(await codeOf(checkUrl('https://mixed.test/', strict, 'zipUrl', { resolve })), 'URL_REFUSED');
  assert.equal(await codeOf(checkUrl('https://rebind.test/', strict, 'zipUrl', { resolve })), 'URL_REFUSED');
  await assert.rejects(checkUrl('https://nowhere.test/', strict, 'zipUrl', { resolve }), (err: OvenError) => {
    assert.equal(err.code, 'URL_REFUSED');
    assert.match(err.message, /could not be resolved \(ENOTFOUND\)/);
    return true;
  });
  assert.equal(await codeOf(checkUrl('https://8.8.8.8/x', strict, 'zipUrl', { resolve })), 'ACCEPTED');
});

test('checkUrl: allowPrivateNetworks lets loopback through; allowedHosts limits hosts either way', async () => {
  assert.equal(await codeOf(checkUrl('http://127.0.0.1:9/x.zip', open, 'zipUrl')), 'ACCEPTED');
  assert.equal(await codeOf(checkUrl('http://localhost:9/x.zip', open, 'zipUrl')), 'ACCEPTED');
  const only: UrlPolicy = { allowPrivateNetworks: true, allowedHosts: ['localhost'] };
  assert.equal(await codeOf(checkUrl('http://LOCALHOST./x.zip', only, 'zipUrl')), 'ACCEPTED');
  assert.equal(await codeOf(checkUrl('http://127.0.0.1/x.zip', only, 'zipUrl')), 'URL_REFUSED');
  const strictOnly: UrlPolicy = { allowPrivateNetworks: false, allowedHosts: ['localhost'] };
  assert.equal(await codeOf(checkUrl('http://localhost/x.zip', strictOnly, 'zipUrl')), 'URL_REFUSED');
  assert.equal(await codeOf(checkUrl('https://example.com/x.zip', strictOnly, 'zipUrl')), 'URL_REFUSED');
});

async function listen(handler: http.RequestListener, host = '127.0.0.1'): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, url: `http://${host}:${(server.address() as AddressInfo).port}` };
}

test('the guarded dispatcher refuses to connect to loopback by address and by name, unless allowed', async (t) => {
  let hits = 0;
  const { server, url } = await listen((_req, res) => {
    hits++;
    res.end('ok');
  });
  t.after(() => server.close());
  const port = new URL(url).port;

  const guarded = createGuardedDispatcher(strict);
  t.after(() => guarded.close());
  for (const target of [url, `http://localhost:${port}/`]) {
    await assert.rejects(request(target, { dispatcher: guarded }), (err) => {
      assert.equal(findUrlRefusal(err)?.code, 'URL_REFUSED', String(err));
      return true;
    });
    await assert.rejects(fetch(target, { dispatcher: guarded }), (err) => findUrlRefusal(err)?.code === 'URL_REFUSED');
  }
  assert.equal(hits, 0);

  const allowing = createGuardedDispatcher(open);
  t.after(() => allowing.close());
  const res = await request(url, { dispatcher: allowing });
  assert.equal(await res.body.text(), 'ok');
  assert.equal(hits, 1);
});

test('the guarded dispatcher checks every redirect hop', async (t) => {
  // The "inside" server stands for a private target; the "outside" one is treated as public.
  const inside = await listen((_req, res) => res.end('secret'), '127.0.0.2');
  t.after(() => inside.server.close());
  const outside = await listen((_req, res) => {
    res.writeHead(302, { location: `${inside.url}/latest/meta-data` });
    res.end();
  });
  t.after(() => outside.server.close());

  const guarded = createGuardedDispatcher(strict, { isPublic: (ip) => ip === '127.0.0.1' });
  t.after(() => guarded.close());
  await assert.rejects(fetch(outside.url, { dispatcher: guarded }), (err) => {
    assert.match(findUrlRefusal(err)?.message ?? '', /127\.0\.0\.2/);
    return true;
  });

  const allowing = createGuardedDispatcher(open);
  t.after(() => allowing.close());
  assert.equal(await (await fetch(outside.url, { dispatcher: allowing })).text(), 'secret');
});

test('the guarded dispatcher enforces allowedHosts on redirects too', async (t) => {
  const target = await listen((_req, res) => res.end('elsewhere'));
  t.after(() => target.server.close());
  const start = await listen((_req, res) => {
    res.writeHead(307, { location: target.url.replace('127.0.0.1', 'localhost') });
    res.end();
  });
  t.after(() => start.server.close());
  const guarded = createGuardedDispatcher({ allowPrivateNetworks: true, allowedHosts: ['127.0.0.1'] });
  t.after(() => guarded.close());
  await assert.rejects(fetch(start.url, { dispatcher: guarded }), (err) => /OVEN_ALLOWED_HOSTS/.test(findUrlRefusal(err)?.message ?? ''));
});
