// The fault and load runs, shared by the CI-sized tests (test/reliability/faults.test.ts,
// load.test.ts) and the full-size script (bench/reliability.ts). Each scenario drives the real
// service process against real servers on loopback, asserts what a user relies on (every accepted
// job ends with exactly one terminal callback; a good tape ends done once the fault clears) and
// returns its figures.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Pool } from 'undici';
import { getJson, post, startOven, TEST_SECRET, until, type OvenProcess, type StartOptions } from '../helpers/oven.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { startS3OutageProxy } from '../helpers/s3-outage.ts';
import { spacesEnv, startS3 } from '../helpers/s3.ts';
import { makeTapeZip, random as seededRandom } from '../helpers/tapes.ts';
import { startZipHost, type ZipHost } from '../helpers/zip-host.ts';

const run = promisify(execFile);

// ---- shared parts ------------------------------------------------------------------

/** Servers and processes a scenario started; `close()` stops and removes all of them. */
class Resources {
  private readonly closers: Array<() => Promise<unknown>> = [];
  add<T>(closer: () => Promise<unknown>, value: T): T {
    this.closers.push(closer);
    return value;
  }
  async oven(options: StartOptions = {}): Promise<OvenProcess> {
    const o = await startOven(options);
    return this.add(() => o.cleanup(), o);
  }
  async receiver(options: Parameters<typeof startReceiver>[0] = {}): Promise<Receiver> {
    const r = await startReceiver(options);
    return this.add(() => r.stop(), r);
  }
  async zipHost(): Promise<ZipHost> {
    const h = await startZipHost();
    return this.add(() => h.close(), h);
  }
  async tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    return this.add(() => rm(dir, { recursive: true, force: true }), dir);
  }
  async close(): Promise<void> {
    for (const closer of this.closers.reverse()) await closer().catch(() => {});
  }
}

async function withResources<T>(fn: (res: Resources) => Promise<T>): Promise<T> {
  const res = new Resources();
  try {
    return await fn(res);
  } finally {
    await res.close();
  }
}

let tinyZip: Promise<Buffer> | undefined;
/** A 4-frame 16×12 tape without sound: bakes in well under a second. */
export function tinyTape(): Promise<Buffer> {
  tinyZip ??= makeTapeZip({ width: 16, height: 12, durationsMs: [33.3, 33.3, 33.3, 33.3], soundSeconds: null });
  return tinyZip;
}

let smallZip: Promise<Buffer> | undefined;
/** Two seconds of 64×48 frames at 60 fps with a soundtrack: ffmpeg runs long enough to be killed mid-encode. */
export function smallTape(): Promise<Buffer> {
  smallZip ??= makeTapeZip({ width: 64, height: 48, durationsMs: Array.from({ length: 120 }, () => 1000 / 60), busy: true });
  return smallZip;
}

export function bakeBody(slug: string, zipUrl: string, callbackUrl: string) {
  return { mongoId: `m-${slug}`, slug, zipUrl, callbackUrl, callbackSecret: TEST_SECRET };
}

export async function statusOf(o: OvenProcess, jobId: string) {
  return (await getJson(`${o.url}/status/${jobId}`)).json;
}

/** Waits until the job is done or failed and its callback is no longer pending. */
export async function settled(o: OvenProcess, jobId: string, timeoutMs = 60_000) {
  return until(
    async () => {
      const s = await statusOf(o, jobId);
      return (s.status === 'done' || s.status === 'failed') && s.callback && s.callback.state !== 'pending' ? s : undefined;
    },
    timeoutMs,
    50,
  );
}

/** What the receivers saw for one job: its callbacks, their webhook-ids, and the 2xx answers actually written. */
export function ledgerOf(receivers: Receiver[], jobId: string) {
  const calls = receivers.flatMap((r) => r.requests).filter((req) => {
    try {
      return JSON.parse(req.body).jobId === jobId;
    } catch {
      return false;
    }
  });
  const delivered = calls.filter((c) => c.answered !== undefined && c.answered >= 200 && c.answered < 300);
  return {
    requests: calls.length,
    webhookIds: new Set(calls.map((c) => String(c.headers['webhook-id']))).size,
    delivered: delivered.length,
    statuses: [...new Set(calls.map((c) => JSON.parse(c.body).status as string))],
  };
}

