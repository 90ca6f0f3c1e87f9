// Generated tapes for tests and the benchmark. Every frame draws its own index as a binary code
// of big black/white blocks, so a test can decode a baked MP4 and tell which frame shows when.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import type { BakeLimits } from '../../service/bake/limits.ts';
import { readTape, type Tape } from '../../service/bake/tape.ts';
import { extractTape } from '../../service/bake/unzip.ts';
import { buildZip } from './zip.ts';

const run = promisify(execFile);

import { frameName, toneWav } from './sample-tape.ts';

// The unpack tests' small solid-colour helpers, for anyone who imported them from here.
export { frameName, solidPng, toneWav } from './sample-tape.ts';

export interface TapeSpec {
  /** Native frame size; default 32×24. */
  width?: number;
  height?: number;
  /** One duration per frame, in milliseconds (timing.json's `duration`). */
  durationsMs: number[];
  /** Soundtrack length in seconds; undefined = the tape's length, null = no soundtrack. */
  soundSeconds?: number | null;
  /** `frame000000.png` names, as older ZIPs have them. */
  oldStyleNames?: boolean;
  /** Write timing.json (default true). */
  withTiming?: boolean;
  /** Busy pixel-art content below a code band (benchmarks); plain code blocks otherwise. */
  busy?: boolean;
  /** With busy: single-pixel stars that change every frame, the hardest thing to encode (default true). */
  sparkles?: boolean;
}

export interface TapeFile {
  name: string;
  data: Buffer;
}

/** Bits of the frame index, and of the check that catches a misread code. */
const INDEX_BITS = 12;
const CHECK_BITS = 4;
const CODE_COLUMNS = 8;
const CODE_ROWS = (INDEX_BITS + CHECK_BITS) / CODE_COLUMNS;
export const MAX_CODED_FRAMES = 1 << INDEX_BITS;

function checkOf(index: number): number {
  // XOR of the nibbles: any single flipped index bit changes the check.
  return (index ^ (index >> 4) ^ (index >> 8)) & 0xf;
}

function codeBits(index: number): number[] {
  const word = index | (checkOf(index) << INDEX_BITS);
  return Array.from({ length: INDEX_BITS + CHECK_BITS }, (_, b) => (word >> b) & 1);
}

/** Height of the code band: the whole frame for plain tapes, the top eighth for busy ones. */
function codeBandHeight(height: number, busy: boolean): number {
  return busy ? Math.max(CODE_ROWS * 2, Math.round(height / 8)) : height;
}

/**
 * Which frame a decoded video frame shows (RGB or RGBA bytes, row-major), or -1 when the code
 * does not read back cleanly. Works at any upscale, with or without one pixel of padding.
 */
export function frameIndexOf(rgb: Buffer, width: number, height: number, options: { busy?: boolean; channels?: number } = {}): number {
  const channels = options.channels ?? 3;
  const band = codeBandHeight(height, options.busy ?? false);
  let word = 0;
  for (let b = 0; b < INDEX_BITS + CHECK_BITS; b++) {
    const row = Math.floor(b / CODE_COLUMNS);
    const col = b % CODE_COLUMNS;
    const x = Math.floor(((col + 0.5) / CODE_COLUMNS) * width);
    const y = Math.floor(((row + 0.5) / CODE_ROWS) * band);
    const at = (y * width + x) * channels;
    const luma = 0.299 * rgb[at]! + 0.587 * rgb[at + 1]! + 0.114 * rgb[at + 2]!;
    if (luma > 128) word |= 1 << b;
  }
  const index = word & (MAX_CODED_FRAMES - 1);
  return word >> INDEX_BITS === checkOf(index) ? index : -1;
}

