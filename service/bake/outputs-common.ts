// What the extra outputs (WebM, GIF) share with each other: the options every encode takes, the
// checks before ffmpeg starts, the frame list on disk, and progress that only goes forward.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OvenError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { concatList } from './encode.ts';
import type { FfmpegOptions } from './ffmpeg.ts';
import { interruptedError } from './probe.ts';
import type { Tape, TapeFrame } from './tape.ts';

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

/** The tape's first frame, once it is known there is something to encode and nobody has stopped the bake. */
export function firstFrameOf(tape: Tape, signal?: AbortSignal): TapeFrame {
  const first = tape.frames[0];
  if (!first) throw new OvenError('TAPE_NO_FRAMES', 'The tape has no frames to encode.');
  if (signal?.aborted) throw interruptedError(signal);
  return first;
}

/**
 * Writes an ffconcat list of `frames` (see concatList) next to the frames and returns its path.
 * Each output has a list of its own name: the encoders may run side by side on one tape folder.
 */
export async function writeFrameList(tape: Tape, frames: TapeFrame[], name: string): Promise<string> {
  const listDir = path.dirname(firstFrameOf(tape).path);
  const listPath = path.join(listDir, name);
  await writeFile(listPath, concatList({ ...tape, frames }, listDir));
  return listPath;
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
