// Where a job's life is decided (embedded mode): accepted → queued → baking stages → done | failed
// → callback. Every change is saved before it is acted on, so a SIGKILL at any moment loses
// nothing: on start, `recover()` resumes queued jobs, restarts interrupted bakes and pending
// callbacks. What jobs look like from outside is read-model.ts; saves that must wait for the data
// folder are patient-store.ts; the terminal callback's body is terminal-callback.ts.

import { EventEmitter } from 'node:events';
import type { CallbackDelivery } from '../callback/outbox.ts';
import { OvenError, toOvenError } from '../errors.ts';
import { log } from '../log.ts';
import { backoffDelay, sleep } from '../net/backoff.ts';
import type { BakeRun } from './bake-order.ts';
import { isActive, isTerminal, jobView, newJob, type ActiveStatus, type BakeRequest, type Job, type JobView } from './job.ts';
import { drainingError, type Summary } from './jobs.ts';
import { PatientStore } from './patient-store.ts';
import type { BakeControl } from './pipeline.ts';
import { expired, summarize } from './read-model.ts';
import type { JobStore } from './store.ts';
import { terminalCallback } from './terminal-callback.ts';
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
  /** First wait before a passing fault's retry; it doubles (with jitter) each time. */
  retryBaseMs: number;
  keepFinished: number;
  keepFinishedMs: number;
}

export interface Submitted {
  job: Job;
  /** Its place in line when it was accepted (1 starts next), before a free baker may have taken it. */
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

/** The longest wait before a passing fault's retry. */
const MAX_RETRY_DELAY_MS = 30 * 60 * 1000;
/** How often finished jobs past the retention limits are forgotten. */
const PRUNE_EVERY_MS = 10 * 60_000;

export class JobManager extends EventEmitter<ManagerEvents> {
  private readonly jobs = new Map<string, Job>();
  /** Slug → the job baking it, while that job has not ended: one bake per slug at a time. */
  private readonly inFlight = new Map<string, string>();
  private readonly line = new WaitingLine();
  private readonly running = new Map<string, AbortController>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private readonly store: PatientStore;
  /** Jobs accepted whose first save has not finished: they hold a place in the queue already. */
  private accepting = 0;
  private draining = false;
  private pruneTimer?: NodeJS.Timeout;

  constructor(private readonly options: ManagerOptions) {
    super();
    this.store = new PatientStore(options.store);
  }

  // ---- accepting -------------------------------------------------------------

  async submit(request: BakeRequest): Promise<Submitted> {
    if (this.draining) throw drainingError();
    const existingId = this.inFlight.get(request.slug);
    const existing = existingId ? this.jobs.get(existingId) : undefined;
    if (existing) return { job: existing, position: this.line.position(existing.jobId), duplicate: true };
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
      await this.store.saveNow(job);
    } catch (err) {
      this.jobs.delete(job.jobId);
      this.inFlight.delete(request.slug);
      throw err;
    } finally {
      this.accepting -= 1;
    }
    this.line.push(job.jobId);
    const position = this.line.position(job.jobId);
    this.logFor(job).info('job accepted', { stage: 'queued', position });
    this.emit('change', job);
    this.pump();
    return { job, position, duplicate: false };
  }

  // ---- reading ---------------------------------------------------------------

  get(jobId: string): Job | undefined {
    return this.jobs.get(jobId);
  }

  view(job: Job): JobView {
    return jobView(job, this.line.position(job.jobId));
  }

  summary(recentCount: number): Summary {
    return summarize(this.jobs.values(), (jobId) => this.line.position(jobId), recentCount);
  }

  /** Jobs not yet started, including those waiting out a passing fault or for the store. */
  waitingCount(): number {
    return this.line.length + this.retryTimers.size + this.accepting + this.store.waitingToStart();
  }

  runningCount(): number {
    return this.running.size;
  }

  isDraining(): boolean {
    return this.draining;
  }

  /** Why job state cannot be saved just now (a read-only or full data folder), or undefined. */
  storeProblem(): string | undefined {
    return this.store.problem();
  }

