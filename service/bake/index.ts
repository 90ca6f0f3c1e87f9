// The baker: fetch → unzip → read the tape → encode → thumbnail, in a folder the caller owns.

import { mkdir, mkdtemp, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Dispatcher } from 'undici';
import { OvenError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { encodeTape, type SizeBudget } from './encode.ts';
import { makeExtras, type ExtraOutput, type MadeOutput, type OutputWarning } from './extras.ts';
import { fetchZip } from './fetch.ts';
import { interruptedError } from './probe.ts';
import type { BakeLimits } from './limits.ts';
import { checkFrame, readTape, type Tape } from './tape.ts';
import { makeThumbnail } from './thumbnail.ts';
import { extractTape } from './unzip.ts';

export type { BakeLimits } from './limits.ts';
export type { ExtraOutput, MadeOutput, OutputWarning } from './extras.ts';
export { bakeLimitsFrom } from './limits.ts';

export type BakeStage = 'downloading' | 'extracting' | 'encoding';

export interface BakeInput {
  /** URL or local path of the ZIP. */
  source: string;
  slug: string;
  /** An existing empty folder the caller owns and removes (see withWorkDir). */
  workDir: string;
  limits: BakeLimits;
  dispatcher?: Dispatcher;
  checkUrl?: (url: URL) => Promise<void>;
  /** Replaces fetchZip when given (the service uses it for credentialed S3 fetches). */
  download?: (destPath: string) => Promise<{ bytes: number }>;
  onStage?: (stage: BakeStage) => void;
  /** 0..1 over the whole bake, never going back. */
  onProgress?: (fraction: number) => void;
  /** Abort kills ffmpeg and rejects. */
  signal?: AbortSignal;
  log?: Logger;
  /** Outputs beside the MP4 and thumbnail ("webm", "gif"); one that fails becomes a warning. */
  outputs?: readonly ExtraOutput[];
}

export interface BakeResult {
  mp4Path: string;
  thumbnailPath?: string;
  thumbnailError?: { code: string; message: string };
  durationMs: number;
  frames: number;
  width: number;
  height: number;
  /** Size of the MP4. */
  bytes: number;
  /** Set when the first MP4 was over OVEN_MAX_MP4_BYTES and was made again to fit. */
  sizeBudget?: SizeBudget;
  zipBytes: number;
  /** The extra outputs made (a requested one that failed is in warnings instead). */
  extras: Partial<Record<ExtraOutput, MadeOutput>>;
  warnings: OutputWarning[];
  timings: { downloadMs: number; extractMs: number; encodeMs: number; thumbnailMs: number; extrasMs: number };
}

/** Share of the whole bake each stage is given in onProgress; encoding is most of the work. */
const SPAN = { download: [0, 0.15], extract: [0.15, 0.25], encode: [0.25, 0.97], thumbnail: [0.97, 1] } as const;
/** With extra outputs, the MP4 ends earlier on the bar and the extras share what is left before the thumbnail. */
const SPAN_WITH_EXTRAS = { encode: [0.25, 0.6], extras: [0.6, 0.97] } as const;

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw interruptedError(signal);
}

export async function bakeTape(input: BakeInput): Promise<BakeResult> {
  try {
    return await bakeSteps(input);
  } catch (err) {
    // Whatever step was cut short (a download, ffprobe, ffmpeg), a stop reads the same.
    if (input.signal?.aborted) throw interruptedError(input.signal);
    throw err;
  }
}

