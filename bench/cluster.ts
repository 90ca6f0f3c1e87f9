// `npm run bench:cluster`: Redis mode's capacity on this machine. Tapes per minute with one and with
// two worker processes (one bake at a time each), the same burst of tapes posted to one API; and what
// a worker costs in memory while idle (the worker process, and its bake process kept warm after a
// bake). Compiled JavaScript; real Redis (AOF) and s3rver on loopback. Rewrites its section of
// bench/RESULTS.md.

import { readFileSync } from 'node:fs';
import os from 'node:os';
import { post, startOven, TEST_SECRET, type OvenProcess } from '../test/helpers/oven.ts';
import { startReceiver } from '../test/helpers/receiver.ts';
import { startRedis } from '../test/helpers/redis.ts';
import { spacesEnv, startS3 } from '../test/helpers/s3.ts';
import { hitchyDurations, makeTapeZip } from '../test/helpers/tapes.ts';
import { startZipHost } from '../test/helpers/zip-host.ts';
import { buildCompiled, removeCompiled } from './compiled.ts';
import { loadAverage, nowUtc, processMb } from './measure.ts';
import { recordSection } from './results.ts';

const TAPES = 8;

/** Resident MiB of a process and, with `children`, of every process below it. */
function residentMb(pid: number, children = false): number {
  const own = (p: number) => processMb(p) ?? 0;
  const below = (p: number): number[] => {
    try {
      const tasks = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      return tasks ? tasks.split(/\s+/).map(Number).flatMap((c) => [c, ...below(c)]) : [];
    } catch {
      return [];
    }
  };
  return own(pid) + (children ? below(pid).reduce((sum, c) => sum + own(c), 0) : 0);
}

async function main(): Promise<void> {
  const { main: entry } = buildCompiled();
  const [redis, s3, host, receiver] = await Promise.all([startRedis(), startS3(), startZipHost(), startReceiver()]);
  const ovens: OvenProcess[] = [];
  const env = (role: string) => ({
    LOG_LEVEL: 'info',
    OVEN_REDIS_URL: redis.url,
    OVEN_ROLE: role,
    ...spacesEnv(s3),
    OVEN_CONCURRENCY: '1',
    OVEN_QUEUE_LIMIT: '100',
  });
  const start = async (role: string) => {
    const o = await startOven({ nodeArgs: [entry], env: env(role) });
    ovens.push(o);
    return o;
  };
  try {
    const zip = await makeTapeZip({ width: 320, height: 240, durationsMs: hitchyDurations(4, 150), busy: true, soundSeconds: 4 });
    const api = await start('api');
    let burst = 0;
    /** Posts TAPES jobs at once; minutes from the first POST to the last callback. */
    const perMinute = async (): Promise<number> => {
      burst++;
      const seen = receiver.requests.length;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: TAPES }, (_, i) => {
          const slug = `cluster-${burst}-${i}`;
          return post(`${api.url}/bake`, { mongoId: slug, slug, zipUrl: host.put(`${slug}.zip`, zip), callbackUrl: `${receiver.url}/cb`, callbackSecret: TEST_SECRET });
        }),
      );
      await receiver.waitFor(seen + TAPES, 600_000);
      return TAPES / ((performance.now() - started) / 60_000);
    };

    const first = await start('worker');
    const idleWorkerMb = residentMb(first.proc.pid!, true);
    // A first bake, not measured: the worker starts its bake process (BullMQ keeps it for the next).
    const warm = await perMinute();
    const warmWorkerMb = residentMb(first.proc.pid!, true);
    const oneWorker = await perMinute();
    await start('worker');
    await perMinute(); // the second worker's bake process starts
    const twoWorkers = await perMinute();

    const lines = [
      `Run ${nowUtc()}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average at the end ${loadAverage()}; compiled JavaScript; Redis (AOF, fsync always) and s3rver on loopback; one API process.`,
      '',
      `Bursts of ${TAPES} tapes (4 s, 320×240 busy, with sound; ${(zip.length / 1e6).toFixed(1)} MB ZIPs) posted at once; first POST to last callback:`,
      '',
      '| workers (one bake at a time each) | tapes per minute |',
      '| --- | ---: |',
      `| 1 | ${oneWorker.toFixed(1)} |`,
      `| 2 | ${twoWorkers.toFixed(1)} |`,
      '',
      `Two worker processes share this machine's ${os.cpus().length} cores, so the second adds at most what a free core gives; on separate droplets each worker brings its own vCPU. (The unmeasured warm-up burst ran at ${warm.toFixed(1)} per minute, the bake process starting included.)`,
      '',
      `A worker idle, before its first bake: ${Math.round(idleWorkerMb)} MB resident (the worker process: BullMQ, ioredis, the HTTP server for /health and /metrics). After bakes, with its bake process kept warm: ${Math.round(warmWorkerMb)} MB for the two.`,
    ];
    console.log(lines.join('\n'));
    await recordSection('cluster', 'npm run bench:cluster', ['## Redis mode: capacity and memory', '', ...lines]);
  } finally {
    for (const o of ovens) await o.cleanup();
    await Promise.all([redis.stop(), s3.stop(), host.close(), receiver.stop()]);
    removeCompiled();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
