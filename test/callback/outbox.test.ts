import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { CallbackOutbox, newDelivery, type CallbackDelivery, type OutboxOptions } from '../../service/callback/outbox.ts';
import { createGuardedDispatcher } from '../../service/net/guard.ts';
import type { Logger } from '../../service/log.ts';
import { loadCpu } from '../helpers/cpu-load.ts';
import { startReceiver, type ReceivedRequest } from '../helpers/receiver.ts';

const secret = 'outbox-test-secret-0123456789';
const standard = new Webhook('whsec_' + Buffer.from(secret).toString('base64'));
const payload = { mongoId: 'm1', slug: 'tape-1', status: 'success', jobId: 'job_1', mp4Url: 'http://x/tapes/tape-1.mp4' };

function recordingLog(lines: string[]): Logger {
  const make = (base: Record<string, unknown>): Logger => {
    const write = (level: string) => (msg: string, f?: Record<string, unknown>) => void lines.push(JSON.stringify({ level, msg, ...base, ...f }));
    return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'), child: (f) => make({ ...base, ...f }) };
  };
  return make({});
}

/** An outbox whose onChange records every state and can be awaited until the delivery settles. */
function harness(overrides: Partial<OutboxOptions> = {}) {
  const changes: CallbackDelivery[] = [];
  const logLines: string[] = [];
  let settle: (d: CallbackDelivery) => void = () => {};
  const settled = new Promise<CallbackDelivery>((resolve) => (settle = resolve));
  const outbox = new CallbackOutbox({
    secret,
    includeBodySecret: true,
    timeoutMs: 2000,
    retryBaseMs: 20,
    giveUpMs: 20_000,
    log: recordingLog(logLines),
    onChange: (d) => {
      changes.push(d);
      if (d.state !== 'pending') settle(d);
    },
    ...overrides,
  });
  return { outbox, changes, settled, logLines };
}

function assertSigned(r: ReceivedRequest, id: string): void {
  assert.equal(r.method, 'POST');
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.headers['webhook-id'], id);
  const ts = Number(r.headers['webhook-timestamp']);
  assert.ok(Math.abs(ts - Math.floor(r.at / 1000)) <= 1, 'the timestamp is the time of this attempt');
  standard.verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  });
}

test('a 2xx answer delivers once, signed, with the secret in the body', async (t) => {
  const receiver = await startReceiver({ answers: [{ status: 204 }] });
  t.after(() => receiver.stop());
  const { outbox, changes, settled } = harness();
  const d = newDelivery(`${receiver.url}/api/oven-complete`, payload);
  assert.match(d.id, /^msg_[A-Za-z0-9_-]{16,}$/);
  outbox.add(d);
  outbox.add(d); // adding twice does not send twice
  const done = await settled;
  await outbox.whenIdle();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(done.state, 'delivered');
  assert.equal(done.attempts, 1);
  assert.ok(done.deliveredAt! >= done.createdAt);
  assert.equal(changes.length, 1);
  assert.equal(receiver.requests.length, 1);
  const [r] = receiver.requests;
  assertSigned(r!, d.id);
  assert.equal(r!.url, '/api/oven-complete');
  assert.deepEqual(JSON.parse(r!.body), { ...payload, secret });
  assert.equal(outbox.pending(), 0);
});

test('500, 500, 200: delivered on the third attempt with the same webhook-id', async (t) => {
  const receiver = await startReceiver({ answers: [{ status: 500 }, { status: 500 }, { status: 200 }] });
  t.after(() => receiver.stop());
  const { outbox, changes, settled } = harness({ includeBodySecret: false });
  const d = newDelivery(`${receiver.url}/cb`, payload);
  outbox.add(d);
  const done = await settled;
  assert.equal(done.state, 'delivered');
  assert.equal(done.attempts, 3);
  assert.deepEqual(changes.map((c) => [c.state, c.attempts, c.lastError]), [
    ['pending', 1, 'HTTP 500'],
    ['pending', 2, 'HTTP 500'],
    ['delivered', 3, undefined],
  ]);
  assert.ok(changes[1]!.nextAttemptAt > changes[0]!.nextAttemptAt);
  assert.equal(receiver.requests.length, 3);
  for (const r of receiver.requests) {
    assertSigned(r, d.id);
    assert.deepEqual(JSON.parse(r.body), payload, 'no secret in the body when includeBodySecret is off');
  }
});