/** Exactly one terminal callback: one webhook-id, and (unless the receiver gave a 410) one 2xx. */
export function assertOneCallback(receivers: Receiver[], jobId: string, expected: 'success' | 'failed', what: string) {
  const l = ledgerOf(receivers, jobId);
  assert.equal(l.webhookIds, 1, `${what}: one webhook-id, got ${l.webhookIds}`);
  assert.equal(l.delivered, 1, `${what}: one delivered (2xx) callback, got ${l.delivered}`);
  assert.deepEqual(l.statuses, [expected], `${what}: callback status`);
  return l;
}

function logTime(line: Record<string, unknown>): number {
  return Date.parse(String(line.time));
}

/** The log lines saying a job's attempt hit a passing fault, in order. */
function passingFaults(o: OvenProcess, jobId: string) {
  return o.logs().filter((l) => l.jobId === jobId && l.msg === 'bake hit a passing fault; will try again');
}

// ---- faults: the ZIP host ----------------------------------------------------------

export interface RecoveryFigure {
  fault: string;
  outcome: string;
  attempts: number;
  /** From the end of the fault (the failing attempt, or the outage's end) to the job being done. */
  recoverMs: number;
}

/**
 * The ZIP host closes mid-body, stalls (idle timeout) or trickles (total timeout) on the first
 * request: the attempt fails with a passing fault, the job is tried again and ends done. A host that
 * cuts every download ends failed with one failure callback.
 */
export async function zipHostFaults(): Promise<RecoveryFigure[]> {
  return withResources(async (res) => {
    const zip = await tinyTape();
    const host = await res.zipHost();
    const receiver = await res.receiver();
    const o = await res.oven({
      env: { OVEN_DOWNLOAD_IDLE_SECONDS: '1', OVEN_DOWNLOAD_TIMEOUT_SECONDS: '3', OVEN_JOB_RETRY_BASE_MS: '300', OVEN_JOB_MAX_ATTEMPTS: '3' },
    });
    const cases = [
      { fault: 'ZIP host closes mid-download', behaviour: { kind: 'close-mid-body' } as const, code: 'FETCH_FAILED' },
      { fault: 'ZIP host stalls (idle timeout)', behaviour: { kind: 'stall' } as const, code: 'FETCH_TIMEOUT' },
      { fault: 'ZIP host trickles (total timeout)', behaviour: { kind: 'trickle', bytesPerSecond: Math.ceil(zip.length / 20) } as const, code: 'FETCH_TIMEOUT' },
    ];
    const accepted = [];
    for (const [i, c] of cases.entries()) {
      const slug = `zip-fault-${i}`;
      const r = await post(`${o.url}/bake`, bakeBody(slug, host.put(`${slug}.zip`, zip, c.behaviour), `${receiver.url}/cb`));
      assert.equal(r.status, 202);
      accepted.push({ ...c, jobId: r.json.jobId as string });
    }
    // Cut on every attempt: the job runs out of attempts and fails once, with one failure callback.
    const hopeless = await post(
      `${o.url}/bake`,
      bakeBody('zip-fault-always', host.put('zip-fault-always.zip', zip, ...Array.from({ length: 3 }, () => ({ kind: 'close-mid-body' }) as const)), `${receiver.url}/cb`),
    );
    assert.equal(hopeless.status, 202);

    const figures: RecoveryFigure[] = [];
    for (const c of accepted) {
      const s = await settled(o, c.jobId, 60_000);
      assert.equal(s.status, 'done', `${c.fault}: the job ends done once the host behaves`);
      assert.equal(s.attempts, 2, `${c.fault}: one failed attempt, then success`);
      const faults = passingFaults(o, c.jobId);
      assert.equal(faults[0]?.errorCode, c.code, `${c.fault}: classified as ${c.code}`);
      assertOneCallback([receiver], c.jobId, 'success', c.fault);
      figures.push({ fault: c.fault, outcome: 'done', attempts: s.attempts, recoverMs: Date.parse(s.finishedAt) - logTime(faults[0]!) });
    }
    const h = await settled(o, hopeless.json.jobId, 60_000);
    assert.equal(h.status, 'failed');
    assert.equal(h.error.code, 'FETCH_FAILED');
    assert.equal(h.attempts, 3);
    assertOneCallback([receiver], hopeless.json.jobId, 'failed', 'ZIP host cuts every download');
    figures.push({ fault: 'ZIP host cuts every download', outcome: `failed ${h.error.code}, 1 failure callback`, attempts: h.attempts, recoverMs: 0 });
    await assertHealthy(o);
    return figures;
  });
}

