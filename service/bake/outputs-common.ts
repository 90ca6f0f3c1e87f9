// What the extra outputs (WebM, GIF) share with each other: the options every encode takes and
// progress that only goes forward. Their frame lists are frame-list.ts's, as the MP4's are.

import type { Logger } from '../log.ts';
import type { FfmpegOptions } from './ffmpeg.ts';

export interface OutputOptions {
  ffmpegPath: string;
  /** Preferred upscale factor (lowered to fit, at least 1). */
  scale: number;
  /** Wall-clock limit for each ffmpeg run; past it ffmpeg is killed (ENCODE_TIMEOUT). */
  timeoutSeconds: number;
  signal?: AbortSignal;
  /** 0..1: ffmpeg's output time over the tape's length. */
  onProgress?: (fraction: number) => void;
  log?: Logger;
}

/** The part of runFfmpeg's options that comes straight from the caller. */
export function ffmpegPlumbing(options: Omit<OutputOptions, 'scale'>): Pick<FfmpegOptions, 'ffmpegPath' | 'timeoutSeconds' | 'signal' | 'log'> {
  return {
    ffmpegPath: options.ffmpegPath,
    timeoutSeconds: options.timeoutSeconds,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.log ? { log: options.log } : {}),
  };
}

/**
 * Turns ffmpeg's `time=` into 0..1 of `totalSeconds` for `onProgress`, never going back, with a
 * last 1 from `finish` for runs too short to report their end.
 */
export function progressOf(totalSeconds: number, onProgress?: (fraction: number) => void, span: readonly [number, number] = [0, 1]): { onTime: (seconds: number) => void; finish: () => void } {
  let reported = span[0];
  const report = (fraction: number): void => {
    const at = span[0] + (span[1] - span[0]) * Math.min(1, Math.max(0, fraction));
    if (at > reported) {
      reported = at;
      onProgress?.(at);
    }
  };
  return {
    onTime: (seconds) => report(totalSeconds > 0 ? seconds / totalSeconds : 0),
    finish: () => report(1),
  };
}
