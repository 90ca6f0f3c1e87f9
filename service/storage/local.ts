// Blobs on the oven's own disk (no Space configured), served by GET /blobs/… .
// Writes are atomic: a reader sees the old file or the new one, never half of one.

import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { OvenError, toOvenError } from '../errors.ts';
import type { BlobStore, StoredBlob } from './index.ts';
import { isSafeKey } from './keys.ts';

export class LocalBlobStore implements BlobStore {
  readonly kind = 'local' as const;

  /** root: the folder blobs live in; publicUrl: the oven's own base URL (blobs at `${publicUrl}/blobs/<key>`). */
  constructor(readonly root: string, private readonly publicUrl: string) {}

  urlFor(key: string): string {
    return `${this.publicUrl.replace(/\/$/, '')}/blobs/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  async put(key: string, filePath: string): Promise<StoredBlob> {
    if (!isSafeKey(key)) throw new OvenError('INTERNAL', `The blob key ${JSON.stringify(key)} is not a safe path.`);
    const target = path.join(this.root, ...key.split('/'));
    // The temp name starts with a dot, so GET /blobs/ never serves a half-written file.
    const temp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await mkdir(path.dirname(target), { recursive: true });
      await copyFile(filePath, temp);
      await rename(temp, target);
      return { key, url: this.urlFor(key), bytes: (await stat(target)).size };
    } catch (err) {
      await rm(temp, { force: true }).catch(() => {});
      const e = toOvenError(err, 'UPLOAD_FAILED');
      if (e.code === 'DISK_FULL') throw e;
      throw new OvenError('UPLOAD_FAILED', `Could not store ${key} in ${this.root}.`, { retryable: true, cause: err });
    }
  }

  async check(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }
}
