// The callback bodies of the contract. They never hold the secret: the outbox adds `secret` at
// send time (when OVEN_CALLBACK_BODY_SECRET is on), so nothing secret is written to disk.

export interface CallbackSeed {
  mongoId: string;
  slug: string;
  code?: string;
  jobId: string;
  metadata?: unknown;
}

export interface BakeOutcome {
  mp4Url: string;
  thumbnailUrl?: string;
  durationMs: number;
  frames: number;
  width: number;
  height: number;
  bytes: number;
  /** When the first MP4 was over OVEN_MAX_MP4_BYTES and was made again at a bitrate that fits. */
  sizeBudget?: { limitBytes: number; firstBytes: number; videoKbps: number };
  /** The extra outputs the job asked for and got: {"webm": url, "gif": url}. */
  outputs?: Partial<Record<'webm' | 'gif', string>>;
  /** What was asked for and not made (an extra output, the thumbnail), the bake being good. */
  warnings?: { output: string; code: string; message: string }[];
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
