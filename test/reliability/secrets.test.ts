// Secrets: after realistic traffic — a bake uploaded to an S3 server, failed
// bakes, a callback that needed a retry, 401s with near-miss secrets, refused URLs, every read-only
// page — no log line and no answer body holds CALLBACK_SECRET, the storage key or secret, or the
// token in a callback URL's query. The helper keeps the oven's output in memory only, so this
// file makes its own logs; it is the whole log of each oven it starts that is searched.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { hostileZips } from '../helpers/hostile-zips.ts';
import { getJson, post, startOven, until, type OvenProcess } from '../helpers/oven.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { spacesEnv, startS3, type S3Server } from '../helpers/s3.ts';
import { makeTapeZip } from '../helpers/sample-tape.ts';
import { startZipHost, type ZipHost } from '../helpers/zip-host.ts';

/** With a quote, a backslash and a slash: a log line holds it JSON-escaped, a logged path URL-encoded. */
const CALLBACK_SECRET = `cb"se\\cret/${randomBytes(12).toString('hex')}`;
const CALLBACK_TOKEN = `cbtoken-${randomBytes(8).toString('hex')}`;
/** A signed ZIP URL's signature is a credential too. */
const ZIP_TOKEN = `ziptoken-${randomBytes(8).toString('hex')}`;

let s3: S3Server;
let host: ZipHost;
let receiver: Receiver;
let oven: OvenProcess;
/** Every answer body the ovens gave, with where it came from. */
const answers: { where: string; body: string }[] = [];

async function read(where: string, url: string, init?: RequestInit): Promise<{ status: number; body: string }> {
  const res = await fetch(url, init);
  const body = await res.text();
  answers.push({ where, body });
  return { status: res.status, body };
}

async function bake(o: OvenProcess, secret: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const r = await post(`${o.url}/bake`, { callbackSecret: secret, ...body }, headers);
  answers.push({ where: `POST /bake ${JSON.stringify(body).slice(0, 60)}`, body: r.text });
  return r;
}

function jobBody(slug: string, zipUrl: string, callbackHost = '127.0.0.1') {
  return { mongoId: `m-${slug}`, slug, zipUrl, callbackUrl: `http://${callbackHost}:${receiver.port}/api/oven-complete?token=${CALLBACK_TOKEN}`, metadata: { slug } };
}

async function ended(o: OvenProcess, jobId: string) {
  return until(async () => {
    const { json } = await getJson(`${o.url}/status/${jobId}`);
    return (json.status === 'done' || json.status === 'failed') && json.callback?.state !== 'pending' ? json : undefined;
  }, 60_000);
}

/** The first event of GET /events (the snapshot), then the stream is closed. */
async function eventsSnapshot(o: OvenProcess): Promise<string> {
  const controller = new AbortController();
  const res = await fetch(`${o.url}/events`, { signal: controller.signal });
  const reader = res.body!.getReader();
  let text = '';
  while (!text.includes('event: snapshot') || !text.slice(text.indexOf('event: snapshot')).includes('\n\n')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString('utf8');
  }
  controller.abort();
  return text;
}

/** Visits every read-only page and keeps the answers. */
async function visitEverything(o: OvenProcess, jobIds: string[]): Promise<void> {
  for (const [where, url] of [
    ['/status', '/status'],
    ['/health', '/health'],
    ['/metrics', '/metrics'],
    ['/ (dashboard)', '/'],
    ['404', '/no/such/page'],
    ...jobIds.map((id) => [`/status/${id}`, `/status/${id}`]),
  ] as const) {
    const r = await read(where, `${o.url}${url}`);
    assert.ok(r.body.length > 0, where);
  }
  answers.push({ where: '/events', body: await eventsSnapshot(o) });
}

/** A secret as written, inside a JSON string, and URL-encoded. */
function spellings(secret: string): string[] {
  return [...new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)])];
}