async function assertHealthy(o: OvenProcess): Promise<void> {
  const h = await getJson(`${o.url}/health`);
  assert.equal(h.status, 200, `healthy afterwards: ${JSON.stringify(h.json)}`);
}

// ---- faults: the S3 server ---------------------------------------------------------

/** The Space answers 500/503 for `outageMs`, from the start of the job's encode; the upload rides it out. */
export async function s3Outage(outageMs: number): Promise<RecoveryFigure & { errorsAnswered: number }> {
  return withResources(async (res) => {
    const zip = await tinyTape();
    const s3 = await startS3();
    res.add(() => s3.stop(), s3);
    const proxy = await startS3OutageProxy(s3.endpoint);
    res.add(() => proxy.stop(), proxy);
    const host = await res.zipHost();
    const receiver = await res.receiver();
    const o = await res.oven({
      env: {
        ...spacesEnv(s3, proxy.endpoint),
        OVEN_JOB_RETRY_BASE_MS: '1000',
      },
    });
    const r = await post(`${o.url}/bake`, bakeBody('s3-outage', host.put('s3-outage.zip', zip), `${receiver.url}/cb`));
    assert.equal(r.status, 202);
    // The Space fails from the moment the encode starts, so the upload meets the whole outage.
    await until(async () => (await statusOf(o, r.json.jobId)).status === 'encoding', 30_000, 10);
    proxy.outageFor(outageMs, [500, 503]);
    const s = await settled(o, r.json.jobId, outageMs + 120_000);
    assert.equal(s.status, 'done', 'the bake ends done once the Space answers again');
    const errorsAnswered = proxy.seen.filter((q) => q.status >= 500).length;
    assert.ok(errorsAnswered >= 2, `the upload met the outage (${errorsAnswered} 5xx answers)`);
    assert.ok(Date.parse(s.finishedAt) >= proxy.outageEndsAt, 'done only after the outage');
    // The MP4 is really in the bucket, at the URL the callback names.
    const l = assertOneCallback([receiver], r.json.jobId, 'success', 'S3 outage');
    const payload = JSON.parse(receiver.requests.find((q) => q.answered === 200)!.body);
    const got = await fetch(payload.mp4Url);
    assert.equal(got.status, 200);
    assert.equal((await got.arrayBuffer()).byteLength, s.result.bytes);
    assert.equal(l.delivered, 1);
    return {
      fault: `S3 answers 500/503 for ${Math.round(outageMs / 1000)} s`,
      outcome: 'done',
      attempts: s.attempts,
      recoverMs: Date.parse(s.finishedAt) - proxy.outageEndsAt,
      errorsAnswered,
    };
  });
}

// ---- faults: the callback receiver ---------------------------------------------------

export interface CallbackFigure {
  fault: string;
  state: string;
  attempts: number;
  requests: number;
  delivered: number;
  /** From the receiver coming back (or the first failure) to the callback being delivered. */
  recoverMs: number;
}

/**
 * Receivers that are down for `downMs`, answer 500, time out, redirect or answer 410. The bake is
 * done in every case; each callback is delivered exactly once (one webhook-id, one 2xx), the 410
 * is given up after exactly one request, and a redirect is never followed.
 */
