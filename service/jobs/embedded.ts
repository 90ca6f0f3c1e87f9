// Embedded mode (no OVEN_REDIS_URL, the default): one process keeps every job in files under
// OVEN_DATA_DIR, bakes them in its own bake processes and delivers their callbacks.

import { EventEmitter } from 'node:events';
import { CallbackOutbox } from '../callback/outbox.ts';
import { ProgressWebhooks } from '../callback/progress.ts';
import type { Config } from '../config.ts';
import { log } from '../log.ts';
import type { Dispatcher } from 'undici';
import { BakePool } from './bake-pool.ts';
import { isTerminal, type BakeRequest, type JobView } from './job.ts';
import type { Jobs, JobsEvents, QueueFigures, Submitted, Summary } from './jobs.ts';
import { RECENT_JOBS } from './jobs.ts';
import { JobManager } from './manager.ts';
import { clearWorkRoot, workRootOf } from './pipeline.ts';
import { FileJobStore } from './store.ts';

export class EmbeddedJobs extends EventEmitter<JobsEvents> implements Jobs {
  private constructor(
    private readonly manager: JobManager,
    private readonly outbox: CallbackOutbox,
    private readonly bakers: BakePool,
    private readonly config: Config,
    progress: ProgressWebhooks,
  ) {
    super();
    manager.on('change', (job) => {
      // Before the terminal callback goes out (the manager starts it after this event), progress stops.
      if (isTerminal(job.status)) progress.finish(job.jobId);
      else progress.update(job.jobId, job.request, job.status, job.progress);
      this.emit('change', manager.view(job));
    });
    manager.on('stage', (_job, stage, ms) => this.emit('stage', stage, ms));
    manager.on('finished', (job, figures) => this.emit('finished', manager.view(job), figures));
    manager.on('callback', (_job, delivery) => this.emit('callback', delivery.state === 'pending' ? 'failed' : delivery.state));
  }

  /** Loads the store, clears what a killed process left in the work folder, and resumes. */
  static async start(config: Config, dispatcher: Dispatcher): Promise<EmbeddedJobs> {
    const workRoot = workRootOf(config);
    await clearWorkRoot(workRoot); // folders of bakes a killed process never finished
    const store = await new FileJobStore(config.dataDir).init();
    let manager: JobManager | undefined;
    const outbox = new CallbackOutbox({
      secret: config.callbackSecret,
      includeBodySecret: config.callbackBodySecret,
      dispatcher,
      timeoutMs: config.callbackTimeoutSeconds * 1000,
      retryBaseMs: config.callbackRetryBaseMs,
      giveUpMs: config.callbackGiveUpHours * 3600_000,
      onChange: (delivery) => manager?.callbackChanged(delivery),
      log,
    });
    // The server never bakes: every bake runs in a bake process of this pool.
    const bakers = new BakePool({ size: config.concurrency, memoryMb: config.bakeMemoryMb, log });
    bakers.start();
    manager = new JobManager({
      store,
      runBake: (job, control) => bakers.run(job, control),
      deliver: (delivery) => outbox.add(delivery),
      concurrency: config.concurrency,
      queueLimit: config.queueLimit,
      maxAttempts: config.jobMaxAttempts,
      retryBaseMs: config.jobRetryBaseMs,
      keepFinished: config.keepFinishedJobs,
      keepFinishedMs: config.keepFinishedHours * 3600_000,
    });
    const progress = new ProgressWebhooks({ secret: config.callbackSecret, dispatcher, log });
    const jobs = new EmbeddedJobs(manager, outbox, bakers, config, progress);
    await manager.recover();
    return jobs;
  }

  async submit(request: BakeRequest): Promise<Submitted> {
    const { job, position, duplicate } = await this.manager.submit(request);
    // The 202 gives the place the job was given, even if a free baker has started it since.
    return { view: { ...this.manager.view(job), ...(duplicate ? {} : { position }) }, duplicate };
  }

  async view(jobId: string): Promise<JobView | undefined> {
    const job = this.manager.get(jobId);
    return job ? this.manager.view(job) : undefined;
  }

  async summary(): Promise<Summary> {
    return this.manager.summary(RECENT_JOBS);
  }

  figures(): QueueFigures {
    return {
      queued: this.manager.waitingCount(),
      running: this.manager.runningCount(),
      concurrency: this.config.concurrency,
      limit: this.config.queueLimit,
      draining: this.manager.isDraining(),
    };
  }

  isDraining(): boolean {
    return this.manager.isDraining();
  }

  problems(): string[] {
    const problem = this.manager.storeProblem();
    return problem ? [problem] : [];
  }

  /** Callbacks still waiting to be delivered (for the start-up line). */
  pendingCallbacks(): number {
    return this.outbox.pending();
  }

  /** SIGTERM: no new jobs; running bakes get `graceMs`, then are put back; callbacks in flight finish. */
  async drain(graceMs: number): Promise<{ finished: number; requeued: number }> {
    const drained = await this.manager.drain(graceMs);
    this.bakers.close();
    this.outbox.stop();
    await Promise.race([this.outbox.whenIdle(), new Promise((r) => setTimeout(r, 5000))]);
    return drained;
  }
}

