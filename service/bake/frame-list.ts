// How every encoder (MP4, WebM, GIF) is handed the tape's frames: an ffconcat list next to them,
// each frame with its own duration, read by ffmpeg's concat demuxer; and the check that what came
// out holds one picture per frame listed.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OvenError } from '../errors.ts';
import { interruptedError } from './probe.ts';
import type { Tape, TapeFrame } from './tape.ts';

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
export function concatList(tape: Pick<Tape, 'frames'>, listDir: string): string {
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

/** The tape's first frame, once it is known there is something to encode and nobody has stopped the bake. */
export function firstFrameOf(tape: Tape, signal?: AbortSignal): TapeFrame {
  const first = tape.frames[0];
  if (!first) throw new OvenError('TAPE_NO_FRAMES', 'The tape has no frames to encode.');
  if (signal?.aborted) throw interruptedError(signal);
  return first;
}

/**
 * Writes an ffconcat list of `frames` (see concatList) next to the tape's frames and returns its
 * path. Each output has a list of its own name: the encoders may run side by side on one tape folder.
 */
export async function writeFrameList(tape: Tape, frames: TapeFrame[], name: string): Promise<string> {
  const listDir = path.dirname(firstFrameOf(tape).path);
  const listPath = path.join(listDir, name);
  await writeFile(listPath, concatList({ frames }, listDir));
  return listPath;
}

/** ffmpeg's input options for a frame list: -safe 0 is what allows the list's `option` lines; the list is ours and only files may be opened. */
export function frameListInput(listPath: string): string[] {
  return ['-protocol_whitelist', 'file', '-f', 'concat', '-safe', '0', '-i', listPath];
}

/**
 * One video frame per tape frame, plus the repeat that marks the end (see concatList): anything
 * else means a frame was dropped, or played frames of its own (an animated PNG). `frames` is
 * ffmpeg's own count, when it gave one.
 */
export function checkFramesEncoded(what: string, frames: number | undefined, tape: Pick<Tape, 'frames'>): void {
  if (frames !== undefined && frames !== tape.frames.length + 1) {
    throw new OvenError('ENCODE_FAILED', `${what} came out with ${frames - 1} frames for the tape's ${tape.frames.length}; a frame did not decode as one picture.`);
  }
}
