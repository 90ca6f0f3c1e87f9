// A read tape becomes a WebM (VP9 and Opus) for browsers that prefer it: the same size, frames and
// times as the MP4 (same frame list, same whole-factor nearest-neighbour upscale), the soundtrack
// in sync and cut where the tape ends.

import { stat } from 'node:fs/promises';
import { upscaleFilter, videoShape } from './encode.ts';
import { runFfmpeg } from './ffmpeg.ts';
import { checkFramesEncoded, firstFrameOf, frameListInput, writeFrameList } from './frame-list.ts';
import { ffmpegPlumbing, progressOf, type OutputOptions } from './outputs-common.ts';
import type { Tape } from './tape.ts';

/**
 * libvpx-vp9 settings, chosen by measurement on one core (8 s 320×240 busy tape at 3×, against the
 * MP4 of the same frames; SSIM against the frames at their recorded times; bench/RESULTS.md). VP9
 * cannot match x264 for speed: its fastest mode, `realtime` at `cpu-used 8`, takes ~7 s of CPU on
 * that tape (x264 ~5 s), and slower modes far more (`good` at `cpu-used 5`: ~57 s). crf 24 gives
 * the MP4's SSIM there; `-tune-content screen` at crf 27 would make the file a third smaller for a
 * quarter more CPU. Realtime encodes look no frames ahead, so `lag-in-frames 0` only frees the
 * unused look-ahead buffers (~45 MB). libvpx already splits 960-wide frames into two tile columns,
 * for players' threads.
 */
export const VP9_ARGS: readonly string[] = [
  '-deadline', 'realtime', '-cpu-used', '8', '-crf', '24', '-b:v', '0', '-lag-in-frames', '0',
];

/** The MP4's AAC bitrate: the sound costs little next to the pictures, so there is no point in less. */
export const OPUS_BITRATE = '128k';

/**
 * libopus puts 312 samples of look-ahead before the first one (6.5 ms at 48 kHz), and ffmpeg 5.1's
 * WebM muxer then shifts every stream by it: the video would start 7 ms late. Handing the encoder
 * the sound that much later makes its first packet start at 0, and the sound plays with the frames.
 */
export const OPUS_LOOKAHEAD_SECONDS = 312 / 48000;

export interface WebmOptions extends OutputOptions {
  /** Encoder arguments in place of VP9_ARGS (for measuring others). */
  vp9Args?: readonly string[];
}

export interface WebmResult {
  width: number;
  height: number;
  /** Size of the WebM file. */
  bytes: number;
}

/** Encode `tape` into `outPath` (a .webm). The frame list is written next to the frames. */
export async function encodeWebm(tape: Tape, outPath: string, options: WebmOptions): Promise<WebmResult> {
  firstFrameOf(tape, options.signal);
  const shape = videoShape(tape, options.scale);
  const listPath = await writeFrameList(tape, tape.frames, 'frames-webm.ffconcat');

  const tapeSeconds = tape.durationMs / 1000;
  const soundtrack = tape.soundtrackPath;
  const video = [
    '-map', '0:v:0',
    '-vf', upscaleFilter(shape),
    '-c:v', 'libvpx-vp9', ...(options.vp9Args ?? VP9_ARGS),
    '-pix_fmt', 'yuv420p',
    // Keep the demuxer's timestamps; WebM counts in milliseconds, so each frame lands within 0.5 ms.
    '-fps_mode', 'vfr',
  ];
  // Cut where the tape ends, then moved by the encoder's look-ahead (see OPUS_LOOKAHEAD_SECONDS).
  const audioFilter = `atrim=end=${tapeSeconds.toFixed(6)},asetpts=PTS+${OPUS_LOOKAHEAD_SECONDS}/TB,aresample=48000`;
  const audio = soundtrack ? ['-map', '1:a:0', '-af', audioFilter, '-c:a', 'libopus', '-b:a', OPUS_BITRATE] : ['-an'];
  const progress = progressOf(tapeSeconds, options.onProgress);
  const { frames } = await runFfmpeg({
    ...ffmpegPlumbing(options),
    what: 'the WebM',
    args: [
      ...frameListInput(listPath),
      ...(soundtrack ? ['-protocol_whitelist', 'file', '-i', soundtrack] : []),
      ...video, ...audio, '-sn', '-dn', '-map_metadata', '-1',
      // The index before the clusters, as faststart does for the MP4: a player can seek before it has the end.
      '-cues_to_front', '1', '-f', 'webm', '-y', outPath,
    ],
    onTime: progress.onTime,
  });
  progress.finish();
  checkFramesEncoded('The WebM', frames, tape);
  const { size: bytes } = await stat(outPath);
  return { width: shape.width, height: shape.height, bytes };
}
