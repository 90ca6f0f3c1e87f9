// A read tape becomes an MP4: every frame at its recorded time, the soundtrack in sync,
// upscaled by a whole factor with nearest-neighbour so pixel art stays crisp.

import { stat } from 'node:fs/promises';
import { OvenError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { runFfmpeg } from './ffmpeg.ts';
import { checkFramesEncoded, firstFrameOf, frameListInput, writeFrameList } from './frame-list.ts';
import type { SizeBudget } from '../../contract/index.ts';
import type { Tape } from './tape.ts';

/** The largest video we make, landscape; portrait tapes get it turned (1080×1920). */
export const MAX_LONG_SIDE = 1920;
export const MAX_SHORT_SIDE = 1080;

/**
 * x264 settings, chosen by measurement (bench/RESULTS.md, "How the x264 settings were chosen"):
 * `veryfast` with motion search and B-frame decisions cut back to what 3×3-pixel blocks need, the
 * 8×8 transform off (it smears single pixels; also keeps the profile Main), a lighter deblock, and
 * smaller deadzones, which keep single-pixel detail for fewer bytes than a lower crf would. At crf
 * 22.5 the SSIM (All and luma) is at least the first oven's on every bench tape, for a third of its
 * CPU; the files are ~0.7× the first oven's on a long tape and ~1.3× on short busy ones.
 */
export const X264 = {
  preset: 'veryfast',
  crf: 22.5,
  tune: 'animation',
  params: 'me=dia:subme=1:ref=2:bframes=5:b-adapt=0:8x8dct=0:deblock=-1,-1:deadzone-inter=7:deadzone-intra=4',
} as const;

/**
 * Frames x264's rate control looks ahead. Each one held costs memory: at 1920×1080, 20 of them take
 * ffmpeg to ~295 MB and 10 to ~225 MB for the same bytes (bench/RESULTS.md), so big videos look
 * half as far.
 */
export function lookaheadFor(width: number, height: number): number {
  return width * height > 1_000_000 ? 10 : 20;
}

export interface EncodeOptions {
  ffmpegPath: string;
  /** Preferred upscale factor (lowered to fit, at least 1). */
  scale: number;
  /** Wall-clock limit for one ffmpeg run; past it ffmpeg is killed (ENCODE_TIMEOUT). */
  timeoutSeconds: number;
  /** OVEN_MAX_MP4_BYTES: a bigger MP4 is made again once at a bitrate that fits, or fails MP4_TOO_LARGE. No budget when unset. */
  maxBytes?: number;
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
  bytes: number;
  /** Set when the first MP4 was over the size budget and was made again at a computed bitrate. */
  sizeBudget?: SizeBudget;
}

export type { SizeBudget };

/** How the encoder spends bits: a quality (crf), or a bitrate to fit a size budget. */
export type VideoRate = { crf: number } | { kbps: number };

/** AAC at this rate; the size budget leaves it room. */
export const AUDIO_KBPS = 128;
/** Below this a video is mush, not pixel art: a tape that needs less fails MP4_TOO_LARGE instead. */
export const MIN_VIDEO_KBPS = 64;
/** The budget aims this far under the limit: the muxer's overhead and x264's rate control have room. */
const BUDGET_HEADROOM = 0.9;
/** The rate control's buffer, in seconds of the target rate (bufsize = maxrate × this). */
const VBV_SECONDS = 1;

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

/** A video's size (MP4 and WebM alike): the whole upscale factor that fits, and the sides made even. */
export interface VideoShape {
  scale: number;
  width: number;
  height: number;
}

export function videoShape(tape: Pick<Tape, 'width' | 'height'>, preferredScale: number): VideoShape {
  const scale = scaleFactorFor(tape.width, tape.height, preferredScale);
  return { scale, width: evenUp(tape.width * scale), height: evenUp(tape.height * scale) };
}

/** The filter that upscales with nearest-neighbour and pads an odd side with one black pixel (never a rescale). */
export function upscaleFilter({ scale, width, height }: VideoShape): string {
  return `scale=iw*${scale}:ih*${scale}:flags=neighbor,pad=${width}:${height}:0:0:black`;
}

/**
 * The frame rate x264 is told (`fps=`), which sets the H.264 level it declares. Timestamps are
 * untouched (they come from the list, on a microsecond clock); left to itself x264 reads the rate off
 * that clock and declares level 6.2, as for a million frames a second, which phones may refuse.
 * The level limits the macroblock rate at the shortest frame intervals, so the rate is the higher of
 * the average and the one the median frame implies: a tape averaging 40 fps in 60 fps bursts is 60.
 * 60 fps at 960×720 is level 3.2, 1080p60 is 4.2.
 */
export function declaredFps(tape: Pick<Tape, 'frames' | 'durationMs'>): number {
  const average = tape.frames.length / (tape.durationMs / 1000);
  const sorted = tape.frames.map((f) => f.durationMs).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 1000;
  // Durations are recorded to 0.01 ms, so 30 fps can average 30.003: that is still 30.
  return Math.max(1, Math.ceil(average - 0.01), Math.round(1000 / median));
}

export interface Mp4Plan extends VideoShape {
  listPath: string;
  soundtrackPath?: string;
  tapeSeconds: number;
  fps: number;
  rate: VideoRate;
  outPath: string;
}

/** The x264 part of the command: the chosen settings, at a quality or at a bitrate. */
export function x264Args(rate: VideoRate, fps: number, lookahead: number): string[] {
  const params = [X264.params, `rc-lookahead=${lookahead}`, `fps=${fps}/1`].join(':');
  const spend = 'crf' in rate
    ? ['-crf', String(rate.crf)]
    // At most the budget's rate in any second (a one-second buffer), so the whole stays within it.
    : ['-b:v', `${rate.kbps}k`, '-maxrate', `${rate.kbps}k`, '-bufsize', `${rate.kbps}k`];
  return ['-c:v', 'libx264', '-preset', X264.preset, '-tune', X264.tune, ...spend, '-x264-params', params];
}

/** Every ffmpeg argument of one MP4 encode (after ffmpeg's own logging options): the bench runs exactly these. */
export function mp4Args(plan: Mp4Plan): string[] {
  const { scale, width, height } = plan;
  return [
    ...frameListInput(plan.listPath),
    ...(plan.soundtrackPath ? ['-protocol_whitelist', 'file', '-i', plan.soundtrackPath] : []),
    '-map', '0:v:0',
    '-vf', upscaleFilter({ scale, width, height }),
    ...x264Args(plan.rate, plan.fps, lookaheadFor(width, height)),
    '-pix_fmt', 'yuv420p',
    // Keep the demuxer's timestamps: frames land on their recorded times, none duplicated or dropped.
    '-fps_mode', 'vfr', '-video_track_timescale', '90000',
    // The soundtrack starts with the first frame and is cut where the tape ends.
    ...(plan.soundtrackPath ? ['-map', '1:a:0', '-af', `atrim=end=${plan.tapeSeconds.toFixed(6)}`, '-c:a', 'aac', '-b:a', `${AUDIO_KBPS}k`] : ['-an']),
    '-sn', '-dn', '-map_metadata', '-1', '-movflags', '+faststart', '-f', 'mp4', '-y', plan.outPath,
  ];
}

/** Writes the tape's concat list next to its frames and works out the MP4's shape. */
export async function planMp4(tape: Tape, outPath: string, preferredScale: number, rate: VideoRate = { crf: X264.crf }): Promise<Mp4Plan> {
  const listPath = await writeFrameList(tape, tape.frames, 'frames.ffconcat');
  return {
    listPath,
    // Checked by the tape reader (wav.ts): a WAV header ffmpeg decodes.
    ...(tape.soundtrackPath ? { soundtrackPath: tape.soundtrackPath } : {}),
    ...videoShape(tape, preferredScale),
    tapeSeconds: tape.durationMs / 1000,
    fps: declaredFps(tape),
    rate,
    outPath,
  };
}

/**
 * The video bitrate that keeps a tape of this length within `limitBytes`, sound included, or
 * undefined when that would be below MIN_VIDEO_KBPS.
 */
export function kbpsToFit(limitBytes: number, tapeSeconds: number, hasAudio: boolean): number | undefined {
  const bits = limitBytes * 8 * BUDGET_HEADROOM - (hasAudio ? AUDIO_KBPS * 1000 * tapeSeconds : 0);
  // The rate control may also spend its one-second buffer, filled, on top of the rate over the tape.
  const kbps = Math.floor(bits / (tapeSeconds + VBV_SECONDS) / 1000);
  return kbps >= MIN_VIDEO_KBPS ? kbps : undefined;
}

/**
 * Encode `tape` into `outPath` (an .mp4). The concat list is written next to the frames. An MP4
 * over `maxBytes` is made once more at the bitrate that fits (still nearest-neighbour: pixel-crisp,
 * just coarser); one that still does not fit, or would need too low a rate, fails MP4_TOO_LARGE.
 */
export async function encodeTape(tape: Tape, outPath: string, options: EncodeOptions): Promise<EncodeResult> {
  firstFrameOf(tape, options.signal);
  const plan = await planMp4(tape, outPath, options.scale);
  const hasAudio = Boolean(plan.soundtrackPath);
  const result = { width: plan.width, height: plan.height, scale: plan.scale, hasAudio };

  // The first encode is most of the bake; a second, when needed, shares the progress bar's last part.
  let bytes = await runMp4(tape, plan, options, (f) => options.onProgress?.(f));
  const limitBytes = options.maxBytes ?? Infinity;
  if (bytes <= limitBytes) {
    options.onProgress?.(1);
    return { ...result, bytes };
  }
  const tooLarge = (why: string) => new OvenError('MP4_TOO_LARGE', `The MP4 is ${bytes} bytes, over OVEN_MAX_MP4_BYTES (${limitBytes}); ${why}.`);
  const kbps = kbpsToFit(limitBytes, plan.tapeSeconds, hasAudio);
  if (kbps === undefined) throw tooLarge(`fitting ${plan.tapeSeconds.toFixed(1)} s into it would leave the video under ${MIN_VIDEO_KBPS} kb/s`);
  const firstBytes = bytes;
  options.log?.info('MP4 over its size budget; making it again at a bitrate that fits', { bytes, limitBytes, videoKbps: kbps });
  bytes = await runMp4(tape, { ...plan, rate: { kbps } }, options, () => undefined);
  if (bytes > limitBytes) throw tooLarge(`even at ${kbps} kb/s it came out ${bytes} bytes`);
  options.onProgress?.(1);
  return { ...result, bytes, sizeBudget: { limitBytes, firstBytes, videoKbps: kbps } };
}

/** One ffmpeg run of the plan; resolves with the MP4's size once its frame count is checked. */
async function runMp4(tape: Tape, plan: Mp4Plan, options: EncodeOptions, onProgress: (fraction: number) => void): Promise<number> {
  let reported = 0;
  const { frames } = await runFfmpeg({
    ffmpegPath: options.ffmpegPath,
    what: 'the MP4',
    args: mp4Args(plan),
    timeoutSeconds: options.timeoutSeconds,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.log ? { log: options.log } : {}),
    onTime: (t) => {
      const fraction = plan.tapeSeconds > 0 ? Math.min(1, Math.max(0, t / plan.tapeSeconds)) : 0;
      if (fraction > reported) {
        reported = fraction;
        onProgress(Math.min(fraction, 0.999));
      }
    },
  });
  checkFramesEncoded('The MP4', frames, tape);
  return (await stat(plan.outPath)).size;
}
