// Durable job state. The pipeline only sees the JobStore interface, so a networked store
// (Redis, a database) can replace the embedded one without touching anything else.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Job } from './job.ts';
import { OvenError } from '../errors.ts';
import { log } from '../log.ts';

export interface JobStore {
  /** Every job the store holds, oldest first. */
  loadAll(): Promise<Job[]>;
  /** Durably records the job: once this resolves, neither a SIGKILL nor a power cut can lose it. */
  save(job: Job): Promise<void>;
  remove(jobId: string): Promise<void>;
}

const JOB_FILE = /^[0-9a-z]+-[0-9a-f]+\.json$/;

const JOB_STATUSES: readonly string[] = ['queued', 'downloading', 'extracting', 'encoding', 'uploading', 'done', 'failed'];

/** The fields the manager reads without checking; a file lacking any of them is not a job it can resume. */
function hasJobShape(value: unknown): value is Job {
  if (!value || typeof value !== 'object') return false;
  const job = value as Record<string, unknown>;
  const request = job.request as Record<string, unknown> | null | undefined;
  return (
    typeof job.jobId === 'string' &&
    !!request &&
    typeof request === 'object' &&
    ['slug', 'zipUrl', 'callbackUrl', 'mongoId'].every((field) => typeof request[field] === 'string') &&
    typeof job.status === 'string' &&
    JOB_STATUSES.includes(job.status) &&
    typeof job.createdAt === 'string' &&
    typeof job.attempts === 'number'
  );
}

const STORE_TROUBLE: Record<string, string> = {
  EROFS: 'the folder is read-only',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EIO: 'the disk reports an I/O error',
  ENOTDIR: 'it is not a folder',
  ENOENT: 'the folder is missing',
};

/** One JSON file per job under `<dataDir>/jobs`, written atomically (temp file, fsync, rename, fsync of the folder). */
export class FileJobStore implements JobStore {
  private readonly dir: string;
  /** Saves of one job run one after another, so an older state never lands after a newer one. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'jobs');
  }

  async init(): Promise<this> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    // Temp files left by a kill between write and rename are garbage.
    for (const name of await fs.readdir(this.dir)) {
      if (name.endsWith('.tmp')) await fs.rm(path.join(this.dir, name), { force: true });
    }
    return this;
  }

  async loadAll(): Promise<Job[]> {
    const jobs: Job[] = [];
    for (const name of await fs.readdir(this.dir)) {
      if (!JOB_FILE.test(name)) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(await fs.readFile(path.join(this.dir, name), 'utf8'));
      } catch (err) {
        await this.moveAside(name, 'A job file could not be read as JSON; it was renamed to .corrupt for a person to look at.', err);
        continue;
      }
      if (hasJobShape(parsed)) jobs.push(parsed);
      else await this.moveAside(name, 'A job file is JSON but not a job (a field is missing or of the wrong kind); it was renamed to .corrupt for a person to look at.');
    }
    return jobs.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.jobId.localeCompare(b.jobId));
  }

  /** A file we cannot resume is kept aside for a person rather than silently dropped. */
  private async moveAside(name: string, sentence: string, err?: unknown): Promise<void> {
    log.error(sentence, { file: name, folder: this.dir, ...(err === undefined ? {} : { err }) });
    await fs.rename(path.join(this.dir, name), path.join(this.dir, `${name}.corrupt`)).catch((renameErr: unknown) => {
      log.error('A job file could not be renamed to .corrupt; it is skipped but stays where it is.', { file: name, folder: this.dir, err: renameErr });
    });
  }

  save(job: Job): Promise<void> {
    const body = JSON.stringify(job);
    return this.serialise(job.jobId, () => this.writeAtomically(job.jobId, body));
  }

  remove(jobId: string): Promise<void> {
    return this.serialise(jobId, () => fs.rm(this.fileOf(jobId), { force: true }));
  }

  private fileOf(jobId: string): string {
    return path.join(this.dir, `${jobId}.json`);
  }

  private serialise(jobId: string, step: () => Promise<void>): Promise<void> {
    const next = (this.chains.get(jobId) ?? Promise.resolve()).then(step);
    const settled = next.catch(() => {});
    this.chains.set(jobId, settled);
    void settled.then(() => {
      if (this.chains.get(jobId) === settled) this.chains.delete(jobId);
    });
    return next;
  }

  private async writeAtomically(jobId: string, body: string): Promise<void> {
    const target = this.fileOf(jobId);
    const temp = `${target}.${process.pid}.tmp`;
    try {
      const handle = await fs.open(temp, 'w', 0o600);
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temp, target);
      await this.syncFolder();
    } catch (err) {
      await fs.rm(temp, { force: true }).catch(() => undefined);
      throw this.unavailable(err);
    }
  }

  /** The rename lives in the folder's entry list, so without this a power cut can undo it. */
  private async syncFolder(): Promise<void> {
    const folder = await fs.open(this.dir, 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  }

  /** A file-system refusal, as the sentence an operator needs: which folder, and why. */
  private unavailable(err: unknown): OvenError {
    const code = (err as { code?: unknown }).code;
    const why = typeof code === 'string' ? (STORE_TROUBLE[code] ?? code) : 'an unexpected error';
    return new OvenError('STORE_UNAVAILABLE', `Job state cannot be saved in ${this.dir}: ${why}.`, { retryable: true, cause: err });
  }
}
