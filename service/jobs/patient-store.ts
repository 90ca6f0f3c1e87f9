// The job store as the manager uses it: a save the store refuses (a read-only or full data folder)
// does not strand the job. Its new state stays in memory, the save is tried again every few
// seconds, and what was to happen next (start the bake, the retry, the callback) happens once the
// state is saved. Meanwhile the problem is known, for /health and for POST /bake's 503.

import { toOvenError } from '../errors.ts';
import { log } from '../log.ts';
import type { Job } from './job.ts';
import type { JobStore } from './store.ts';

/** How often saves the store refused are tried again. */
const RETRY_MS = 2000;

export class PatientStore {
  /** Jobs whose latest state could not be saved, with what to do once it is. */
  private readonly unsaved = new Map<string, { job: Job; then: () => void }>();
  private timer?: NodeJS.Timeout;
  private failure?: string;

  constructor(private readonly store: JobStore) {}

  /** Resolves true when saved now (the caller goes on itself); else `then` runs once it is. */
  async save(job: Job, then: () => void = () => {}): Promise<boolean> {
    try {
      await this.store.save(job);
      this.failure = undefined;
      return true;
    } catch (err) {
      this.noteFailure(err);
      this.unsaved.set(job.jobId, { job, then });
      this.timer ??= setInterval(() => void this.retry(), RETRY_MS);
      this.timer.unref();
      return false;
    }
  }

  /** A save that must succeed now or not at all (a new job: the caller answers the error). */
  async saveNow(job: Job): Promise<void> {
    try {
      await this.store.save(job);
      this.failure = undefined;
    } catch (err) {
      const error = toOvenError(err);
      if (error.code === 'STORE_UNAVAILABLE') this.noteFailure(error);
      else log.error('could not save a new job', { err });
      throw error;
    }
  }

  remove(jobId: string): Promise<void> {
    return this.store.remove(jobId);
  }

  loadAll(): Promise<Job[]> {
    return this.store.loadAll();
  }

  /** Why job state cannot be saved just now, or undefined. */
  problem(): string | undefined {
    return this.failure;
  }

  /** Jobs still waiting to be saved whose state says they wait to start. */
  waitingToStart(): number {
    let waiting = 0;
    for (const { job } of this.unsaved.values()) if (job.status === 'queued') waiting += 1;
    return waiting;
  }

  private async retry(): Promise<void> {
    for (const [jobId, { job, then }] of [...this.unsaved]) {
      try {
        await this.store.save(job);
      } catch (err) {
        this.noteFailure(err);
        return;
      }
      this.failure = undefined;
      this.unsaved.delete(jobId);
      log.info('job state saved again; the job goes on', { jobId, slug: job.request.slug, stage: job.status });
      then();
    }
    if (this.unsaved.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private noteFailure(err: unknown): void {
    const error = toOvenError(err);
    if (this.failure !== error.message) log.error('job state cannot be saved', { err });
    this.failure = error.message;
  }
}
