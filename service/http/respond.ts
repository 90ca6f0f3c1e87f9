// Turning answers and typed errors into HTTP: JSON bodies, the contract's status codes, no stack traces.

import type { ServerResponse } from 'node:http';
import { toOvenError, type ErrorCode } from '../errors.ts';
import { log } from '../log.ts';

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  BAD_JSON: 400,
  BAD_REQUEST: 400,
  BAD_SLUG: 400,
  BAD_OUTPUTS: 400,
  BAD_URL: 400,
  URL_REFUSED: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  RANGE_NOT_SATISFIABLE: 416,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  QUEUE_FULL: 429,
  DRAINING: 503,
  TOO_MANY_STREAMS: 503,
  STORE_UNAVAILABLE: 503,
};

/** Seconds a client should wait before trying again after a 429 or 503. */
const RETRY_AFTER_SECONDS: Partial<Record<ErrorCode, number>> = { QUEUE_FULL: 30, DRAINING: 60, STORE_UNAVAILABLE: 30, TOO_MANY_STREAMS: 10 };

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown, extraHeaders: Record<string, string> = {}): void {
  const error = toOvenError(err);
  const status = STATUS_OF[error.code] ?? 500;
  // The answer says only "something went wrong"; the log keeps what did, with its stack.
  if (status === 500) log.error('request failed inside the oven', { err: error.code === 'INTERNAL' ? error : err });
  const retryAfter = RETRY_AFTER_SECONDS[error.code];
  sendJson(res, status, { error: error.message, code: error.code }, { ...extraHeaders, ...(retryAfter ? { 'Retry-After': String(retryAfter) } : {}) });
}
