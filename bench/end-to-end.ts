// `npm run bench:e2e`: how long an 8 s tape takes through the whole service, POST /bake accepted to
// the signed callback received, in embedded mode and in Redis mode (one API, one worker, s3rver as
// the Space), next to the bare bake of the same ZIP by the CLI. Compiled JavaScript, as production
// runs it; real processes, ZIP host and callback receiver on loopback. Rewrites its section of
// bench/RESULTS.md.

import { fork, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { post, ROOT, startOven, TEST_SECRET, until, type OvenProcess } from '../test/helpers/oven.ts';
import { startReceiver, type Receiver } from '../test/helpers/receiver.ts';
import { startRedis } from '../test/helpers/redis.ts';
import { spacesEnv, startS3 } from '../test/helpers/s3.ts';
import { hitchyDurations, makeTapeZip } from '../test/helpers/tapes.ts';
import { startZipHost, type ZipHost } from '../test/helpers/zip-host.ts';
import { buildCompiled, removeCompiled } from './compiled.ts';
import { loadAverage, median, nowUtc, processMb } from './measure.ts';
import { recordSection } from './results.ts';

const RUNS = 3;
const STAGES = ['downloading', 'extracting', 'encoding', 'uploading'] as const;

function cliBake(cli: string, zip: string, out: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, zip, '--out', out], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`cli exited ${code}`))));
  });
}

interface Figures {
  endToEnd: number;
  stages: Record<string, number>;
  /** Peak resident MiB of the bake process that baked the measured jobs (its ffmpeg not included). */
  bakeProcessPeakMb?: number;
}

/** What a bake process costs before any bake: fork → its `ready` message, and its memory then. */
async function bakeProcessStart(childModule: string): Promise<{ ms: number; rssMb: number }> {
  const started = performance.now();
  // As the compiled server forks it: no tsx, the heap capped at half the default memory ceiling.
  const child = fork(childModule, [], { execArgv: ['--max-old-space-size=320'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'json' });
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m: { cmd?: string }) => m.cmd === 'ready' && resolve());
    child.once('exit', (code) => reject(new Error(`the bake process exited ${code} before it was ready`)));
  });
  const ms = performance.now() - started;
  const rssMb = processMb(child.pid!) ?? NaN;
  child.kill();
  return { ms, rssMb };
}

/** RUNS bakes of the tape through `api`, one after another: accepted → callback received. */
async function throughService(api: OvenProcess, host: ZipHost, receiver: Receiver, zip: Buffer, tag: string): Promise<Figures> {
  const endToEnd: number[] = [];
  const stages: Record<string, number>[] = [];
  const bakePids = new Set<number>();
  // One bake first, not measured: the bake process warms up (the pool starts its processes at
  // start-up; BullMQ starts its sandbox at the first job).
  for (let i = -1; i < RUNS; i++) {
    const slug = `e2e-${tag}-${i + 1}`;
    const url = host.put(`${slug}.zip`, zip);
    const seen = receiver.requests.length;
    const started = performance.now();
    const r = await post(`${api.url}/bake`, { mongoId: slug, slug, zipUrl: url, callbackUrl: `${receiver.url}/cb`, callbackSecret: TEST_SECRET });
    if (r.status !== 202) throw new Error(`POST /bake answered ${r.status}: ${r.text}`);
    await receiver.waitFor(seen + 1, 180_000);
    if (i < 0) continue;
    endToEnd.push(performance.now() - started);
    const took = api.logs().find((l) => l.msg === 'bake process took the job' && l.jobId === r.json.jobId);
    if (typeof took?.pid === 'number') bakePids.add(took.pid);
    const status = await until(async () => {
      const s = await (await fetch(`${api.url}/status/${r.json.jobId}`)).json();
      return s.status === 'done' ? s : undefined;
    });
    stages.push(status.stageMs ?? {});
  }
  const stageMedian = (name: string) => median(stages.map((s) => s[name] ?? 0));
  const peaks = [...bakePids].map((pid) => processMb(pid, 'VmHWM')).filter((mb) => mb !== undefined);
  return {
    endToEnd: median(endToEnd),
    stages: Object.fromEntries(STAGES.map((s) => [s, Math.round(stageMedian(s))])),
    ...(peaks.length ? { bakeProcessPeakMb: Math.max(...peaks) } : {}),
  };
}