export async function callbackFaults(options: { downMs: number; retryBaseMs: number }): Promise<CallbackFigure[]> {
  return withResources(async (res) => {
    const zip = await tinyTape();
    const host = await res.zipHost();
    const r500 = await res.receiver({ answers: [{ status: 500 }, { status: 500 }, { status: 503 }] });
    const rSlow = await res.receiver({ answers: [{ delayMs: 2500 }, { delayMs: 2500 }] });
    const rElsewhere = await res.receiver();
    const rRedirect = await res.receiver({ answers: [{ redirectTo: `${rElsewhere.url}/elsewhere` }, { redirectTo: `${rElsewhere.url}/elsewhere`, status: 307 }] });
    const r410 = await res.receiver({ defaultAnswer: { status: 410 } });
    const rDown = await res.receiver();
    const all = [r500, rSlow, rElsewhere, rRedirect, r410, rDown];
    const o = await res.oven({ env: { OVEN_CALLBACK_TIMEOUT_SECONDS: '1', OVEN_CALLBACK_RETRY_BASE_MS: String(options.retryBaseMs) } });

    await rDown.down();
    const downAt = Date.now();
    const cases: Array<{ fault: string; receiver: Receiver }> = [
      { fault: `receiver down for ${Math.round(options.downMs / 1000)} s`, receiver: rDown },
      { fault: 'receiver answers 500, 500, 503', receiver: r500 },
      { fault: 'receiver times out twice', receiver: rSlow },
      { fault: 'receiver redirects twice', receiver: rRedirect },
      { fault: 'receiver answers 410', receiver: r410 },
    ];
    const jobs = [];
    for (const [i, c] of cases.entries()) {
      const r = await post(`${o.url}/bake`, bakeBody(`cb-fault-${i}`, host.put(`cb-fault-${i}.zip`, zip), `${c.receiver.url}/cb`));
      assert.equal(r.status, 202);
      jobs.push({ ...c, jobId: r.json.jobId as string });
    }
    const down = jobs[0]!;
    // While the receiver is down the bake is done and the callback waits.
    await until(async () => (await statusOf(o, down.jobId)).callback?.attempts >= 2, options.downMs + 30_000);
    const meanwhile = await statusOf(o, down.jobId);
    assert.equal(meanwhile.status, 'done');
    assert.equal(meanwhile.callback.state, 'pending');
    await sleepUntil(downAt + options.downMs);
    await rDown.up();
    const upAt = Date.now();

    const figures: CallbackFigure[] = [];
    const limit = options.downMs + 64 * options.retryBaseMs + 60_000;
    for (const j of jobs) {
      const s = await settled(o, j.jobId, limit);
      assert.equal(s.status, 'done', `${j.fault}: a callback failure never changes the bake's outcome`);
      const l = ledgerOf(all, j.jobId);
      if (j.receiver === r410) {
        assert.equal(s.callback.state, 'gave-up');
        assert.equal(l.requests, 1, '410: exactly one request');
        assert.equal(s.callback.attempts, 1);
      } else {
        assert.equal(s.callback.state, 'delivered', `${j.fault}: delivered in the end`);
        assertOneCallback(all, j.jobId, 'success', j.fault);
      }
      const firstFailure = j.receiver.requests.find((q) => JSON.parse(q.body).jobId === j.jobId)?.at ?? downAt;
      const deliveredAt = j.receiver.requests.find((q) => q.answered === 200 && JSON.parse(q.body).jobId === j.jobId)?.at;
      figures.push({
        fault: j.fault,
        state: s.callback.state,
        attempts: s.callback.attempts,
        requests: l.requests,
        delivered: l.delivered,
        recoverMs: deliveredAt === undefined ? 0 : deliveredAt - (j.receiver === rDown ? upAt : firstFailure),
      });
    }
    assert.equal(rElsewhere.requests.length, 0, 'a redirect is never followed');
    assert.equal(r500.requests.length, 4);
    assert.equal(rSlow.requests.length, 3);
    assert.equal(rRedirect.requests.length, 3);
    return figures;
  });
}

function sleepUntil(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
}

// ---- faults: ffmpeg killed mid-encode -----------------------------------------------

/** An ffmpeg that runs the real one but, on its first encode, kills the encoder and itself with SIGKILL. */
async function killOnceFfmpeg(dir: string): Promise<{ path: string; marker: string }> {
  const real = (await run('sh', ['-c', 'command -v ffmpeg'])).stdout.trim();
  const marker = path.join(dir, 'killed-once');
  const script = path.join(dir, 'ffmpeg');
  await writeFile(
    script,
    `#!/bin/sh
# Only the encode (it reads the concat list) is killed; -version, -formats and the like run as usual.
case " $* " in *" concat "*) ;; *) exec "${real}" "$@";; esac
if [ -e "${marker}" ]; then exec "${real}" "$@"; fi
: > "${marker}"
"${real}" "$@" &
child=$!
sleep 0.3
kill -9 "$child" 2>/dev/null
kill -9 $$
`,
  );
  await chmod(script, 0o755);
  return { path: script, marker };
}

