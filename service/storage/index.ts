// Where baked tapes go: one interface, a DigitalOcean Space when AT_BLOBS_SPACES_* are set,
// else the oven's own disk (served at /blobs/…).

import path from 'node:path';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { LocalBlobStore } from './local.ts';
import type { UploadRetry } from './spaces.ts';

export { tapeKeys, isSafeKey, contentTypeFor, artObjectKey, BLOB_CACHE_CONTROL } from './keys.ts';
export { LocalBlobStore } from './local.ts';

export interface StoredBlob {
  key: string;
  /** Public URL of the stored file. */
  url: string;
  bytes: number;
}

export interface BlobStore {
  readonly kind: 'local' | 'spaces';
  /**
   * Stores the file at key, replacing what was there. Retries passing failures (5xx, network);
   * the final failure is an OvenError UPLOAD_FAILED (retryable when it was passing trouble).
   * cacheControl defaults to BLOB_CACHE_CONTROL.
   */
  put(key: string, filePath: string, contentType: string, cacheControl?: string): Promise<StoredBlob>;
  urlFor(key: string): string;
  /** Health probe: throws an OvenError when the store cannot be used. */
  check?(): Promise<void>;
}

/** The folder local blobs live in (also what serveBlob serves). */
export function localBlobRoot(config: Pick<Config, 'dataDir'>): string {
  return path.join(config.dataDir, 'blobs');
}

/** The Space's client (the AWS SDK, ~0.2 s to load and ~25 MB) is loaded only when a Space is set. */
export async function createBlobStore(config: Config, options: { retry?: Partial<UploadRetry>; log?: Logger } = {}): Promise<BlobStore> {
  if (config.blobs) {
    const { SpacesBlobStore } = await import('./spaces.ts');
    return new SpacesBlobStore(config.blobs, options);
  }
  return new LocalBlobStore(localBlobRoot(config), config.publicUrl);
}