test('410 stops at once', async (t) => {
  const receiver = await startReceiver({ defaultAnswer: { status: 410 } });
  t.after(() => receiver.stop());
  const { outbox, settled } = harness();
  outbox.add(newDelivery(`${receiver.url}/cb`, payload));
  const done = await settled;
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(done.state, 'gave-up');
  assert.equal(done.attempts, 1);
  assert.match(done.lastError!, /410/);
  assert.equal(receiver.requests.length, 1);
});

test('a redirect is not followed; it counts as a failed attempt', async (t) => {
  const receiver = await startReceiver({ answers: [{ redirectTo: '/elsewhere', status: 307 }] });
  t.after(() => receiver.stop());
  const { outbox, changes, settled } = harness();
  outbox.add(newDelivery(`${receiver.url}/cb`, payload));
  const done = await settled;
  assert.equal(done.state, 'delivered');
  assert.equal(done.attempts, 2);
  assert.match(changes[0]!.lastError!, /307 redirect/);
  assert.deepEqual(receiver.requests.map((r) => r.url), ['/cb', '/cb']);
});

test('Retry-After is honoured', async (t) => {
  const receiver = await startReceiver({ answers: [{ status: 503, retryAfter: 1 }] });
  t.after(() => receiver.stop());
  const { outbox, changes, settled } = harness();
  outbox.add(newDelivery(`${receiver.url}/cb`, payload));
  const done = await settled;
  assert.equal(done.state, 'delivered');
  const [first, second] = receiver.requests;
  assert.ok(second!.at - first!.at >= 990, `waited ${second!.at - first!.at} ms, asked for 1 s`);
  assert.ok(changes[0]!.nextAttemptAt - first!.at >= 990);
});

test('Retry-After is capped at maxDelayMs', async (t) => {
  const receiver = await startReceiver({ answers: [{ status: 429, retryAfter: 3600 }] });
  t.after(() => receiver.stop());
  const { outbox, settled } = harness({ maxDelayMs: 200 });
  outbox.add(newDelivery(`${receiver.url}/cb`, payload));
  assert.equal((await settled).attempts, 2);
});

test('an attempt that takes too long times out and is retried', async (t) => {
  const receiver = await startReceiver({ answers: [{ delayMs: 1500 }] });
  t.after(() => receiver.stop());
  const { outbox, changes, settled } = harness({ timeoutMs: 300 });
  outbox.add(newDelivery(`${receiver.url}/cb`, payload));
  const done = await settled;
  assert.equal(done.state, 'delivered');
  assert.equal(done.attempts, 2);
  assert.match(changes[0]!.lastError!, /timed out/);
});

test('a receiver that is down, then up, gets the callback', async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.stop());
  await receiver.down();
  const { outbox, changes, settled } = harness({ retryBaseMs: 50, maxDelayMs: 100 });
  outbox.add(newDelivery(`${receiver.url}/cb`, payload));
  while (changes.length < 2) await new Promise((r) => setTimeout(r, 20));
  assert.match(changes[0]!.lastError!, /ECONNREFUSED/);
  await receiver.up();
  const done = await settled;
  assert.equal(done.state, 'delivered');
  assert.ok(done.attempts >= 3);
  assert.equal(receiver.requests.length, 1);
});

test('gives up after giveUpMs', async (t) => {
  const receiver = await startReceiver({ defaultAnswer: { status: 500 } });
  t.after(() => receiver.stop());
  const { outbox, changes, settled } = harness({ giveUpMs: 300, retryBaseMs: 40 });
  const d = newDelivery(`${receiver.url}/cb`, payload);
  outbox.add(d);
  const done = await settled;
  assert.equal(done.state, 'gave-up');
  assert.equal(done.lastError, 'HTTP 500');
  assert.ok(done.attempts >= 2);
  assert.ok(changes.every((c) => c.nextAttemptAt <= d.createdAt + 300), 'no attempt is planned past the give-up time');
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(receiver.requests.length, done.attempts);

  const once = harness({ giveUpMs: 0 });
  once.outbox.add(newDelivery(`${receiver.url}/cb`, payload));
  assert.equal((await once.settled).attempts, 1);
});