/** ffmpeg dies by SIGKILL mid-encode on the first attempt: the job is tried again and ends done. */
export async function ffmpegKilled(): Promise<RecoveryFigure> {
  return withResources(async (res) => {
    const zip = await smallTape();
    const host = await res.zipHost();
    const receiver = await res.receiver();
    const dir = await res.tempDir('oven-ffmpeg-wrap-');
    const wrapper = await killOnceFfmpeg(dir);
    const o = await res.oven({ env: { FFMPEG_PATH: wrapper.path, OVEN_JOB_RETRY_BASE_MS: '300' } });
    const r = await post(`${o.url}/bake`, bakeBody('ffmpeg-killed', host.put('ffmpeg-killed.zip', zip), `${receiver.url}/cb`));
    assert.equal(r.status, 202);
    const s = await settled(o, r.json.jobId, 90_000);
    await stat(wrapper.marker); // the first encode did go through the killing wrapper
    const faults = passingFaults(o, r.json.jobId);
    assert.equal(faults[0]?.errorCode, 'ENCODE_FAILED', 'the crash is an encode failure worth retrying');
    assert.match(String(faults[0]?.error), /killed \(SIGKILL\)/);
    assert.equal(s.status, 'done', 'a second attempt bakes the tape');
    assert.equal(s.attempts, 2);
    assertOneCallback([receiver], r.json.jobId, 'success', 'ffmpeg killed');
    await assertHealthy(o);
    return { fault: 'ffmpeg killed (SIGKILL) mid-encode', outcome: 'done', attempts: s.attempts, recoverMs: Date.parse(s.finishedAt) - logTime(faults[0]!) };
  });
}

// ---- faults: the work folder's disk full -----------------------------------------------

/** A small tmpfs for TEMP_DIR, or undefined (with the reason) where mounting is not allowed. */
export async function mountSmallDisk(dir: string, sizeMb: number): Promise<{ unmount: () => Promise<void> } | { refused: string }> {
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', dir]);
  } catch (err) {
    return { refused: `mount -t tmpfs is not permitted here (${String((err as { stderr?: string }).stderr ?? err).trim().split('\n')[0]})` };
  }
  return { unmount: () => run('umount', ['-l', dir]).then(() => undefined) };
}

async function fillDisk(file: string, leaveBytes: number): Promise<void> {
  const { bavail, bsize } = await statfs(path.dirname(file));
  const free = bavail * bsize;
  await writeFile(file, Buffer.alloc(Math.max(0, free - leaveBytes)));
}

/**
 * TEMP_DIR on a 4 MiB tmpfs. Filled by a ballast file: /health says the disk is low, a job fails
 * its attempts with DISK_FULL and ends failed with one failure callback; a second job's first
 * attempt fails the same way, the ballast goes, and it ends done. Last, the disk fills while ffmpeg
 * writes the MP4: that too is DISK_FULL (not a bad tape), retried, and done. The oven is healthy after.
 */
