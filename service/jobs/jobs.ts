// What the rest of the oven asks of its jobs, whichever mode keeps them: the embedded manager with
// its file store (one machine, the default), or BullMQ on Redis (API and bakers on separate
// machines). The HTTP layer, the dashboard's stream and the metrics see only this.

import type { EventEmitter } from 'node:events';
import { OvenError } from '../errors.ts';
import type { ActiveStatus, BakeRequest, JobView } from './job.ts';

export interface QueueFigures {
  /** Jobs waiting to start, including those waiting to be retried. */
  queued: number;
  /** Bakes running now (in Redis mode: on every worker). */
  running: number;
  /** Bakes that may run at once (in Redis mode: this process's, or the workers' it has seen). */
  concurrency: number;
  limit: number;
  draining: boolean;
}

export interface Summary {
  queued: JobView[];
  active: JobView[];
  /** The most recently finished, newest first (RECENT_JOBS of them). */
  recent: JobView[];
}

/** How many finished jobs /status, the dashboard's snapshot and the page show. */
export const RECENT_JOBS = 20;

export interface JobsEvents {
  /** Anything about a job changed (status, progress, callback): the dashboard follows this. */
  change: [view: JobView];
  /** A stage of a bake ended after `durationMs`. */
  stage: [stage: ActiveStatus, durationMs: number];
  /** A job reached done or failed. */
  finished: [view: JobView, figures: { bakeMs: number; bytesIn: number; bytesOut: number }];
  /** A callback attempt ended. */
  callback: [result: 'delivered' | 'failed' | 'gave-up'];
}

export interface Submitted {
  view: JobView;
  duplicate: boolean;
}

export interface Jobs extends EventEmitter<JobsEvents> {
  /**
   * Accepts a job, or answers the slug's job already queued or baking (duplicate). Throws DRAINING,
   * QUEUE_FULL or STORE_UNAVAILABLE (as OvenErrors) when it cannot.
   */
  submit(request: BakeRequest): Promise<Submitted>;
  view(jobId: string): Promise<JobView | undefined>;
  summary(): Promise<Summary>;
  figures(): QueueFigures;
  isDraining(): boolean;
  /** What keeps jobs from being saved or run just now (a read-only folder, Redis unreachable). */
  problems(): string[];
}

/** What a draining oven answers, in every mode. */
export function drainingError(): OvenError {
  return new OvenError('DRAINING', 'The oven is shutting down; try again in a minute.');
}
