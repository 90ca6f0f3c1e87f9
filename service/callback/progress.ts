// Progress webhooks, for callers that cannot hold a stream open (Netlify functions): the job body's
// `progressUrl` gets a signed POST {type: "bake.progress", jobId, slug, mongoId, status, progress}
// at each stage change, and at most every 2 s between. Each is one attempt with a short timeout,
// never retried (the next one says more anyway), and none is sent once the job has its outcome:
// the terminal callback, to callbackUrl, is the last word.

import { randomBytes } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { Logger } from '../log.ts';
import type { BakeRequest } from '../jobs/job.ts';
import { attemptCallback, type AttemptOptions } from './attempt.ts';

/** Between stage changes, a progress webhook goes out at most this often. */
export const PROGRESS_WEBHOOK_EVERY_MS = 2000;
/** One attempt's limit: a slow receiver only misses updates. */
export const PROGRESS_WEBHOOK_TIMEOUT_MS = 5000;

interface Tracked {
  status: string;
  sentAt: number;
  inFlight?: AbortController;
}

export class ProgressWebhooks {
  private readonly jobs = new Map<string, Tracked>();
  private readonly finished = new Set<string>();

  constructor(private readonly options: { secret: string; dispatcher: Dispatcher; log: Logger }) {}

  /** The job's status or progress changed; sends when it is time to. */
  update(jobId: string, request: BakeRequest, status: string, progress: number): void {
    if (!request.progressUrl || this.finished.has(jobId)) return;
    const tracked = this.jobs.get(jobId);
    const now = Date.now();
    if (tracked && tracked.status === status && now - tracked.sentAt < PROGRESS_WEBHOOK_EVERY_MS) return;
    // One at a time per job: a receiver slower than the updates gets the later ones only.
    if (tracked?.inFlight && tracked.status === status) return;
    tracked?.inFlight?.abort();
    const inFlight = new AbortController();
    this.jobs.set(jobId, { status, sentAt: now, inFlight });
    const payload = { type: 'bake.progress', jobId, slug: request.slug, mongoId: request.mongoId, status, progress: Math.round(progress * 1000) / 1000 };
    const attempt: AttemptOptions = { secret: this.options.secret, includeBodySecret: false, dispatcher: this.options.dispatcher, timeoutMs: PROGRESS_WEBHOOK_TIMEOUT_MS };
    void attemptCallback({ id: `msg_${randomBytes(16).toString('base64url')}`, url: request.progressUrl, payload }, { ...attempt, signal: inFlight.signal }).then((outcome) => {
      const now = this.jobs.get(jobId);
      if (now?.inFlight === inFlight) delete now.inFlight;
      if (outcome.kind !== 'delivered') this.options.log.debug('progress webhook not delivered', { jobId, status, error: outcome.error });
    });
  }

  /** The job has its outcome: nothing more is sent for it, and an update still on its way is stopped. */
  finish(jobId: string): void {
    this.jobs.get(jobId)?.inFlight?.abort();
    this.jobs.delete(jobId);
    this.finished.add(jobId);
    // Forget finished jobs after a while: a re-bake of the same slug is a new jobId anyway.
    setTimeout(() => this.finished.delete(jobId), 10 * 60_000).unref();
  }
}
