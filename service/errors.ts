// Errors are values with a stable machine code and a sentence a person can act on.
// The HTTP layer, the job record, the callback and the CLI all carry the same code.

export const ERROR_CODES = [
  // requests
  'BAD_JSON',
  'BAD_REQUEST',
  'BAD_SLUG',
  'BAD_OUTPUTS',
  'BAD_URL',
  'URL_REFUSED',
  'UNAUTHORIZED',
  'BODY_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'QUEUE_FULL',
  'DRAINING',
  'STORE_UNAVAILABLE',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'RANGE_NOT_SATISFIABLE',
  'TOO_MANY_STREAMS',
  // fetching the ZIP
  'FETCH_FAILED',
  'FETCH_TIMEOUT',
  'FETCH_HTTP_STATUS',
  'ZIP_TOO_LARGE',
  // the ZIP itself
  'ZIP_INVALID',
  'ZIP_EMPTY',
  'ZIP_UNSAFE_PATH',
  'ZIP_SYMLINK',
  'ZIP_SPECIAL_FILE',
  'ZIP_ENCRYPTED',
  'ZIP_DUPLICATE_ENTRY',
  'ZIP_TOO_MANY_ENTRIES',
  'ZIP_BOMB',
  // the tape inside
  'TAPE_NO_FRAMES',
  'TAPE_BAD_TIMING',
  'TAPE_BAD_METADATA',
  'TAPE_MISSING_FRAME',
  'TAPE_EXTRA_FRAME',
  'TAPE_BAD_FRAME',
  'TAPE_FRAME_TOO_LARGE',
  'TAPE_FRAME_SIZE_MISMATCH',
  'TAPE_TOO_LONG',
  'TAPE_BAD_SOUNDTRACK',
  // encoding and after
  'ENCODE_FAILED',
  'ENCODE_TIMEOUT',
  'MP4_TOO_LARGE',
  'EXTRACT_TIMEOUT',
  'THUMBNAIL_FAILED',
  'GIF_TOO_LARGE',
  'UPLOAD_FAILED',
  'DISK_FULL',
  'BAKE_MEMORY_LIMIT',
  'INTERRUPTED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class OvenError extends Error {
  readonly code: ErrorCode;
  /** Whether trying the same job again later could succeed (network trouble, a full disk). */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OvenError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

export function isOvenError(err: unknown): err is OvenError {
  return err instanceof OvenError;
}

/** Any thrown value as an OvenError; unknown failures become INTERNAL with a plain sentence, never a stack. */
export function toOvenError(err: unknown, fallback: ErrorCode = 'INTERNAL'): OvenError {
  if (err instanceof OvenError) return err;
  const nodeCode = (err as { code?: unknown } | null)?.code;
  if (nodeCode === 'ENOSPC') {
    return new OvenError('DISK_FULL', 'The work folder ran out of disk space.', { retryable: true, cause: err });
  }
  const message = fallback === 'INTERNAL' ? 'Something went wrong inside the oven.' : 'The step failed.';
  return new OvenError(fallback, message, { cause: err });
}
