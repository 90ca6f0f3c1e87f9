// The callback bodies of the contract (contract/shapes.ts's OvenCallback). They never hold the
// secret: the sender adds `secret` at send time (when OVEN_CALLBACK_BODY_SECRET is on), so nothing
// secret is written to disk or to Redis.

import type { BakeJob, BakeOutcome } from '../../contract/index.ts';

export interface CallbackSeed {
  mongoId: string;
  slug: string;
  code?: string;
  jobId: string;
  metadata?: unknown;
}

/** What every callback of a job repeats from its request, in either mode. */
export function seedOf(jobId: string, request: Pick<BakeJob, 'mongoId' | 'slug' | 'code' | 'metadata'>): CallbackSeed {
  return { mongoId: request.mongoId, slug: request.slug, code: request.code, jobId, metadata: request.metadata };
}

/** Leaves out undefined fields, so the JSON holds only what is known. */
function defined(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

export function successPayload(seed: CallbackSeed, r: BakeOutcome): Record<string, unknown> {
  return defined({
    mongoId: seed.mongoId,
    slug: seed.slug,
    code: seed.code,
    status: 'success',
    jobId: seed.jobId,
    mp4Url: r.mp4Url,
    thumbnailUrl: r.thumbnailUrl,
    durationMs: r.durationMs,
    frames: r.frames,
    width: r.width,
    height: r.height,
    bytes: r.bytes,
    sizeBudget: r.sizeBudget,
    outputs: r.outputs,
    warnings: r.warnings,
    metadata: seed.metadata,
  });
}

export function failurePayload(seed: CallbackSeed, err: { code: string; message: string }): Record<string, unknown> {
  return defined({
    mongoId: seed.mongoId,
    slug: seed.slug,
    code: seed.code,
    status: 'failed',
    jobId: seed.jobId,
    error: err.message,
    errorCode: err.code,
    metadata: seed.metadata,
  });
}
