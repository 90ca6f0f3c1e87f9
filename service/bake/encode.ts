// A read tape becomes an MP4: every frame at its recorded time, the soundtrack in sync,
// upscaled by a whole factor with nearest-neighbour so pixel art stays crisp.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import ffmpeg from 'fluent-ffmpeg';
import { OvenError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { interruptedError, probeSoundtrack } from './probe.ts';
import type { Tape } from './tape.ts';

/** The largest video we make, landscape; portrait tapes get it turned (1080×1920). */
export const MAX_LONG_SIDE = 1920;
export const MAX_SHORT_SIDE = 1080;

/**
 * ffmpeg runs under `nice -n 10`: on the droplet's one vCPU an encode at full priority starves the
 * service's own thread, and /health, /status and callbacks answer late (the reliability load run
 * measured /health's p99 at ~120 ms with two bakes going; ~65 ms niced). Alone, it encodes as fast.
 */
export const ENCODER_NICENESS = 10;

/**
 * x264 settings, chosen with `npm run bench` (bench/RESULTS.md): `ultrafast` with CABAC turned back on
 * (about 20% smaller files for a little CPU), `tune animation`, crf 22. On one core it encodes
 * upscaled pixel art about 3× faster than the first oven's `medium`/crf 23 at a higher SSIM, and
 * faster, smaller and as sharp as `superfast`/crf 24. Its lack of a deblocking filter keeps edges hard.
 */
export const X264 = { preset: 'ultrafast', crf: 22, tune: 'animation', params: 'cabac=1' } as const;

export interface EncodeOptions {
  ffmpegPath: string;
  ffprobePath: string;
  /** Preferred upscale factor (lowered to fit, at least 1). */
  scale: number;
  /** Wall-clock limit for the ffmpeg run; past it ffmpeg is killed (ENCODE_TIMEOUT). */
  timeoutSeconds: number;
  signal?: AbortSignal;
  /** 0..1: ffmpeg's output time over the tape's length. */
  onProgress?: (fraction: number) => void;
  log?: Logger;
}

export interface EncodeResult {
  width: number;
  height: number;
  scale: number;
  hasAudio: boolean;
}

/**
 * The whole upscale factor for a frame: at most `preferred`, and small enough that the result fits
 * 1920×1080 (landscape or square) or 1080×1920 (portrait). Never below 1: a frame too big even at
 * 1× is kept at 1× (no downscale smears pixel art; OVEN_MAX_FRAME_PIXELS bounds its size).
 */
export function scaleFactorFor(width: number, height: number, preferred: number): number {
  const [maxW, maxH] = width >= height ? [MAX_LONG_SIDE, MAX_SHORT_SIDE] : [MAX_SHORT_SIDE, MAX_LONG_SIDE];
  const fits = Math.min(Math.floor(maxW / width), Math.floor(maxH / height));
  return Math.max(1, Math.min(Math.floor(preferred), fits));
}

/** yuv420p needs even sides: one pixel of padding, never a rescale that would blur. */
export function evenUp(n: number): number {
  return n % 2 === 0 ? n : n + 1;
}

/** Seconds with microsecond precision, as ffconcat reads them. */
function seconds(ms: number): string {
  return (ms / 1000).toFixed(6);
}

/**
 * An ffconcat list giving each frame its own duration. `option framerate 1000000` makes each PNG's
 * demuxer (and so the concat stream) count in microseconds; at the default 25 fps every start
 * would be rounded to 40 ms. The last frame is listed twice: the concat demuxer gives the last
 * entry no length, so the repeat marks where the tape ends.
 */
export function concatList(tape: Tape, listDir: string): string {
  const lines = ['ffconcat version 1.0'];
  const entry = (framePath: string): string => {
    const rel = path.relative(listDir, framePath).split(path.sep).join('/');
    // Names are ours (made by the unpacker), but keep the list unambiguous whatever they are.
    if (!/^[A-Za-z0-9._/-]+$/.test(rel) || rel.startsWith('../') || rel.startsWith('/')) {
      throw new OvenError('INTERNAL', 'A frame file has a name the encoder cannot list.');
    }
    return `file ${rel}\noption framerate 1000000`;
  };
  for (const frame of tape.frames) {
    lines.push(entry(frame.path), `duration ${seconds(frame.durationMs)}`);
  }
  const last = tape.frames[tape.frames.length - 1];
  if (last) lines.push(entry(last.path));
  return lines.join('\n') + '\n';
}

function timemarkSeconds(mark: unknown): number | undefined {
  if (typeof mark !== 'string') return undefined;
  const m = /^(-?\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(mark.trim());
  if (!m) return undefined;
  return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
}

function lastLines(stderr: unknown, n: number): string[] {
  return String(stderr ?? '')
    .split(/\r\n|\r|\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('frame=') && !l.startsWith('size='))
    .slice(-n);
}

/** Encode `tape` into `outPath` (an .mp4). The concat list is written next to the frames. */
export async function encodeTape(tape: Tape, outPath: string, options: EncodeOptions): Promise<EncodeResult> {
  const first = tape.frames[0];
  if (!first) throw new OvenError('TAPE_NO_FRAMES', 'The tape has no frames to encode.');
  if (options.signal?.aborted) throw interruptedError(options.signal);

  const soundtrack = tape.soundtrackPath;
  if (soundtrack) await probeSoundtrack(options.ffprobePath, soundtrack, options.signal);

  const scale = scaleFactorFor(tape.width, tape.height, options.scale);
  const width = evenUp(tape.width * scale);
  const height = evenUp(tape.height * scale);
  const listDir = path.dirname(first.path);
  const listPath = path.join(listDir, 'frames.ffconcat');
  await writeFile(listPath, concatList(tape, listDir));

  const tapeSeconds = tape.durationMs / 1000;
  const command = ffmpeg({ stdoutLines: 30, niceness: ENCODER_NICENESS })
    .setFfmpegPath(options.ffmpegPath)
    .setFfprobePath(options.ffprobePath)
    .input(listPath)
    // -safe 0 is what allows the list's `option` lines; the list is ours and only files may be opened.
    .inputOptions(['-nostdin', '-hide_banner', '-loglevel', 'error', '-stats', '-stats_period', '0.25', '-protocol_whitelist', 'file', '-f', 'concat', '-safe', '0']);
  if (soundtrack) command.input(soundtrack).inputOptions(['-protocol_whitelist', 'file']);
  // fluent-ffmpeg would first run `ffmpeg -formats` and `ffmpeg -encoders` to vet names we pass as
  // raw options anyway (ffmpeg itself refuses unknown ones) and to add `-strict experimental` for
  // encoders that need it (ours do not): two process starts per bake, ~0.5 s of the CLI's time on
  // one vCPU. fluent-ffmpeg 2.1.3 is its final release, so these internals stay put.
  const probes = command as unknown as {
    _checkCapabilities: (done: (err?: Error) => void) => void;
    availableEncoders: (done: (err: Error | null, encoders: Record<string, never>) => void) => void;
  };
  probes._checkCapabilities = (done) => done();
  probes.availableEncoders = (done) => done(null, {});

  const video = [
    '-map', '0:v:0',
    '-vf', `scale=iw*${scale}:ih*${scale}:flags=neighbor,pad=${width}:${height}:0:0:black`,
    '-c:v', 'libx264', '-preset', X264.preset, '-crf', String(X264.crf), '-tune', X264.tune, '-x264-params', X264.params,
    '-pix_fmt', 'yuv420p',
    // Keep the demuxer's timestamps: frames land on their recorded times, none duplicated or dropped.
    '-fps_mode', 'vfr', '-video_track_timescale', '90000',
  ];
  // The soundtrack starts with the first frame and is cut where the tape ends.
  const audio = soundtrack ? ['-map', '1:a:0', '-af', `atrim=end=${tapeSeconds.toFixed(6)}`, '-c:a', 'aac', '-b:a', '128k'] : ['-an'];
  command
    .output(outPath)
    .outputOptions([...video, ...audio, '-sn', '-dn', '-map_metadata', '-1', '-movflags', '+faststart', '-f', 'mp4']);

  await new Promise<void>((resolve, reject) => {
    let settled = false;
    let stopReason: OvenError | undefined;
    let reported = 0;
    const stop = (why: OvenError): void => {
      if (stopReason) return;
      stopReason = why;
      command.kill('SIGKILL');
    };
    const timer = setTimeout(
      () => stop(new OvenError('ENCODE_TIMEOUT', `Encoding took longer than ${options.timeoutSeconds} s and was stopped.`)),
      options.timeoutSeconds * 1000,
    );
    const onAbort = (): void => stop(interruptedError(options.signal!));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (err?: OvenError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };

    command.on('start', (line: string) => {
      options.log?.debug('ffmpeg started', { args: line });
      // A stop asked for while fluent-ffmpeg was still preparing: the process exists only now.
      if (stopReason) command.kill('SIGKILL');
    });
    // ffmpeg's own `time=` in its stats lines. (fluent-ffmpeg's 'progress' event would first run
    // ffprobe on the concat list, unguarded, just to learn a duration we already know.)
    command.on('stderr', (line: string) => {
      const t = timemarkSeconds(/time=\s*(\S+)/.exec(line)?.[1]);
      if (t === undefined || !options.onProgress || tapeSeconds <= 0) return;
      const fraction = Math.min(1, Math.max(0, t / tapeSeconds));
      if (fraction > reported) {
        reported = fraction;
        options.onProgress(fraction);
      }
    });
    command.on('error', (err: Error, _stdout: unknown, stderr: unknown) => {
      if (stopReason) return finish(stopReason);
      const tail = lastLines(stderr, 8);
      options.log?.warn('ffmpeg failed', { error: err.message.split('\n')[0], stderr: tail });
      // `nice` answers 127 when it cannot find the program it was asked to run.
      if (/ENOENT|Cannot find ffmpeg|exited with code 127/i.test(err.message)) {
        return finish(new OvenError('INTERNAL', `ffmpeg was not found at "${options.ffmpegPath}"; install ffmpeg or set FFMPEG_PATH.`, { cause: err }));
      }
      // Not the tape's fault, so worth another attempt: the work disk filling up, or ffmpeg killed
      // from outside (the OOM killer, an operator); a bad tape makes ffmpeg exit with a code instead.
      if (tail.some((line) => /No space left on device/i.test(line))) {
        return finish(new OvenError('DISK_FULL', 'The work folder ran out of disk space while encoding.', { retryable: true, cause: err }));
      }
      const killedBy = /killed with signal (\w+)/.exec(err.message)?.[1];
      if (killedBy) {
        return finish(new OvenError('ENCODE_FAILED', `ffmpeg was killed (${killedBy}) while encoding; the bake can be tried again.`, { retryable: true, cause: err }));
      }
      finish(new OvenError('ENCODE_FAILED', 'ffmpeg could not encode the tape into an MP4.', { cause: err }));
    });
    command.on('end', () => {
      if (stopReason) return finish(stopReason);
      if (reported < 1) options.onProgress?.(1);
      finish();
    });
    command.run();
  });

  return { width, height, scale, hasAudio: Boolean(soundtrack) };
}
