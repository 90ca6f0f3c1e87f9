import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { submitBake, verifyCallback, signWebhook, type BakeJob } from '../../client/index.ts';
import { CallbackOutbox, newDelivery } from '../../service/callback/outbox.ts';
import { successPayload, failurePayload } from '../../service/callback/payload.ts';
import { startReceiver } from '../helpers/receiver.ts';

const secret = 'client-test-secret-0123456789';
const job: BakeJob = {
  mongoId: '65f0c0ffee',
  slug: '2026.11.24.10.30.15.123',
  zipUrl: 'https://art-aesthetic-computer.sfo3.digitaloceanspaces.com/2026.11.24.10.30.15.123.zip',
  callbackUrl: 'https://aesthetic.computer/api/oven-complete',
  metadata: { n: 1 },
};

type Reply = { status: number; headers?: Record<string, string>; body: string; delayMs?: number };

/** A fake oven: records what it was sent, answers what it is told. */
async function fakeOven(t: { after: (fn: () => Promise<void>) => void }, reply: Reply) {
  const seen: { url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ url: req.url!, headers: req.headers, body });
      setTimeout(() => {
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(reply.body);
      }, reply.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test('submitBake posts the contract body with both forms of the secret and returns the job', async (t) => {
  const oven = await fakeOven(t, { status: 202, body: JSON.stringify({ jobId: 'job_1', slug: job.slug, status: 'queued', statusUrl: '/status/job_1', position: 2 }) });
  const result = await submitBake({ ovenUrl: oven.url + '/', secret, job });
  assert.deepEqual(result, { ok: true, jobId: 'job_1', slug: job.slug, status: 'queued', statusUrl: '/status/job_1', position: 2 });
  const [sent] = oven.seen;
  assert.equal(sent!.url, '/bake');
  assert.equal(sent!.headers['content-type'], 'application/json');
  assert.equal(sent!.headers.authorization, `Bearer ${secret}`);
  assert.deepEqual(JSON.parse(sent!.body), { ...job, callbackSecret: secret });
});

test('submitBake reports duplicates', async (t) => {
  const oven = await fakeOven(t, { status: 202, body: JSON.stringify({ jobId: 'job_0', slug: job.slug, status: 'encoding', statusUrl: '/status/job_0', duplicate: true }) });
  const result = await submitBake({ ovenUrl: oven.url, secret, job });
  assert.equal(result.ok && result.duplicate, true);
});

test('submitBake turns refusals into typed errors, with Retry-After', async (t) => {
  const full = await fakeOven(t, { status: 429, headers: { 'retry-after': '30' }, body: JSON.stringify({ error: 'The queue is full.', code: 'QUEUE_FULL' }) });
  assert.deepEqual(await submitBake({ ovenUrl: full.url, secret, job }), { ok: false, status: 429, code: 'QUEUE_FULL', error: 'The queue is full.', retryAfterSeconds: 30 });
  const denied = await fakeOven(t, { status: 401, body: JSON.stringify({ error: 'Wrong secret.', code: 'UNAUTHORIZED' }) });
  assert.deepEqual(await submitBake({ ovenUrl: denied.url, secret, job }), { ok: false, status: 401, code: 'UNAUTHORIZED', error: 'Wrong secret.' });
  const proxy = await fakeOven(t, { status: 502, body: '<html>Bad gateway</html>' });
  assert.deepEqual(await submitBake({ ovenUrl: proxy.url, secret, job }), { ok: false, status: 502, code: 'HTTP_502', error: 'The oven answered HTTP 502.' });
});

test('submitBake: no server → NETWORK; a server that does not answer in time → TIMEOUT', async (t) => {
  const free = http.createServer();
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
  const closedPort = (free.address() as AddressInfo).port;
  await new Promise<void>((resolve) => free.close(() => resolve()));
  const down = await submitBake({ ovenUrl: `http://127.0.0.1:${closedPort}`, secret, job });
  assert.equal(down.ok, false);
  assert.deepEqual(!down.ok && [down.status, down.code], [0, 'NETWORK']);

  const slow = await fakeOven(t, { status: 202, body: '{}', delayMs: 2000 });
  const late = await submitBake({ ovenUrl: slow.url, secret, job, timeoutMs: 200 });
  assert.deepEqual(!late.ok && [late.status, late.code], [0, 'TIMEOUT']);
});

test('verifyCallback accepts a real callback from the outbox, and refuses tampering, a wrong secret and an old timestamp', async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.stop());
  const outbox = new CallbackOutbox({ secret, includeBodySecret: true, timeoutMs: 2000, retryBaseMs: 20, giveUpMs: 5000, onChange: () => {} });
  const seed = { mongoId: job.mongoId, slug: job.slug, jobId: 'job_1', metadata: job.metadata };
  outbox.add(newDelivery(`${receiver.url}/api/oven-complete`, successPayload(seed, { mp4Url: 'https://x/tapes/a.mp4', durationMs: 8000, frames: 480, width: 768, height: 768, bytes: 99 })));
  outbox.add(newDelivery(`${receiver.url}/api/oven-complete`, failurePayload(seed, { code: 'TAPE_BAD_TIMING', message: 'timing.json is not valid JSON.' })));
  const [a, b] = await receiver.waitFor(2);
  await outbox.whenIdle();

  const results = [a!, b!].map((r) => verifyCallback(r.headers as Record<string, string>, r.body, secret));
  const callbacks = results.map((r) => (r.ok ? r.callback : assert.fail(r.reason)));
  const success = callbacks.find((c) => c.status === 'success');
  const failure = callbacks.find((c) => c.status === 'failed');
  assert.equal(success?.status === 'success' && success.mp4Url, 'https://x/tapes/a.mp4');
  assert.equal(failure?.status === 'failed' && failure.errorCode, 'TAPE_BAD_TIMING');
  assert.equal(success?.secret, secret);

  // A WHATWG Headers object works as well as Netlify's plain record.
  assert.equal(verifyCallback(new Headers(a!.headers as Record<string, string>), a!.body, secret).ok, true);

  const tampered = verifyCallback(a!.headers as Record<string, string>, a!.body.replace('a.mp4', 'b.mp4'), secret);
  assert.deepEqual(tampered, { ok: false, reason: 'no signature matches' });
  assert.equal(verifyCallback(a!.headers as Record<string, string>, a!.body, secret + '!').ok, false);

  const old = Math.floor(Date.now() / 1000) - 3600;
  const replay = { 'webhook-id': 'msg_x', 'webhook-timestamp': String(old), 'webhook-signature': signWebhook(secret, 'msg_x', old, a!.body) };
  assert.match((verifyCallback(replay, a!.body, secret) as { reason: string }).reason, /too old/);
  assert.equal(verifyCallback(replay, a!.body, secret, { toleranceSeconds: 7200 }).ok, true);

  const now = Math.floor(Date.now() / 1000);
  const notOurs = '{"hello":"world"}';
  const signedJunk = { 'webhook-id': 'msg_y', 'webhook-timestamp': String(now), 'webhook-signature': signWebhook(secret, 'msg_y', now, notOurs) };
  assert.equal(verifyCallback(signedJunk, notOurs, secret).ok, false);
  assert.equal(verifyCallback({}, a!.body, secret).ok, false);
});
