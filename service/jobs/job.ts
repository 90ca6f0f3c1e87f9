// A job's record and the states it moves through. The record is what the store persists,
// so everything a restart needs (the request, the outcome, the pending callback) lives here.

import { randomBytes } from 'node:crypto';
import type { CallbackDelivery } from '../callback/outbox.ts';
// The contract's shapes are declared once, in contract/, for the service and the client alike.
import type { ActiveStatus, BakeJob as BakeRequest, BakeOutcome, Failure, JobStatus, JobView } from '../../contract/index.ts';

export type { ActiveStatus, BakeOutcome, BakeRequest, JobStatus, JobView };

/** A slug becomes an S3 key and a folder name: letters, digits, `.`, `_`, `-`, not starting with a dot. */
export const SLUG_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const ACTIVE_STATUSES: readonly ActiveStatus[] = ['downloading', 'extracting', 'encoding', 'uploading'];

export interface Job {
  jobId: string;
  request: BakeRequest;
  status: JobStatus;
  progress: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** How many times a bake of this job has started. */
  attempts: number;
  /** When a job waiting after a passing fault may start again (ISO). */
  retryAt?: string;
  result?: BakeOutcome;
  error?: Failure;
  /** A thumbnail that failed while the MP4 was good. */
  warning?: Failure;
  callback?: CallbackDelivery;
  /** Milliseconds spent in each stage of the last attempt, for operators and metrics. */
  stageMs?: Partial<Record<ActiveStatus, number>>;
}

export function isTerminal(status: JobStatus): status is 'done' | 'failed' {
  return status === 'done' || status === 'failed';
}

export function isActive(status: JobStatus): status is ActiveStatus {
  return (ACTIVE_STATUSES as readonly string[]).includes(status);
}

/** Time-ordered, unguessable enough to share in a status URL. */
export function newJobId(now = Date.now()): string {
  return `${now.toString(36)}-${randomBytes(6).toString('hex')}`;
}

export function newJob(request: BakeRequest, now = new Date()): Job {
  return {
    jobId: newJobId(now.getTime()),
    request,
    status: 'queued',
    progress: 0,
    createdAt: now.toISOString(),
    attempts: 0,
  };
}


/** The job as `/status/:jobId` shows it (the contract's shape): no secrets, no callback URL. */
export function jobView(job: Job, position?: number): JobView {
  return {
    jobId: job.jobId,
    slug: job.request.slug,
    status: job.status,
    progress: Math.round(job.progress * 1000) / 1000,
    position: position ?? null,
    createdAt: job.createdAt,
    startedAt: job.startedAt ?? null,
    finishedAt: job.finishedAt ?? null,
    attempts: job.attempts,
    result: job.result ?? null,
    error: job.error ?? null,
    warning: job.warning ?? null,
    callback: job.callback
      ? { state: job.callback.state, attempts: job.callback.attempts, lastError: job.callback.lastError ?? null }
      : null,
    stageMs: job.stageMs ?? null,
  };
}

