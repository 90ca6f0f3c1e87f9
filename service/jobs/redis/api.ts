// Redis mode's jobs as the API sees them: every job of every API and worker process, read from
// BullMQ, and followed live through its event streams (QueueEvents), so /status, /status/:jobId,
// the dashboard, /events and /metrics are whole from any API process, and again after a restart.

import { EventEmitter } from 'node:events';
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../../config.ts';
import { OvenError } from '../../errors.ts';
import { log } from '../../log.ts';
import type { BakeProcessorResult } from '../bake-order.ts';
import type { ActiveStatus, BakeRequest, JobView } from '../job.ts';
import { drainingError, RECENT_JOBS, type Jobs, type JobsEvents, type QueueFigures, type Submitted, type Summary } from '../jobs.ts';
import { connectRedis } from './connection.ts';
import { BAKES, CALLBACKS, callbackJobId, type BakeJobData, type CallbackJobData } from './queues.ts';
import { submitToQueue, WAITING_STATES } from './submit.ts';
import { positionIn, viewOf, type BakeJob, type CallbackJob } from './views.ts';

/** How often the counts behind /health, /metrics and the dashboard are read (each is one round trip). */
const COUNTS_EVERY_MS = 1000;
/** The most jobs a /status summary lists as waiting. */
const MAX_LISTED_WAITING = 100;

