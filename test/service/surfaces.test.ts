// Operator surfaces through the real process: the dashboard in a real headless Chromium following
// a job live to done, /events, and /metrics parsed as Prometheus text.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { CHROMIUM, launchChromium, PAGE_FLAGS } from '../helpers/chromium.ts';
import { submitBake } from '../../client/index.ts';
import { getJson, post, ROOT, startOven, TEST_SECRET, until, type OvenProcess } from '../helpers/oven.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { makeTapeZip } from '../helpers/tapes.ts';
import { startZipHost, type ZipHost } from '../helpers/zip-host.ts';


let oven: OvenProcess;
let host: ZipHost;
let receiver: Receiver;
let zip: Buffer;

before(async () => {
  zip = await makeTapeZip({ width: 24, height: 16, durationsMs: Array(12).fill(33.3), soundSeconds: 0.4 });
  host = await startZipHost();
  receiver = await startReceiver();
  oven = await startOven({ env: { OVEN_CONCURRENCY: '1' } });
});

after(async () => {
  await oven?.cleanup();
  await host?.close();
  await receiver?.stop();
});

function job(slug: string, zipUrl: string) {
  return { mongoId: `m-${slug}`, slug, zipUrl, callbackUrl: `${receiver.url}/cb?token=hidden-token`, code: 'abc' };
}

/** Parses Prometheus text into name{labels} → value, checking every line is well-formed. */
function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+]+|\+Inf|NaN)$/.exec(line);
    assert.ok(m, `not a metric line: ${line}`);
    values.set(m[1]! + (m[2] ?? ''), Number(m[3]));
  }
  return values;
}

test('the dashboard loads in Chromium and follows a job submitted during the test to done', { timeout: 120_000 }, async () => {
  assert.ok(existsSync(CHROMIUM), 'Chromium is missing: run `npm run setup -- --test`');
  let browser: Browser | undefined;
  try {
    browser = await launchChromium(PAGE_FLAGS);
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } }); // a phone
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`${oven.url}/`);
    await page.waitForSelector('#conn.live', { timeout: 15_000 });

    const submitted = await submitBake({ ovenUrl: oven.url, secret: TEST_SECRET, job: job('dash-1', host.put('dash-1.zip', zip)) });
    assert.equal(submitted.ok, true, JSON.stringify(submitted));
    const jobId = submitted.ok ? submitted.jobId : '';
    await page.waitForSelector(`#recent li[data-job="${jobId}"][data-status="done"]`, { timeout: 60_000 });
    await page.waitForSelector(`#recent li[data-job="${jobId}"] a[href$=".mp4"]`);
    await until(async () => (await page.textContent(`#recent li[data-job="${jobId}"]`))?.includes('callback delivered'), 20_000);

    const html = await page.content();
    assert.ok(!html.includes(TEST_SECRET), 'no secret on the page');
    assert.ok(!html.includes('hidden-token'), 'no callback query string on the page');
    assert.deepEqual(errors, []);
    const shots = path.join(ROOT, 'test-results');
    await mkdir(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, 'dashboard.png'), fullPage: true });
  } finally {
    await browser?.close();
  }
});

test('/events sends a snapshot and then job changes', async () => {
  const controller = new AbortController();
  const res = await fetch(`${oven.url}/events`, { signal: controller.signal });
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const reader = res.body!.getReader();
  let text = '';
  const r = await post(`${oven.url}/bake`, { ...job('events-1', host.put('events-1.zip', zip)), callbackSecret: TEST_SECRET });
  await until(async () => {
    const { value } = await reader.read();
    text += Buffer.from(value ?? []).toString('utf8');
    return text.includes('"status":"done"') && text.includes(r.json.jobId);
  }, 60_000, 0);
  controller.abort();
  assert.match(text, /^retry: \d+/);
  assert.ok(text.includes('event: snapshot'));
  assert.ok(text.includes('event: job'));
  assert.ok(!text.includes(TEST_SECRET));
});

test('/metrics is Prometheus text with jobs by outcome, stage histograms, queue and callbacks', async () => {
  const bad = await post(`${oven.url}/bake`, { ...job('metrics-bad', host.put('bad.zip', Buffer.from('not a zip'))), callbackSecret: TEST_SECRET });
  await until(async () => (await getJson(`${oven.url}/status/${bad.json.jobId}`)).json.status === 'failed', 30_000);
  await until(async () => (await getJson(`${oven.url}/status/${bad.json.jobId}`)).json.callback?.state === 'delivered', 20_000);
  const res = await fetch(`${oven.url}/metrics`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const m = parseMetrics(await res.text());
  assert.ok((m.get('oven_jobs_finished_total{outcome="done",code=""}') ?? 0) >= 1);
  assert.equal(m.get('oven_jobs_finished_total{outcome="failed",code="ZIP_INVALID"}'), 1);
  assert.ok((m.get('oven_stage_duration_seconds_count{stage="encoding"}') ?? 0) >= 1);
  assert.ok((m.get('oven_bake_duration_seconds_bucket{outcome="done",le="+Inf"}') ?? 0) >= 1);
  assert.equal(m.get('oven_queue_depth'), 0);
  assert.equal(m.get('oven_bakes_running'), 0);
  assert.ok((m.get('oven_callback_attempts_total{result="delivered"}') ?? 0) >= 2);
  assert.ok((m.get('oven_bytes_in_total') ?? 0) >= zip.length);
  assert.ok((m.get('oven_bytes_out_total') ?? 0) > 0);
});
