// How long to wait before trying again — shared by uploads and callbacks so both back off alike.

/**
 * Exponential backoff with jitter: attempt 1 waits baseMs, then each ceiling doubles up to maxMs
 * and the wait is uniform between baseMs and that ceiling. Never quicker than baseMs (so a dead
 * receiver is not hammered); spread out so many retries do not land at once.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 40)));
  const floor = Math.min(baseMs, ceiling);
  return Math.round(floor + random() * (ceiling - floor));
}

/** A `Retry-After` header (seconds or an HTTP date) as milliseconds from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined | null, nowMs: number = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
