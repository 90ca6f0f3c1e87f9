// Where a job's life is decided: accepted → queued → baking stages → done | failed → callback.
// Every change is saved before it is acted on, so a SIGKILL at any moment loses nothing:
// on start, `recover()` resumes queued jobs, restarts interrupted bakes and pending callbacks.

import { EventEmitter } from 'node:events';
import { failurePayload, successPayload, type CallbackSeed } from '../callback/payload.ts';
import { newDelivery, type CallbackDelivery } from '../callback/outbox.ts';
import { OvenError, toOvenError } from '../errors.ts';
import { log } from '../log.ts';
import { sleep } from '../net/backoff.ts';
import type { BakeRun } from './bake-order.ts';
import type { BakeControl } from './pipeline.ts';
import { isActive, isTerminal, jobView, newJob, type ActiveStatus, type BakeRequest, type Job } from './job.ts';
import type { JobStore } from './store.ts';
import { WaitingLine } from './waiting-line.ts';

/** What a running bake may tell the manager, and how the manager stops it. */
export type { BakeControl };

export type { BakeRun };
export type RunBake = (job: Job, control: BakeControl) => Promise<BakeRun>;

export interface ManagerOptions {
  store: JobStore;
  runBake: RunBake;
  /** Starts delivering a callback; the manager hears of its progress through `callbackChanged`. */
  deliver: (delivery: CallbackDelivery) => void;
  concurrency: number;
  queueLimit: number;
  maxAttempts: number;
  retryBaseMs: number;
  keepFinished: number;
  keepFinishedMs: number;
}

export interface Submitted {
  job: Job;
  /** The job's status when it was answered: a new job is `queued`, even if it starts at once. */
  status: Job['status'];
  position: number;
  duplicate: boolean;
}

export interface ManagerEvents {
  /** Anything about the job changed (status, progress, callback): the dashboard follows this. */
  change: [job: Job];
  /** A stage of a bake ended after `durationMs`. */
  stage: [job: Job, stage: ActiveStatus, durationMs: number];
  /** A job reached done or failed. */
  finished: [job: Job, figures: { bakeMs: number; bytesIn: number; bytesOut: number }];
  /** A callback attempt ended (delivered, failed, or given up). */
  callback: [job: Job, delivery: CallbackDelivery];
}

/** How often saves the store refused are tried again. */
const UNSAVED_RETRY_MS = 2000;

export class JobManager extends EventEmitter<ManagerEvents> {
  private readonly jobs = new Map<string, Job>();
  /** Slug → the job baking it, while that job has not ended: one bake per slug at a time. */
  private readonly inFlight = new Map<string, string>();
  private readonly line = new WaitingLine();
  private readonly running = new Map<string, AbortController>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private readonly deliveryOwners = new Map<string, string>();
  /** Jobs accepted whose first save has not finished: they hold a place in the queue already. */
  private accepting = 0;
  /** Jobs whose latest state could not be saved, with what to do once it is: they wait for the store. */
  private readonly unsaved = new Map<string, () => void>();
  private unsavedTimer?: NodeJS.Timeout;
  private storeFailure?: string;
  private draining = false;
  private pruneTimer?: NodeJS.Timeout;

  constructor(private readonly options: ManagerOptions) {
    super();
  }

  // ---- accepting -------------------------------------------------------------

  async submit(request: BakeRequest): Promise<Submitted> {
    if (this.draining) throw new OvenError('DRAINING', 'The oven is shutting down; try again in a minute.');
    const existingId = this.inFlight.get(request.slug);
    const existing = existingId ? this.jobs.get(existingId) : undefined;
    if (existing) return { job: existing, status: existing.status, position: this.positionOf(existing.jobId), duplicate: true };
    if (this.waitingCount() >= this.options.queueLimit) {
      throw new OvenError('QUEUE_FULL', `The queue is full (${this.options.queueLimit} jobs waiting); try again later.`, { retryable: true });
    }

    // The place in the queue is taken before the first await, so requests arriving together
    // cannot all pass the limit check before any of them is counted.
    const job = newJob(request);
    this.jobs.set(job.jobId, job);
    this.inFlight.set(request.slug, job.jobId);
    this.accepting += 1;
    try {
      await this.options.store.save(job);
      this.storeFailure = undefined;
    } catch (err) {
      this.jobs.delete(job.jobId);
      this.inFlight.delete(request.slug);
      const error = toOvenError(err);
      if (error.code === 'STORE_UNAVAILABLE') this.noteStoreFailure(error);
      else log.error('could not save a new job', { err });
      throw error;
    } finally {
      this.accepting -= 1;
    }
    this.line.push(job.jobId);
    this.logFor(job).info('job accepted', { stage: 'queued', position: this.line.position(job.jobId) });
    this.emit('change', job);
    const position = this.line.position(job.jobId);
    this.pump();
    return { job, status: 'queued', position, duplicate: false };
  }

