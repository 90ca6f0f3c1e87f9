// A bake's progress as a page on the AC site sees it: Chromium's own EventSource on
// /status/:jobId/events from an allowed origin (and refused from another), against the real service.

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, PAGE_FLAGS } from '../helpers/chromium.ts';
import { getJson, post, startOven, TEST_SECRET, until, type OvenProcess } from '../helpers/oven.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { hitchyDurations, makeTapeZip } from '../helpers/tapes.ts';
import { startZipHost, type ZipHost } from '../helpers/zip-host.ts';

let oven: OvenProcess;
let host: ZipHost;
let receiver: Receiver;
let pages: http.Server;
let pagePort: number;
let browser: Browser;
let zip: Buffer;

/** A page that follows one job's events with EventSource and keeps what it saw in window.seen. */
const PAGE = `<!doctype html><meta charset="utf-8"><script>
const params = new URLSearchParams(location.search);
window.seen = []; window.errors = 0; window.statusRead = null;
const source = new EventSource(params.get('oven') + '/status/' + params.get('job') + '/events');
window.source = source;
for (const type of ['status', 'done', 'failed']) source.addEventListener(type, (e) => window.seen.push({ type, data: JSON.parse(e.data), id: e.lastEventId }));
source.onerror = () => { window.errors++; };
fetch(params.get('oven') + '/status/' + params.get('job')).then((r) => r.json()).then((j) => { window.statusRead = j.status; }, () => { window.statusRead = 'refused'; });
</script>`;

before(async () => {
  zip = await makeTapeZip({ width: 160, height: 120, durationsMs: hitchyDurations(2), busy: true, soundSeconds: 2 });
  host = await startZipHost();
  receiver = await startReceiver();
  pages = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE));
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  pagePort = (pages.address() as AddressInfo).port;
  oven = await startOven({ env: { OVEN_CORS_ORIGINS: `http://127.0.0.1:${pagePort},https://aesthetic.computer`, OVEN_CONCURRENCY: '1' } });
  browser = await launchChromium(PAGE_FLAGS);
});

after(async () => {
  await browser?.close();
  await oven?.cleanup();
  await host?.close();
  await receiver?.stop();
  pages?.close();
});

async function submit(slug: string) {
  const r = await post(`${oven.url}/bake`, { mongoId: `m-${slug}`, slug, zipUrl: host.put(`${slug}.zip`, zip), callbackUrl: `${receiver.url}/cb`, callbackSecret: TEST_SECRET });
  assert.equal(r.status, 202);
  return r.json.jobId as string;
}

interface Seen {
  type: string;
  data: { jobId: string; status: string; progress?: number; result?: { mp4Url: string } };
  id: string;
}

test('a page on an allowed origin follows a bake live: status events in order, progress never back, then done, and the stream stays closed', { timeout: 120_000 }, async () => {
  const jobId = await submit('live');
  const page = await browser.newPage();
  try {
    await page.goto(`http://127.0.0.1:${pagePort}/?oven=${encodeURIComponent(oven.url)}&job=${jobId}`);
    await page.waitForFunction(() => (window as unknown as { seen: Seen[] }).seen.some((e) => e.type === 'done'), undefined, { timeout: 90_000 });
    // After `done` the browser reconnects once, gets 204, and stops for good (readyState CLOSED).
    await page.waitForFunction(() => (window as unknown as { source: EventSource }).source.readyState === 2, undefined, { timeout: 15_000 });
    const { seen, statusRead } = await page.evaluate(() => ({ seen: (window as unknown as { seen: Seen[] }).seen, statusRead: (window as unknown as { statusRead: string }).statusRead }));
    const statuses = seen.filter((e) => e.type === 'status');
    assert.ok(statuses.length >= 2, `status events: ${JSON.stringify(statuses)}`);
    const order = ['queued', 'downloading', 'extracting', 'encoding', 'uploading'];
    const ranks = statuses.map((e) => order.indexOf(e.data.status));
    assert.ok(ranks.every((r, i) => r >= 0 && (i === 0 || r >= ranks[i - 1]!)), `stages in order: ${statuses.map((e) => e.data.status)}`);
    const progress = statuses.map((e) => e.data.progress!);
    assert.ok(progress.every((p, i) => i === 0 || p >= progress[i - 1]!), `progress never goes back: ${progress}`);
    assert.ok(statuses.some((e) => e.data.status === 'encoding' && e.data.progress! > 0 && e.data.progress! < 1), 'progress is seen during the encode');
    const done = seen.filter((e) => e.type === 'done');
    assert.equal(done.length, 1, 'one done event');
    assert.equal(seen.at(-1)!.type, 'done');
    assert.equal(done[0]!.id, 'end');
    assert.match(done[0]!.data.result!.mp4Url, /\/blobs\/tapes\/live\.mp4$/);
    assert.ok(['queued', 'downloading', 'extracting', 'encoding', 'uploading', 'done'].includes(statusRead), `the page could read /status/:jobId (${statusRead})`);
  } finally {
    await page.close();
  }
});

