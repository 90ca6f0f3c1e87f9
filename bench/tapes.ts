// The benchmark's tapes, written as AC packs them (PNG frames, timing.json, metadata.json,
// soundtrack.wav with the recorder's ~85 ms of padding) both as a folder and as a stored ZIP.

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { frameName, hitchyDurations, makeSoundtrackWav, makeTapeFiles, type TapeFile } from '../test/helpers/tapes.ts';
import { buildZip } from '../test/helpers/zip.ts';
import { run } from './measure.ts';

export interface BenchTape {
  name: string;
  /** What is on it, for RESULTS.md. */
  about: string;
  width: number;
  height: number;
  seconds: number;
  /** How many times each command is timed; the median is kept. */
  rounds: number;
  files: () => Promise<TapeFile[]>;
}

/** AC's recorder writes durations in ms with two decimals; these keep the running sum on the 1/fps grid. */
export function steadyGrid(seconds: number, fps: number): number[] {
  const starts = Array.from({ length: Math.round(seconds * fps) + 1 }, (_, i) => Math.round((i * 100000) / fps));
  return starts.slice(1).map((s, i) => (s - starts[i]!) / 100);
}

/** A tape from one of ffmpeg's generated sources, at a steady `fps`, with the files AC writes. */
async function lavfiTape(source: string, width: number, height: number, seconds: number, fps: number): Promise<TapeFile[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oven-bench-lavfi-'));
  try {
    const r = await run('ffmpeg', ['-v', 'error', '-nostdin', '-f', 'lavfi', '-i', source, '-frames:v', String(Math.round(seconds * fps)), '-start_number', '0', path.join(dir, 'frame-%05d.png')]);
    if (r.code !== 0) throw new Error(`ffmpeg could not make the ${source} frames: ${r.stderr}`);
    const names = (await readdir(dir)).filter((n) => n.endsWith('.png')).sort();
    const durations = steadyGrid(seconds, fps).slice(0, names.length);
    const frames = await Promise.all(names.map(async (name, i) => ({ name: frameName(i), data: await readFile(path.join(dir, name)) })));
    let t = 0;
    const epoch = 1764000000000;
    const timing = durations.map((duration, frame) => {
      const entry = { frame, filename: frameName(frame), duration, timestamp: Math.round(epoch + t) };
      t += duration;
      return entry;
    });
    return [
      ...frames,
      { name: 'timing.json', data: Buffer.from(JSON.stringify(timing)) },
      { name: 'metadata.json', data: Buffer.from(JSON.stringify({ resolution: { width, height }, frameCount: frames.length, totalDuration: t / 1000, piece: 'bench' })) },
      { name: 'soundtrack.wav', data: makeSoundtrackWav(t / 1000 + 0.085) },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function generated(width: number, height: number, seconds: number, sparkles: boolean): () => Promise<TapeFile[]> {
  return async () => {
    const durationsMs = hitchyDurations(seconds, 150);
    const tapeMs = durationsMs.reduce((a, b) => a + b, 0);
    return makeTapeFiles({ width, height, durationsMs, busy: true, sparkles, soundSeconds: tapeMs / 1000 + 0.085 });
  };
}

export const BENCH_TAPES: BenchTape[] = [
  {
    name: 'life 30 fps',
    about: "ffmpeg's `life` source (ratio 0.3, seed 42, coloured cells), 30 fps: many small changes every frame",
    width: 320, height: 240, seconds: 8, rounds: 3,
    files: () => lavfiTape('life=s=320x240:mold=10:r=30:ratio=0.3:seed=42:death_color=#C83232:life_color=#00ff00', 320, 240, 8, 30),
  },
  {
    name: 'mandelbrot 60 fps',
    about: "ffmpeg's `mandelbrot` source, 60 fps: every frame new, smooth gradients",
    width: 320, height: 240, seconds: 8, rounds: 3,
    files: () => lavfiTape('mandelbrot=s=320x240:rate=60', 320, 240, 8, 60),
  },
  {
    name: 'busy 8 s',
    about: 'moving blocks over a scrolling floor plus single-pixel stars that change every frame, ~60 fps with a 250 ms and a 100 ms stall every 150 frames',
    width: 320, height: 240, seconds: 8, rounds: 3,
    files: generated(320, 240, 8, true),
  },
  {
    name: 'busy 30 s 640×480',
    about: 'the same scene without the stars, 30 s at 640×480: we upscale 2× (1280×960, fits 1920×1080), the first oven 3× (1920×1440)',
    width: 640, height: 480, seconds: 30, rounds: 1,
    files: generated(640, 480, 30, false),
  },
];

/** Writes the tape's files into `dir/frames/` and a stored ZIP of them at `dir/tape.zip`. */
export async function writeBenchTape(tape: BenchTape, dir: string): Promise<{ framesDir: string; zip: string; durationsMs: number[] }> {
  const files = await tape.files();
  const framesDir = path.join(dir, 'frames');
  await mkdir(framesDir, { recursive: true });
  for (const f of files) await writeFile(path.join(framesDir, f.name), f.data);
  const zip = path.join(dir, 'tape.zip');
  // PNGs and WAVs barely deflate; storing them is what AC's exporter does too.
  await writeFile(zip, buildZip(files.map((f) => ({ name: f.name, data: f.data, method: f.name.endsWith('.json') ? 'deflate' : 'store' }))));
  const timing = JSON.parse(files.find((f) => f.name === 'timing.json')!.data.toString()) as { duration: number }[];
  return { framesDir, zip, durationsMs: timing.map((t) => t.duration) };
}
