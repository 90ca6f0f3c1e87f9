// Redis mode's terminal callbacks, as jobs of their own queue: one per finished bake, made by
// whichever process sees the bake finish first (its id, `cb-<jobId>`, makes a second one a no-op),
// delivered by any process, retried with backoff and jitter until a 2xx, a 410 or the give-up time.
// Being in Redis, a pending delivery survives a restart of any process, and of Redis (AOF).

import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Dispatcher } from 'undici';
import { attemptCallback, callbackRetryDelay } from '../../callback/attempt.ts';
import { newDelivery, urlForLog } from '../../callback/outbox.ts';
import { failurePayload, seedOf, successPayload } from '../../callback/payload.ts';
import type { Config } from '../../config.ts';
import { log } from '../../log.ts';
import type { BakeProcessorResult } from '../bake-order.ts';
import { BAKES, CALLBACKS, callbackJobId, callbackJobOptions, type BakeJobData, type CallbackJobData } from './queues.ts';
import { connectRedis } from './connection.ts';
import type { BakeJob } from './views.ts';

/** The longest wait between two attempts at one callback. */
const MAX_CALLBACK_DELAY_MS = 60 * 60 * 1000;
/** Callbacks attempted at once by one process: each is one POST, mostly waiting on the network. */
const DELIVERY_CONCURRENCY = 16;
/** How often finished bakes are checked for a callback job (the crash between the two is rare). */
const SWEEP_EVERY_MS = 30_000;

/** The terminal callback of a finished bake: the same bodies as embedded mode's. */
function callbackFor(job: BakeJob, failedReason?: string): CallbackJobData {
  const { request } = job.data;
  const seed = seedOf(job.id!, request);
  const returned = job.returnvalue as BakeProcessorResult | undefined;
  const payload =
    returned && 'outcome' in returned
      ? successPayload(seed, returned.outcome)
      : failurePayload(seed, returned && 'failure' in returned ? returned.failure : { code: 'INTERRUPTED', message: `The bake stopped ${job.attemptsStarted} times before it finished; giving up (${failedReason ?? job.failedReason}).` });
  const delivery = newDelivery(request.callbackUrl, payload, job.finishedOn ?? Date.now());
  return { jobId: job.id!, webhookId: delivery.id, url: delivery.url, payload, createdAt: delivery.createdAt };
}

export class Deliveries {
  private readonly callbacks: Queue<CallbackJobData>;
  private readonly bakes: Queue<BakeJobData, BakeProcessorResult>;
  private worker?: Worker<CallbackJobData>;
  private sweepTimer?: NodeJS.Timeout;

  constructor(
    private readonly config: Config,
    redis: Redis,
    private readonly dispatcher: Dispatcher,
  ) {
    this.callbacks = new Queue(CALLBACKS, { connection: redis });
    this.bakes = new Queue(BAKES, { connection: redis });
    for (const queue of [this.callbacks, this.bakes]) queue.on('error', (err) => log.debug('queue error', { err }));
  }

  /** Queues the bake's terminal callback, once: a second call for the same bake changes nothing. */
  async enqueue(job: BakeJob): Promise<void> {
    await this.callbacks.add('callback', callbackFor(job), callbackJobOptions(this.config, job.id!));
  }

  /** Starts delivering, and the sweep that queues any callback a crash kept from being queued. */
  start(): void {
    const { config } = this;
    const giveUpMs = config.callbackGiveUpHours * 3600_000;
    this.worker = new Worker<CallbackJobData>(CALLBACKS, (job) => this.deliver(job, giveUpMs), {
      connection: connectRedis(config.redisUrl!, 'deliveries', { blocking: true }),
      concurrency: DELIVERY_CONCURRENCY,
      settings: {
        backoffStrategy: (attemptsMade, _type, err, job) =>
          callbackRetryDelay(attemptsMade, (err as { retryAfterMs?: number } | undefined)?.retryAfterMs, config.callbackRetryBaseMs, MAX_CALLBACK_DELAY_MS, (job?.data.createdAt ?? Date.now()) + giveUpMs - Date.now()),
      },
    });
    this.worker.on('error', (err) => log.debug('delivery worker error', { err }));
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.sweepTimer.unref();
    void this.sweep();
  }

  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await Promise.allSettled([this.worker?.close(), this.callbacks.close(), this.bakes.close()]);
  }

  private async deliver(job: Job<CallbackJobData>, giveUpMs: number): Promise<void> {
    const d = job.data;
    const logger = log.child({ jobId: d.jobId, webhookId: d.webhookId, url: urlForLog(d.url), attempt: job.attemptsMade + 1 });
    const started = Date.now();
    const outcome = await attemptCallback(
      { id: d.webhookId, url: d.url, payload: d.payload },
      { secret: this.config.callbackSecret, includeBodySecret: this.config.callbackBodySecret, dispatcher: this.dispatcher, timeoutMs: this.config.callbackTimeoutSeconds * 1000 },
    );
    const ms = Date.now() - started;
    if (outcome.kind === 'delivered') return void logger.info('callback delivered', { stage: 'callback', ms });
    if (outcome.kind === 'gone') {
      logger.warn('callback receiver is gone (410); giving up', { stage: 'callback', ms });
      throw new UnrecoverableError(outcome.error);
    }
    if (Date.now() >= d.createdAt + giveUpMs) {
      logger.warn('callback given up', { stage: 'callback', lastError: outcome.error });
      throw new UnrecoverableError(outcome.error);
    }
    logger.info('callback attempt failed; will retry', { stage: 'callback', lastError: outcome.error, ms });
    throw Object.assign(new Error(outcome.error), outcome.retryAfterMs === undefined ? {} : { retryAfterMs: outcome.retryAfterMs });
  }

  /** Finished bakes without a callback job get one: they finished while their worker was dying. */
  private async sweep(): Promise<void> {
    try {
      const finished = (await this.bakes.getJobs(['completed', 'failed'], 0, this.config.keepFinishedJobs)) as (BakeJob | undefined)[];
      for (const job of finished) {
        if (!job?.id || (await this.callbacks.getJob(callbackJobId(job.id)))) continue;
        log.info('finished bake had no callback queued; queuing it', { jobId: job.id, stage: 'callback' });
        await this.enqueue(job);
      }
    } catch (err) {
      log.debug('callback sweep failed; it runs again soon', { err });
    }
  }
}