  // ---- reading ---------------------------------------------------------------

  get(jobId: string): Job | undefined {
    return this.jobs.get(jobId);
  }

  positionOf(jobId: string): number {
    return this.line.position(jobId);
  }

  view(job: Job) {
    return jobView(job, this.positionOf(job.jobId));
  }

  /** Jobs not yet started, including those waiting out a passing fault or for the store. */
  waitingCount(): number {
    return this.line.length + this.retryTimers.size + this.accepting + this.waitingForStore();
  }

  /** Why job state cannot be saved just now (a read-only or full data folder), or undefined. */
  storeProblem(): string | undefined {
    return this.storeFailure;
  }

  runningCount(): number {
    return this.running.size;
  }

  isDraining(): boolean {
    return this.draining;
  }

  summary(recentCount = 20) {
    const all = [...this.jobs.values()];
    const queued = all.filter((j) => j.status === 'queued').sort((a, b) => this.order(a) - this.order(b));
    const active = all.filter((j) => isActive(j.status));
    const recent = all
      .filter((j) => isTerminal(j.status))
      .sort((a, b) => (b.finishedAt ?? '').localeCompare(a.finishedAt ?? ''))
      .slice(0, recentCount);
    return {
      queued: queued.map((j) => this.view(j)),
      active: active.map((j) => this.view(j)),
      recent: recent.map((j) => this.view(j)),
    };
  }

  private order(job: Job): number {
    const p = this.line.position(job.jobId);
    return p === 0 ? Number.MAX_SAFE_INTEGER : p;
  }

  // ---- start-up and shutdown ---------------------------------------------------

  /** Loads the store and picks up whatever the last process left unfinished. */
  async recover(): Promise<void> {
    const now = Date.now();
    for (const job of await this.options.store.loadAll()) {
      this.jobs.set(job.jobId, job);
      if (isTerminal(job.status)) {
        this.ensureCallback(job);
        continue;
      }
      this.inFlight.set(job.request.slug, job.jobId);
      if (isActive(job.status)) {
        if (job.attempts >= this.options.maxAttempts) {
          await this.fail(job, new OvenError('INTERRUPTED', `The oven stopped ${job.attempts} times while baking this tape; giving up.`));
          continue;
        }
        this.logFor(job).warn('bake was interrupted; starting it again', { stage: job.status, attempts: job.attempts });
        job.status = 'queued';
        job.progress = 0;
        await this.options.store.save(job);
      }
      const retryAt = job.retryAt ? Date.parse(job.retryAt) : 0;
      if (retryAt > now) this.scheduleRetry(job, retryAt - now);
      else this.line.push(job.jobId);
    }
    this.prune();
    this.pruneTimer = setInterval(() => this.prune(), 10 * 60_000).unref();
    this.pump();
  }

  /**
   * Stops taking and starting work. Running bakes may finish within `graceMs`; the rest are
   * stopped and put back in the line (in the store), to start again when the oven next starts.
   */
  async drain(graceMs: number): Promise<{ finished: number; requeued: number }> {
    this.draining = true;
    for (const timer of this.retryTimers.values()) clearTimeout(timer);
    this.retryTimers.clear();
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    const before = this.running.size;
    const deadline = Date.now() + graceMs;
    while (this.running.size > 0 && Date.now() < deadline) await sleep(Math.min(200, deadline - Date.now()));
    const requeued = this.running.size;
    for (const controller of this.running.values()) controller.abort();
    while (this.running.size > 0) await sleep(50);
    return { finished: before - requeued, requeued };
  }

  // ---- callbacks -----------------------------------------------------------------

  /** The outbox reports every change of a delivery here; it is saved with its job. */
  async callbackChanged(delivery: CallbackDelivery): Promise<void> {
    const jobId = this.deliveryOwners.get(delivery.id);
    const job = jobId ? this.jobs.get(jobId) : undefined;
    if (!job) return;
    job.callback = { ...delivery };
    if (delivery.state !== 'pending') this.deliveryOwners.delete(delivery.id);
    await this.save(job);
    const level = delivery.state === 'gave-up' ? 'error' : 'info';
    this.logFor(job)[level]('callback ' + (delivery.state === 'pending' ? 'attempt failed' : delivery.state), {
      stage: 'callback',
      attempts: delivery.attempts,
      lastError: delivery.lastError,
    });
    this.emit('callback', job, delivery);
    this.emit('change', job);
  }

  // ---- running -------------------------------------------------------------------

