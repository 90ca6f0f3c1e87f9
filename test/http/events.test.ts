// /events against a real HTTP server on loopback: one listener on the manager whatever the number
// of clients, a cap on clients, and a client that stops reading dropped instead of buffered for.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { eventsRoute } from '../../service/http/events.ts';
import { EventStreams, MAX_UNSENT_BYTES } from '../../service/http/sse.ts';
import type { Jobs } from '../../service/jobs/jobs.ts';

/** Just what /events reads of the jobs; a change carries `padding` bytes. */
class FakeManager extends EventEmitter {
  padding = 'x'.repeat(100);
  figures = () => ({ queued: 0, running: 0, concurrency: 2, limit: 50, draining: false });
  summary = async () => ({ queued: [], active: [], recent: [] });
  override emit(event: string | symbol, job?: { jobId: string }): boolean {
    return super.emit(event, { jobId: job?.jobId, padding: this.padding });
  }
}

const manager = new FakeManager();
const MAX_CLIENTS = 12;
const streams = new EventStreams(MAX_CLIENTS);
let server: http.Server;
let url: string;

before(async () => {
  const route = eventsRoute(manager as unknown as Jobs, streams);
  server = http.createServer((req, res) => route(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

/** An EventSource-like reader: counts the `job` events it has read. */
async function reader(): Promise<{ jobs: () => number; close: () => void }> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal });
  assert.equal(res.status, 200);
  let jobs = 0;
  let text = '';
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of res.body!) {
      text += decoder.decode(chunk, { stream: true });
      const parts = text.split('\n\n');
      text = parts.pop()!;
      jobs += parts.filter((p) => p.startsWith('event: job')).length;
    }
  })().catch(() => undefined);
  return { jobs: () => jobs, close: () => controller.abort() };
}

const until = async (check: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('a dozen dashboards share one listener on the manager, and Node warns of nothing', async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  const readers = await Promise.all(Array.from({ length: MAX_CLIENTS }, () => reader()));
  try {
    assert.equal(manager.listenerCount('change'), 1);
    manager.emit('change', { jobId: 'j1' });
    await until(() => readers.every((r) => r.jobs() === 1));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(warnings, []);
  } finally {
    process.off('warning', onWarning);
    for (const r of readers) r.close();
  }
  await until(() => streams.count === 0);
});

test('past OVEN_MAX_EVENT_CLIENTS the next stream gets 503 TOO_MANY_STREAMS, and a place is free again once one leaves', async () => {
  const readers = await Promise.all(Array.from({ length: MAX_CLIENTS }, () => reader()));
  try {
    const refused = await fetch(url);
    assert.equal(refused.status, 503);
    assert.equal((await refused.json()).code, 'TOO_MANY_STREAMS');
    assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
    readers.pop()!.close();
    await until(() => streams.count === MAX_CLIENTS - 1);
    const again = await reader();
    again.close();
  } finally {
    for (const r of readers) r.close();
  }
  await until(() => streams.count === 0);
});

test('a client that never reads is disconnected once its backlog passes the bound; one that reads gets every event', async () => {
  const stalled = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => stalled.once('connect', () => resolve()));
  stalled.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
  stalled.pause(); // reads nothing from here on
  stalled.on('error', () => undefined);
  const reading = await reader();
  await until(() => streams.count === 2);

  manager.padding = 'x'.repeat(10_000);
  let sent = 0;
  // Far more than the socket buffers and the bound together: 40 MB of events.
  while (sent < 4000 && streams.count === 2) {
    // 10 MB/s: a reading client keeps up with that, a stalled one's backlog only grows.
    for (let i = 0; i < 10; i++) manager.emit('change', { jobId: `j${sent++}` });
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(streams.count, 1, 'the stalled client was dropped; the reading one is still served');
  assert.ok(sent * 10_000 > MAX_UNSENT_BYTES, 'the bound was passed first');
  assert.ok(sent < 4000, `dropped after ${sent} events, long before all were sent`);
  await until(() => reading.jobs() === sent, 30_000);
  reading.close();
  stalled.destroy();
  manager.padding = 'x'.repeat(100);
});
