// Gets a tape ZIP onto disk: streamed from http(s), following redirects by hand so every hop is
// checked, or copied from a local path. Never holds the ZIP in memory, stops the moment it passes
// the size cap, and leaves no partial file behind when it fails.

import { closeSync, open as openCallback, writeSync } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Dispatcher } from 'undici';
import { send } from '../net/request.ts';
import { zipTooLarge } from '../capped-file.ts';
import { OvenError, toOvenError } from '../errors.ts';

export interface FetchZipOptions {
  /** Bigger ZIPs are refused with ZIP_TOO_LARGE: by Content-Length up front, or as soon as the stream passes it. */
  maxBytes: number;
  /** Used only when no dispatcher is given; a given dispatcher brings its own connect timeout. */
  connectTimeoutMs: number;
  /** Longest wait for the response headers, and longest silence between body chunks. */
  idleTimeoutMs: number;
  /** Wall-clock limit for the whole download, redirects included. */
  totalTimeoutMs: number;
  /** The service passes a guarded Agent that refuses private addresses at connect time. */
  dispatcher?: Dispatcher;
  /**
   * Called on the first URL and on every redirect hop; may throw an OvenError to stop. When given,
   * `source` must be a URL: local paths are refused (BAD_URL), since a checked source came from outside.
   */
  checkUrl?: (url: URL) => Promise<void>;
  /** Sent to the first host only; dropped when a redirect leaves its origin. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  onProgress?: (bytesSoFar: number, totalBytes?: number) => void;
}

export const MAX_REDIRECTS = 5;
const openFd = promisify(openCallback);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = 'aesthetic-computer-oven';

export interface FetchedZip {
  /** Where the ZIP now is: destPath for a download, the file itself for a local path (read in place). */
  path: string;
  bytes: number;
}

/**
 * source: an http(s) URL, streamed to destPath (never buffered whole), or a local file path, which
 * is checked and then read where it is: copying it first would only be work done twice.
 */
export async function fetchZip(source: string, destPath: string, options: FetchZipOptions): Promise<FetchedZip> {
  // A scheme of two or more letters makes it a URL; anything else is a path.
  if (/^[a-z][a-z0-9+.-]+:/i.test(source)) return { path: destPath, ...(await downloadZip(parseHttpUrl(source), destPath, options)) };
  if (options.checkUrl) throw new OvenError('BAD_URL', 'The ZIP must be given as an http or https URL.');
  return localZip(source, options);
}

