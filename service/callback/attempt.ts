// One attempt at delivering a terminal callback: POST, signed as Standard Webhooks, and what the
// answer means (delivered, gone, or worth trying again). The embedded outbox and the Redis mode's
// delivery queue both send through this, and decide themselves when to try again.

import { getGlobalDispatcher, type Dispatcher } from 'undici';
import { backoffDelay, parseRetryAfter } from '../net/backoff.ts';
import { findUrlRefusal } from '../net/guard.ts';
import { send } from '../net/request.ts';
import { signWebhook } from '../../contract/signature.ts';

export type CallbackOutcome = { kind: 'delivered' } | { kind: 'gone'; error: string } | { kind: 'failed'; error: string; retryAfterMs?: number };

export interface AttemptOptions {
  /** Signs the attempt; also the body's `secret` when includeBodySecret. */
  secret: string;
  includeBodySecret: boolean;
  /** Usually the guarded dispatcher, so a callback URL cannot be turned towards the inside. */
  dispatcher?: Dispatcher;
  /** Limit for the attempt, connect to headers. */
  timeoutMs: number;
  /** Stops the attempt early. */
  signal?: AbortSignal;
}

/** The callback as it is delivered: its webhook-id (the same on every attempt), where, and what. */
export interface CallbackMessage {
  id: string;
  url: string;
  payload: Record<string, unknown>;
}

/**
 * How long to wait before attempt `attempts + 1`: exponential backoff with jitter from baseMs up to
 * maxDelayMs, never sooner than a Retry-After asked (within the same cap), never past the give-up time.
 */
export function callbackRetryDelay(attempts: number, retryAfterMs: number | undefined, baseMs: number, maxDelayMs: number, untilGiveUpMs: number): number {
  const backoff = backoffDelay(attempts, baseMs, maxDelayMs);
  return Math.max(0, Math.min(untilGiveUpMs, Math.min(maxDelayMs, Math.max(backoff, retryAfterMs ?? 0))));
}

export async function attemptCallback(d: CallbackMessage, options: AttemptOptions): Promise<CallbackOutcome> {
  const { secret, includeBodySecret, timeoutMs, dispatcher } = options;
  const body = JSON.stringify(includeBodySecret ? { ...d.payload, secret } : d.payload);
  const timestamp = Math.floor(Date.now() / 1000);
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  try {
    // The answer's body is not needed: it is dropped as it arrives, and the attempt settles on the
    // headers, so that a 2xx is saved as delivered at once (a crash before that save re-sends the
    // callback after the restart).
    const res = await send(dispatcher ?? getGlobalDispatcher(), new URL(d.url), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'oven (aesthetic.computer)',
        'webhook-id': d.id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signWebhook(secret, d.id, timestamp, body),
      },
      body,
      signal,
      headersTimeoutMs: timeoutMs,
      bodyTimeoutMs: timeoutMs,
      settleOnHeaders: true,
    });
    const status = res.status;
    if (status >= 200 && status < 300) return { kind: 'delivered' };
    if (status === 410) return { kind: 'gone', error: 'HTTP 410 Gone' };
    const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
    const error = status >= 300 && status < 400 ? `HTTP ${status} redirect (not followed)` : `HTTP ${status}`;
    return { kind: 'failed', error, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  } catch (err) {
    return { kind: 'failed', error: options.signal?.aborted ? 'stopped' : describeFailure(err, timeout, timeoutMs) };
  }
}

/** A short, secret-free sentence for lastError. */
function describeFailure(err: unknown, signal: AbortSignal, timeoutMs: number): string {
  if (signal.aborted) return `timed out after ${timeoutMs} ms`;
  const refusal = findUrlRefusal(err);
  if (refusal) return refusal.message;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: { code?: unknown } };
  const code = typeof e?.code === 'string' ? e.code : typeof e?.cause?.code === 'string' ? e.cause.code : undefined;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return `timed out (${code})`;
  return `network error${code ? ` (${code})` : ''}`;
}