test('a pending delivery resumes from its saved state (after a restart)', async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.stop());
  const saved: CallbackDelivery = { ...newDelivery(`${receiver.url}/cb`, payload, Date.now() - 60_000), attempts: 4, nextAttemptAt: Date.now() + 100, lastError: 'HTTP 500' };
  const { outbox, settled } = harness();
  outbox.add(saved);
  const done = await settled;
  assert.equal(done.id, saved.id);
  assert.equal(done.attempts, 5);
  assert.equal(receiver.requests[0]!.headers['webhook-id'], saved.id);
  assert.ok(receiver.requests[0]!.at >= saved.nextAttemptAt - 5);
  // Finished deliveries are not sent again.
  outbox.add(done);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(receiver.requests.length, 1);
});

test('stop() cancels waiting attempts', async (t) => {
  const receiver = await startReceiver({ defaultAnswer: { status: 500 } });
  t.after(() => receiver.stop());
  const { outbox, changes } = harness({ retryBaseMs: 200 });
  outbox.add(newDelivery(`${receiver.url}/cb`, payload));
  await receiver.waitFor(1);
  while (changes.length < 1) await new Promise((r) => setTimeout(r, 10));
  outbox.stop();
  await outbox.whenIdle();
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(receiver.requests.length, 1);
  assert.equal(outbox.pending(), 0);
});

test('logs name the URL without its query and never the secret or the body', async (t) => {
  const receiver = await startReceiver({ answers: [{ status: 500 }] });
  t.after(() => receiver.stop());
  const { outbox, settled, logLines } = harness();
  outbox.add(newDelivery(`${receiver.url}/cb?token=very-private-token`, payload));
  await settled;
  const text = logLines.join('\n');
  assert.match(text, /callback delivered/);
  assert.match(text, new RegExp(`${receiver.url}/cb`));
  assert.doesNotMatch(text, /very-private-token|tape-1\.mp4/);
  assert.equal(text.includes(secret), false);
});

test('with the guarded dispatcher, a callback to loopback is refused and never sent', async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.stop());
  const dispatcher = createGuardedDispatcher({ allowPrivateNetworks: false });
  t.after(() => dispatcher.close());
  const { outbox, settled } = harness({ dispatcher, giveUpMs: 100 });
  outbox.add(newDelivery(`${receiver.url}/cb`, payload));
  const done = await settled;
  assert.equal(done.state, 'gave-up');
  assert.match(done.lastError!, /private, loopback or link-local/);
  assert.equal(receiver.requests.length, 0);
});

test('a receiver answering a 64–128 KiB body and closing at once never crashes the oven (nodejs/undici#5360)', async () => {
  // The download's crash window, on the callback side: an answer nobody reads that fills undici's
  // buffer, then a FIN. With both cores busy, 24 deliveries in a row.
  const net = await import('node:net');
  let answered = 0;
  const server = net.createServer((sock) => {
    let request = '';
    sock.on('data', (chunk: Buffer) => {
      request += chunk.toString('latin1');
      const head = request.indexOf('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(request)?.[1] ?? 0);
      if (head === -1 || request.length < head + 4 + length) return;
      const size = 64 * 1024 + ((answered++ * 2731) % (64 * 1024));
      sock.end(Buffer.concat([Buffer.from(`HTTP/1.0 200 OK\r\nContent-Length: ${size}\r\n\r\n`), Buffer.alloc(size, 0x7b)]));
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  const load = loadCpu({ seconds: 30 });
  try {
    for (let i = 0; i < 24; i++) {
      const { outbox, settled } = harness();
      outbox.add(newDelivery(`http://127.0.0.1:${port}/cb`, { ...payload, jobId: `job_${i}` }));
      assert.equal((await settled).state, 'delivered');
      await outbox.whenIdle();
    }
  } finally {
    await load.stop();
    server.close();
  }
});
