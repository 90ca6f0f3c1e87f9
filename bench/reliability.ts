// `npm run reliability`: the fault and load runs at full size, against the real service on loopback.
// A ZIP host that cuts, stalls and trickles; a Space answering 500/503 for 30 s; callback receivers
// down for 2 minutes, failing, timing out, redirecting, gone; ffmpeg killed mid-encode; a full work
// disk; 24 SIGKILLs at random (seeded) moments; a burst of 300 submissions over 50 connections.
// Prints the figures and writes them between the reliability markers of bench/RESULTS.md.
// The CI-sized versions of the same scenarios are test/reliability/faults.test.ts and load.test.ts.
//
//   npm run reliability                 everything (about 6-8 minutes on 2 cores)
//   npm run reliability -- --no-write   print only, leave bench/RESULTS.md alone
//   RELIABILITY_SEED=7 npm run reliability   other kill moments

import { spawn } from 'node:child_process';
import { REPO } from './compiled.ts';
import { describeMachine, nowUtc } from './measure.ts';
import { recordSection } from './results.ts';
import {
  callbackFaults,
  diskFull,
  ffmpegKilled,
  killTrials,
  loadBurst,
  s3Outage,
  zipHostFaults,
  type CallbackFigure,
  type KillFigures,
  type LoadFigures,
  type RecoveryFigure,
} from '../test/reliability/scenarios.ts';

const FULL = {
  s3OutageMs: 30_000,
  receiverDownMs: 120_000,
  callbackRetryBaseMs: 1000,
  killTrials: 24,
  jobsPerTrial: 4,
  killMaxDelayMs: 4000,
  submissions: 300,
  connections: 50,
  queueLimit: 100,
};

type Outcome<T> = { ok: true; value: T; ms: number } | { ok: false; error: string; ms: number };

async function attempt<T>(name: string, fn: () => Promise<T>): Promise<Outcome<T>> {
  const started = Date.now();
  console.error(`reliability: ${name}…`);
  try {
    const value = await fn();
    console.error(`reliability: ${name} done in ${Math.round((Date.now() - started) / 1000)} s`);
    return { ok: true, value, ms: Date.now() - started };
  } catch (err) {
    const error = err instanceof Error ? err.message.split('\n').slice(0, 6).join(' ') : String(err);
    console.error(`reliability: ${name} FAILED: ${error}`);
    return { ok: false, error, ms: Date.now() - started };
  }
}

/** The hostile corpus is another test's; its summary line gives the "cases refused" figure. */
async function hostileCorpus(): Promise<Outcome<string>> {
  return attempt('hostile corpus (test/reliability/hostile.test.ts)', async () => {
    const output = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--test', 'test/reliability/hostile.test.ts'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (text += c.toString('utf8')));
      child.on('close', () => resolve(text));
    });
    const summary = /hostile corpus: ([^\n]+)/.exec(output)?.[1];
    const failed = /^# fail (\d+)/m.exec(output)?.[1];
    if (!summary) throw new Error('the hostile corpus test printed no summary line');
    return `${summary.trim()}${failed && failed !== '0' ? ` (${failed} of its tests FAILED)` : ''}`;
  });
}

const s = (ms: number) => (ms / 1000).toFixed(1);

