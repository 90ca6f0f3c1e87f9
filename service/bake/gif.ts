// A read tape becomes a looping GIF: no sound, a palette made for the tape and no dithering (pixel
// art keeps its exact colours), upscaled by a whole factor with nearest-neighbour, and timed on
// the GIF's own clock of hundredths of a second.

import { rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { OvenError } from '../errors.ts';
import { runFfmpeg } from './ffmpeg.ts';
import { firstFrameOf, frameListInput, writeFrameList } from './frame-list.ts';
import { ffmpegPlumbing, progressOf, type OutputOptions } from './outputs-common.ts';
import type { Tape, TapeFrame } from './tape.ts';

/** GIFs are for sharing and previews: at most 640 pixels on the long side, at most 2×. */
export const GIF_MAX_LONG_SIDE = 640;
export const GIF_MAX_SCALE = 2;
/**
 * Browsers play a delay of 0 or 1 hundredth as 10 (Chromium and Firefox give any frame of 10 ms or
 * less 100 ms: a GIF made at 60 fps would play at 10 fps), so no GIF frame is shorter than this.
 */
export const MIN_GIF_DELAY_CS = 2;
/** A delay is 16 bits; a longer stretch is shown as the same frame again. */
export const MAX_GIF_DELAY_CS = 0xffff;

/**
 * The palette: the 256 colours that best cover every pixel of every frame shown, counted over whole
 * frames (`stats_mode=diff`, counting only what moves, came out 1% smaller and less faithful to a
 * still background). No index is reserved for transparency: ffmpeg's GIF encoder finds an index a
 * frame does not use for the pixels unchanged since the previous one, so reserving one only costs a colour.
 */
export const PALETTEGEN = 'palettegen=max_colors=256:reserve_transparent=0:stats_mode=full';
/**
 * Each pixel to its nearest palette colour, no dithering: a tape of up to 256 colours keeps them
 * exactly, and dither patterns would smear pixel art (Bayer made the GIFs 14–53% bigger and further
 * from the frames). `diff_mode=rectangle` maps only what changed since the previous frame; without
 * dithering that changes no pixel, only the work.
 */
export const PALETTEUSE = 'paletteuse=dither=none:diff_mode=rectangle';

/**
 * The palette run's share of a GIF's work (a fifth to a third, measured): it reports no progress
 * of its own, since palettegen writes its one picture at the end.
 */
const PALETTE_SHARE = 0.25;

export interface GifOptions extends Omit<OutputOptions, 'scale'> {
  /** A GIF bigger than this is not kept: encodeGif throws GifTooLargeError. */
  maxBytes: number;
  /** Filters in place of PALETTEGEN and PALETTEUSE (for measuring others). */
  palettegen?: string;
  paletteuse?: string;
}

export interface GifResult {
  width: number;
  height: number;
  bytes: number;
  /** Number of GIF frames (fast tape frames are merged; see gifTiming). */
  frames: number;
  /** Each GIF frame's delay, in hundredths of a second. */
  delaysCs: number[];
}

/** A GIF over `maxBytes`: not an encoder fault, and not kept. */
export class GifTooLargeError extends OvenError {
  /** Bytes written when the limit was seen: the whole GIF, or where ffmpeg was stopped. */
  readonly bytes: number;
  readonly maxBytes: number;

  constructor(bytes: number, maxBytes: number, stoppedAt?: { frame: number; of: number }) {
    super(
      'GIF_TOO_LARGE',
      stoppedAt
        ? `The GIF is over the limit of ${maxBytes} bytes (OVEN_MAX_GIF_BYTES): it had reached ${bytes} bytes by frame ${stoppedAt.frame} of ${stoppedAt.of}, and was not kept.`
        : `The GIF is ${bytes} bytes, over the limit of ${maxBytes} (OVEN_MAX_GIF_BYTES), and was not kept.`,
    );
    this.name = 'GifTooLargeError';
    this.bytes = bytes;
    this.maxBytes = maxBytes;
  }
}

/**
 * The whole upscale factor for a GIF: at most 2×, small enough to fit 640 pixels on the long side,
 * never below 1 (a bigger frame stays at 1×: shrinking would smear it). No padding: GIF sides may be odd.
 */
export function gifScaleFor(width: number, height: number): number {
  return Math.max(1, Math.min(GIF_MAX_SCALE, Math.floor(GIF_MAX_LONG_SIDE / Math.max(width, height))));
}

export interface GifTiming {
  /** Which tape frame (its position in the tape's frame list) each GIF frame shows. */
  frames: number[];
  /** How long each GIF frame is shown, in hundredths of a second; none under MIN_GIF_DELAY_CS. */
  delaysCs: number[];
}

/** A time in milliseconds on the GIF's clock: whole hundredths, the nearest, through whole microseconds so sums of fractions round alike. */
function toCs(ms: number): number {
  return Math.floor((Math.round(ms * 1000) + 5000) / 10000);
}

/**
 * When each GIF frame starts and what it shows. The tape's frame starts are rounded to the nearest
 * hundredth (cumulative times, so rounding never adds up); each GIF frame shows the tape frame on
 * screen at its start and lasts until the next frame's start, but at least MIN_GIF_DELAY_CS:
 * frames that would get less are dropped in favour of the next one (a 60 fps tape plays at 50 fps,
 * one frame in six left out, each shown at its time). So:
 * - the GIF lasts the tape's length rounded to the nearest hundredth (at least 2 hundredths);
 * - every tape frame of 20 ms or more is shown, at most one hundredth after its rounded start
 *   (the last one may be dropped when less than two hundredths remain for it).
 */
export function gifTiming(durationsMs: readonly number[]): GifTiming {
  const frames: number[] = [];
  const delaysCs: number[] = [];
  if (durationsMs.length === 0) return { frames, delaysCs };

  const startsCs: number[] = [];
  let startMs = 0;
  for (const d of durationsMs) {
    startsCs.push(toCs(startMs));
    startMs += d;
  }
  const endCs = Math.max(MIN_GIF_DELAY_CS, toCs(startMs));
  const push = (frame: number, delay: number): void => {
    for (let left = delay; left > 0; left -= MAX_GIF_DELAY_CS) {
      frames.push(frame);
      delaysCs.push(Math.min(left, MAX_GIF_DELAY_CS));
    }
  };

  let at = 0;
  let shown = 0;
  while (at < endCs) {
    // The frame on screen now: the last one whose (rounded) start has come.
    while (shown + 1 < startsCs.length && startsCs[shown + 1]! <= at) shown++;
    const change = shown + 1 < startsCs.length ? startsCs[shown + 1]! : endCs;
    let next = Math.min(endCs, Math.max(change, at + MIN_GIF_DELAY_CS));
    // Too little left for one more frame: this one lasts to the end.
    if (endCs - next < MIN_GIF_DELAY_CS) next = endCs;
    push(shown, next - at);
    at = next;
  }
  return { frames, delaysCs };
}

/** Encode `tape` into `outPath` (a .gif); nothing is left at `outPath` unless it succeeds within maxBytes. */
export async function encodeGif(tape: Tape, outPath: string, options: GifOptions): Promise<GifResult> {
  firstFrameOf(tape, options.signal);
  const scale = gifScaleFor(tape.width, tape.height);
  const width = tape.width * scale;
  const height = tape.height * scale;
  const timing = gifTiming(tape.frames.map((f) => f.durationMs));
  // The GIF's frames as a frame list: each lasts its delay exactly, so each timestamp is a whole hundredth.
  const shown: TapeFrame[] = timing.frames.map((position, i) => ({ ...tape.frames[position]!, durationMs: timing.delaysCs[i]! * 10 }));
  const listPath = await writeFrameList(tape, shown, 'frames-gif.ffconcat');
  const palettePath = path.join(path.dirname(listPath), 'gif-palette.png');
  const partPath = `${outPath}.part`;
  const input = frameListInput(listPath);
  // Alpha is dropped as the MP4 drops it, so the palette holds only colours that are seen.
  const opaque = 'format=rgb24';
  const progress = progressOf(tape.durationMs / 1000, options.onProgress, [PALETTE_SHARE, 1]);
  let bytes: number;
  try {
    // The palette first, from the frames at their own size (the same colours in the same shares
    // as upscaled). A run of its own rather than `split` in one graph: there paletteuse holds every
    // upscaled frame until the palette is made at the end (510 MB for 8 s at 640×480, against 80).
    await runFfmpeg({
      ...ffmpegPlumbing(options),
      what: "the GIF's palette",
      args: [...input, '-vf', `${opaque},${options.palettegen ?? PALETTEGEN}`, '-frames:v', '1', '-update', '1', '-f', 'image2', '-y', palettePath],
    });
    options.onProgress?.(PALETTE_SHARE);
    const { frames } = await runFfmpeg({
      ...ffmpegPlumbing(options),
      what: 'the GIF',
      args: [
        ...input, '-protocol_whitelist', 'file', '-i', palettePath,
        '-lavfi', `[0:v]${opaque},scale=iw*${scale}:ih*${scale}:flags=neighbor[big];[big][1:v]${options.paletteuse ?? PALETTEUSE}`,
        // The list's last entry only marks the end; the last frame's delay is given outright.
        '-frames:v', String(timing.frames.length), '-fps_mode', 'vfr',
        '-loop', '0', '-final_delay', String(timing.delaysCs[timing.delaysCs.length - 1]!),
        // ffmpeg stops writing once past the limit: a GIF that will not be kept costs no more.
        '-fs', String(Math.floor(options.maxBytes) + 1),
        '-map_metadata', '-1', '-f', 'gif', '-y', partPath,
      ],
      onTime: progress.onTime,
    });
    bytes = (await stat(partPath)).size;
    if (bytes > options.maxBytes) {
      const stopped = frames !== undefined && frames < timing.frames.length ? { frame: frames, of: timing.frames.length } : undefined;
      throw new GifTooLargeError(bytes, options.maxBytes, stopped);
    }
    if (frames !== undefined && frames !== timing.frames.length) {
      throw new OvenError('ENCODE_FAILED', `The GIF came out with ${frames} frames instead of ${timing.frames.length}; a frame did not decode as one picture.`);
    }
    await rename(partPath, outPath);
  } finally {
    await unlink(partPath).catch(() => {});
    await unlink(palettePath).catch(() => {});
  }
  progress.finish();
  return { width, height, bytes, frames: timing.frames.length, delaysCs: timing.delaysCs };
}
