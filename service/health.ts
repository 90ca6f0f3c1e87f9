// Is this oven able to bake? ffmpeg and ffprobe run, the work and data folders are writable,
// and there is disk to spare. Uptime monitoring reads the answer through GET /health.

import { constants, promises as fs } from 'node:fs';
import { toolVersion } from './bake/probe.ts';
import type { BlobStore } from './storage/index.ts';

export interface HealthInputs {
  ffmpegPath: string;
  ffprobePath: string;
  folders: string[];
  minFreeDiskMb: number;
  /** Where MP4s go: a Space must answer (checked with the tools), local storage must be writable (with the folders). */
  storage?: Pick<BlobStore, 'check' | 'kind'>;
}

export interface HealthReport {
  healthy: boolean;
  problems: string[];
  ffmpeg?: string;
}

/** "5.1.9-0+deb12u1" from ffmpeg's "ffmpeg version 5.1.9-0+deb12u1" line. */
async function versionOf(binary: string): Promise<string> {
  return /version\s+(\S+)/.exec(await toolVersion(binary))?.[1] ?? 'unknown';
}

/**
 * A value worked out in the background: the first call waits for it; later calls get the last one
 * at once and, when it is older than maxAgeMs, start one refresh. /health must stay quick while
 * bakes load the machine, and spawning ffmpeg or waiting on a busy file-system thread pool is not.
 */
function kept<T>(work: () => Promise<T>, maxAgeMs: number): () => Promise<T> {
  let last: { at: number; value: T } | undefined;
  let refreshing: Promise<T> | undefined;
  const refresh = () =>
    (refreshing ??= work()
      .then((value) => {
        last = { at: Date.now(), value };
        return value;
      })
      .finally(() => (refreshing = undefined)));
  return async () => {
    if (!last) return refresh();
    if (Date.now() - last.at >= maxAgeMs) refresh().catch(() => {});
    return last.value;
  };
}

/** ffmpeg, ffprobe and the storage are checked every 30 s, the folders and free disk every second; neither in the request's path once known. */
export function createHealthCheck(inputs: HealthInputs, cacheMs = 30_000, foldersMs = 1000): () => Promise<HealthReport> {
  async function checkTools() {
    const problems: string[] = [];
    let ffmpeg: string | undefined;
    try {
      ffmpeg = await versionOf(inputs.ffmpegPath);
    } catch {
      problems.push(`ffmpeg is missing or does not run (${inputs.ffmpegPath}).`);
    }
    try {
      await versionOf(inputs.ffprobePath);
    } catch {
      problems.push(`ffprobe is missing or does not run (${inputs.ffprobePath}).`);
    }
    if (inputs.storage?.kind === 'spaces') problems.push(...(await checkStorage()));
    return { problems, ffmpeg };
  }

  async function checkStorage(): Promise<string[]> {
    try {
      await inputs.storage?.check?.();
      return [];
    } catch (err) {
      return [`The storage for MP4s cannot be used: ${(err as Error).message}`];
    }
  }

  async function checkFolder(folder: string): Promise<string[]> {
    try {
      await fs.access(folder, constants.W_OK);
    } catch {
      return [`The folder ${folder} is not writable.`];
    }
    const stats = await fs.statfs(folder);
    const freeMb = (stats.bavail * stats.bsize) / (1024 * 1024);
    return freeMb < inputs.minFreeDiskMb ? [`Free disk under ${folder} is ${Math.floor(freeMb)} MiB, below ${inputs.minFreeDiskMb} MiB.`] : [];
  }

  const tools = kept(checkTools, cacheMs);
  const folders = kept(
    async () => [...(await Promise.all(inputs.folders.map(checkFolder))).flat(), ...(inputs.storage?.kind === 'local' ? await checkStorage() : [])],
    foldersMs,
  );
  // Known before the first request, so no request waits for ffmpeg to start.
  void tools().catch(() => {});
  void folders().catch(() => {});

  return async () => {
    const [t, f] = await Promise.all([tools(), folders()]);
    const problems = [...t.problems, ...f];
    return { healthy: problems.length === 0, problems, ...(t.ffmpeg ? { ffmpeg: t.ffmpeg } : {}) };
  };
}
