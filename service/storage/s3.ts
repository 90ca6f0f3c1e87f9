// One way to make an S3 client for a DigitalOcean Space (or any S3 server), and to tell
// passing trouble (worth retrying) from a refusal.

import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';

export interface SpaceAccess {
  key: string;
  secret: string;
  endpoint: string;
  region: string;
  forcePathStyle: boolean;
}

export function makeS3Client(space: SpaceAccess, options: { requestTimeoutMs?: number; maxAttempts?: number } = {}): S3Client {
  return new S3Client({
    endpoint: space.endpoint,
    region: space.region,
    forcePathStyle: space.forcePathStyle,
    credentials: { accessKeyId: space.key, secretAccessKey: space.secret },
    maxAttempts: options.maxAttempts ?? 3,
    // Spaces and most S3-compatible servers do not take the SDK's default streaming CRC trailers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: 10_000, requestTimeout: options.requestTimeoutMs ?? 300_000, throwOnRequestTimeout: true },
  });
}

export function httpStatusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** Server errors, throttling and network trouble pass; a 4xx refusal (bad key, no bucket) does not. */
export function isTransient(err: unknown): boolean {
  const status = httpStatusOf(err);
  if (status !== undefined) return status >= 500 || status === 429 || status === 408;
  if (err instanceof S3ServiceException) return err.$fault === 'server';
  return true; // no HTTP answer at all: a network error or a timeout
}

/** A short, secret-free description of an S3 failure for sentences and logs. */
export function describeS3Error(err: unknown): string {
  const status = httpStatusOf(err);
  const e = err as { name?: string; code?: string };
  const name = e?.name && e.name !== 'Error' ? e.name : e?.code;
  return [status ? `HTTP ${status}` : undefined, name].filter(Boolean).join(' ') || 'a network error';
}
