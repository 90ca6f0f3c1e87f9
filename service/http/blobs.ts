// GET/HEAD /blobs/<key>: tapes stored on the oven's own disk, with Range support for video players.
// The key is checked segment by segment (after decoding) before it touches the file system,
// and the file found must still lie inside the root once symlinks are resolved.

import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { OvenError } from '../errors.ts';
import { BLOB_CACHE_CONTROL, contentTypeFor, isSafeKey } from '../storage/keys.ts';
import { sendError } from './respond.ts';

type BlobRequest = IncomingMessage & { originalUrl?: string; path?: string };

/** The key from the raw URL (mounted at /blobs, or with the prefix already stripped), decoded; undefined when malformed. */
function keyFrom(req: BlobRequest): string | undefined {
  const raw = (req.originalUrl ?? req.url ?? '').split(/[?#]/, 1)[0] ?? '';
  const rest = raw.startsWith('/blobs/') ? raw.slice('/blobs/'.length) : (req.url ?? '').split(/[?#]/, 1)[0]!.replace(/^\//, '');
  try {
    const key = rest.split('/').map((s) => decodeURIComponent(s)).join('/');
    // A decoded "/" inside a segment shows up as an extra segment and an encoded "\" or NUL fails isSafeKey.
    return key.split('/').length === rest.split('/').length && isSafeKey(key) ? key : undefined;
  } catch {
    return undefined;
  }
}

type Range = { start: number; end: number } | 'unsatisfiable' | undefined;

/** One `bytes=` range (a-b, a-, -n); several ranges or a malformed header mean "send it all". */
export function parseRange(header: string | undefined, size: number): Range {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? Infinity : Number(m[2]);
  if (end < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

/** A polka (or plain node:http) handler for GET/HEAD /blobs/* serving files under root. */
export function serveBlob(root: string): (req: BlobRequest, res: ServerResponse) => void {
  const rootResolved = path.resolve(root);
  return (req, res) => {
    serve(rootResolved, req, res).catch(() => {
      if (!res.headersSent) sendError(res, new OvenError('INTERNAL', 'The blob could not be read.'));
      else res.destroy();
    });
  };
}

async function serve(root: string, req: BlobRequest, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendError(res, new OvenError('METHOD_NOT_ALLOWED', 'Only GET and HEAD are allowed here.'), { allow: 'GET, HEAD' });
  }
  const key = keyFrom(req);
  if (!key) return sendError(res, new OvenError('BAD_REQUEST', 'That is not a valid blob key.'));

  const file = path.join(root, ...key.split('/'));
  let info;
  try {
    info = await stat(file);
    const [realFile, realRoot] = await Promise.all([realpath(file), realpath(root)]);
    if (!info.isFile() || !realFile.startsWith(realRoot + path.sep)) throw new Error('outside the root');
  } catch {
    return sendError(res, new OvenError('NOT_FOUND', 'No blob at this address.'));
  }

  const size = info.size;
  const etag = `W/"${size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  const headers: Record<string, string | number> = {
    'content-type': contentTypeFor(key),
    'accept-ranges': 'bytes',
    'cache-control': BLOB_CACHE_CONTROL,
    'last-modified': info.mtime.toUTCString(),
    etag,
    'x-content-type-options': 'nosniff',
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    return void res.end();
  }
  // If-Range with another validator: the file changed, so the whole new file is sent.
  const ifRange = req.headers['if-range'];
  const range = ifRange === undefined || ifRange === etag ? parseRange(req.headers.range, size) : undefined;
  if (range === 'unsatisfiable') {
    return sendError(res, new OvenError('RANGE_NOT_SATISFIABLE', 'The requested range is outside the file.'), { 'content-range': `bytes */${size}` });
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  if (range) headers['content-range'] = `bytes ${start}-${end}/${size}`;
  headers['content-length'] = size === 0 ? 0 : end - start + 1;
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD' || size === 0) return void res.end();

  const stream = createReadStream(file, { start, end });
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}
