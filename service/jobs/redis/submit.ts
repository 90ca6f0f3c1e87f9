// Accepting a job in Redis mode, as one step across every API process: the slug's job already
// waiting or baking is answered (BullMQ's de-duplication), the queue limit holds however many
// requests arrive at once on however many APIs (a short lock around count-and-add), and an accepted
// job is in Redis before the 202 is sent.

import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../../config.ts';
import { OvenError } from '../../errors.ts';
import { sleep } from '../../net/backoff.ts';
import { newJobId, type BakeRequest } from '../job.ts';
import { bakeJobOptions, type BakeJobData } from './queues.ts';

const LOCK_KEY = 'oven:bakes:submit-lock';
/** A lock whose holder died is free again after this. */
const LOCK_TTL_MS = 5000;
/** How long a request waits for the lock before it is refused (503: try again). */
const LOCK_WAIT_MS = 3000;
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/** Jobs that count against OVEN_QUEUE_LIMIT: waiting, or waiting to be tried again. */
export const WAITING_STATES = ['waiting', 'prioritized', 'delayed', 'waiting-children'] as const;

export function queueUnavailable(err: unknown): OvenError {
  return new OvenError('STORE_UNAVAILABLE', 'The job queue (Redis) cannot be reached just now; try again in a minute.', { retryable: true, cause: err });
}

export async function submitToQueue(bakes: Queue<BakeJobData>, redis: Redis, config: Config, request: BakeRequest): Promise<{ jobId: string; duplicate: boolean }> {
  const token = randomUUID();
  try {
    const deadline = Date.now() + LOCK_WAIT_MS;
    while ((await redis.set(LOCK_KEY, token, 'PX', LOCK_TTL_MS, 'NX')) !== 'OK') {
      if (Date.now() > deadline) throw new OvenError('STORE_UNAVAILABLE', 'The job queue is too busy to take a job just now; try again in a minute.', { retryable: true });
      await sleep(5 + Math.random() * 10);
    }
  } catch (err) {
    throw err instanceof OvenError ? err : queueUnavailable(err);
  }
  try {
    const existing = await bakes.getDeduplicationJobId(request.slug);
    const existingJob = existing ? await bakes.getJob(existing) : undefined;
    if (existingJob && !existingJob.finishedOn) return { jobId: existingJob.id!, duplicate: true };
    const counts = await bakes.getJobCounts(...WAITING_STATES);
    const waiting = Object.values(counts).reduce((a, b) => a + b, 0);
    if (waiting >= config.queueLimit) {
      throw new OvenError('QUEUE_FULL', `The queue is full (${config.queueLimit} jobs waiting); try again later.`, { retryable: true });
    }
    const jobId = newJobId();
    const job = await bakes.add('bake', { request }, bakeJobOptions(config, jobId, request.slug));
    return { jobId: job.id!, duplicate: job.id !== jobId };
  } catch (err) {
    throw err instanceof OvenError ? err : queueUnavailable(err);
  } finally {
    await redis.eval(RELEASE, 1, LOCK_KEY, token).catch(() => undefined);
  }
}