test('a page on another origin cannot read the stream or the status', { timeout: 60_000 }, async () => {
  const jobId = await submit('refused');
  const page = await browser.newPage();
  try {
    // localhost is another origin than the allowed 127.0.0.1.
    await page.goto(`http://localhost:${pagePort}/?oven=${encodeURIComponent(oven.url)}&job=${jobId}`);
    await page.waitForFunction(() => (window as unknown as { errors: number }).errors > 0 && (window as unknown as { statusRead: string | null }).statusRead !== null, undefined, { timeout: 30_000 });
    const { seen, statusRead, state } = await page.evaluate(() => ({
      seen: (window as unknown as { seen: Seen[] }).seen,
      statusRead: (window as unknown as { statusRead: string }).statusRead,
      state: (window as unknown as { source: EventSource }).source.readyState,
    }));
    assert.deepEqual(seen, []);
    assert.equal(statusRead, 'refused');
    assert.equal(state, 2, 'the browser gives up on a stream it may not read');
  } finally {
    await page.close();
  }
});

test('/status/:jobId/events: 404 for an unknown job; OPTIONS answered; a reconnect after the end is answered 204', async () => {
  const unknown = await fetch(`${oven.url}/status/nope-1/events`, { headers: { origin: 'https://aesthetic.computer' } });
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).code, 'NOT_FOUND');
  assert.equal(unknown.headers.get('access-control-allow-origin'), 'https://aesthetic.computer');
  const preflight = await fetch(`${oven.url}/status/nope-1/events`, { method: 'OPTIONS', headers: { origin: 'https://aesthetic.computer', 'access-control-request-method': 'GET' } });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://aesthetic.computer');
  assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /GET/);
  const other = await fetch(`${oven.url}/status/nope-1`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
  assert.equal(other.headers.get('access-control-allow-origin'), null);

  const jobId = await submit('reconnect');
  await until(async () => (await getJson(`${oven.url}/status/${jobId}`)).json.status === 'done', 90_000);
  const finished = await fetch(`${oven.url}/status/${jobId}/events`);
  const text = await finished.text();
  assert.match(text, /id: end\nevent: done\n/);
  const again = await fetch(`${oven.url}/status/${jobId}/events`, { headers: { 'last-event-id': 'end' } });
  assert.equal(again.status, 204);
});

test('progress webhooks: signed bake.progress POSTs to progressUrl at each stage, none after the terminal callback, none to callbackUrl', async () => {
  const { Webhook } = await import('standardwebhooks');
  const standard = new Webhook('whsec_' + Buffer.from(TEST_SECRET).toString('base64'));
  const slug = 'webhooked';
  const r = await post(`${oven.url}/bake`, {
    mongoId: 'm-webhooked', slug, zipUrl: host.put(`${slug}.zip`, zip), callbackUrl: `${receiver.url}/cb`, progressUrl: `${receiver.url}/progress?token=p`, callbackSecret: TEST_SECRET,
  });
  assert.equal(r.status, 202);
  const jobId = r.json.jobId as string;
  await until(() => receiver.requests.some((q) => q.url === '/cb' && JSON.parse(q.body).jobId === jobId), 90_000);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const progress = receiver.requestsFor(jobId, '/progress');
  const terminal = receiver.requests.filter((q) => q.url === '/cb' && JSON.parse(q.body).jobId === jobId);
  assert.equal(terminal.length, 1);
  assert.equal(JSON.parse(terminal[0]!.body).status, 'success', 'only the terminal body goes to callbackUrl');
  assert.ok(progress.length >= 3, `progress webhooks: ${progress.length}`);
  const bodies = progress.map((q) => {
    standard.verify(q.body, { 'webhook-id': String(q.headers['webhook-id']), 'webhook-timestamp': String(q.headers['webhook-timestamp']), 'webhook-signature': String(q.headers['webhook-signature']) });
    return JSON.parse(q.body) as { type: string; jobId: string; slug: string; mongoId: string; status: string; progress: number; secret?: string };
  });
  assert.ok(bodies.every((b) => b.type === 'bake.progress' && b.slug === slug && b.mongoId === 'm-webhooked' && b.secret === undefined));
  const stages = [...new Set(bodies.map((b) => b.status))];
  assert.deepEqual(stages, ['queued', 'downloading', 'extracting', 'encoding', 'uploading'].filter((s) => stages.includes(s)), `in stage order: ${stages}`);
  assert.ok(stages.includes('encoding'));
  assert.equal(new Set(progress.map((q) => q.headers['webhook-id'])).size, progress.length, 'each update is its own message');
  assert.ok(progress.every((q) => q.at <= terminal[0]!.at), 'no progress webhook after the terminal callback');
});

test('a progressUrl equal to the callbackUrl, and outputs other than webm and gif, are refused with a 400 and a code', async () => {
  const body = { mongoId: 'm', slug: 'refusals', zipUrl: host.put('refusals.zip', zip), callbackUrl: `${receiver.url}/cb`, callbackSecret: TEST_SECRET };
  const same = await post(`${oven.url}/bake`, { ...body, progressUrl: body.callbackUrl });
  assert.equal(same.status, 400);
  assert.equal(same.json.code, 'BAD_REQUEST');
  assert.match(same.json.error, /progressUrl/);
  const mp3 = await post(`${oven.url}/bake`, { ...body, outputs: ['webm', 'mp3'] });
  assert.equal(mp3.status, 400);
  assert.equal(mp3.json.code, 'BAD_OUTPUTS');
  const notList = await post(`${oven.url}/bake`, { ...body, outputs: 'gif' });
  assert.equal(notList.json.code, 'BAD_OUTPUTS');
});