/** Small deterministic PRNG (mulberry32), so generated tapes are the same on every run. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// PICO-8's palette: what pixel art tends to look like.
const PALETTE: [number, number, number][] = [
  [0, 0, 0], [29, 43, 83], [126, 37, 83], [0, 135, 81], [171, 82, 54], [95, 87, 79], [194, 195, 199], [255, 241, 232],
  [255, 0, 77], [255, 163, 0], [255, 236, 39], [0, 228, 54], [41, 173, 255], [131, 118, 156], [255, 119, 168], [255, 204, 170],
];

interface Sprite {
  x: number; y: number; vx: number; vy: number; w: number; h: number; color: number;
}

function fillRect(buf: Buffer, width: number, height: number, x0: number, y0: number, w: number, h: number, rgb: readonly number[]): void {
  const xa = Math.max(0, Math.floor(x0));
  const ya = Math.max(0, Math.floor(y0));
  const xb = Math.min(width, Math.floor(x0 + w));
  const yb = Math.min(height, Math.floor(y0 + h));
  for (let y = ya; y < yb; y++) {
    let at = (y * width + xa) * 3;
    for (let x = xa; x < xb; x++) {
      buf[at++] = rgb[0]!;
      buf[at++] = rgb[1]!;
      buf[at++] = rgb[2]!;
    }
  }
}

function drawCode(buf: Buffer, width: number, band: number, index: number): void {
  const bits = codeBits(index);
  for (let b = 0; b < bits.length; b++) {
    const row = Math.floor(b / CODE_COLUMNS);
    const col = b % CODE_COLUMNS;
    const x0 = Math.round((col / CODE_COLUMNS) * width);
    const x1 = Math.round(((col + 1) / CODE_COLUMNS) * width);
    const y0 = Math.round((row / CODE_ROWS) * band);
    const y1 = Math.round(((row + 1) / CODE_ROWS) * band);
    const v = bits[b] ? 255 : 0;
    fillRect(buf, width, band, x0, y0, x1 - x0, y1 - y0, [v, v, v]);
  }
}

function sceneFor(width: number, height: number): Sprite[] {
  const rnd = random(width * 7919 + height);
  const count = Math.max(8, Math.round((width * height) / 1200));
  return Array.from({ length: count }, () => ({
    x: rnd() * width,
    y: rnd() * height,
    vx: (rnd() - 0.5) * width * 0.6,
    vy: (rnd() - 0.5) * height * 0.6,
    w: 3 + Math.floor(rnd() * 22),
    h: 3 + Math.floor(rnd() * 22),
    color: 1 + Math.floor(rnd() * 15),
  }));
}

/** Raw RGB pixels of frame `index`, shown `tMs` after the start. */
function drawFrame(width: number, height: number, index: number, tMs: number, spec: TapeSpec, sprites: Sprite[]): Buffer {
  const buf = Buffer.alloc(width * height * 3);
  const busy = spec.busy ?? false;
  const band = codeBandHeight(height, busy);
  if (busy) {
    const t = tMs / 1000;
    // A scrolling striped floor, moving sprites that wrap, and a sprinkle of single-pixel stars.
    const shift = Math.floor(t * 40);
    for (let y = band; y < height; y++) {
      fillRect(buf, width, height, 0, y, width, 1, PALETTE[(Math.floor((y + shift) / 6) % 3) + 1]!);
    }
    const room = height - band;
    for (const s of sprites) {
      const x = (((s.x + s.vx * t) % width) + width) % width;
      const y = band + ((((s.y + s.vy * t) % room) + room) % room);
      fillRect(buf, width, height, x, y, s.w, s.h, PALETTE[s.color]!);
      fillRect(buf, width, height, x + 1, y + 1, Math.max(1, s.w - 2), 1, PALETTE[(s.color + 5) % 16]!);
    }
    if (spec.sparkles ?? true) {
      const rnd = random(index + 1);
      const stars = Math.round((width * height) / 400);
      for (let i = 0; i < stars; i++) {
        fillRect(buf, width, height, Math.floor(rnd() * width), band + Math.floor(rnd() * room), 1, 1, PALETTE[7]!);
      }
    }
  }
  drawCode(buf, width, band, index);
  return buf;
}

/** A 16-bit stereo PCM WAV: a quiet 440 Hz tone with a loud 20 ms 1 kHz burst at each whole second from 1 s. */
export function makeSoundtrackWav(seconds: number, sampleRate = 48000): Buffer {
  const wav = toneWav(seconds, sampleRate);
  const WAV_HEADER_BYTES = 44;
  const frames = (wav.length - WAV_HEADER_BYTES) / 4;
  for (let i = 0; i < frames; i++) {
    const t = i / sampleRate;
    if (t < 0.5 || t % 1 >= 0.02) continue;
    const s = Math.round(0.8 * 32767 * Math.sin(2 * Math.PI * 1000 * t));
    wav.writeInt16LE(s, WAV_HEADER_BYTES + i * 4);
    wav.writeInt16LE(s, WAV_HEADER_BYTES + i * 4 + 2);
  }
  return wav;
}

/** Frame start times in ms: sum(duration[0..i-1]). */
export function startsOf(durationsMs: number[]): number[] {
  const starts: number[] = [];
  let t = 0;
  for (const d of durationsMs) {
    starts.push(t);
    t += d;
  }
  return starts;
}


