// Small honest tapes for tests: solid-colour PNG frames made with sharp, a timing.json with
// hitches like a busy browser tab makes, metadata.json and a short WAV, as AC packs them.

import sharp from 'sharp';
import { buildZip, type ZipEntrySpec } from './zip.ts';

/** 60 fps with hitches of 250 ms and 100.5 ms, as a busy tab records. */
export const HITCHY_DURATIONS = [16.67, 16.67, 250, 16.67, 100.5, 16.67, 33.3, 16.67];

const COLOURS: [number, number, number][] = [
  [255, 0, 0],
  [0, 255, 0],
  [0, 0, 255],
  [255, 255, 0],
  [0, 255, 255],
  [255, 0, 255],
];

export interface TapeSpec {
  /** One per frame, in ms; default HITCHY_DURATIONS. */
  durationsMs?: number[];
  width?: number;
  height?: number;
  /** Write timing.json (default true). */
  timing?: boolean;
  /** Old-style names frame000000.png instead of frame-00000.png. */
  oldNames?: boolean;
  /** Write metadata.json (default true). */
  metadata?: boolean;
  /** Length of soundtrack.wav in seconds; undefined: as long as the frames; null: no soundtrack. */
  soundSeconds?: number | null;
  /** Put every entry inside this top-level folder. */
  folder?: string;
}

export async function solidPng(width: number, height: number, rgb: [number, number, number]): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toBuffer();
}

/** A 16-bit stereo PCM WAV of a quiet 440 Hz tone. */
export function toneWav(seconds: number, sampleRate = 48000): Buffer {
  const frames = Math.round(seconds * sampleRate);
  const data = Buffer.alloc(frames * 4);
  for (let i = 0; i < frames; i++) {
    const sample = Math.round(Math.sin((2 * Math.PI * 440 * i) / sampleRate) * 3000);
    data.writeInt16LE(sample, i * 4);
    data.writeInt16LE(sample, i * 4 + 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(2, 22); // stereo
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 4, 28);
  header.writeUInt16LE(4, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

export function frameName(index: number, oldNames = false): string {
  return oldNames ? `frame${String(index).padStart(6, '0')}.png` : `frame-${String(index).padStart(5, '0')}.png`;
}

export async function tapeEntries(spec: TapeSpec = {}): Promise<ZipEntrySpec[]> {
  const durations = spec.durationsMs ?? HITCHY_DURATIONS;
  const width = spec.width ?? 16;
  const height = spec.height ?? 12;
  const prefix = spec.folder ? `${spec.folder}/` : '';
  const entries: ZipEntrySpec[] = [];
  for (let i = 0; i < durations.length; i++) {
    entries.push({ name: prefix + frameName(i, spec.oldNames), data: await solidPng(width, height, COLOURS[i % COLOURS.length]!) });
  }
  const totalMs = durations.reduce((a, b) => a + b, 0);
  const soundSeconds = spec.soundSeconds === undefined ? totalMs / 1000 : spec.soundSeconds;
  if (spec.timing ?? true) {
    const start = 1764000000000;
    let at = start;
    const timing = durations.map((duration, i) => {
      const item = { frame: i, filename: frameName(i, spec.oldNames), duration, timestamp: Math.round(at) };
      at += duration;
      return item;
    });
    entries.push({ name: prefix + 'timing.json', data: JSON.stringify(timing) });
  }
  if (spec.metadata ?? true) {
    const metadata = {
      resolution: { width, height },
      frameCount: durations.length,
      totalDuration: totalMs / 1000,
      piece: 'test-piece',
      exportedAt: '2025-11-24T10:30:15.123Z',
      audioSampleRate: soundSeconds === null ? null : 48000,
      pieceChanges: [],
      slug: null,
    };
    entries.push({ name: prefix + 'metadata.json', data: JSON.stringify(metadata) });
  }
  if (soundSeconds !== null) entries.push({ name: prefix + 'soundtrack.wav', data: toneWav(soundSeconds) });
  return entries;
}

/** A whole tape ZIP, as AC would upload it. */
export async function makeTapeZip(spec: TapeSpec = {}): Promise<Buffer> {
  return buildZip(await tapeEntries(spec));
}