  private pump(): void {
    while (!this.draining && this.running.size < this.options.concurrency) {
      const jobId = this.line.shift();
      if (!jobId) return;
      const job = this.jobs.get(jobId);
      if (job && job.status === 'queued') void this.run(job);
    }
  }

  private async run(job: Job): Promise<void> {
    const controller = new AbortController();
    this.running.set(job.jobId, controller);
    const logger = this.logFor(job);
    let stage: ActiveStatus = 'downloading';
    let stageStarted = Date.now();
    const startedAt = stageStarted;
    try {
      job.attempts += 1;
      job.status = stage;
      job.progress = 0;
      job.startedAt = new Date(startedAt).toISOString();
      job.stageMs = {};
      delete job.retryAt;
      delete job.error;
      const requeue = (): void => {
        this.line.push(job.jobId);
        this.pump();
      };
      if (!(await this.save(job, requeue))) {
        // Not started after all: it waits for the store, then for a baker.
        job.status = 'queued';
        job.attempts -= 1;
        job.error = { code: 'STORE_UNAVAILABLE', message: this.storeFailure ?? 'Job state cannot be saved just now.' };
        logger.warn('bake not started: its state cannot be saved; it waits for the data folder', { stage: 'queued' });
        this.emit('change', job);
        return;
      }
      logger.info('bake started', { stage, attempts: job.attempts });
      this.emit('change', job);

      const control: BakeControl = {
        signal: controller.signal,
        onStage: (next) => {
          if (next === stage) return;
          const now = Date.now();
          job.stageMs![stage] = now - stageStarted;
          logger.info('stage finished', { stage, durationMs: now - stageStarted });
          this.emit('stage', job, stage, now - stageStarted);
          stage = next;
          stageStarted = now;
          job.status = next;
          // Stage changes are saved in the background: a crash restarts the bake whatever stage it was in.
          this.options.store.save(job).catch((err) => logger.error('could not save stage', { err }));
          this.emit('change', job);
        },
        onProgress: (fraction) => {
          const clamped = Math.max(job.progress, Math.min(1, fraction));
          if (clamped - job.progress < 0.01 && clamped < 1) return;
          job.progress = clamped;
          this.emit('change', job);
        },
      };

      const run = await this.options.runBake(job, control);
      job.stageMs![stage] = Date.now() - stageStarted;
      this.emit('stage', job, stage, Date.now() - stageStarted);
      job.result = run.outcome;
      if (run.warning) job.warning = run.warning;
      await this.finish(job, 'done');
      this.emit('finished', job, { bakeMs: Date.now() - startedAt, bytesIn: run.bytesIn ?? 0, bytesOut: run.bytesOut ?? 0 });
      logger.info('bake done', { stage: 'done', durationMs: Date.now() - startedAt, stageMs: job.stageMs, bytes: run.outcome.bytes });
    } catch (err) {
      job.stageMs![stage] = Date.now() - stageStarted;
      await this.handleFailure(job, err, controller.signal.aborted).catch((saveErr) =>
        logger.error('could not record the failure', { err: saveErr }),
      );
      if (job.status === 'failed') this.emit('finished', job, { bakeMs: Date.now() - startedAt, bytesIn: 0, bytesOut: 0 });
    } finally {
      this.running.delete(job.jobId);
      this.pump();
    }
  }

  private async handleFailure(job: Job, err: unknown, aborted: boolean): Promise<void> {
    const logger = this.logFor(job);
    if (aborted && this.draining) {
      // Stopped for shutdown: not the tape's fault, so this start does not count.
      job.status = 'queued';
      job.progress = 0;
      job.attempts = Math.max(0, job.attempts - 1);
      await this.save(job);
      logger.warn('bake stopped for shutdown; it will start again', { stage: 'queued' });
      this.emit('change', job);
      return;
    }
    const error = toOvenError(err);
    if (error.code === 'INTERNAL') logger.error('unexpected failure', { err });
    if (error.retryable && job.attempts < this.options.maxAttempts) {
      const delay = this.options.retryBaseMs * 2 ** (job.attempts - 1);
      job.status = 'queued';
      job.progress = 0;
      job.error = { code: error.code, message: error.message };
      job.retryAt = new Date(Date.now() + delay).toISOString();
      const retry = (): void => this.scheduleRetry(job, Math.max(0, Date.parse(job.retryAt!) - Date.now()));
      if (await this.save(job, retry)) retry();
      logger.warn('bake hit a passing fault; will try again', { stage: 'queued', errorCode: error.code, error: error.message, retryInMs: delay });
      this.emit('change', job);
      return;
    }
    await this.fail(job, error);
  }

  private scheduleRetry(job: Job, delayMs: number): void {
    const timer = setTimeout(() => {
      this.retryTimers.delete(job.jobId);
      this.line.push(job.jobId);
      this.pump();
    }, delayMs);
    this.retryTimers.set(job.jobId, timer);
  }