async function bakeSteps(input: BakeInput): Promise<BakeResult> {
  const { limits, signal, workDir } = input;
  const outputs = input.outputs ?? [];
  let reported = 0;
  const progress = (span: readonly [number, number], fraction: number): void => {
    const at = span[0] + (span[1] - span[0]) * Math.min(1, Math.max(0, fraction));
    if (at > reported) {
      reported = at;
      input.onProgress?.(at);
    }
  };
  const clock = (): (() => number) => {
    const start = performance.now();
    return () => Math.round(performance.now() - start);
  };

  checkAborted(signal);
  input.onStage?.('downloading');
  const downloadPath = path.join(workDir, 'tape.zip');
  let elapsed = clock();
  const { path: zipPath, bytes: zipBytes } = input.download
    ? { path: downloadPath, ...(await input.download(downloadPath)) }
    : await fetchZip(input.source, downloadPath, {
        maxBytes: limits.maxZipBytes,
        connectTimeoutMs: limits.downloadIdleSeconds * 1000,
        idleTimeoutMs: limits.downloadIdleSeconds * 1000,
        totalTimeoutMs: limits.downloadTimeoutSeconds * 1000,
        ...(input.dispatcher ? { dispatcher: input.dispatcher } : {}),
        ...(input.checkUrl ? { checkUrl: input.checkUrl } : {}),
        ...(signal ? { signal } : {}),
        onProgress: (bytes, total) => progress(SPAN.download, bytes / (total ?? limits.maxZipBytes)),
      });
  const downloadMs = elapsed();
  progress(SPAN.download, 1);

  checkAborted(signal);
  input.onStage?.('extracting');
  elapsed = clock();
  // A tape built to be slow to unpack or check (many entries, costly frames) is stopped here.
  const extractDeadline = AbortSignal.timeout(limits.extractTimeoutSeconds * 1000);
  const extractSignal = signal ? AbortSignal.any([signal, extractDeadline]) : extractDeadline;
  let tape: Tape;
  try {
    const extracted = await extractTape(zipPath, path.join(workDir, 'tape'), {
      maxEntries: limits.maxEntries,
      maxUnzippedBytes: limits.maxUnzippedBytes,
      signal: extractSignal,
      // Each frame is checked while its bytes are in memory, in the pass that unpacks it.
      inspectFrame: (data, name) => checkFrame(data, name, limits.maxFramePixels),
    });
    // The frames are out; the ZIP's disk space is better spent on the MP4 (a local source is not ours to remove).
    if (zipPath === downloadPath) await unlink(downloadPath).catch(() => {});
    tape = await readTape(extracted, { maxTapeSeconds: limits.maxTapeSeconds, maxFramePixels: limits.maxFramePixels, signal: extractSignal });
  } catch (err) {
    if (extractDeadline.aborted && !signal?.aborted) {
      throw new OvenError('EXTRACT_TIMEOUT', `Unpacking and checking the tape took longer than ${limits.extractTimeoutSeconds} s (OVEN_EXTRACT_TIMEOUT_SECONDS).`, { cause: err });
    }
    throw err;
  }
  const extractMs = elapsed();
  progress(SPAN.extract, 1);

  checkAborted(signal);
  input.onStage?.('encoding');
  const outDir = path.join(workDir, 'out');
  await mkdir(outDir, { recursive: true });
  const mp4Path = path.join(outDir, `${input.slug}.mp4`);
  elapsed = clock();
  const encoded = await encodeTape(tape, mp4Path, {
    ffmpegPath: limits.ffmpegPath,
    scale: limits.scale,
    timeoutSeconds: limits.encodeTimeoutSeconds,
    maxBytes: limits.maxMp4Bytes,
    ...(signal ? { signal } : {}),
    onProgress: (f) => progress(outputs.length ? SPAN_WITH_EXTRAS.encode : SPAN.encode, f),
    ...(input.log ? { log: input.log } : {}),
  });
  const encodeMs = elapsed();
  const { bytes } = encoded;

  checkAborted(signal);
  elapsed = clock();
  const { made: extras, warnings } = await makeExtras(tape, outDir, input.slug, outputs, {
    ffmpegPath: limits.ffmpegPath,
    scale: limits.scale,
    timeoutSeconds: limits.encodeTimeoutSeconds,
    maxGifBytes: limits.maxGifBytes,
    onProgress: (f) => progress(SPAN_WITH_EXTRAS.extras, f),
    ...(signal ? { signal } : {}),
    ...(input.log ? { log: input.log } : {}),
  });
  const extrasMs = elapsed();

  // A good MP4 is kept even when its thumbnail cannot be made.
  checkAborted(signal);
  elapsed = clock();
  const thumbPath = path.join(outDir, `${input.slug}-thumb.jpg`);
  let thumbnail: Pick<BakeResult, 'thumbnailPath' | 'thumbnailError'>;
  try {
    await makeThumbnail(tape, thumbPath, limits.scale);
    thumbnail = { thumbnailPath: thumbPath };
  } catch (err) {
    const e = err instanceof OvenError ? err : new OvenError('THUMBNAIL_FAILED', 'The thumbnail could not be made.', { cause: err });
    input.log?.warn('thumbnail failed', { err: e });
    thumbnail = { thumbnailError: { code: e.code, message: e.message } };
    warnings.push({ output: 'thumbnail', code: e.code, message: e.message });
  }
  const thumbnailMs = elapsed();
  progress(SPAN.thumbnail, 1);

  return {
    mp4Path,
    ...thumbnail,
    durationMs: tape.durationMs,
    frames: tape.frames.length,
    width: encoded.width,
    height: encoded.height,
    bytes,
    ...(encoded.sizeBudget ? { sizeBudget: encoded.sizeBudget } : {}),
    zipBytes,
    extras,
    warnings,
    timings: { downloadMs, extractMs, encodeMs, thumbnailMs, extrasMs },
  };
}

/** mkdtemp under tempDir, run fn, rm -rf whatever happens (also if fn throws). */
export async function withWorkDir<T>(tempDir: string, slug: string, fn: (dir: string) => Promise<T>): Promise<T> {
  await mkdir(tempDir, { recursive: true });
  // The slug is checked by callers; keep only safe characters anyway, it is just a readable prefix.
  const prefix = `oven-${slug.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64)}-`;
  const dir = await mkdtemp(path.join(tempDir, prefix));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}
