// Is this oven able to bake? ffmpeg and ffprobe run, the work and data folders are writable,
// and there is disk to spare. Uptime monitoring reads the answer through GET /health.

import { execFile } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface HealthInputs {
  ffmpegPath: string;
  ffprobePath: string;
  folders: string[];
  minFreeDiskMb: number;
}

export interface HealthReport {
  healthy: boolean;
  problems: string[];
  ffmpeg?: string;
}

async function versionOf(binary: string): Promise<string> {
  const { stdout } = await run(binary, ['-version'], { timeout: 5000 });
  return /version\s+(\S+)/.exec(stdout)?.[1] ?? 'unknown';
}

/** The ffmpeg check spawns processes, so it is remembered briefly; folder and disk checks are cheap and always fresh. */
export function createHealthCheck(inputs: HealthInputs, cacheMs = 30_000): () => Promise<HealthReport> {
  let tools: { at: number; problems: string[]; ffmpeg?: string } | undefined;

  async function checkTools() {
    if (tools && Date.now() - tools.at < cacheMs) return tools;
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
    tools = { at: Date.now(), problems, ffmpeg };
    return tools;
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

  return async () => {
    const [t, ...folders] = await Promise.all([checkTools(), ...inputs.folders.map(checkFolder)]);
    const problems = [...t.problems, ...folders.flat()];
    return { healthy: problems.length === 0, problems, ...(t.ffmpeg ? { ffmpeg: t.ffmpeg } : {}) };
  };
}
