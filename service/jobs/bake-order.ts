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
}

/** An OvenError as it crosses a process boundary (BullMQ copies an error's own properties the same way). */
export interface CarriedError {
  code: string;
  message: string;
  retryable: boolean;
}
