// The shapes of Oven's contract: what the AC site's Netlify functions send (the job body) and get
// back (the 202, the status view, the callback, progress webhooks, errors). Declared once, here;
// the service builds them and the client (client/index.ts) reads them. Types, and one list
// (EXTRA_OUTPUTS): a Netlify function bundles this without any of the service. docs/api.md describes each field.

/** The body of POST /bake, without the secret (submitBake adds `callbackSecret`). */
export interface BakeJob {
  mongoId: string;
  /** `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`: it becomes an S3 key and a folder name. */
  slug: string;
  zipUrl: string;
  callbackUrl: string;
  code?: string;
  /** Any JSON (at most 32 levels deep), echoed back in the callback. */
  metadata?: unknown;
  /** Extra: receives signed {type: "bake.progress", …} POSTs while the job bakes (never the terminal body). */
  progressUrl?: string;
  /** Extra: outputs beside the MP4 and thumbnail, uploaded as tapes/<slug>.webm and .gif. */
  outputs?: ExtraOutput[];
}

/** The outputs a job may ask for beside the MP4 and thumbnail (the job body's `outputs`, the CLI's `--outputs`). */
export const EXTRA_OUTPUTS = ['webm', 'gif'] as const;
export type ExtraOutput = (typeof EXTRA_OUTPUTS)[number];

export type ActiveStatus = 'downloading' | 'extracting' | 'encoding' | 'uploading';
export type JobStatus = 'queued' | ActiveStatus | 'done' | 'failed';

/** `{"error": "<a sentence>", "code": "<MACHINE_CODE>"}`: every refusal, and a failed job's `error`. */
export interface Failure {
  code: string;
  message: string;
}

export interface ErrorBody {
  error: string;
  code: string;
}

/** An extra output, or the thumbnail, that was asked for and not made: the bake itself is good. */
export interface OutputWarning {
  output: ExtraOutput | 'thumbnail';
  code: string;
  message: string;
}

/** When the first MP4 was over OVEN_MAX_MP4_BYTES and was made again at a bitrate that fits. */
export interface SizeBudget {
  limitBytes: number;
  firstBytes: number;
  videoKbps: number;
}

/** A done job's result (the status view's `result`, and the success callback's fields). */
export interface BakeOutcome {
  mp4Url: string;
  thumbnailUrl?: string;
  durationMs: number;
  frames: number;
  width: number;
  height: number;
  bytes: number;
  sizeBudget?: SizeBudget;
  /** The extra outputs the job asked for and got: {"webm": url, "gif": url}. */
  outputs?: Partial<Record<ExtraOutput, string>>;
  warnings?: OutputWarning[];
}

/** The 202 of POST /bake. */
export interface Accepted {
  jobId: string;
  slug: string;
  status: JobStatus;
  statusUrl: string;
  /** 1 starts next; 0 when not waiting. */
  position: number;
  /** The slug's job was already queued or baking: this is that job. */
  duplicate?: true;
}

/** GET /status/:jobId: the job, without secrets or the callback URL. */
export interface JobView {
  jobId: string;
  slug: string;
  status: JobStatus;
  progress: number;
  position: number | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** How many times a bake of this job has started. */
  attempts: number;
  result: BakeOutcome | null;
  error: Failure | null;
  /** A thumbnail that failed while the MP4 was good. */
  warning: Failure | null;
  callback: { state: 'pending' | 'delivered' | 'gave-up'; attempts: number; lastError: string | null } | null;
  /** Milliseconds spent in each stage of the last attempt. */
  stageMs: Partial<Record<ActiveStatus, number>> | null;
}

interface CallbackCommon {
  mongoId: string;
  slug: string;
  code?: string;
  jobId: string;
  metadata?: unknown;
  /** CALLBACK_SECRET, when the oven puts it in the body (OVEN_CALLBACK_BODY_SECRET). */
  secret?: string;
}

/** The terminal callback's body: one per job, signed as Standard Webhooks. */
export type OvenCallback =
  | (CallbackCommon & { status: 'success' } & BakeOutcome)
  | (CallbackCommon & { status: 'failed'; error: string; errorCode: string });

/** A progress webhook's body, POSTed to the job's progressUrl. */
export interface ProgressWebhook {
  type: 'bake.progress';
  jobId: string;
  slug: string;
  mongoId: string;
  status: JobStatus;
  progress: number;
}
