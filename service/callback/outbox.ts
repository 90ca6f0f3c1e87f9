// Delivers terminal callbacks: POST, signed, retried with backoff until a 2xx, a 410, or the
// give-up time. Each state change goes through onChange (the job store persists it), so pending
// deliveries resume after a restart by being add()ed again.

import { randomBytes } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { log as rootLog, type Logger } from '../log.ts';
import { attemptCallback, callbackRetryDelay, type CallbackOutcome } from './attempt.ts';

export interface CallbackDelivery {
  /** webhook-id ("msg_…"), the same on every retry so the receiver can drop duplicates. */
  id: string;
  url: string;
  payload: Record<string, unknown>;
  createdAt: number;
  attempts: number;
  nextAttemptAt: number;
  state: 'pending' | 'delivered' | 'gave-up';
  lastError?: string;
  deliveredAt?: number;
}

export function newDelivery(url: string, payload: Record<string, unknown>, now: number = Date.now()): CallbackDelivery {
  return { id: `msg_${randomBytes(16).toString('base64url')}`, url, payload, createdAt: now, attempts: 0, nextAttemptAt: now, state: 'pending' };
}

export interface OutboxOptions {
  /** Signs every attempt; also the body's `secret` when includeBodySecret. */
  secret: string;
  includeBodySecret: boolean;
  /** Usually the guarded dispatcher, so a callback URL cannot be turned towards the inside. */
  dispatcher?: Dispatcher;
  /** Limit for one attempt, connect to last byte. */
  timeoutMs: number;
  /** First retry delay; doubles (with jitter) up to maxDelayMs. */
  retryBaseMs: number;
  /** After createdAt + giveUpMs no further attempt is made. */
  giveUpMs: number;
  /** Longest wait between attempts, also the cap on Retry-After. Default one hour. */
  maxDelayMs?: number;
  /** Called (and awaited) after every attempt with a copy of the delivery. */
  onChange: (d: CallbackDelivery) => void | Promise<void>;
  log?: Logger;
}

/** A URL fit for a log line: no query string (it may hold a token). */
export function urlForLog(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}


export class CallbackOutbox {
  private readonly options: OutboxOptions;
  private readonly log: Logger;
  private readonly maxDelayMs: number;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(options: OutboxOptions) {
    this.options = options;
    this.log = options.log ?? rootLog;
    this.maxDelayMs = options.maxDelayMs ?? 60 * 60 * 1000;
  }

  /** Schedules the delivery's next attempt (now, if due). Finished or already-known deliveries are ignored. */
  add(delivery: CallbackDelivery): void {
    if (this.stopped || delivery.state !== 'pending') return;
    if (this.timers.has(delivery.id) || this.inFlight.has(delivery.id)) return;
    this.schedule(delivery);
  }

  /** Deliveries waiting for or in an attempt. */
  pending(): number {
    return new Set([...this.timers.keys(), ...this.inFlight.keys()]).size;
  }

  /** Clears the timers; attempts in flight finish and report, but schedule nothing more. */
  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  /** Resolves once no attempt is in flight. */
  async whenIdle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()]);
  }

  private schedule(d: CallbackDelivery): void {
    if (this.stopped) return;
    const wait = Math.max(0, d.nextAttemptAt - Date.now());
    const timer = setTimeout(() => {
      this.timers.delete(d.id);
      const run = this.attempt(d)
        .catch((err) => this.log.error('callback attempt crashed', { webhookId: d.id, err }))
        .finally(() => this.inFlight.delete(d.id));
      this.inFlight.set(d.id, run);
    }, Math.min(wait, 2 ** 31 - 1));
    this.timers.set(d.id, timer);
  }

  private async attempt(d: CallbackDelivery): Promise<void> {
    const started = Date.now();
    const outcome = await this.send(d);
    const now = Date.now();
    d.attempts += 1;
    const fields = { webhookId: d.id, url: urlForLog(d.url), attempt: d.attempts, ms: now - started };

    if (outcome.kind === 'delivered') {
      d.state = 'delivered';
      d.deliveredAt = now;
      delete d.lastError;
      this.log.info('callback delivered', fields);
    } else if (outcome.kind === 'gone') {
      d.state = 'gave-up';
      d.lastError = outcome.error;
      this.log.warn('callback receiver is gone (410); giving up', fields);
    } else {
      d.lastError = outcome.error;
      const deadline = d.createdAt + this.options.giveUpMs;
      if (now >= deadline) {
        d.state = 'gave-up';
        this.log.warn('callback given up', { ...fields, lastError: outcome.error });
      } else {
        d.nextAttemptAt = now + callbackRetryDelay(d.attempts, outcome.retryAfterMs, this.options.retryBaseMs, this.maxDelayMs, deadline - now);
        this.log.info('callback attempt failed; will retry', { ...fields, lastError: outcome.error, retryInMs: d.nextAttemptAt - now });
      }
    }

    try {
      await this.options.onChange({ ...d });
    } catch (err) {
      this.log.error('saving the callback state failed', { webhookId: d.id, err });
    }
    if (d.state === 'pending') this.schedule(d);
  }

  private send(d: CallbackDelivery): Promise<CallbackOutcome> {
    return attemptCallback(d, this.options);
  }
}