async function main(): Promise<void> {
  const write = !process.argv.includes('--no-write');
  const seed = Number(process.env.RELIABILITY_SEED ?? 20261124);
  const started = new Date();

  // The receiver outage waits for minutes and needs little CPU: it runs beside the other faults.
  // The load run goes last and alone, so nothing else disturbs its latencies.
  const callbacks = attempt('callback receivers (2 min outage, 500, timeouts, redirects, 410)', () =>
    callbackFaults({ downMs: FULL.receiverDownMs, retryBaseMs: FULL.callbackRetryBaseMs }),
  );
  const zip = await attempt('ZIP host faults', () => zipHostFaults());
  const s3 = await attempt('S3 outage (30 s of 500/503)', () => s3Outage(FULL.s3OutageMs));
  const ffmpeg = await attempt('ffmpeg killed mid-encode', () => ffmpegKilled());
  const disk = await attempt('work disk full', () => diskFull());
  const kills = await attempt(`SIGKILL at random moments (${FULL.killTrials} trials)`, () =>
    killTrials({ trials: FULL.killTrials, jobsPerTrial: FULL.jobsPerTrial, seed, maxDelayMs: FULL.killMaxDelayMs }),
  );
  const hostile = await hostileCorpus();
  const cb = await callbacks;
  const load = await attempt(`load (${FULL.submissions} submissions over ${FULL.connections} connections)`, () =>
    loadBurst({ submissions: FULL.submissions, connections: FULL.connections, queueLimit: FULL.queueLimit }),
  );

  const lines: string[] = [];
  const say = (line = '') => {
    lines.push(line);
    console.log(line);
  };
  say('## Reliability');
  say();
  say(`Run ${nowUtc(started)} on ${await describeMachine()}; took ${s(Date.now() - started.getTime())} s.`);
  say('`npm run reliability` (bench/reliability.ts): the real service process on loopback, with real servers for ZIPs, S3 (s3rver behind an outage proxy) and callbacks. CI runs shorter versions of the same scenarios (test/reliability/faults.test.ts, load.test.ts).');
  say();

  // The headline figures.
  const k = kills.ok ? kills.value : undefined;
  const l = load.ok ? load.value : undefined;
  const lost = (k?.jobsLost ?? NaN) + (l?.lost ?? NaN);
  const dupes = (k?.duplicateCallbacks ?? NaN) + (l?.duplicateCallbacks ?? NaN);
  say('| figure | value | target |');
  say('| --- | ---: | --- |');
  say(`| hostile cases refused | ${hostile.ok ? hostile.value : `not measured (${hostile.error})`} | every case refused with its code |`);
  say(`| SIGKILL trials survived | ${k ? `${k.survived} of ${k.trials} (${k.jobsAccepted} jobs accepted, seed ${seed})` : failed(kills)} | all |`);
  say(`| jobs lost | ${Number.isNaN(lost) ? 'not measured' : lost} | 0 |`);
  say(`| duplicate callbacks | ${Number.isNaN(dupes) ? 'not measured' : dupes}${k ? ` (re-sent after a crash between a 2xx and saving it: ${k.resentSameId})` : ''} | 0 |`);
  if (l) {
    say(`| /health latency while baking, p50 / p99 / max | ${l.healthP50Ms} / ${l.healthP99Ms} / ${l.healthMaxMs} ms (${l.healthSamples} samples) | p99 < 100 ms |`);
    say(`| burst of ${l.submissions} over ${l.connections} connections: 202 / 429 / other / socket errors | ${l.accepted} / ${l.refused429} / ${l.otherAnswers} / ${l.socketErrors} | only 202 or 429 |`);
    say(`| accepted jobs done with one callback | ${l.finished} of ${l.accepted} (burst ${s(l.burstMs)} s, all baked ${s(l.drainMs)} s later; queue limit ${FULL.queueLimit}, concurrency 2) | all |`);
  } else {
    say(`| load | ${failed(load)} | |`);
  }
  say();

  say('| fault | outcome | attempts | recovered in |');
  say('| --- | --- | ---: | ---: |');
  const faultRows = (o: Outcome<RecoveryFigure[] | RecoveryFigure | { skipped: string }>, name: string) => {
    if (!o.ok) return say(`| ${name} | ${failed(o)} | | |`);
    if ('skipped' in o.value) return say(`| ${name} | not run: ${o.value.skipped} | | |`);
    for (const f of Array.isArray(o.value) ? o.value : [o.value]) {
      say(`| ${f.fault} | ${f.outcome} | ${f.attempts} | ${f.outcome === 'done' ? `${s(f.recoverMs)} s` : '—'} |`);
    }
  };
  faultRows(zip, 'ZIP host faults');
  faultRows(s3, 'S3 outage');
  faultRows(ffmpeg, 'ffmpeg killed');
  faultRows(disk, 'work disk full');
  if (cb.ok) {
    for (const f of cb.value as CallbackFigure[]) {
      const outcome = `bake done; callback ${f.state} after ${f.requests} request${f.requests === 1 ? '' : 's'}, ${f.delivered} answered 2xx`;
      say(`| callback ${f.fault} | ${outcome} | ${f.attempts} | ${f.state === 'delivered' ? `${s(f.recoverMs)} s` : '—'} |`);
    }
  } else {
    say(`| callback receivers | ${failed(cb)} | | |`);
  }
  say();
  say('"Recovered in": from the end of the fault (the failed attempt; the outage\'s end; the receiver coming back) to the job done or the callback delivered. Job retries wait `OVEN_JOB_RETRY_BASE_MS` (300 ms-1 s here), callback retries back off from `OVEN_CALLBACK_RETRY_BASE_MS` (1 s here, doubling with jitter), Space uploads back off from 0.5 s up to 8 s.');
  if (k) say(`Kill moments (ms after the first submission): ${k.killMoments.join(', ')}; the oven was doing: ${Object.entries(k.killedDuring).map(([w, n]) => `${w} ×${n}`).join(', ')}.`);
  if (k?.lostDetails.length) for (const d of k.lostDetails) say(`- lost: ${d}`);

  const problems = [zip, s3, ffmpeg, disk, kills, cb, load].filter((o) => !o.ok).length;
  const missed = (lost !== 0 ? 1 : 0) + (dupes !== 0 ? 1 : 0) + (l && l.healthP99Ms >= 100 ? 1 : 0) + (k && k.survived !== k.trials ? 1 : 0);

  if (write) {
    await recordSection('reliability', 'npm run reliability', lines);
    console.error('wrote bench/RESULTS.md');
  }
  if (problems || missed) {
    console.error(`reliability: ${problems} scenario(s) failed, ${missed} figure(s) missed their target`);
    process.exitCode = 1;
  }
}

function failed(o: Outcome<unknown>): string {
  return o.ok ? '' : `FAILED: ${o.error.replace(/\|/g, '/')}`;
}

await main();
// Servers and clients of the scenarios are closed; timers of undici's pools may linger a moment.
process.exit(process.exitCode ?? 0);