/** Every place a secret shows up, in any of its spellings. */
function leaks(lines: string[], secrets: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [name, secret] of Object.entries(secrets)) {
    for (const form of spellings(secret)) {
      for (const line of lines) if (line.includes(form)) found.push(`${name} in log line: ${line.slice(0, 200)}`);
      for (const a of answers) if (a.body.includes(form)) found.push(`${name} in the answer to ${a.where}`);
    }
  }
  return found;
}

before(async () => {
  s3 = await startS3();
  host = await startZipHost();
  // The first callback attempt fails: the retry is logged too.
  receiver = await startReceiver({ answers: [{ status: 500, body: 'try later' }] });
  oven = await startOven({
    env: {
      CALLBACK_SECRET,
      ...spacesEnv(s3),
      // Private networks are allowed (everything here is on loopback), but only this host name:
      // "localhost" URLs are refused, at POST time and at connect time.
      OVEN_ALLOWED_HOSTS: '127.0.0.1',
      LOG_LEVEL: 'debug',
    },
  });
});

after(async () => {
  await Promise.all([oven?.cleanup(), host?.close(), receiver?.stop(), s3?.stop()]);
});

test('no log line or answer holds CALLBACK_SECRET, the storage keys or a URL token', { timeout: 120_000 }, async () => {
  const zip = await makeTapeZip({ durationsMs: [16.67, 100, 33.3, 50], soundSeconds: 0.2 });
  const jobIds: string[] = [];

  // A good tape, baked and uploaded to the S3 server with the key and secret; its callback is retried once.
  const good = await bake(oven, CALLBACK_SECRET, jobBody('secret-good', `${host.put('good.zip', zip)}?sig=${ZIP_TOKEN}`));
  assert.equal(good.status, 202, good.text);
  jobIds.push(good.json.jobId);
  const done = await ended(oven, good.json.jobId);
  assert.equal(done.status, 'done', JSON.stringify(done.error));
  assert.ok(done.result.mp4Url.startsWith(`${s3.endpoint}/${s3.bucket}/tapes/`), done.result.mp4Url);
  assert.equal(done.callback.state, 'delivered');
  assert.equal(done.callback.attempts, 2);

  // Failed bakes: an unsafe ZIP, a ZIP that is not there, and a redirect to a host the guard refuses at connect time.
  const slip = hostileZips().find((z) => z.code === 'ZIP_UNSAFE_PATH')!;
  const refusedRedirect = host.put('to-localhost.zip', zip, { kind: 'redirect', location: `http://localhost:${new URL(host.url).port}/good.zip?sig=${ZIP_TOKEN}` });
  for (const [slug, url, code] of [
    ['secret-slip', host.put('slip.zip', slip.zip), 'ZIP_UNSAFE_PATH'],
    ['secret-missing', `${host.url}/missing.zip?sig=${ZIP_TOKEN}`, 'FETCH_HTTP_STATUS'],
    ['secret-redirect', refusedRedirect, 'URL_REFUSED'],
  ] as const) {
    const r = await bake(oven, CALLBACK_SECRET, jobBody(slug, url));
    assert.equal(r.status, 202, r.text);
    jobIds.push(r.json.jobId);
    const failed = await ended(oven, r.json.jobId);
    assert.equal(failed.error?.code, code, slug);
  }

  // 401s, including wrong secrets that hold the real one; none may be echoed back.
  const nearMisses = [CALLBACK_SECRET + 'x', 'x' + CALLBACK_SECRET, CALLBACK_SECRET.slice(0, -1), `${CALLBACK_SECRET} ${CALLBACK_SECRET}`, CALLBACK_SECRET.toUpperCase()];
  for (const wrong of nearMisses) {
    const inBody = await bake(oven, wrong, jobBody('secret-401', host.put('x.zip', zip)));
    assert.equal(inBody.status, 401, wrong);
    const inHeader = await post(`${oven.url}/bake`, jobBody('secret-401', host.put('x.zip', zip)), { authorization: `Bearer ${wrong}x` });
    answers.push({ where: 'POST /bake with a wrong Bearer', body: inHeader.text });
    assert.equal(inHeader.status, 401);
  }

  // Refused URLs, at POST time: not in OVEN_ALLOWED_HOSTS, and not http.
  const refusedCallback = await bake(oven, CALLBACK_SECRET, jobBody('secret-url', host.put('u.zip', zip), 'localhost'));
  assert.equal(refusedCallback.status, 400);
  assert.equal(refusedCallback.json.code, 'URL_REFUSED');
  const refusedZip = await bake(oven, CALLBACK_SECRET, jobBody('secret-url', `http://localhost:1/t.zip?sig=${ZIP_TOKEN}`));
  assert.equal(refusedZip.json.code, 'URL_REFUSED');
  const badScheme = await bake(oven, CALLBACK_SECRET, { ...jobBody('secret-url', host.put('u.zip', zip)), callbackUrl: `ftp://127.0.0.1/cb?token=${CALLBACK_TOKEN}` });
  assert.equal(badScheme.json.code, 'BAD_URL');

  // The secret in a URL path and query: the request log shows the path, never the query.
  await read('404 with the secret in the path', `${oven.url}/status/${encodeURIComponent(CALLBACK_SECRET)}`);
  await read('404 with the secret as path segments', `${oven.url}/x/${CALLBACK_SECRET}`);
  await read('/health with a token query', `${oven.url}/health?token=${CALLBACK_TOKEN}&key=${s3.secret}`);

  await visitEverything(oven, jobIds);
  await until(() => receiver.requests.length >= 5, 10_000);

  const lines = oven.lines;
  assert.ok(lines.length > 40, `${lines.length} log lines`);
  assert.ok(lines.some((l) => l.includes('callback attempt failed')), 'the callback retry was logged');
  assert.ok(lines.some((l) => l.includes('URL_REFUSED')), 'the refusal was logged');
  assert.deepEqual(leaks(lines, { CALLBACK_SECRET, AT_BLOBS_SPACES_KEY: s3.key, AT_BLOBS_SPACES_SECRET: s3.secret, 'callback URL token': CALLBACK_TOKEN, 'ZIP URL token': ZIP_TOKEN }), []);

  // The job files on disk hold the callback URL (it is needed to deliver), but no secret.
  const stored = await readdir(oven.dataDir, { recursive: true });
  for (const file of stored as string[]) {
    const text = await readFile(path.join(oven.dataDir, file), 'utf8').catch(() => '');
    for (const secret of [CALLBACK_SECRET, s3.secret]) assert.ok(!text.includes(secret), `${file} holds a secret`);
  }

  // The receiver did get the secret, where the contract puts it: in the callback body.
  assert.ok(receiver.requests.every((r) => JSON.parse(r.body).secret === CALLBACK_SECRET));
  console.log(`secrets: ${lines.length} log lines and ${answers.length} answers searched for 5 secrets (as written, JSON-escaped, URL-encoded): 0 found`);
});

