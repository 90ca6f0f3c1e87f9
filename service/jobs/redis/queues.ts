// The two BullMQ queues of Redis mode and how their jobs are made: bakes (one per accepted job, its
// id the jobId, de-duplicated by slug) and callbacks (one per finished bake, `cb-<jobId>`, so that
// whoever adds it first wins and a bake never gets a second terminal callback).

import type { JobsOptions } from 'bullmq';
import type { Config } from '../../config.ts';
import type { BakeRequest } from '../job.ts';

export const BAKES = 'oven-bakes';
export const CALLBACKS = 'oven-callbacks';

export interface BakeJobData {
  request: BakeRequest;
}

export interface CallbackJobData {
  /** The bake's jobId. */
  jobId: string;
  /** webhook-id: the same on every attempt, so the receiver can drop repeats. */
  webhookId: string;
  url: string;
  payload: Record<string, unknown>;
  /** When the bake finished (ms): the give-up time counts from here. */
  createdAt: number;
}

export function callbackJobId(jobId: string): string {
  return `cb-${jobId}`;
}

/** BullMQ keeps only an error's message: a retryable failure's code travels at its start. */
export function messageWithCode(code: string, message: string): string {
  return `${code}: ${message}`;
}

export function codeAndMessage(text: string | undefined, fallback: string): { code: string; message: string } {
  const m = /^([A-Z][A-Z0-9_]+): (.*)$/s.exec(text ?? '');
  return m ? { code: m[1]!, message: m[2]! } : { code: fallback, message: text || 'The bake failed.' };
}

export function bakeJobOptions(config: Config, jobId: string, slug: string): JobsOptions {
  const keep = { age: config.keepFinishedHours * 3600, count: config.keepFinishedJobs };
  return {
    jobId,
    // While a job of this slug is waiting, retrying or baking, adding another answers that one.
    deduplication: { id: slug },
    attempts: config.jobMaxAttempts,
    backoff: { type: 'oven' },
    removeOnComplete: keep,
    removeOnFail: keep,
  };
}

export function callbackJobOptions(config: Config, jobId: string): JobsOptions {
  // Kept an hour longer than bakes, so that no finished bake is ever seen without its callback job
  // (the sweep would make a second one); never trimmed by count for the same reason.
  const keep = { age: config.keepFinishedHours * 3600 + 3600 };
  return {
    jobId: callbackJobId(jobId),
    // Bounded by the give-up time, not by a count (see deliveries.ts).
    attempts: 1_000_000,
    backoff: { type: 'callback' },
    removeOnComplete: keep,
    removeOnFail: keep,
  };
}
