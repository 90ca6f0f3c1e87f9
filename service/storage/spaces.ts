// Blobs in a DigitalOcean Space: public-read objects with Content-Type and Cache-Control.
// The upload retries on its own: the body is a file stream, which the SDK cannot replay,
// so each attempt opens the file again.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { HeadBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SpacesConfig } from '../config.ts';
import { OvenError } from '../errors.ts';
import { log as rootLog, type Logger } from '../log.ts';
import { backoffDelay, sleep } from '../net/backoff.ts';
import type { BlobStore, StoredBlob } from './index.ts';
import { BLOB_CACHE_CONTROL, isSafeKey } from './keys.ts';
import { describeS3Error, isTransient, makeS3Client } from './s3.ts';

export interface UploadRetry {
  /** First wait after a failed attempt. Default 500 ms. */
  baseMs: number;
  /** Longest wait between attempts. Default 8 s. */
  maxDelayMs: number;
  /** No new attempt starts after this long since the first. Default 90 s: a Space outage of a minute is ridden out. */
  budgetMs: number;
}

export const DEFAULT_UPLOAD_RETRY: UploadRetry = { baseMs: 500, maxDelayMs: 8000, budgetMs: 90_000 };

export class SpacesBlobStore implements BlobStore {
  readonly kind = 'spaces' as const;
  private readonly client: S3Client;
  private readonly retry: UploadRetry;
  private readonly log: Logger;

  constructor(private readonly space: SpacesConfig, options: { retry?: Partial<UploadRetry>; log?: Logger } = {}) {
    this.client = makeS3Client(space, { maxAttempts: 1 });
    this.retry = { ...DEFAULT_UPLOAD_RETRY, ...options.retry };
    this.log = options.log ?? rootLog;
  }

  urlFor(key: string): string {
    return `${this.space.publicBase}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  async put(key: string, filePath: string, contentType: string, cacheControl: string = BLOB_CACHE_CONTROL): Promise<StoredBlob> {
    if (!isSafeKey(key)) throw new OvenError('INTERNAL', `The blob key ${JSON.stringify(key)} is not a safe path.`);
    const bytes = (await stat(filePath)).size;
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.space.bucket,
            Key: key,
            Body: createReadStream(filePath),
            ContentLength: bytes,
            ContentType: contentType,
            CacheControl: cacheControl,
            ACL: 'public-read',
          }),
        );
        return { key, url: this.urlFor(key), bytes };
      } catch (err) {
        const why = describeS3Error(err);
        if (!isTransient(err)) {
          throw new OvenError('UPLOAD_FAILED', `The Space refused the upload of ${key} (${why}); check the AT_BLOBS_SPACES_* settings.`, { cause: err });
        }
        const wait = backoffDelay(attempt, this.retry.baseMs, this.retry.maxDelayMs);
        if (Date.now() + wait - started > this.retry.budgetMs) {
          throw new OvenError('UPLOAD_FAILED', `Uploading ${key} to the Space kept failing (${why}) for ${Math.round((Date.now() - started) / 1000)} s.`, {
            retryable: true,
            cause: err,
          });
        }
        this.log.warn('upload attempt failed; will retry', { key, attempt, error: why, retryInMs: wait });
        await sleep(wait);
      }
    }
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.space.bucket }));
    } catch (err) {
      throw new OvenError('UPLOAD_FAILED', `The Space ${this.space.bucket} cannot be reached (${describeS3Error(err)}).`, { retryable: isTransient(err), cause: err });
    }
  }
}