  // ---- start-up and shutdown ---------------------------------------------------

  /** Loads the store and picks up whatever the last process left unfinished. */
  async recover(): Promise<void> {
    const now = Date.now();
    for (const job of await this.store.loadAll()) {
      this.jobs.set(job.jobId, job);
      if (isTerminal(job.status)) {
        this.resumeCallback(job);
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
        await this.store.saveNow(job);
      }
      const retryAt = job.retryAt ? Date.parse(job.retryAt) : 0;
      if (retryAt > now) this.scheduleRetry(job, retryAt - now);
      else this.line.push(job.jobId);
    }
    this.prune();
    this.pruneTimer = setInterval(() => this.prune(), PRUNE_EVERY_MS).unref();
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
    const job = this.jobs.get(String(delivery.payload.jobId));
    if (!job || job.callback?.id !== delivery.id) return;
    job.callback = { ...delivery };
    await this.store.save(job);
    const level = delivery.state === 'gave-up' ? 'error' : 'info';
    this.logFor(job)[level]('callback ' + (delivery.state === 'pending' ? 'attempt failed' : delivery.state), {
      stage: 'callback',
      attempts: delivery.attempts,
      lastError: delivery.lastError,
    });
    this.emit('callback', job, delivery);
    this.emit('change', job);
  }

  /** A finished job found at start: its callback, made then if an older process had not, goes (on) out. */
  private resumeCallback(job: Job): void {
    if (!job.callback) {
      job.callback = terminalCallback(job);
      this.store.save(job).catch((err) => this.logFor(job).error('could not save callback', { err }));
    }
    this.startDelivery(job);
  }

  private startDelivery(job: Job): void {
    if (job.callback?.state === 'pending') this.options.deliver({ ...job.callback });
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
      if (!(await this.store.save(job, requeue))) {
        // Not started after all: it waits for the store, then for a baker.
        job.status = 'queued';
        job.attempts -= 1;
        job.error = { code: 'STORE_UNAVAILABLE', message: this.store.problem() ?? 'Job state cannot be saved just now.' };
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
      await this.handleFailure(job, err, controller.signal.aborted).catch((saveErr) => logger.error('could not record the failure', { err: saveErr }));
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
      await this.store.save(job);
      logger.warn('bake stopped for shutdown; it will start again', { stage: 'queued' });
      this.emit('change', job);
      return;
    }
    const error = toOvenError(err);
    if (error.code === 'INTERNAL') logger.error('unexpected failure', { err });
    if (error.retryable && job.attempts < this.options.maxAttempts) {
      // The same backoff as callbacks and uploads: doubling, with jitter so retries do not bunch.
      const delay = backoffDelay(job.attempts, this.options.retryBaseMs, MAX_RETRY_DELAY_MS);
      job.status = 'queued';
      job.progress = 0;
      job.error = { code: error.code, message: error.message };
      job.retryAt = new Date(Date.now() + delay).toISOString();
      const retry = (): void => this.scheduleRetry(job, Math.max(0, Date.parse(job.retryAt!) - Date.now()));
      if (await this.store.save(job, retry)) retry();
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
    job.callback = terminalCallback(job);
    this.inFlight.delete(job.request.slug);
    // The callback goes out only once the outcome it reports is saved.
    const deliver = (): void => {
      this.startDelivery(job);
      this.prune();
    };
    const saved = await this.store.save(job, deliver);
    this.emit('change', job);
    if (saved) deliver();
  }

  /** Forgets finished jobs past the count or age limit (see read-model.ts's expired). */
  private prune(): void {
    for (const job of expired(this.jobs.values(), this.options.keepFinished, this.options.keepFinishedMs)) {
      this.jobs.delete(job.jobId);
      this.store.remove(job.jobId).catch((err) => log.error('could not remove old job', { jobId: job.jobId, err }));
    }
  }

  private logFor(job: Job) {
    return log.child({ jobId: job.jobId, slug: job.request.slug });
  }
}
