// `npm run bench:e2e`: how long an 8 s tape takes through the whole service, POST /bake accepted to
// the signed callback received, in embedded mode and in Redis mode (one API, one worker, s3rver as
// the Space), next to the bare bake of the same ZIP by the CLI. Compiled JavaScript, as production
// runs it; real processes, ZIP host and callback receiver on loopback. Rewrites its section of
// bench/RESULTS.md.

import { spawn } from 'node:child_process';
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
import { recordSection } from './results.ts';

const RUNS = 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

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
}

/** RUNS bakes of the tape through `api`, one after another: accepted → callback received. */
async function throughService(api: OvenProcess, host: ZipHost, receiver: Receiver, zip: Buffer, tag: string): Promise<Figures> {
  const endToEnd: number[] = [];
  const stages: Record<string, number>[] = [];
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
    const status = await until(async () => {
      const s = await (await fetch(`${api.url}/status/${r.json.jobId}`)).json();
      return s.status === 'done' ? s : undefined;
    });
    stages.push(status.stageMs ?? {});
  }
  const stageMedian = (name: string) => median(stages.map((s) => s[name] ?? 0));
  return { endToEnd: median(endToEnd), stages: Object.fromEntries(['downloading', 'extracting', 'encoding', 'uploading'].map((s) => [s, Math.round(stageMedian(s))])) };
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

    const embedded = await throughService(await start({}), host, receiver, zip, 'embedded');
    for (const o of ovens.splice(0)) await o.cleanup();

    const space = { OVEN_REDIS_URL: redis.url, ...spacesEnv(s3), OVEN_CONCURRENCY: '1' };
    const api = await start({ ...space, OVEN_ROLE: 'api' });
    await start({ ...space, OVEN_ROLE: 'worker' });
    const clustered = await throughService(api, host, receiver, zip, 'redis');

    const bare: number[] = [];
    await cliBake(cli, zipPath, path.join(work, 'out')); // warm the page cache like the services' first bake
    for (let i = 0; i < RUNS; i++) bare.push(await cliBake(cli, zipPath, path.join(work, 'out')));
    const cliMs = median(bare);

    const row = (label: string, f: Figures) =>
      `| ${label} | ${Math.round(f.endToEnd)} | ${['downloading', 'extracting', 'encoding', 'uploading'].map((s) => f.stages[s]).join(' / ')} | ${Math.round(f.endToEnd - cliMs) >= 0 ? '+' : ''}${Math.round(f.endToEnd - cliMs)} |`;
    const lines = [
      `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; compiled JavaScript; median of ${RUNS} after one unmeasured bake; not pinned (the default droplet has one vCPU: expect about twice the encoding time there).`,
      '',
      `8 s 320×240 busy tape, ${durations.length} frames, ${(zip.length / 1e6).toFixed(1)} MB ZIP:`,
      '',
      '| path | ms | downloading / extracting / encoding / uploading | vs the bare CLI |',
      '| --- | ---: | --- | ---: |',
      row('POST /bake accepted → callback received, embedded mode (local storage)', embedded),
      row('the same, Redis mode: one API, one worker, s3rver as the Space', clustered),
      `| bare bake of the same ZIP by the CLI (\`node service/cli.js\`, process start included) | ${Math.round(cliMs)} | | |`,
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
