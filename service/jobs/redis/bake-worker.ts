// Redis mode's bakers: a BullMQ worker that runs the bake processor (jobs/bake-processor.ts) as a
// sandboxed processor, each bake in a process of its own, as the embedded pool does. BullMQ renews
// the job's lock from this process while the bake runs; a worker that dies stops renewing, and
// once the lock lapses and a stalled check runs, another worker takes the job up.

import { fileURLToPath } from 'node:url';
import { Worker } from 'bullmq';
import type { Config } from '../../config.ts';
import { log } from '../../log.ts';
import { backoffDelay, sleep } from '../../net/backoff.ts';
import type { ProgressWebhooks } from '../../callback/progress.ts';
import { HAND_BACK, type BakeProcessorResult, type BakeProgress } from '../bake-order.ts';
import { bakeProcessExecArgv } from '../bake-pool.ts';
import { connectRedis } from './connection.ts';
import type { Deliveries } from './deliveries.ts';
import { BAKES, type BakeJobData } from './queues.ts';
import type { BakeJob } from './views.ts';

/** The longest wait before a bake that hit a passing fault is tried again. */
const MAX_RETRY_DELAY_MS = 30 * 60 * 1000;

/** jobs/bake-processor.ts, as .ts under tsx or .js once built. */
function processorFile(): string {
  return fileURLToPath(new URL(`../bake-processor${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
}

export class BakeWorker {
  private readonly worker: Worker<BakeJobData, BakeProcessorResult>;
  private readonly active = new Set<string>();

  constructor(config: Config, deliveries: Deliveries, progress: ProgressWebhooks) {
    const file = processorFile();
    this.worker = new Worker<BakeJobData, BakeProcessorResult>(BAKES, file, {
      connection: connectRedis(config.redisUrl!, 'bakes', { blocking: true }),
      concurrency: config.concurrency,
      lockDuration: config.lockSeconds * 1000,
      stalledInterval: config.stalledCheckSeconds * 1000,
      // A job whose worker keeps dying is started at most OVEN_JOB_MAX_ATTEMPTS times, then fails.
      maxStalledCount: Math.max(0, config.jobMaxAttempts - 1),
      settings: {
        // A passing fault is tried again later, with jitter; the processor returns (not throws) the tape's own faults.
        backoffStrategy: (attemptsMade, _type, err) => ((err as { retryable?: boolean } | undefined)?.retryable === false ? -1 : backoffDelay(attemptsMade, config.jobRetryBaseMs, MAX_RETRY_DELAY_MS)),
      },
      useWorkerThreads: false,
      workerForkOptions: {
        execArgv: bakeProcessExecArgv(file, config.bakeMemoryMb),
        // Its log lines go straight to this process's stdout: the same JSON, with the job's id.
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    });
    this.worker.on('active', (job) => {
      this.active.add(job.id!);
      log.info('bake started', { jobId: job.id, slug: job.data.request.slug, stage: 'downloading', attempts: job.attemptsStarted });
    });
    this.worker.on('progress', (job, value) => {
      const { stage, progress: fraction } = value as BakeProgress;
      if (stage) progress.update(job.id!, job.data.request, stage, fraction ?? 0);
    });
    this.worker.on('completed', (job, result) => {
      this.active.delete(job.id!);
      progress.finish(job.id!);
      const fields = { jobId: job.id, slug: job.data.request.slug };
      if ('failure' in result) log.warn('bake failed', { ...fields, stage: 'failed', errorCode: result.failure.code, error: result.failure.message });
      else log.info('bake done', { ...fields, stage: 'done', stageMs: result.stageMs, bytes: result.outcome.bytes });
      deliveries.enqueue(job as BakeJob).catch((err) => log.warn('could not queue the callback; the sweep will', { ...fields, err }));
    });
    this.worker.on('failed', (job, err) => {
      if (!job) return;
      this.active.delete(job.id!);
      const fields = { jobId: job.id, slug: job.data.request.slug };
      void job.isFailed().then((final) => {
        if (!final) {
          progress.update(job.id!, job.data.request, 'queued', 0);
          return log.warn('bake hit a passing fault; will try again', { ...fields, stage: 'queued', error: err.message });
        }
        progress.finish(job.id!);
        log.warn('bake failed', { ...fields, stage: 'failed', errorCode: 'INTERRUPTED', error: err.message });
        return deliveries.enqueue(job as BakeJob);
      }).catch((e) => log.warn('could not queue the callback; the sweep will', { ...fields, err: e }));
    });
    this.worker.on('error', (err) => log.debug('bake worker error', { err }));
  }

  /** Bakes running in this process. */
  running(): number {
    return this.active.size;
  }

  /**
   * SIGTERM: takes no new bakes; running ones may finish within graceMs, then are handed back to the
   * queue (not counted as an attempt) for another worker, or this one after its restart.
   */
  async drain(graceMs: number): Promise<{ finished: number; requeued: number }> {
    const before = this.running();
    const closing = this.worker.close();
    const timedOut = await Promise.race([closing.then(() => false), sleep(graceMs).then(() => true)]);
    const requeued = timedOut ? this.running() : 0;
    if (timedOut) this.worker.cancelAllJobs(HAND_BACK);
    await closing;
    return { finished: before - requeued, requeued };
  }
}
