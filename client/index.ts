// The Netlify side of Oven: submit a bake, and check the callback that comes back.
// Needs only Node's own modules (and fetch, Node 18+) plus ../contract/, so a Netlify function can
// bundle it without the rest of the oven.

import { verifyWebhook, type BakeJob, type OvenCallback } from '../contract/index.ts';

export * from '../contract/index.ts';

export type SubmitResult =
  | { ok: true; jobId: string; slug: string; status: string; statusUrl: string; position?: number; duplicate?: boolean }
  /** status 0 with code NETWORK or TIMEOUT when no answer came; else the oven's answer (code e.g. QUEUE_FULL, DRAINING). */
  | { ok: false; status: number; code: string; error: string; retryAfterSeconds?: number };

/**
 * POSTs the job to `${ovenUrl}/bake`. Authenticates both ways the oven accepts (the body's
 * callbackSecret, as the live client does, and Authorization: Bearer). Never throws: every
 * outcome is a SubmitResult. On 429/503 retryAfterSeconds says when to try again.
 */
export async function submitBake(options: { ovenUrl: string; secret: string; job: BakeJob; timeoutMs?: number; fetch?: typeof fetch }): Promise<SubmitResult> {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await doFetch(`${options.ovenUrl.replace(/\/+$/, '')}/bake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${options.secret}` },
      body: JSON.stringify({ ...options.job, callbackSecret: options.secret }),
      signal,
    });
  } catch {
    return signal.aborted
      ? { ok: false, status: 0, code: 'TIMEOUT', error: `The oven did not answer within ${timeoutMs} ms.` }
      : { ok: false, status: 0, code: 'NETWORK', error: 'The oven could not be reached.' };
  }

  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(await res.text());
    if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
  } catch {
    // Not JSON (a proxy's error page, say): described by the status below.
  }
  if (res.status === 202 && typeof body.jobId === 'string') {
    return {
      ok: true,
      jobId: body.jobId,
      slug: String(body.slug ?? options.job.slug),
      status: String(body.status ?? 'queued'),
      statusUrl: String(body.statusUrl ?? `/status/${body.jobId}`),
      ...(typeof body.position === 'number' ? { position: body.position } : {}),
      ...(body.duplicate === true ? { duplicate: true } : {}),
    };
  }
  const retryAfter = Number(res.headers.get('retry-after'));
  return {
    ok: false,
    status: res.status,
    code: typeof body.code === 'string' ? body.code : `HTTP_${res.status}`,
    error: typeof body.error === 'string' ? body.error : `The oven answered HTTP ${res.status}.`,
    ...(res.headers.has('retry-after') && Number.isFinite(retryAfter) ? { retryAfterSeconds: retryAfter } : {}),
  };
}

type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const found = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = found === undefined ? undefined : record[found];
  return Array.isArray(value) ? value.join(' ') : value;
}

function isCallback(v: unknown): v is OvenCallback {
  if (!v || typeof v !== 'object') return false;
  const b = v as Record<string, unknown>;
  const common = typeof b.mongoId === 'string' && typeof b.slug === 'string' && typeof b.jobId === 'string';
  if (b.status === 'success') return common && typeof b.mp4Url === 'string';
  if (b.status === 'failed') return common && typeof b.errorCode === 'string';
  return false;
}

/**
 * Checks an Oven callback as received: the Standard Webhooks signature over the RAW body (not a
 * re-serialised one), a timestamp within toleranceSeconds (default 300), and the body's shape.
 * Use the callback's jobId (or the webhook-id header) to ignore a retry you have already handled.
 */
export function verifyCallback(
  headers: HeaderSource,
  rawBody: string,
  secret: string,
  options: { toleranceSeconds?: number } = {},
): { ok: true; callback: OvenCallback } | { ok: false; reason: string } {
  const verified = verifyWebhook(
    secret,
    { id: header(headers, 'webhook-id'), timestamp: header(headers, 'webhook-timestamp'), signature: header(headers, 'webhook-signature') },
    rawBody,
    { toleranceSeconds: options.toleranceSeconds ?? 300 },
  );
  if (!verified.ok) return verified;
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch {
    return { ok: false, reason: 'the body is not JSON' };
  }
  if (!isCallback(body)) return { ok: false, reason: 'the body is not an Oven callback' };
  return { ok: true, callback: body };
}