  private async fail(job: Job, error: OvenError): Promise<void> {
    job.error = { code: error.code, message: error.message };
    await this.finish(job, 'failed');
    this.logFor(job).warn('bake failed', { stage: 'failed', errorCode: error.code, error: error.message });
  }

  /** The outcome and its callback are saved together: one terminal callback per job, even across a crash. */
  private async finish(job: Job, status: 'done' | 'failed'): Promise<void> {
    job.status = status;
    job.progress = status === 'done' ? 1 : job.progress;
    job.finishedAt = new Date().toISOString();
    delete job.retryAt;
    if (status === 'done') delete job.error;
    job.callback = newDelivery(job.request.callbackUrl, this.callbackPayload(job));
    this.inFlight.delete(job.request.slug);
    // The callback goes out only once the outcome it reports is saved.
    const deliver = (): void => {
      this.startDelivery(job);
      this.prune();
    };
    const saved = await this.save(job, deliver);
    this.emit('change', job);
    if (saved) deliver();
  }

  // ---- saving ----------------------------------------------------------------------

  /**
   * Saves the job. When the store refuses (a read-only or full data folder), the job keeps its new
   * state in memory and waits: its save is tried again every few seconds, and `then` runs once it
   * has succeeded. Resolves true when saved now (the caller goes on itself).
   */
  private async save(job: Job, then: () => void = () => {}): Promise<boolean> {
    try {
      await this.options.store.save(job);
      this.storeFailure = undefined;
      return true;
    } catch (err) {
      this.noteStoreFailure(err);
      this.unsaved.set(job.jobId, then);
      this.unsavedTimer ??= setInterval(() => void this.saveUnsaved(), UNSAVED_RETRY_MS);
      this.unsavedTimer.unref();
      return false;
    }
  }

  private async saveUnsaved(): Promise<void> {
    for (const [jobId, then] of [...this.unsaved]) {
      const job = this.jobs.get(jobId);
      try {
        if (job) await this.options.store.save(job);
      } catch (err) {
        this.noteStoreFailure(err);
        return;
      }
      this.storeFailure = undefined;
      this.unsaved.delete(jobId);
      if (job) this.logFor(job).info('job state saved again; the job goes on', { stage: job.status });
      then();
    }
    if (this.unsaved.size === 0 && this.unsavedTimer) {
      clearInterval(this.unsavedTimer);
      this.unsavedTimer = undefined;
    }
  }

  private noteStoreFailure(err: unknown): void {
    const error = toOvenError(err);
    if (this.storeFailure !== error.message) log.error('job state cannot be saved', { err });
    this.storeFailure = error.message;
  }

  private waitingForStore(): number {
    let waiting = 0;
    for (const jobId of this.unsaved.keys()) if (this.jobs.get(jobId)?.status === 'queued') waiting += 1;
    return waiting;
  }

  private callbackPayload(job: Job): Record<string, unknown> {
    const { mongoId, slug, code, metadata } = job.request;
    const seed: CallbackSeed = { mongoId, slug, code, jobId: job.jobId, metadata };
    if (job.status === 'done' && job.result) return successPayload(seed, job.result);
    return failurePayload(seed, job.error ?? { code: 'INTERNAL', message: 'The bake failed.' });
  }

  private ensureCallback(job: Job): void {
    if (!job.callback) {
      job.callback = newDelivery(job.request.callbackUrl, this.callbackPayload(job));
      this.options.store.save(job).catch((err) => this.logFor(job).error('could not save callback', { err }));
    }
    this.startDelivery(job);
  }

  private startDelivery(job: Job): void {
    const delivery = job.callback;
    if (!delivery || delivery.state !== 'pending') return;
    this.deliveryOwners.set(delivery.id, job.jobId);
    this.options.deliver({ ...delivery });
  }

  /** Forgets finished jobs past the count or age limit, but never one whose callback is still pending. */
  private prune(): void {
    const finished = [...this.jobs.values()]
      .filter((j) => isTerminal(j.status) && j.callback?.state !== 'pending')
      .sort((a, b) => (b.finishedAt ?? '').localeCompare(a.finishedAt ?? ''));
    const oldest = Date.now() - this.options.keepFinishedMs;
    finished.forEach((job, i) => {
      if (i >= this.options.keepFinished || Date.parse(job.finishedAt ?? '') < oldest) {
        this.jobs.delete(job.jobId);
        this.options.store.remove(job.jobId).catch((err) => log.error('could not remove old job', { jobId: job.jobId, err }));
      }
    });
  }

  private logFor(job: Job) {
    return log.child({ jobId: job.jobId, slug: job.request.slug });
  }
}

