// What a bake process is given and what it says back: the same shapes whichever supervisor runs it
// (the embedded pool in bake-pool.ts, or BullMQ's sandbox in Redis mode).

import type { ActiveStatus, BakeOutcome, BakeRequest } from './job.ts';

/** The job as a bake process sees it: BullMQ's sandboxed job has these fields, and the pool makes the same. */
export interface BakeProcessJob {
  /** The jobId. */
  id?: string;
  data: { request: BakeRequest };
  /** Reported to the supervisor: stage changes at once, progress at most a few times a second. */
  updateProgress(progress: BakeProgress): Promise<void>;
  /** BullMQ's: the job's options (`attempts`) and failures so far; absent in the embedded pool. */
  opts?: { attempts?: number };
  attemptsMade?: number;
  /** BullMQ's: puts the job back in the queue (a drain hands running bakes back). */
  moveToWait?(token?: string): Promise<unknown>;
}

export interface BakeProgress {
  stage: ActiveStatus;
  /** 0..1 over the whole bake, never going back. */
  progress: number;
}

export interface BakeRun {
  outcome: BakeOutcome;
  warning?: { code: string; message: string };
  /** Bytes downloaded (the ZIP) and uploaded (MP4 and thumbnail), for metrics. */
  bytesIn?: number;
  bytesOut?: number;
  /** Milliseconds in each stage, as the bake process timed them (Redis mode's status and metrics use them). */
  stageMs?: Partial<Record<ActiveStatus, number>>;
}

/** Why a BullMQ worker cancels a bake when it drains for shutdown: the processor hands the job back. */
export const HAND_BACK = 'hand back for shutdown';

/** What a bake process answers: the bake, or (under BullMQ only) a final failure with its code. */
export type BakeProcessorResult = BakeRun | { failure: { code: string; message: string } };

/** An OvenError as it crosses a process boundary (BullMQ copies an error's own properties the same way). */
export interface CarriedError {
  code: string;
  message: string;
  retryable: boolean;
}
