// ZIPs that live in the ART Space are fetched with the oven's own credentials, so baking does
// not depend on the object being public.

import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { Config } from '../config.ts';
import { writeCappedFile, zipTooLarge } from '../capped-file.ts';
import { OvenError, toOvenError } from '../errors.ts';
import { describeS3Error, httpStatusOf, isTransient, makeS3Client } from './s3.ts';

type ArtSpace = NonNullable<Config['art']>;

/** GetObject streamed to destPath with a byte cap. The file is removed when anything fails. */
export async function downloadArtObject(art: ArtSpace, key: string, destPath: string, maxBytes: number, signal?: AbortSignal): Promise<{ bytes: number }> {
  const client = makeS3Client(art, { requestTimeoutMs: 0 });
  try {
    const answer = await client.send(new GetObjectCommand({ Bucket: art.bucket, Key: key }), signal ? { abortSignal: signal } : {});
    if (answer.ContentLength !== undefined && answer.ContentLength > maxBytes) throw zipTooLarge(maxBytes);
    if (!answer.Body) throw new OvenError('FETCH_FAILED', `The ART Space answered without a body for ${key}.`, { retryable: true });
    return { bytes: await writeCappedFile(answer.Body as Readable, destPath, maxBytes, signal ? { signal } : {}) };
  } catch (err) {
    await rm(destPath, { force: true }).catch(() => {});
    throw asFetchError(err, key, signal);
  } finally {
    client.destroy();
  }
}

function asFetchError(err: unknown, key: string, signal: AbortSignal | undefined): OvenError {
  if (err instanceof OvenError) return err;
  if (signal?.aborted) {
    const reason = signal.reason;
    return reason instanceof OvenError ? reason : new OvenError('FETCH_TIMEOUT', `Downloading ${key} from the ART Space took too long.`, { retryable: true, cause: err });
  }
  const status = httpStatusOf(err);
  if (status === 404 || (err as { name?: string })?.name === 'NoSuchKey') {
    return new OvenError('FETCH_HTTP_STATUS', `The ART Space has no object ${key} (HTTP 404).`, { cause: err });
  }
  if (status !== undefined && !isTransient(err)) {
    return new OvenError('FETCH_HTTP_STATUS', `The ART Space refused ${key} (${describeS3Error(err)}); check the ART_SPACES_* settings.`, { cause: err });
  }
  const disk = toOvenError(err, 'FETCH_FAILED');
  if (disk.code === 'DISK_FULL') return disk;
  return new OvenError('FETCH_FAILED', `Downloading ${key} from the ART Space failed (${describeS3Error(err)}).`, { retryable: true, cause: err });
}