export async function diskFull(): Promise<RecoveryFigure[] | { skipped: string }> {
  return withResources(async (res) => {
    const zip = await smallTape();
    const host = await res.zipHost();
    const receiver = await res.receiver();
    const tempDir = await res.tempDir('oven-small-disk-');
    const mounted = await mountSmallDisk(tempDir, 4);
    if ('refused' in mounted) return { skipped: mounted.refused };
    res.add(mounted.unmount, undefined);
    const ballast = path.join(tempDir, 'ballast');
    const wrapDir = await res.tempDir('oven-ffmpeg-fill-');
    const arm = path.join(wrapDir, 'armed');
    const real = (await run('sh', ['-c', 'command -v ffmpeg'])).stdout.trim();
    const ffmpegPath = path.join(wrapDir, 'ffmpeg');
    // When armed, fill the work disk just before the real ffmpeg starts writing the MP4.
    await writeFile(
      ffmpegPath,
      `#!/bin/sh
case " $* " in *" concat "*) ;; *) exec "${real}" "$@";; esac
if [ -e "${arm}" ]; then rm -f "${arm}"; dd if=/dev/zero of="${ballast}" bs=4096 2>/dev/null; fi
exec "${real}" "$@"
`,
    );
    await chmod(ffmpegPath, 0o755);
    const o = await res.oven({
      tempDir,
      env: { OVEN_MIN_FREE_DISK_MB: '2', OVEN_JOB_RETRY_BASE_MS: '1000', OVEN_JOB_MAX_ATTEMPTS: '3', FFMPEG_PATH: ffmpegPath },
    });
    await assertHealthy(o);

    // 1. Full from the start and never cleared: failed DISK_FULL, one failure callback.
    await fillDisk(ballast, 16 * 1024);
    const low = await until(async () => {
      const h = await getJson(`${o.url}/health`);
      return h.status === 503 ? h : undefined;
    }, 5_000);
    assert.ok(low.json.problems.some((p: string) => p.includes(tempDir) && /Free disk/.test(p)), JSON.stringify(low.json.problems));
    const a = await post(`${o.url}/bake`, bakeBody('disk-full-a', host.put('disk-full-a.zip', zip), `${receiver.url}/cb`));
    assert.equal(a.status, 202);
    const sa = await settled(o, a.json.jobId, 60_000);
    assert.equal(sa.status, 'failed');
    assert.equal(sa.error.code, 'DISK_FULL');
    assert.equal(sa.attempts, 3);
    assertOneCallback([receiver], a.json.jobId, 'failed', 'disk stays full');

    // 2. Full, then cleared after the first failed attempt: done.
    const b = await post(`${o.url}/bake`, bakeBody('disk-full-b', host.put('disk-full-b.zip', zip), `${receiver.url}/cb`));
    await until(async () => (await statusOf(o, b.json.jobId)).error?.code === 'DISK_FULL', 30_000, 20);
    await rm(ballast);
    const clearedAt = Date.now();
    const sb = await settled(o, b.json.jobId, 60_000);
    assert.equal(sb.status, 'done');
    assert.equal(sb.attempts, 2);
    assertOneCallback([receiver], b.json.jobId, 'success', 'disk cleared');

    // 3. The disk fills while ffmpeg writes: DISK_FULL too, and done once cleared.
    await writeFile(arm, '');
    const c = await post(`${o.url}/bake`, bakeBody('disk-full-c', host.put('disk-full-c.zip', zip), `${receiver.url}/cb`));
    const failedC = await until(async () => {
      const s = await statusOf(o, c.json.jobId);
      return s.error?.code || (s.status === 'failed' ? 'failed' : undefined);
    }, 30_000, 20);
    await rm(ballast, { force: true });
    const clearedCAt = Date.now();
    assert.equal(failedC, 'DISK_FULL', 'ffmpeg running out of disk is DISK_FULL, not a bad tape');
    const sc = await settled(o, c.json.jobId, 60_000);
    assert.equal(sc.status, 'done');
    assertOneCallback([receiver], c.json.jobId, 'success', 'disk full mid-encode');

    await until(async () => (await getJson(`${o.url}/health`)).status === 200, 10_000);
    assert.deepEqual(await readdir(path.join(tempDir, 'oven-jobs')), [], 'no work folder left behind');
    return [
      { fault: 'work disk full, never cleared', outcome: `failed ${sa.error.code}, 1 failure callback`, attempts: sa.attempts, recoverMs: 0 },
      { fault: 'work disk full, then cleared', outcome: 'done', attempts: sb.attempts, recoverMs: Date.parse(sb.finishedAt) - clearedAt },
      { fault: 'work disk fills mid-encode', outcome: 'done', attempts: sc.attempts, recoverMs: Date.parse(sc.finishedAt) - clearedCAt },
    ];
  });
}

// ---- faults: SIGKILL at random moments ----------------------------------------------

export interface KillFigures {
  trials: number;
  survived: number;
  jobsAccepted: number;
  jobsLost: number;
  duplicateCallbacks: number;
  /** A restart re-sent a callback already answered 2xx (same webhook-id): the crash window. */
  resentSameId: number;
  killMoments: number[];
  /** What the jobs were doing when the process was killed. */
  killedDuring: Record<string, number>;
  /** Jobs that did not end done with a delivered callback: what they showed instead. */
  lostDetails: string[];
}

