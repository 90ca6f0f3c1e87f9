// Small questions to ffmpeg and ffprobe (which version is installed), and how a stopped bake ends.

import { execFile } from 'node:child_process';
import { OvenError } from '../errors.ts';

/** The error a stopped bake ends with: the abort's own reason when it is an OvenError, else INTERRUPTED. */
export function interruptedError(signal: AbortSignal): OvenError {
  const reason: unknown = signal.reason;
  if (reason instanceof OvenError) return reason;
  return new OvenError('INTERRUPTED', 'The bake was stopped before it finished.', { retryable: true, cause: reason });
}

function run(binary: string, args: string[], timeoutMs: number, signal?: AbortSignal): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024, windowsHide: true, ...(signal ? { signal } : {}) },
      (err, stdout, stderr) => (err ? reject(Object.assign(err, { stderr })) : resolve({ stdout, stderr })),
    );
  });
}

/** The first line of `ffmpeg -version` (or of ffprobe's), e.g. "ffmpeg version 5.1.6-0+deb12u1". */
export async function toolVersion(binary: string): Promise<string> {
  const { stdout } = await run(binary, ['-hide_banner', '-version'], 10_000);
  const first = stdout.split('\n')[0] ?? '';
  return first.replace(/\s+Copyright.*$/, '').trim();
}
