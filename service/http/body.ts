// Reading a JSON request body with a hard size cap, before anything else looks at it.

import type { IncomingMessage } from 'node:http';
import { OvenError } from '../errors.ts';

export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    req.resume(); // discard the body so the connection stays usable
    throw new OvenError('UNSUPPORTED_MEDIA_TYPE', 'Send the job as JSON with Content-Type: application/json.');
  }
  const raw = await collect(req, maxBytes);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new OvenError('BAD_JSON', 'The request body is not valid JSON.');
  }
}

/** Collects at most maxBytes; past that, the rest is discarded unread (never buffered) and the read fails. */
function collect(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = () => new OvenError('BODY_TOO_LARGE', `The request body is larger than ${Math.round(maxBytes / 1024)} KiB.`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        if (!over) reject(tooLarge());
        over = true;
        chunks.length = 0;
        return;
      }
      if (!over) chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!over) reject(new OvenError('BAD_REQUEST', 'The request body could not be read.', { cause: err }));
    });
  });
}