/**
 * `trials` times: start an oven, submit `jobsPerTrial` jobs, SIGKILL it after a random (seeded)
 * delay, start it again on the same folders, and check that every accepted job ends done with
 * exactly one delivered callback.
 */
export async function killTrials(options: { trials: number; jobsPerTrial: number; seed: number; maxDelayMs: number }): Promise<KillFigures> {
  const random = seededRandom(options.seed);
  const figures: KillFigures = { trials: 0, survived: 0, jobsAccepted: 0, jobsLost: 0, duplicateCallbacks: 0, resentSameId: 0, killMoments: [], killedDuring: {}, lostDetails: [] };
  return withResources(async (res) => {
    // Tapes that take about a second to bake, so the kills land in every stage, not after the work.
    const zip = await smallTape();
    const host = await res.zipHost();
    const receiver = await res.receiver();
    for (let trial = 0; trial < options.trials; trial++) {
      figures.trials++;
      const delay = Math.round(random() * options.maxDelayMs);
      figures.killMoments.push(delay);
      const first = await startOven({ env: { OVEN_CONCURRENCY: '2', OVEN_JOB_RETRY_BASE_MS: '200' } });
      let second: OvenProcess | undefined;
      try {
        const accepted: string[] = [];
        const killAt = Date.now() + delay;
        const killer = sleepUntil(killAt).then(async () => {
          const summary = await getJson(`${first.url}/status`).catch(() => undefined);
          const doing = summary
            ? [...summary.json.active.map((j: { status: string }) => j.status), ...(summary.json.queued.length ? ['queued'] : [])].join('+') || 'idle/callbacks'
            : 'unknown';
          first.proc.kill('SIGKILL');
          figures.killedDuring[doing] = (figures.killedDuring[doing] ?? 0) + 1;
        });
        for (let j = 0; j < options.jobsPerTrial; j++) {
          const slug = `kill-${options.seed}-${trial}-${j}`;
          const r = await post(`${first.url}/bake`, bakeBody(slug, host.put(`${slug}.zip`, zip), `${receiver.url}/cb`)).catch(() => undefined);
          if (r?.status === 202) accepted.push(r.json.jobId);
          else if (r) assert.fail(`trial ${trial}: submission answered ${r.status}`);
          else break; // killed while submitting: the rest were never sent
        }
        await killer;
        await first.exited;
        second = await startOven({ dataDir: first.dataDir, tempDir: first.tempDir, env: { OVEN_CONCURRENCY: '2', OVEN_JOB_RETRY_BASE_MS: '200' } });
        figures.jobsAccepted += accepted.length;
        let ok = true;
        for (const jobId of accepted) {
          const s = await settled(second, jobId, 60_000).catch(() => undefined);
          if (!s || s.status !== 'done' || s.callback.state !== 'delivered') {
            figures.jobsLost++;
            const now = await statusOf(second, jobId).catch((err) => String(err));
            figures.lostDetails.push(`trial ${trial} (kill at ${delay} ms) job ${jobId}: ${JSON.stringify(now)}`);
            ok = false;
            continue;
          }
          // Let a stray second delivery show itself, if there were one.
          const l = ledgerOf([receiver], jobId);
          // A second callback (another webhook-id) is a duplicate. The same webhook-id answered 2xx
          // twice is the at-least-once redelivery after a crash between the receiver's 2xx and the
          // oven saving it: the same callback, which receivers drop by its id. Counted apart.
          if (l.webhookIds !== 1) {
            ok = false;
            figures.duplicateCallbacks += l.webhookIds - 1;
          }
          if (l.delivered > 1) figures.resentSameId += l.delivered - 1;
        }
        if (ok) figures.survived++;
      } finally {
        await second?.stop('SIGKILL');
        await first.cleanup();
      }
    }
    // Late duplicates would arrive within a retry or two; look once more at the end.
    await new Promise((r) => setTimeout(r, 500));
    const byJob = new Map<string, { ids: Set<string>; delivered: number }>();
    for (const q of receiver.requests) {
      const id = JSON.parse(q.body).jobId as string;
      const e = byJob.get(id) ?? { ids: new Set(), delivered: 0 };
      e.ids.add(String(q.headers['webhook-id']));
      if (q.answered === 200) e.delivered++;
      byJob.set(id, e);
    }
    const extra = [...byJob.values()].reduce((n, e) => n + (e.ids.size - 1), 0);
    figures.duplicateCallbacks = Math.max(figures.duplicateCallbacks, extra);
    return figures;
  });
}

