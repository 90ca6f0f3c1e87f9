// Start-up: config → jobs (embedded, or BullMQ on Redis) → HTTP server → signals.

import { mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Dispatcher } from 'undici';
import { ConfigError, loadConfig, secretsOf, type Config } from './config.ts';
import { createHealthCheck } from './health.ts';
import { createApp, createWorkerApp } from './http/app.ts';
import { EmbeddedJobs } from './jobs/embedded.ts';
import type { Jobs } from './jobs/jobs.ts';
import { createOvenMetrics } from './metrics/oven-metrics.ts';
import { log, logProcessWarnings, registerSecret, setLogLevel } from './log.ts';
import { createGuardedDispatcher } from './net/guard.ts';
import { createBlobStore, localBlobRoot } from './storage/index.ts';

function packageVersion(): string {
  // service/main.ts under tsx, dist/service/main.js when built: package.json is one or two folders up.
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(path.join(here, candidate), 'utf8')) as { version: string }).version;
    } catch {
      /* try the next */
    }
  }
  return '0.0.0';
}

function readConfig(): Config {
  try {
    return loadConfig(process.env, packageVersion());
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`oven: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** The jobs and how they are stopped, whichever mode keeps them. */
interface Running {
  jobs: Jobs;
  /** SIGTERM: stop taking work; running bakes may finish within graceMs, the rest are handed back. */
  drain(graceMs: number): Promise<{ finished: number; requeued: number }>;
  /** What the start-up line says about this mode. */
  describe(): Record<string, unknown>;
}

async function startEmbedded(config: Config, dispatcher: Dispatcher): Promise<Running> {
  const jobs = await EmbeddedJobs.start(config, dispatcher);
  return {
    jobs,
    drain: (graceMs) => jobs.drain(graceMs),
    describe: () => ({ mode: 'embedded', recovered: { queued: jobs.figures().queued, callbacksPending: jobs.pendingCallbacks() } }),
  };
}

async function startRedis(config: Config, dispatcher: Dispatcher): Promise<Running> {
  // Loaded only in Redis mode: BullMQ and ioredis are not needed on one machine.
  const { startRedisMode } = await import('./jobs/redis/mode.ts');
  return startRedisMode(config, dispatcher);
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const config = readConfig();
  setLogLevel(config.logLevel);
  logProcessWarnings();
  if (config.callbackSecretGenerated) {
    // Said once, to the person starting a local oven; never logged afterwards.
    process.stderr.write(`oven: no CALLBACK_SECRET set, so this run uses: ${config.callbackSecret}\n`);
  }
  for (const secret of secretsOf(config)) registerSecret(secret);

  await mkdir(config.dataDir, { recursive: true });
  await mkdir(config.tempDir, { recursive: true });
  const blobs = await createBlobStore(config, { log });
  const policy = { allowPrivateNetworks: config.allowPrivateNetworks, allowedHosts: config.allowedHosts };
  const dispatcher = createGuardedDispatcher(policy, { connectTimeoutMs: config.downloadIdleSeconds * 1000 });
  const running = config.redisUrl ? await startRedis(config, dispatcher) : await startEmbedded(config, dispatcher);
  const { jobs } = running;

  const health = createHealthCheck({
    ffmpegPath: config.ffmpegPath,
    ffprobePath: config.ffprobePath,
    folders: [config.tempDir, config.dataDir],
    minFreeDiskMb: config.minFreeDiskMb,
    storage: blobs,
  });
  const common = { jobs, health, version: config.version, startedAt, metrics: createOvenMetrics(jobs) };
  const app =
    config.role === 'worker'
      ? createWorkerApp(common)
      : createApp({
          ...common,
          secret: config.callbackSecret,
          policy,
          maxEventClients: config.maxEventClients,
          corsOrigins: config.corsOrigins,
          ...(blobs.kind === 'local' ? { localBlobRoot: localBlobRoot(config) } : {}),
        });
  app.server?.on('error', (err) => {
    log.error('server error', { err });
    process.exit(1);
  });
  app.listen(config.port, config.host, () => {
    log.info('oven listening', {
      url: `http://${config.host}:${config.port}`,
      version: config.version,
      role: config.role,
      storage: blobs.kind,
      concurrency: config.concurrency,
      queueLimit: config.queueLimit,
      ...running.describe(),
    });
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      log.warn('second signal; exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    log.info('draining for shutdown', { signal, graceSeconds: config.drainSeconds, running: jobs.figures().running });
    const drained = await running.drain(config.drainSeconds * 1000);
    app.server?.close();
    log.info('stopped', drained);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('unhandledRejection', (err) => log.error('unhandled rejection', { err }));
}

main().catch((err) => {
  // A setting the running system refuses (Redis that may evict keys) stops start-up like a bad value.
  if (err instanceof ConfigError) {
    process.stderr.write(`oven: ${err.message}\n`);
    process.exit(2);
  }
  log.error('oven could not start', { err });
  process.exit(1);
});