export class RedisJobs extends EventEmitter<JobsEvents> implements Jobs {
  private readonly bakes: Queue<BakeJobData, BakeProcessorResult>;
  private readonly callbacks: Queue<CallbackJobData>;
  private readonly events: QueueEvents[] = [];
  private counts = { queued: 0, running: 0 };
  private problem?: string;
  private draining = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly config: Config,
    private readonly redis: Redis,
    options: { follow: boolean },
  ) {
    super();
    this.bakes = new Queue(BAKES, { connection: redis });
    this.callbacks = new Queue(CALLBACKS, { connection: redis });
    // Without a listener BullMQ prints each connection error's stack as plain text: the log is JSON,
    // and the connection itself reports once (connection.ts).
    for (const queue of [this.bakes, this.callbacks]) queue.on('error', (err) => log.debug('queue error', { err }));
    this.timer = setInterval(() => void this.readCounts(), COUNTS_EVERY_MS);
    this.timer.unref();
    void this.readCounts();
    if (options.follow) this.follow();
  }

  async submit(request: BakeRequest): Promise<Submitted> {
    if (this.draining) throw drainingError();
    const { jobId, duplicate } = await submitToQueue(this.bakes, this.redis, this.config, request);
    const view = await this.view(jobId);
    if (!view) throw new OvenError('STORE_UNAVAILABLE', 'The job was accepted but cannot be read back just now.', { retryable: true });
    if (!duplicate) log.info('job accepted', { jobId, slug: request.slug, stage: 'queued', position: view.position });
    return { view, duplicate };
  }

  async view(jobId: string): Promise<JobView | undefined> {
    const job = (await this.bakes.getJob(jobId)) as BakeJob | undefined;
    return job ? this.viewOfJob(job) : undefined;
  }

  async summary(): Promise<Summary> {
    const [waiting, active, finished] = await Promise.all([
      this.bakes.getJobs([...WAITING_STATES], 0, MAX_LISTED_WAITING - 1, true),
      this.bakes.getJobs(['active']),
      this.bakes.getJobs(['completed', 'failed'], 0, RECENT_JOBS * 2),
    ]);
    const views = async (jobs: (BakeJob | undefined)[]) => Promise.all(jobs.filter((j): j is BakeJob => Boolean(j)).map((j) => this.viewOfJob(j as BakeJob)));
    const queued = (await views(waiting as BakeJob[])).sort((a, b) => (a.position || Infinity) - (b.position || Infinity));
    const recent = (await views(finished as BakeJob[])).sort((a, b) => (b.finishedAt ?? '').localeCompare(a.finishedAt ?? '')).slice(0, RECENT_JOBS);
    return { queued, active: await views(active as BakeJob[]), recent };
  }

  figures(): QueueFigures {
    return { ...this.counts, concurrency: this.config.concurrency, limit: this.config.queueLimit, draining: this.draining };
  }

  isDraining(): boolean {
    return this.draining;
  }

  problems(): string[] {
    return this.problem ? [this.problem] : [];
  }

  /** SIGTERM on an API: no new jobs; nothing runs here, so there is nothing to wait for. */
  async drain(): Promise<void> {
    this.draining = true;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled([...this.events.map((e) => e.close()), this.bakes.close(), this.callbacks.close()]);
  }

  private async viewOfJob(job: BakeJob): Promise<JobView> {
    const [state, callback] = await Promise.all([job.getState(), this.callbacks.getJob(callbackJobId(job.id!)) as Promise<CallbackJob | undefined>]);
    const [position, callbackState] = await Promise.all([
      state === 'waiting' ? positionIn(this.redis, this.bakes, job.id!) : Promise.resolve(0),
      callback ? callback.getState() : Promise.resolve(undefined),
    ]);
    return viewOf({ job, state, position, ...(callback ? { callback, callbackState } : {}) });
  }

  private async readCounts(): Promise<void> {
    try {
      const counts = await this.bakes.getJobCounts(...WAITING_STATES, 'active');
      const { active = 0, ...waiting } = counts;
      this.counts = { queued: Object.values(waiting).reduce((a, b) => a + b, 0), running: active };
      if (this.problem) log.info('the job queue (Redis) answers again');
      this.problem = undefined;
    } catch (err) {
      const problem = `The job queue (Redis) cannot be reached: ${(err as Error).message}.`;
      if (this.problem !== problem) log.error('the job queue (Redis) cannot be reached', { err });
      this.problem = problem;
    }
  }

  /** Every job change, from BullMQ's event streams, as a view; finished bakes and callbacks feed the metrics too. */
  private follow(): void {
    const bakeEvents = new QueueEvents(BAKES, { connection: connectRedis(this.config.redisUrl!, 'bake-events', { blocking: true }) });
    const callbackEvents = new QueueEvents(CALLBACKS, { connection: connectRedis(this.config.redisUrl!, 'callback-events', { blocking: true }) });
    this.events.push(bakeEvents, callbackEvents);
    const changed = (jobId: string, then?: (view: JobView, job: BakeJob) => void) => {
      (this.bakes.getJob(jobId) as Promise<BakeJob | undefined>)
        .then(async (job) => {
          if (!job) return;
          const view = await this.viewOfJob(job);
          this.emit('change', view);
          then?.(view, job);
        })
        .catch((err) => log.debug('could not read a changed job', { jobId, err }));
    };
    for (const event of ['waiting', 'active', 'progress', 'delayed'] as const) bakeEvents.on(event, ({ jobId }: { jobId: string }) => changed(jobId));
    const finished = ({ jobId }: { jobId: string }) =>
      changed(jobId, (view, job) => {
        if (view.status !== 'done' && view.status !== 'failed') return;
        for (const [stage, ms] of Object.entries(view.stageMs ?? {})) this.emit('stage', stage as ActiveStatus, ms);
        const bakeMs = view.startedAt && view.finishedAt ? Date.parse(view.finishedAt) - Date.parse(view.startedAt) : 0;
        const run = job.returnvalue && 'outcome' in job.returnvalue ? job.returnvalue : undefined;
        this.emit('finished', view, { bakeMs, bytesIn: run?.bytesIn ?? 0, bytesOut: run?.bytesOut ?? 0 });
      });
    bakeEvents.on('completed', finished);
    bakeEvents.on('failed', finished);
    const callbackChanged = (result: 'delivered' | 'failed' | 'gave-up') => ({ jobId }: { jobId: string }) => {
      this.emit('callback', result);
      changed(jobId.replace(/^cb-/, ''));
    };
    callbackEvents.on('completed', callbackChanged('delivered'));
    callbackEvents.on('delayed', callbackChanged('failed'));
    callbackEvents.on('failed', callbackChanged('gave-up'));
    for (const e of this.events) e.on('error', (err) => log.debug('event stream error', { err }));
  }
}
