// A read tape becomes an MP4: every frame at its recorded time, the soundtrack in sync,
// upscaled by a whole factor with nearest-neighbour so pixel art stays crisp.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OvenError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { runFfmpeg } from './ffmpeg.ts';
import { interruptedError } from './probe.ts';
import type { Tape } from './tape.ts';

/** The largest video we make, landscape; portrait tapes get it turned (1080×1920). */
export const MAX_LONG_SIDE = 1920;
export const MAX_SHORT_SIDE = 1080;

/**
 * x264 settings, chosen with `npm run bench` (bench/RESULTS.md): `ultrafast` with CABAC turned back on
 * (about 20% smaller files for a little CPU), `tune animation`, crf 22. On one core it encodes
 * upscaled pixel art about 3× faster than the first oven's `medium`/crf 23 at a higher SSIM, and
 * faster, smaller and as sharp as `superfast`/crf 24. Its lack of a deblocking filter keeps edges hard.
 */
export const X264 = { preset: 'ultrafast', crf: 22, tune: 'animation', params: 'cabac=1' } as const;

export interface EncodeOptions {
  ffmpegPath: string;
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

/** Encode `tape` into `outPath` (an .mp4). The concat list is written next to the frames. */
export async function encodeTape(tape: Tape, outPath: string, options: EncodeOptions): Promise<EncodeResult> {
  const first = tape.frames[0];
  if (!first) throw new OvenError('TAPE_NO_FRAMES', 'The tape has no frames to encode.');
  if (options.signal?.aborted) throw interruptedError(options.signal);

  // Checked by the tape reader (wav.ts): a WAV header ffmpeg decodes.
  const soundtrack = tape.soundtrackPath;

  const scale = scaleFactorFor(tape.width, tape.height, options.scale);
  const width = evenUp(tape.width * scale);
  const height = evenUp(tape.height * scale);
  const listDir = path.dirname(first.path);
  const listPath = path.join(listDir, 'frames.ffconcat');
  await writeFile(listPath, concatList(tape, listDir));

  const tapeSeconds = tape.durationMs / 1000;
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
  let reported = 0;
  const { frames } = await runFfmpeg({
    ffmpegPath: options.ffmpegPath,
    what: 'the MP4',
    // -safe 0 is what allows the list's `option` lines; the list is ours and only files may be opened.
    args: [
      '-protocol_whitelist', 'file', '-f', 'concat', '-safe', '0', '-i', listPath,
      ...(soundtrack ? ['-protocol_whitelist', 'file', '-i', soundtrack] : []),
      ...video, ...audio, '-sn', '-dn', '-map_metadata', '-1', '-movflags', '+faststart', '-f', 'mp4', '-y', outPath,
    ],
    timeoutSeconds: options.timeoutSeconds,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.log ? { log: options.log } : {}),
    onTime: (t) => {
      const fraction = tapeSeconds > 0 ? Math.min(1, Math.max(0, t / tapeSeconds)) : 0;
      if (fraction > reported) {
        reported = fraction;
        options.onProgress?.(fraction);
      }
    },
  });
  if (reported < 1) options.onProgress?.(1);
  // One video frame per tape frame, plus the repeat that marks the end (see concatList): anything
  // else means a frame was dropped, or played frames of its own (an animated PNG).
  if (frames !== undefined && frames !== tape.frames.length + 1) {
    throw new OvenError('ENCODE_FAILED', `The MP4 came out with ${frames - 1} frames for the tape's ${tape.frames.length}; a frame did not decode as one picture.`);
  }

  return { width, height, scale, hasAudio: Boolean(soundtrack) };
}
