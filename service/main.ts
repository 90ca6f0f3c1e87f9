// Start-up: config → job store → storage, callbacks, bakers → HTTP server → signals.

import { mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CallbackOutbox } from './callback/outbox.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createHealthCheck } from './health.ts';
import { createApp } from './http/app.ts';
import { JobManager } from './jobs/manager.ts';
import { BakePool } from './jobs/bake-pool.ts';
import { clearWorkRoot, workRootOf } from './jobs/pipeline.ts';
import { FileJobStore } from './jobs/store.ts';
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

async function main(): Promise<void> {
  const startedAt = Date.now();
  const config = readConfig();
  setLogLevel(config.logLevel);
  logProcessWarnings();
  if (config.callbackSecretGenerated) {
    // Said once, to the person starting a local oven; never logged afterwards.
    process.stderr.write(`oven: no CALLBACK_SECRET set, so this run uses: ${config.callbackSecret}\n`);
  }
  for (const secret of [config.callbackSecret, config.blobs?.secret, config.blobs?.key, config.art?.secret, config.art?.key]) registerSecret(secret);

  await mkdir(config.dataDir, { recursive: true });
  await mkdir(config.tempDir, { recursive: true });
  const workRoot = workRootOf(config);
  await clearWorkRoot(workRoot); // folders of bakes a killed process never finished
  const store = await new FileJobStore(config.dataDir).init();
  const blobs = await createBlobStore(config, { log });
  const policy = { allowPrivateNetworks: config.allowPrivateNetworks, allowedHosts: config.allowedHosts };
  const dispatcher = createGuardedDispatcher(policy, { connectTimeoutMs: config.downloadIdleSeconds * 1000 });

  let jobs: JobManager | undefined;
  const outbox = new CallbackOutbox({
    secret: config.callbackSecret,
    includeBodySecret: config.callbackBodySecret,
    dispatcher,
    timeoutMs: config.callbackTimeoutSeconds * 1000,
    retryBaseMs: config.callbackRetryBaseMs,
    giveUpMs: config.callbackGiveUpHours * 3600_000,
    onChange: (delivery) => jobs?.callbackChanged(delivery),
    log,
  });
  // The server never bakes: every bake runs in a bake process of this pool.
  const bakers = new BakePool({ size: config.concurrency, memoryMb: config.bakeMemoryMb, log });
  bakers.start();
  jobs = new JobManager({
    store,
    runBake: (job, control) => bakers.run(job, control),
    deliver: (delivery) => outbox.add(delivery),
    concurrency: config.concurrency,
    queueLimit: config.queueLimit,
    maxAttempts: config.jobMaxAttempts,
    retryBaseMs: config.jobRetryBaseMs,
    keepFinished: config.keepFinishedJobs,
    keepFinishedMs: config.keepFinishedHours * 3600_000,
  });
  await jobs.recover();

  const app = createApp({
    jobs,
    secret: config.callbackSecret,
    policy,
    health: createHealthCheck({
      ffmpegPath: config.ffmpegPath,
      ffprobePath: config.ffprobePath,
      folders: [config.tempDir, config.dataDir],
      minFreeDiskMb: config.minFreeDiskMb,
    }),
    version: config.version,
    startedAt,
    concurrency: config.concurrency,
    queueLimit: config.queueLimit,
    maxEventClients: config.maxEventClients,
    metrics: createOvenMetrics(jobs),
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
      storage: blobs.kind,
      concurrency: config.concurrency,
      queueLimit: config.queueLimit,
      recovered: { queued: jobs!.waitingCount(), callbacksPending: outbox.pending() },
    });
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      log.warn('second signal; exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    log.info('draining for shutdown', { signal, graceSeconds: config.drainSeconds, running: jobs!.runningCount() });
    const drained = await jobs!.drain(config.drainSeconds * 1000);
    bakers.close();
    outbox.stop();
    await Promise.race([outbox.whenIdle(), new Promise((r) => setTimeout(r, 5000))]);
    app.server?.close();
    log.info('stopped', drained);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('unhandledRejection', (err) => log.error('unhandled rejection', { err }));
}

main().catch((err) => {
  log.error('oven could not start', { err });
  process.exit(1);
});
