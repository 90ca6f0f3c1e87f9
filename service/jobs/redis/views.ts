// A bake job on BullMQ, with its callback job, as the same view /status/:jobId gives in embedded
// mode (jobView in job.ts): BullMQ's states, progress and return values mapped onto the contract's.

import type { Job, JobState, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BakeProcessorResult, BakeProgress } from '../bake-order.ts';
import { isActive, type ActiveStatus, type JobStatus, type JobView } from '../job.ts';
import { codeAndMessage, type BakeJobData, type CallbackJobData } from './queues.ts';

export type BakeJob = Job<BakeJobData, BakeProcessorResult>;
export type CallbackJob = Job<CallbackJobData, void>;

const iso = (ms: number | undefined): string | null => (ms ? new Date(ms).toISOString() : null);

function statusOf(state: JobState | 'unknown', job: BakeJob): JobStatus {
  if (state === 'completed') return job.returnvalue && 'failure' in job.returnvalue ? 'failed' : 'done';
  if (state === 'failed') return 'failed';
  if (state === 'active') {
    const stage = (job.progress as BakeProgress | undefined)?.stage;
    return stage && isActive(stage) ? stage : 'downloading';
  }
  return 'queued';
}

function callbackView(cb: CallbackJob | undefined, cbState: JobState | 'unknown' | undefined): JobView['callback'] {
  if (!cb) return null;
  if (cbState === 'completed') return { state: 'delivered', attempts: cb.attemptsMade + 1, lastError: null };
  if (cbState === 'failed') return { state: 'gave-up', attempts: cb.attemptsMade, lastError: cb.failedReason || null };
  return { state: 'pending', attempts: cb.attemptsMade, lastError: cb.failedReason || null };
}

export interface ViewParts {
  job: BakeJob;
  state: JobState | 'unknown';
  /** 1 for the next job to start, 0 when not waiting. */
  position: number;
  callback?: CallbackJob;
  callbackState?: JobState | 'unknown';
}

export function viewOf({ job, state, position, callback, callbackState }: ViewParts): JobView {
  const status = statusOf(state, job);
  const returned = job.returnvalue ?? undefined;
  const run = returned && 'outcome' in returned ? returned : undefined;
  const failure = returned && 'failure' in returned ? returned.failure : undefined;
  const progress = status === 'done' ? 1 : ((job.progress as BakeProgress | undefined)?.progress ?? 0);
  let error: JobView['error'] = null;
  if (failure) error = failure;
  else if (state === 'failed') error = { code: 'INTERRUPTED', message: `The bake stopped ${job.attemptsStarted} times before it finished; giving up (${job.failedReason}).` };
  else if (job.failedReason) error = codeAndMessage(job.failedReason, 'INTERRUPTED'); // waiting to be tried again
  return {
    jobId: job.id!,
    slug: job.data.request.slug,
    status,
    progress: Math.round(progress * 1000) / 1000,
    position,
    createdAt: iso(job.timestamp)!,
    startedAt: iso(job.processedOn),
    finishedAt: status === 'done' || status === 'failed' ? iso(job.finishedOn) : null,
    attempts: job.attemptsStarted,
    result: run?.outcome ?? null,
    error,
    warning: run?.warning ?? null,
    callback: callbackView(callback, callbackState),
    stageMs: (run?.stageMs as Partial<Record<ActiveStatus, number>> | undefined) ?? null,
  };
}

/** Place in the wait list: BullMQ adds at the head and workers take from the tail, so the tail is 1. */
export async function positionIn(redis: Redis, bakes: Queue, jobId: string): Promise<number> {
  const [index, length] = await Promise.all([redis.lpos(bakes.keys.wait!, jobId), redis.llen(bakes.keys.wait!)]);
  return index === null ? 0 : length - index;
}
