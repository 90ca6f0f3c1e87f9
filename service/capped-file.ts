// The ZIP size cap: the URL download (bake/fetch.ts) and the credentialed ART Space download
// (storage/art.ts) refuse with the same error; the Space's stream is written through writeCappedFile.

import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OvenError } from './errors.ts';

export function zipTooLarge(maxBytes: number): OvenError {
  return new OvenError('ZIP_TOO_LARGE', `The ZIP is larger than ${maxBytes} bytes (OVEN_MAX_ZIP_BYTES).`);
}

/** Streams `source` into a new file at destPath, stopping past maxBytes; removes the file if anything fails. */
export async function writeCappedFile(
  source: Readable,
  destPath: string,
  maxBytes: number,
  options: { onProgress?: (bytes: number) => void; signal?: AbortSignal } = {},
): Promise<number> {
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) return done(zipTooLarge(maxBytes));
      options.onProgress?.(bytes);
      done(null, chunk);
    },
  });
  let created = false;
  const file = createWriteStream(destPath, { flags: 'wx' });
  file.once('open', () => (created = true));
  try {
    await pipeline(source, counter, file, options.signal ? { signal: options.signal } : {});
    return bytes;
  } catch (err) {
    if (created) await unlink(destPath).catch(() => undefined);
    throw err;
  }
}
