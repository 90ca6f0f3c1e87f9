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
  /** Durably records the job: once this resolves, a SIGKILL cannot lose it. */
  save(job: Job): Promise<void>;
  remove(jobId: string): Promise<void>;
}

const JOB_FILE = /^[0-9a-z]+-[0-9a-f]+\.json$/;

const STORE_TROUBLE: Record<string, string> = {
  EROFS: 'the folder is read-only',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EIO: 'the disk reports an I/O error',
};

/** One JSON file per job under `<dataDir>/jobs`, written atomically (temp file, fsync, rename). */
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
      try {
        const job = JSON.parse(await fs.readFile(path.join(this.dir, name), 'utf8')) as Job;
        if (job && typeof job.jobId === 'string' && job.request) jobs.push(job);
      } catch (err) {
        // A file we cannot read is kept aside for a person rather than silently dropped.
        log.error('job file unreadable; moved aside', { file: name, err });
        await fs.rename(path.join(this.dir, name), path.join(this.dir, `${name}.corrupt`)).catch(() => {});
      }
    }
    return jobs.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.jobId.localeCompare(b.jobId));
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
    } catch (err) {
      await fs.rm(temp, { force: true }).catch(() => undefined);
      throw this.unavailable(err);
    }
  }

  /** A file-system refusal, as the sentence an operator needs: which folder, and why. */
  private unavailable(err: unknown): OvenError {
    const code = (err as { code?: unknown }).code;
    const why = typeof code === 'string' ? (STORE_TROUBLE[code] ?? code) : 'an unexpected error';
    return new OvenError('STORE_UNAVAILABLE', `Job state cannot be saved in ${this.dir}: ${why}.`, { retryable: true, cause: err });
  }
}
