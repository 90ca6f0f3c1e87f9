// Reads an unpacked tape into a checked Tape: which frame shows when, for how long, at what size.
// Frame sizes come from PNG headers, so nothing is decoded until every frame has passed.

import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { OvenError } from '../errors.ts';
import { checkPngImage, NotAPngError, parsePngHeader, type PngHeader } from './png.ts';
import { FRAME_NAME, type ExtractedTape } from './unzip.ts';
import { readWavFormat } from './wav.ts';

export interface TapeLimits {
  maxTapeSeconds: number;
  maxFramePixels: number;
  /** Stops the checks between frames. */
  signal?: AbortSignal;
}

export interface TapeFrame {
  index: number;
  path: string;
  /** Sum of the durations before this frame, unrounded. */
  startMs: number;
  durationMs: number;
}

export interface Tape {
  frames: TapeFrame[];
  width: number;
  height: number;
  durationMs: number;
  soundtrackPath?: string;
  timingSource: 'timing.json' | 'assumed-30fps';
  /** metadata.json when it is a JSON object; advisory, never required. */
  metadata?: Record<string, unknown>;
}

/**
 * The shortest frame baked. AC's recorder never writes less than 10 ms; a duration that rounds to
 * nothing at the encoder's microsecond clock would be dropped from the video while the job said done.
 */
export const MIN_FRAME_MS = 1;
/**
 * The longest side a frame may have. H.264 players (and x264's own level limits) stop near here; a
 * 4194304×1 frame passes the pixel limit and then fails deep in ffmpeg.
 */
export const MAX_FRAME_SIDE = 4096;

/** Old tapes without timing.json were recorded at about 30 fps. */
export const ASSUMED_FRAME_MS = 1000 / 30;
export const MAX_TIMING_BYTES = 8 * 1024 * 1024;
export const MAX_METADATA_BYTES = 1024 * 1024;

export async function readTape(extracted: ExtractedTape, limits: TapeLimits): Promise<Tape> {
  if (extracted.frames.length === 0) throw new OvenError('TAPE_NO_FRAMES', 'The ZIP holds no frames (frame-00000.png, frame-00001.png, …).');
  const maxMs = limits.maxTapeSeconds * 1000;
  const durations = extracted.timingPath
    ? await readTimingDurations(extracted.timingPath, extracted.frames, maxMs)
    : extracted.frames.map(() => ASSUMED_FRAME_MS);

  const frames: TapeFrame[] = [];
  let startMs = 0;
  extracted.frames.forEach((frame, i) => {
    const durationMs = durations[i]!;
    frames.push({ index: frame.index, path: frame.path, startMs, durationMs });
    startMs += durationMs;
  });
  if (startMs > maxMs) {
    throw new OvenError('TAPE_TOO_LONG', `The tape lasts ${(startMs / 1000).toFixed(1)} s; at most ${limits.maxTapeSeconds} s are baked.`);
  }

  const { width, height } = await readFrameSize(extracted.frames, limits.maxFramePixels, limits.signal);
  if (extracted.soundtrackPath) await readWavFormat(extracted.soundtrackPath);
  const metadata = extracted.metadataPath ? await readMetadata(extracted.metadataPath) : undefined;

  return {
    frames,
    width,
    height,
    durationMs: startMs,
    ...(extracted.soundtrackPath ? { soundtrackPath: extracted.soundtrackPath } : {}),
    timingSource: extracted.timingPath ? 'timing.json' : 'assumed-30fps',
    ...(metadata ? { metadata } : {}),
  };
}

/**
 * One duration per frame, in frame order. Each timing entry names its frame by `filename`, else by
 * `frame`, else by its place in the list; the frames and the entries must match one to one, since a
 * frame without a duration has no place in the video and a duration without a frame has nothing to show.
 */