test('a generated CALLBACK_SECRET is said once at start, and nowhere else', { timeout: 60_000 }, async () => {
  const local = await startOven({ env: { CALLBACK_SECRET: '' } });
  try {
    const said = local.lines.find((l) => l.startsWith('oven: no CALLBACK_SECRET set, so this run uses: '));
    assert.ok(said, 'the start-up line');
    const generated = said.slice(said.lastIndexOf(' ') + 1);
    assert.ok(generated.length >= 24, generated);

    // It works, and the traffic that follows never shows it again.
    const zip = hostileZips().find((z) => z.code === 'ZIP_ENCRYPTED')!.zip;
    const r = await bake(local, generated, jobBody('generated-secret', host.put('enc.zip', zip)));
    assert.equal(r.status, 202, r.text);
    await ended(local, r.json.jobId);
    assert.equal((await bake(local, generated + 'x', jobBody('generated-secret-401', host.put('enc.zip', zip)))).status, 401);
    await read('404 with the generated secret in the path', `${local.url}/x/${generated}`);
    await visitEverything(local, [r.json.jobId]);

    const holding = local.lines.filter((l) => l.includes(generated));
    assert.deepEqual(holding, [said]);
    assert.deepEqual(leaks([], { generated }), []);
  } finally {
    await local.cleanup();
  }
});