/** The files of a tape ZIP, in the order AC writes them. */
export async function makeTapeFiles(spec: TapeSpec): Promise<TapeFile[]> {
  const width = spec.width ?? 32;
  const height = spec.height ?? 24;
  if (spec.durationsMs.length > MAX_CODED_FRAMES) throw new Error(`at most ${MAX_CODED_FRAMES} frames can carry their index`);
  const starts = startsOf(spec.durationsMs);
  const totalMs = spec.durationsMs.reduce((a, b) => a + b, 0);
  const sprites = spec.busy ? sceneFor(width, height) : [];

  const frames: TapeFile[] = new Array(spec.durationsMs.length);
  // A few encodes at once: sharp works off the main thread.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < frames.length) {
      const i = next++;
      const raw = drawFrame(width, height, i, starts[i]!, spec, sprites);
      const data = await sharp(raw, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 3 }).toBuffer();
      frames[i] = { name: frameName(i, spec.oldStyleNames), data };
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));

  const files = [...frames];
  const epoch = 1764000000000;
  if (spec.withTiming ?? true) {
    const timing = spec.durationsMs.map((duration, frame) => ({
      frame,
      filename: frameName(frame, spec.oldStyleNames),
      duration,
      timestamp: Math.round(epoch + starts[frame]!),
    }));
    files.push({ name: 'timing.json', data: Buffer.from(JSON.stringify(timing)) });
  }
  const soundSeconds = spec.soundSeconds === undefined ? totalMs / 1000 : spec.soundSeconds;
  const metadata = {
    resolution: { width, height },
    frameCount: spec.durationsMs.length,
    totalDuration: totalMs / 1000,
    piece: spec.busy ? 'bench' : 'test',
    exportedAt: new Date(epoch).toISOString(),
    audioSampleRate: soundSeconds === null ? null : 48000,
    pieceChanges: [],
    slug: null,
  };
  files.push({ name: 'metadata.json', data: Buffer.from(JSON.stringify(metadata)) });
  if (soundSeconds !== null) files.push({ name: 'soundtrack.wav', data: makeSoundtrackWav(soundSeconds) });
  return files;
}

export async function makeTapeZip(spec: TapeSpec): Promise<Buffer> {
  const files = await makeTapeFiles(spec);
  // PNGs and WAVs barely deflate; storing them keeps big benchmark tapes quick to build.
  return buildZip(files.map((f) => ({ name: f.name, data: f.data, method: f.name.endsWith('.json') ? 'deflate' : 'store' })));
}

/**
 * A generated tape, zipped, unpacked and checked as a bake does it, in a new folder under `root`:
 * the tape, that folder, and an empty `out` folder in it for what is encoded.
 */
export async function unpackedTape(root: string, spec: TapeSpec, limits: BakeLimits): Promise<{ tape: Tape; dir: string; out: string }> {
  const dir = await mkdtemp(path.join(root, 'job-'));
  const zipPath = path.join(dir, 'tape.zip');
  await writeFile(zipPath, await makeTapeZip(spec));
  const extracted = await extractTape(zipPath, path.join(dir, 'tape'), { maxEntries: limits.maxEntries, maxUnzippedBytes: limits.maxUnzippedBytes });
  const tape = await readTape(extracted, { maxTapeSeconds: limits.maxTapeSeconds, maxFramePixels: limits.maxFramePixels });
  const out = path.join(dir, 'out');
  await mkdir(out);
  return { tape, dir, out };
}

/** Durations of a steady tape at `fps` lasting about `seconds` (e.g. 16.67 ms at 60 fps). */
export function steadyDurations(seconds: number, fps = 60): number[] {
  const d = Math.round(100000 / fps) / 100;
  return Array.from({ length: Math.round(seconds * fps) }, () => d);
}

/**
 * About 60 fps with hitches, as a busy browser tab records: every `hitchEvery` frames a 250 ms
 * stall, and in between 100.4 ms ones; durations are not whole numbers.
 */
export function hitchyDurations(seconds: number, hitchEvery = 47): number[] {
  const out: number[] = [];
  let t = 0;
  for (let i = 0; t < seconds * 1000; i++) {
    const d = i % hitchEvery === 20 ? 250 : i % hitchEvery === Math.floor(hitchEvery * 0.7) ? 100.4 : i % 5 === 3 ? 16.71 : 16.66;
    out.push(d);
    t += d;
  }
  return out;
}

export interface DecodedFrame {
  /** Presentation time in the MP4, in ms. */
  ptsMs: number;
  /** Which tape frame it shows (frameIndexOf), -1 when unreadable. */
  index: number;
}