async function readTimingDurations(timingPath: string, frames: ExtractedTape['frames'], maxMs: number): Promise<number[]> {
  const timing = await readJsonFile(timingPath, MAX_TIMING_BYTES, 'TAPE_BAD_TIMING', 'timing.json');
  if (!Array.isArray(timing) || timing.length === 0) {
    throw new OvenError('TAPE_BAD_TIMING', 'timing.json must be a non-empty JSON array with one {"duration": ms} per frame.');
  }
  const positionOfIndex = new Map(frames.map((f, position) => [f.index, position]));
  const durations: (number | undefined)[] = frames.map(() => undefined);
  timing.forEach((item: unknown, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw new OvenError('TAPE_BAD_TIMING', `timing.json entry ${i} is not an object.`);
    }
    const { duration, frame, filename } = item as Record<string, unknown>;
    if (typeof duration !== 'number' || !Number.isFinite(duration) || duration <= 0) {
      throw new OvenError('TAPE_BAD_TIMING', `timing.json entry ${i} has duration ${shownValue(duration)}; it must be a positive number of milliseconds.`);
    }
    if (duration < MIN_FRAME_MS) {
      throw new OvenError('TAPE_BAD_TIMING', `timing.json entry ${i} lasts ${duration} ms; a frame must last at least ${MIN_FRAME_MS} ms.`);
    }
    if (duration > maxMs) {
      throw new OvenError('TAPE_BAD_TIMING', `timing.json entry ${i} lasts ${duration} ms, longer than a whole tape may (${maxMs} ms).`);
    }
    const index = frameIndexOf(filename, frame) ?? frames[i]?.index;
    const position = index === undefined ? undefined : positionOfIndex.get(index);
    if (position === undefined) {
      const named = typeof filename === 'string' ? JSON.stringify(filename.slice(0, 100)) : `frame ${index ?? i}`;
      throw new OvenError('TAPE_MISSING_FRAME', `timing.json entry ${i} is for ${named}, which is not in the ZIP.`);
    }
    if (durations[position] !== undefined) {
      throw new OvenError('TAPE_BAD_TIMING', `timing.json gives frame ${index} more than one duration (again at entry ${i}).`);
    }
    durations[position] = duration;
  });
  const untimed = durations.findIndex((d) => d === undefined);
  if (untimed !== -1) {
    throw new OvenError('TAPE_EXTRA_FRAME', `The ZIP holds ${frames[untimed]!.originalName}, but timing.json gives it no duration.`);
  }
  return durations as number[];
}

/** A timing value as quoted in a message. Lists and objects are only named: stringifying one nested a million deep overflows the stack. */
function shownValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'a list' : 'an object';
  return (JSON.stringify(value) ?? String(value)).slice(0, 100);
}

function frameIndexOf(filename: unknown, frame: unknown): number | undefined {
  if (typeof filename === 'string') {
    const match = FRAME_NAME.exec(path.posix.basename(filename));
    if (match) return Number(match[1]);
  }
  if (typeof frame === 'number' && Number.isSafeInteger(frame) && frame >= 0) return frame;
  return undefined;
}

/**
 * One frame's bytes as the tape reader accepts them: a PNG whose header is within the pixel and side
 * limits (checked before anything inflates) and whose image data is exactly what the header says.
 * The unpacker calls this on each frame while it is in memory (extractTape's inspectFrame).
 */
export function checkFrame(data: Buffer, name: string, maxPixels: number): PngHeader {
  try {
    const header = parsePngHeader(data);
    const { width, height } = header;
    if (width * height > maxPixels) {
      throw new OvenError('TAPE_FRAME_TOO_LARGE', `${name} is ${width}×${height} pixels; a frame may have at most ${maxPixels}.`);
    }
    if (width > MAX_FRAME_SIDE || height > MAX_FRAME_SIDE) {
      throw new OvenError('TAPE_FRAME_TOO_LARGE', `${name} is ${width}×${height}; a frame may be at most ${MAX_FRAME_SIDE} pixels on a side.`);
    }
    // Only once the size passed: inflating is bounded by it.
    checkPngImage(data, header);
    return header;
  } catch (err) {
    if (err instanceof NotAPngError) throw new OvenError('TAPE_BAD_FRAME', `${name} is not a valid PNG: ${err.message}.`, { cause: err });
    throw err;
  }
}

/** Every frame checked (by the unpacker, or here from its file), and all of one size. */
async function readFrameSize(frames: ExtractedTape['frames'], maxPixels: number, signal?: AbortSignal): Promise<{ width: number; height: number }> {
  let first: { width: number; height: number; name: string } | undefined;
  for (const frame of frames) {
    signal?.throwIfAborted();
    const { width, height } = (frame.inspected as PngHeader | undefined) ?? checkFrame(await readFile(frame.path), frame.originalName, maxPixels);
    first ??= { width, height, name: frame.originalName };
    if (width !== first.width || height !== first.height) {
      throw new OvenError('TAPE_FRAME_SIZE_MISMATCH', `${frame.originalName} is ${width}×${height}, but ${first.name} is ${first.width}×${first.height}; all frames must be one size.`);
    }
  }
  return { width: first!.width, height: first!.height };
}

/** metadata.json is only advice: when it is missing, too big, not JSON or not an object, it is ignored. */
async function readMetadata(file: string): Promise<Record<string, unknown> | undefined> {
  try {
    const value = await readJsonFile(file, MAX_METADATA_BYTES, 'TAPE_BAD_METADATA', 'metadata.json');
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch (err) {
    if (err instanceof OvenError) return undefined;
    throw err;
  }
}

async function readJsonFile(file: string, maxBytes: number, code: 'TAPE_BAD_TIMING' | 'TAPE_BAD_METADATA', name: string): Promise<unknown> {
  const { size } = await stat(file);
  if (size > maxBytes) throw new OvenError(code, `${name} is ${size} bytes; at most ${maxBytes} are read.`);
  const text = (await readFile(file, 'utf8')).replace(/^\uFEFF/, '');
  try {
    return JSON.parse(text);
  } catch {
    throw new OvenError(code, `${name} is not valid JSON.`);
  }
}