function parseHttpUrl(raw: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    throw new OvenError('BAD_URL', `The ZIP address is not a valid URL${base ? ' (in a redirect)' : ''}.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OvenError('BAD_URL', `The ZIP address must be http or https, not ${url.protocol.replace(/:$/, '')}${base ? ' (in a redirect)' : ''}.`);
  }
  return url;
}

async function downloadZip(first: URL, destPath: string, options: FetchZipOptions): Promise<{ bytes: number }> {
  const totalSignal = AbortSignal.timeout(options.totalTimeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, totalSignal]) : totalSignal;
  // undici is loaded only for a download (~0.2 s on one vCPU): the CLI baking a local file never needs it.
  const ownAgent = options.dispatcher ? undefined : new (await import('undici')).Agent({ connect: { timeout: options.connectTimeoutMs } });
  const dispatcher = options.dispatcher ?? ownAgent!;
  let url = first;
  // A plain descriptor, opened before any request: the body is written to it from undici's own
  // callback as it arrives (see net/request.ts for why), a chunk of at most 64 KiB at a time.
  let fd: number | undefined;
  try {
    fd = await openFd(destPath, 'wx');
    const file = fd;
    let headers: Record<string, string> = { 'user-agent': USER_AGENT, ...options.headers };
    for (let hop = 0; ; hop++) {
      await options.checkUrl?.(url);
      let declared: number | undefined;
      let bytes = 0;
      const answer = await send(dispatcher, url, {
        method: 'GET',
        headers,
        headersTimeoutMs: options.idleTimeoutMs,
        bodyTimeoutMs: options.idleTimeoutMs,
        signal,
        onAccept: (_status, _headers, length) => {
          declared = length;
          if (length !== undefined && length > options.maxBytes) throw zipTooLarge(options.maxBytes);
        },
        onBody: (chunk) => {
          bytes += chunk.length;
          if (bytes > options.maxBytes) throw zipTooLarge(options.maxBytes);
          writeSync(file, chunk);
          options.onProgress?.(bytes, declared);
        },
      });
      if (REDIRECT_STATUSES.has(answer.status)) {
        if (hop >= MAX_REDIRECTS) {
          throw new OvenError('FETCH_HTTP_STATUS', `The ZIP address redirected more than ${MAX_REDIRECTS} times.`);
        }
        const location = answer.headers.location;
        if (typeof location !== 'string' || location === '') {
          throw new OvenError('FETCH_HTTP_STATUS', `The ZIP server answered ${answer.status} without saying where to go.`);
        }
        const next = parseHttpUrl(location, url);
        // Credentials meant for one host must not travel to another.
        if (next.origin !== url.origin) headers = { 'user-agent': USER_AGENT };
        url = next;
        continue;
      }
      if (answer.status < 200 || answer.status > 299) throw statusError(answer.status, url);
      if (declared !== undefined && bytes !== declared) {
        throw new OvenError('FETCH_FAILED', `The download of the ZIP from ${url.host} ended early (${bytes} of ${declared} bytes).`, { retryable: true });
      }
      closeSync(fd);
      fd = undefined;
      return { bytes };
    }
  } catch (err) {
    if (fd !== undefined) {
      closeSync(fd);
      await unlink(destPath).catch(() => undefined);
    }
    throw downloadError(err, url, options, totalSignal);
  } finally {
    ownAgent?.destroy().catch(() => undefined);
  }
}

async function localZip(source: string, options: FetchZipOptions): Promise<FetchedZip> {
  let size: number;
  try {
    const info = await stat(source);
    if (!info.isFile()) throw new OvenError('FETCH_FAILED', `${source} is not a file.`);
    size = info.size;
  } catch (err) {
    if (err instanceof OvenError) throw err;
    throw new OvenError('FETCH_FAILED', `Cannot read the ZIP at ${source} (${(err as { code?: string }).code ?? 'unreadable'}).`, { cause: err });
  }
  if (size > options.maxBytes) throw zipTooLarge(options.maxBytes);
  options.onProgress?.(size, size);
  return { path: source, bytes: size };
}

function statusError(status: number, url: URL): OvenError {
  // Server trouble and rate limits pass; a missing or forbidden ZIP stays missing.
  const retryable = status >= 500 || status === 429 || status === 408;
  return new OvenError('FETCH_HTTP_STATUS', `The ZIP server ${url.host} answered ${status}${status === 404 ? ' (not found)' : ''}.`, { retryable });
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
/** Network error codes in words a person reads in a job's error. */
const NETWORK_TROUBLE: Record<string, string> = {
  UND_ERR_SOCKET: 'the connection closed early',
  ECONNRESET: 'the connection was reset',
  ECONNREFUSED: 'the connection was refused',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved just now',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
};

function downloadError(err: unknown, url: URL, options: FetchZipOptions, totalSignal: AbortSignal): OvenError {
  // A guarded dispatcher's refusal may arrive wrapped by undici; it is the answer, whatever wraps it.
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof OvenError) return e;
  }
  if (options.signal?.aborted) {
    const reason: unknown = options.signal.reason;
    return reason instanceof OvenError ? reason : new OvenError('INTERRUPTED', 'The download of the ZIP was stopped.', { retryable: true, cause: err });
  }
  if (totalSignal.aborted) {
    return new OvenError('FETCH_TIMEOUT', `The download of the ZIP from ${url.host} took longer than ${options.totalTimeoutMs / 1000} s.`, { retryable: true, cause: err });
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) {
    return new OvenError('FETCH_TIMEOUT', `The ZIP server ${url.host} went silent for more than ${options.idleTimeoutMs / 1000} s.`, { retryable: true, cause: err });
  }
  // A write to our own disk failing is not the network's fault.
  if (typeof (err as { path?: unknown } | null)?.path === 'string' || code === 'ENOSPC') return toOvenError(err);
  const why = (typeof code === 'string' && (NETWORK_TROUBLE[code] ?? code)) || (err instanceof Error ? err.message.slice(0, 120) : 'network error');
  return new OvenError('FETCH_FAILED', `Could not download the ZIP from ${url.host} (${why}).`, { retryable: true, cause: err });
}