async function main(): Promise<void> {
  const { cli, main: entry } = buildCompiled();
  const work = await mkdtemp(path.join(os.tmpdir(), 'oven-e2e-'));
  const host = await startZipHost();
  const receiver = await startReceiver();
  const [redis, s3] = await Promise.all([startRedis(), startS3()]);
  const ovens: OvenProcess[] = [];
  const start = async (env: Record<string, string>) => {
    const o = await startOven({ nodeArgs: [entry], env: { LOG_LEVEL: 'info', ...env } });
    ovens.push(o);
    return o;
  };
  try {
    const durations = hitchyDurations(8, 150);
    const zip = await makeTapeZip({ width: 320, height: 240, durationsMs: durations, busy: true, soundSeconds: 8.085 });
    const zipPath = path.join(work, 'tape-8s.zip');
    await writeFile(zipPath, zip);

    const server = await start({ OVEN_CONCURRENCY: '1' });
    const embedded = await throughService(server, host, receiver, zip, 'embedded');
    const serverMb = processMb(server.proc.pid!, 'VmHWM');
    for (const o of ovens.splice(0)) await o.cleanup();

    const starts: Array<{ ms: number; rssMb: number }> = [];
    for (let i = 0; i < RUNS + 2; i++) starts.push(await bakeProcessStart(path.join(path.dirname(entry), 'jobs/bake-child.js')));

    const space = { OVEN_REDIS_URL: redis.url, ...spacesEnv(s3), OVEN_CONCURRENCY: '1' };
    const api = await start({ ...space, OVEN_ROLE: 'api' });
    await start({ ...space, OVEN_ROLE: 'worker' });
    const clustered = await throughService(api, host, receiver, zip, 'redis');

    const bare: number[] = [];
    await cliBake(cli, zipPath, path.join(work, 'out')); // warm the page cache like the services' first bake
    for (let i = 0; i < RUNS; i++) bare.push(await cliBake(cli, zipPath, path.join(work, 'out')));
    const cliMs = median(bare);

    const row = (label: string, f: Figures) =>
      `| ${label} | ${Math.round(f.endToEnd)} | ${STAGES.map((s) => f.stages[s]).join(' / ')} | ${Math.round(f.endToEnd - cliMs) >= 0 ? '+' : ''}${Math.round(f.endToEnd - cliMs)} |`;
    const lines = [
      `Run ${nowUtc()}, ${os.cpus().length} cores, Node ${process.version}, load average ${loadAverage()}; compiled JavaScript; median of ${RUNS} after one unmeasured bake; not pinned (the default droplet has one vCPU: expect about twice the encoding time there).`,
      '',
      `8 s 320×240 busy tape, ${durations.length} frames, ${(zip.length / 1e6).toFixed(1)} MB ZIP:`,
      '',
      '| path | ms | downloading / extracting / encoding / uploading | vs the bare CLI |',
      '| --- | ---: | --- | ---: |',
      row('POST /bake accepted → callback received, embedded mode (local storage)', embedded),
      row('the same, Redis mode: one API, one worker, s3rver as the Space', clustered),
      `| bare bake of the same ZIP by the CLI (\`node service/cli.js\`, process start included) | ${Math.round(cliMs)} | | |`,
      '',
      'What isolating each bake in its own process costs (embedded mode, `OVEN_CONCURRENCY=1`):',
      '',
      '| figure | value |',
      '| --- | ---: |',
      `| a bake process's start, fork → ready (median of ${starts.length}; paid at the server's start and after a crash, not per bake: the pool keeps it) | ${Math.round(median(starts.map((x) => x.ms)))} ms |`,
      `| an idle bake process's memory (resident) | ${median(starts.map((x) => x.rssMb)).toFixed(0)} MiB |`,
      `| the bake process's peak while baking (its ffmpeg not included; \`OVEN_BAKE_MEMORY_MB\` weighs both) | ${embedded.bakeProcessPeakMb?.toFixed(0) ?? '?'} MiB |`,
      `| the server's own peak over the same bakes | ${serverMb?.toFixed(0) ?? '?'} MiB |`,
      `| per bake, accepted → callback minus the bare CLI bake (queue, IPC, upload, callback; the CLI's own process start is in the CLI's figure) | ${Math.round(embedded.endToEnd - cliMs)} ms |`,
    ];
    console.log(lines.join('\n'));
    await recordSection('e2e', 'npm run bench:e2e', ['## End to end', '', ...lines]);
  } finally {
    for (const o of ovens) await o.cleanup();
    await Promise.all([host.close(), receiver.stop(), redis.stop(), s3.stop()]);
    await rm(work, { recursive: true, force: true });
    removeCompiled();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