/** Every video frame of an MP4 as a player shows it, in order: presentation time and RGB pixels. */
export async function decodeVideo(mp4Path: string): Promise<{ frames: { ptsMs: number; rgb: Buffer }[]; width: number; height: number }> {
  const probe = await run('ffprobe', [
    '-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height:frame=best_effort_timestamp_time', '-of', 'json', mp4Path,
  ], { maxBuffer: 64 * 1024 * 1024 });
  const info = JSON.parse(probe.stdout) as { streams: { width: number; height: number }[]; frames: { best_effort_timestamp_time: string }[] };
  const { width, height } = info.streams[0]!;
  const raw = await run('ffmpeg', [
    '-v', 'error', '-nostdin', '-i', mp4Path, '-map', '0:v:0', '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  ], { encoding: 'buffer', maxBuffer: 1024 * 1024 * 1024 });
  const size = width * height * 3;
  const count = raw.stdout.length / size;
  if (count !== info.frames.length) throw new Error(`ffmpeg decoded ${count} frames, ffprobe listed ${info.frames.length}`);
  const frames = info.frames.map((f, i) => ({
    ptsMs: Number(f.best_effort_timestamp_time) * 1000,
    rgb: raw.stdout.subarray(i * size, (i + 1) * size),
  }));
  return { frames, width, height };
}

/** Each decoded frame's presentation time and the tape frame it shows. */
export async function decodeVideoFrames(mp4Path: string, options: { busy?: boolean } = {}): Promise<{ frames: DecodedFrame[]; width: number; height: number }> {
  const video = await decodeVideo(mp4Path);
  const frames = video.frames.map((f) => ({ ptsMs: f.ptsMs, index: frameIndexOf(f.rgb, video.width, video.height, options) }));
  return { frames, width: video.width, height: video.height };
}

/**
 * Every tape frame appears once, in order, at its recorded start (within 1 ms). The list may end
 * with one repeat of the last frame at the tape's end: the marker that gives the last frame its
 * duration; `endMarker: true` requires it. Returns the worst distance from a recorded start, in ms.
 */
export async function assertFramesOnTime(file: string, durations: number[], options: { busy?: boolean; endMarker?: boolean } = {}): Promise<number> {
  const { frames } = await decodeVideoFrames(file, { busy: options.busy });
  const starts = startsOf(durations);
  const total = durations.reduce((a, b) => a + b, 0);
  if (options.endMarker) assert.equal(frames.length, durations.length + 1);
  let shown = frames;
  if (frames.length === durations.length + 1) {
    const end = frames[frames.length - 1]!;
    assert.equal(end.index, durations.length - 1, 'the extra frame at the end repeats the last frame');
    assert.ok(Math.abs(end.ptsMs - total) <= 1, `end marker at ${end.ptsMs} ms, tape ends at ${total} ms`);
    shown = frames.slice(0, -1);
  }
  assert.deepEqual(
    shown.map((f) => f.index),
    durations.map((_, i) => i),
    'each tape frame is shown exactly once and in order',
  );
  let worst = 0;
  for (const [i, f] of shown.entries()) {
    const error = Math.abs(f.ptsMs - starts[i]!);
    worst = Math.max(worst, error);
    // The contract allows 20 ms; microsecond timestamps make it exact to the track clock.
    assert.ok(error <= 1, `frame ${i} shown at ${f.ptsMs.toFixed(3)} ms, recorded at ${starts[i]!.toFixed(3)} ms`);
  }
  return worst;
}

/**
 * The file's first audio stream decoded to mono 48 kHz: the index of its first sample louder than
 * 40 % of full scale, or -1 if none is.
 */
export async function firstLoudSample(file: string): Promise<number> {
  const pcm = (await run('ffmpeg', ['-v', 'error', '-nostdin', '-i', file, '-map', '0:a:0', '-ac', '1', '-ar', '48000', '-f', 's16le', 'pipe:1'], { encoding: 'buffer', maxBuffer: 64 << 20 })).stdout;
  for (let i = 0; i + 1 < pcm.length; i += 2) {
    if (Math.abs(pcm.readInt16LE(i)) > 0.4 * 32767) return i / 2;
  }
  return -1;
}

/** The frame on screen `atSeconds` after the start: the last one whose time has come. */
export async function decodeFrameAt(mp4Path: string, atSeconds: number): Promise<{ rgb: Buffer; width: number; height: number }> {
  const video = await decodeVideo(mp4Path);
  const shown = video.frames.filter((f) => f.ptsMs <= atSeconds * 1000).pop();
  if (!shown) throw new Error(`no frame is shown at ${atSeconds} s`);
  return { rgb: shown.rgb, width: video.width, height: video.height };
}

export interface StreamInfo {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  duration?: string;
  /** H.264: "High", "Main"…, and the declared level ×10 (42 = 4.2). */
  profile?: string;
  level?: number;
}

/** A media file's first video and audio streams and its container, as ffprobe reads them. */
export async function probeStreams(file: string): Promise<{ video?: StreamInfo; audio?: StreamInfo; formatName: string; formatSeconds: number }> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file]);
  const info = JSON.parse(stdout) as { streams: StreamInfo[]; format: { duration: string; format_name: string } };
  const video = info.streams.find((s) => s.codec_type === 'video');
  const audio = info.streams.find((s) => s.codec_type === 'audio');
  return { ...(video ? { video } : {}), ...(audio ? { audio } : {}), formatName: info.format.format_name, formatSeconds: Number(info.format.duration) };
}