// ---- load -------------------------------------------------------------------------

export interface LoadFigures {
  submissions: number;
  connections: number;
  accepted: number;
  refused429: number;
  otherAnswers: number;
  socketErrors: number;
  finished: number;
  lost: number;
  duplicateCallbacks: number;
  healthSamples: number;
  healthP50Ms: number;
  healthP99Ms: number;
  healthMaxMs: number;
  healthNon200: number;
  burstMs: number;
  drainMs: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * `submissions` POST /bake over `connections` connections at once, against one oven. Every request
 * is answered 202 or 429; every accepted job ends done with one callback; /health, polled every
 * 20 ms over its own connection through the burst and the bakes, stays quick.
 */
export async function loadBurst(options: { submissions: number; connections: number; queueLimit: number }): Promise<LoadFigures> {
  return withResources(async (res) => {
    const zip = await tinyTape();
    const host = await res.zipHost();
    const zipUrl = host.put('load.zip', zip);
    const receiver = await res.receiver();
    const o = await res.oven({ env: { OVEN_CONCURRENCY: '2', OVEN_QUEUE_LIMIT: String(options.queueLimit), LOG_LEVEL: 'info' } });

    // /health from its own connection, every 20 ms, until told to stop; the oven has been up a moment.
    await until(async () => (await getJson(`${o.url}/health`)).status === 200, 10_000);
    const healthClient = new Client(o.url);
    res.add(() => healthClient.close(), healthClient);
    const latencies: number[] = [];
    let healthNon200 = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const started = performance.now();
        const answer = await healthClient.request({ path: '/health', method: 'GET' });
        await answer.body.text();
        latencies.push(performance.now() - started);
        if (answer.statusCode !== 200) healthNon200++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const pool = new Pool(o.url, { connections: options.connections, pipelining: 1 });
    res.add(() => pool.close(), pool);
    const answers: number[] = [];
    let socketErrors = 0;
    const accepted: string[] = [];
    let next = 0;
    const burstStarted = Date.now();
    const worker = async () => {
      while (next < options.submissions) {
        const i = next++;
        try {
          const r = await pool.request({
            path: '/bake',
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(bakeBody(`load-${i}`, zipUrl, `${receiver.url}/cb`)),
          });
          const body = (await r.body.json()) as { jobId?: string };
          answers.push(r.statusCode);
          if (r.statusCode === 202 && body.jobId) accepted.push(body.jobId);
        } catch {
          socketErrors++;
        }
      }
    };
    await Promise.all(Array.from({ length: options.connections }, worker));
    const burstMs = Date.now() - burstStarted;

    const drainStarted = Date.now();
    let finished = 0;
    let lost = 0;
    for (const jobId of accepted) {
      const s = await settled(o, jobId, 30_000 + accepted.length * 2_000).catch(() => undefined);
      if (s?.status === 'done' && s.callback.state === 'delivered') finished++;
      else lost++;
    }
    const drainMs = Date.now() - drainStarted;
    polling = false;
    await poller;

    let duplicateCallbacks = 0;
    for (const jobId of accepted) {
      const l = ledgerOf([receiver], jobId);
      duplicateCallbacks += Math.max(0, l.webhookIds - 1) + Math.max(0, l.delivered - 1);
    }
    const sorted = [...latencies].sort((x, y) => x - y);
    return {
      submissions: options.submissions,
      connections: options.connections,
      accepted: accepted.length,
      refused429: answers.filter((s) => s === 429).length,
      otherAnswers: answers.filter((s) => s !== 202 && s !== 429).length,
      socketErrors,
      finished,
      lost,
      duplicateCallbacks,
      healthSamples: sorted.length,
      healthP50Ms: round1(percentile(sorted, 50)),
      healthP99Ms: round1(percentile(sorted, 99)),
      healthMaxMs: round1(sorted[sorted.length - 1] ?? 0),
      healthNon200,
      burstMs,
      drainMs,
    };
  });
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

