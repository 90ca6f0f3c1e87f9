// Runs ffmpeg for one encode: niced, with a wall-clock limit, stoppable, its progress read from its
// own stats lines, and its refusal turned into a sentence. The encoders (MP4, WebM, GIF) say what
// to make; this says how ffmpeg is run.
//
// Spawned directly rather than through fluent-ffmpeg: that library was archived upstream in May
// 2025, and its public `run()` first starts `ffmpeg -formats` and `ffmpeg -encoders` to vet names
// ffmpeg checks itself (two process starts per bake, ~0.5 s on one vCPU), and its progress event
// runs ffprobe on the input. What we need of it is these ~100 lines.

import { spawn } from 'node:child_process';
import { OvenError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { interruptedError } from './probe.ts';

/**
 * ffmpeg runs under `nice -n 10`: on the droplet's one vCPU an encode at full priority starves the
 * service's own thread, and /health, /status and callbacks answer late (the reliability load run
 * measured /health's p99 at ~120 ms with two bakes going; ~65 ms niced). Alone, it encodes as fast.
 */
export const ENCODER_NICENESS = 10;

export interface FfmpegOptions {
  ffmpegPath: string;
  /** Everything after ffmpeg's own logging options: inputs, filters, outputs. */
  args: string[];
  /** Past this, ffmpeg is killed and the run fails with ENCODE_TIMEOUT. */
  timeoutSeconds: number;
  signal?: AbortSignal;
  /** Seconds of output written so far, from ffmpeg's `time=` (about four times a second). */
  onTime?: (seconds: number) => void;
  log?: Logger;
  /** What is being made, for messages ("the MP4"). */
  what: string;
}

export interface FfmpegResult {
  /** The last `frame=` count ffmpeg reported: the frames it wrote. */
  frames?: number;
}

/** Process ids of ffmpeg runs still going, so a bake process can weigh its whole memory. */
export const runningEncoders = new Set<number>();

const STATS = /frame=\s*(\d+).*?time=\s*(-?\d+):(\d+):(\d+(?:\.\d+)?)/;

export function runFfmpeg(options: FfmpegOptions): Promise<FfmpegResult> {
  if (options.signal?.aborted) return Promise.reject(interruptedError(options.signal));
  const args = ['-n', String(ENCODER_NICENESS), options.ffmpegPath, '-nostdin', '-hide_banner', '-loglevel', 'error', '-stats', '-stats_period', '0.25', ...options.args];
  options.log?.debug('ffmpeg started', { args: args.slice(2).join(' ') });
  const child = spawn('nice', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (child.pid !== undefined) runningEncoders.add(child.pid);

  return new Promise<FfmpegResult>((resolve, reject) => {
    let stopReason: OvenError | undefined;
    let frames: number | undefined;
    let carry = '';
    const errors: string[] = [];
    const stop = (why: OvenError): void => {
      stopReason ??= why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(
      () => stop(new OvenError('ENCODE_TIMEOUT', `Making ${options.what} took longer than ${options.timeoutSeconds} s and was stopped.`)),
      options.timeoutSeconds * 1000,
    );
    const onAbort = (): void => stop(interruptedError(options.signal!));
    options.signal?.addEventListener('abort', onAbort, { once: true });

    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      const lines = (carry + text).split(/\r\n|\r|\n/);
      carry = lines.pop() ?? '';
      for (const line of lines) readLine(line);
    });
    const readLine = (raw: string): void => {
      const line = raw.trim();
      if (!line) return;
      const stats = STATS.exec(line);
      if (stats) {
        frames = Number(stats[1]);
        options.onTime?.(Number(stats[2]) * 3600 + Number(stats[3]) * 60 + Number(stats[4]));
        return;
      }
      errors.push(line);
      if (errors.length > 20) errors.shift();
    };

    child.on('error', (err) => finish(err));
    child.on('close', (code, signal) => {
      if (carry) readLine(carry);
      finish(undefined, code, signal);
    });

    let settled = false;
    function finish(spawnError?: Error, code?: number | null, signal?: NodeJS.Signals | null): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (child.pid !== undefined) runningEncoders.delete(child.pid);
      if (stopReason) return reject(stopReason);
      if (!spawnError && code === 0) return resolve(frames === undefined ? {} : { frames });
      const failure = ffmpegFailure(options, errors, spawnError, code, signal);
      options.log?.warn('ffmpeg failed', { what: options.what, exitCode: code ?? null, signal: signal ?? null, stderr: errors.slice(-8) });
      reject(failure);
    }
  });
}

/** Why ffmpeg failed, as the job's error: not the tape's fault when the disk, a signal or the install is to blame. */
function ffmpegFailure(options: FfmpegOptions, errors: string[], spawnError: Error | undefined, code: number | null | undefined, signal: NodeJS.Signals | null | undefined): OvenError {
  // `nice` answers 127 when it cannot find the program it was asked to run.
  if (spawnError || code === 127) {
    return new OvenError('INTERNAL', `ffmpeg was not found at "${options.ffmpegPath}"; install ffmpeg or set FFMPEG_PATH.`, { cause: spawnError });
  }
  if (errors.some((line) => /No space left on device/i.test(line))) {
    return new OvenError('DISK_FULL', `The work folder ran out of disk space while making ${options.what}.`, { retryable: true });
  }
  // Killed from outside (the OOM killer, an operator): worth another attempt.
  if (signal) return new OvenError('ENCODE_FAILED', `ffmpeg was killed (${signal}) while making ${options.what}; the bake can be tried again.`, { retryable: true });
  return new OvenError('ENCODE_FAILED', `ffmpeg could not make ${options.what}: ${ffmpegReason(errors)}.`);
}

/** ffmpeg's own words for a refusal: its most telling line, without paths or memory addresses. */
export function ffmpegReason(errors: string[]): string {
  const telling = errors.filter((l) => !/^(Conversion failed!?|Error while (?:opening|filtering|processing).*|Error initializing output stream.*|Could not open file.*)$/i.test(l));
  const line = (telling[0] ?? errors[0] ?? `it exited with an error`)
    .replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/i, '')
    .replace(/(?:\/[^\s/:'"]+)+\/([^\s/:'"]+)/g, '$1')
    .replace(/[.\s]+$/, '');
  return line.slice(0, 200);
}
