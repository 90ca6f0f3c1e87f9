// The MP4 against the tape: each frame at its recorded time, the sound in sync and cut to length,
// faststart, whole-factor crisp upscale with even sides. Real ffmpeg on generated tapes.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../service/config.ts';
import { declaredFps, evenUp, lookaheadFor, scaleFactorFor } from '../../service/bake/encode.ts';
import { bakeLimitsFrom, bakeTape, type BakeLimits, type BakeResult } from '../../service/bake/index.ts';
import { assertFramesOnTime, decodeFrameAt, firstLoudSample, hitchyDurations, makeTapeZip, steadyDurations, type TapeSpec, probeStreams } from '../helpers/tapes.ts';

const limits: BakeLimits = bakeLimitsFrom(loadConfig({}));
let root: string;

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'oven-encode-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function bake(spec: TapeSpec, overrides: Partial<BakeLimits> = {}): Promise<BakeResult> {
  const dir = await mkdtemp(path.join(root, 'job-'));
  const zipPath = path.join(dir, 'tape.zip');
  await writeFile(zipPath, await makeTapeZip(spec));
  const workDir = path.join(dir, 'work');
  await mkdir(workDir);
  return bakeTape({ source: zipPath, slug: 'tape', workDir, limits: { ...limits, ...overrides } });
}

/** Top-level MP4 box types in file order. */
function topLevelBoxes(file: Buffer): string[] {
  const types: string[] = [];
  let at = 0;
  while (at + 8 <= file.length) {
    let size = file.readUInt32BE(at);
    const type = file.toString('latin1', at + 4, at + 8);
    if (size === 1) size = Number(file.readBigUInt64BE(at + 8));
    if (size === 0) size = file.length - at;
    types.push(type);
    if (size < 8) break;
    at += size;
  }
  return types;
}

test('a steady 60 fps tape: every frame at its start, video as long as the tape, no sound stream when there is none', async () => {
  const durations = steadyDurations(1.5, 60);
  const result = await bake({ width: 32, height: 24, durationsMs: durations, soundSeconds: null });
  await assertFramesOnTime(result.mp4Path, durations);
  const { video, audio } = await probeStreams(result.mp4Path);
  const total = durations.reduce((a, b) => a + b, 0);
  assert.ok(video);
  assert.equal(audio, undefined);
  assert.ok(Math.abs(Number(video.duration) * 1000 - total) <= 20, `video lasts ${video.duration} s, tape ${total} ms`);
});

test('a hitchy tape (100 and 250 ms stalls, fractional durations): frames on their recorded times, sound as long as the tape and in sync', async () => {
  const durations = hitchyDurations(2.2, 23);
  assert.ok(durations.includes(250) && durations.includes(100.4));
  const total = durations.reduce((a, b) => a + b, 0);
  // AC's recorder pads the soundtrack with up to ~85 ms of silence.
  const result = await bake({ width: 33, height: 24, durationsMs: durations, soundSeconds: total / 1000 + 0.085 });
  await assertFramesOnTime(result.mp4Path, durations);

  const { video, audio, formatSeconds } = await probeStreams(result.mp4Path);
  assert.ok(video && audio);
  assert.equal(video.codec_name, 'h264');
  assert.equal(video.pix_fmt, 'yuv420p');
  assert.equal(audio.codec_name, 'aac');
  assert.ok(Math.abs(Number(video.duration) * 1000 - total) <= 20, `video ${video.duration} s vs tape ${total} ms`);
  assert.ok(Math.abs(Number(audio.duration) * 1000 - total) <= 30, `audio ${audio.duration} s vs tape ${total} ms`);
  assert.ok(Math.abs(formatSeconds * 1000 - total) <= 30);

  // The soundtrack's first loud burst is at exactly 1 s; it must still be there in the MP4.
  const loud = await firstLoudSample(result.mp4Path);
  const onset = loud < 0 ? -1 : loud / 48000;
  assert.ok(Math.abs(onset - 1) <= 0.02, `the 1 s burst is heard at ${onset} s`);
});

test('a soundtrack far longer than the frames is cut: the video does not grow', async () => {
  const durations = steadyDurations(1, 30);
  const result = await bake({ width: 16, height: 16, durationsMs: durations, soundSeconds: 20 });
  const total = durations.reduce((a, b) => a + b, 0);
  const { video, audio, formatSeconds } = await probeStreams(result.mp4Path);
  assert.ok(video && audio);
  assert.ok(Number(audio.duration) * 1000 <= total + 30, `audio lasts ${audio.duration} s`);
  assert.ok(formatSeconds * 1000 <= total + 30, `the file lasts ${formatSeconds} s`);
  assert.ok(Math.abs(result.durationMs - total) < 0.01);
});

test('faststart: the moov atom comes before mdat', async () => {
  const result = await bake({ durationsMs: steadyDurations(0.5, 30), soundSeconds: 0.5 });
  const boxes = topLevelBoxes(await readFile(result.mp4Path));
  assert.ok(boxes.includes('moov') && boxes.includes('mdat'), boxes.join(','));
  assert.ok(boxes.indexOf('moov') < boxes.indexOf('mdat'), `box order: ${boxes.join(',')}`);
});

test('dimensions: 3× by default, odd sides padded by one pixel, and edges stay hard (no blur)', async () => {
  const result = await bake({ width: 33, height: 25, durationsMs: [200, 200, 200], soundSeconds: null });
  assert.deepEqual([result.width, result.height], [100, 76]);
  const frame = await decodeFrameAt(result.mp4Path, 0.3);
  assert.deepEqual([frame.width, frame.height], [100, 76]);
  // Frame 1's code: bit 0 white, bits 1..7 black, on the top row of blocks. Walk across the first
  // block edge: nearest-neighbour goes from white to black in one pixel; a rescale would ramp.
  const y = Math.floor(76 / 4);
  const luma = (x: number): number => {
    const at = (y * frame.width + x) * 3;
    return 0.299 * frame.rgb[at]! + 0.587 * frame.rgb[at + 1]! + 0.114 * frame.rgb[at + 2]!;
  };
  const middling: number[] = [];
  for (let x = 2; x < 30; x++) if (luma(x) > 40 && luma(x) < 215) middling.push(x);
  assert.ok(middling.length <= 1, `pixels between black and white at x=${middling.join(',')}`);
  assert.ok(luma(3) > 215 && luma(20) < 40, 'the first block is white, the second black');
});

test('a frame too big for 3× is upscaled less, to fit 1920×1080 or 1080×1920', async () => {
  const landscape = await bake({ width: 700, height: 300, durationsMs: [50, 50], soundSeconds: null });
  assert.deepEqual([landscape.width, landscape.height], [1400, 600]);
  const portrait = await bake({ width: 361, height: 640, durationsMs: [50, 50], soundSeconds: null }, { scale: 4 });
  assert.deepEqual([portrait.width, portrait.height], [722, 1280]);
});

test('scaleFactorFor: whole factors that fit, never below 1', () => {
  assert.equal(scaleFactorFor(320, 240, 3), 3);
  assert.equal(scaleFactorFor(640, 480, 3), 2);
  assert.equal(scaleFactorFor(640, 360, 3), 3);
  assert.equal(scaleFactorFor(240, 320, 3), 3);
  assert.equal(scaleFactorFor(480, 640, 3), 2);
  assert.equal(scaleFactorFor(1000, 1000, 3), 1);
  assert.equal(scaleFactorFor(2500, 1400, 3), 1, 'too big even at 1×: kept at 1×, never shrunk');
  assert.equal(scaleFactorFor(100, 100, 1), 1);
  assert.equal(evenUp(99), 100);
  assert.equal(evenUp(100), 100);
});

test('declaredFps: the rate the level is judged at is the faster of the average and the median frame', () => {
  const tape = (durations: number[]) => ({
    frames: durations.map((durationMs) => ({ durationMs })),
    durationMs: durations.reduce((a, b) => a + b, 0),
  }) as Parameters<typeof declaredFps>[0];
  assert.equal(declaredFps(tape(steadyDurations(1, 60))), 60);
  assert.equal(declaredFps(tape(steadyDurations(1, 30))), 30);
  // 60 fps bursts with a one-second stall every 20 frames average 15 fps; the bursts set the level.
  const bursty = Array.from({ length: 60 }, (_, i) => (i % 20 === 19 ? 1000 : 1000 / 60));
  assert.ok(bursty.length / (bursty.reduce((a, b) => a + b, 0) / 1000) < 20);
  assert.equal(declaredFps(tape(bursty)), 60);
  assert.equal(declaredFps(tape([2000, 3000])), 1, 'never below 1');
});

test('lookaheadFor: videos over a megapixel hold half the frames (ffmpeg\'s memory at 1080p)', () => {
  assert.equal(lookaheadFor(960, 720), 20);
  assert.equal(lookaheadFor(1920, 1080), 10);
  assert.equal(lookaheadFor(1080, 1920), 10);
});

test('the declared H.264 level fits the content (≤ 4.2 up to 1080p60), profile Main or High, the frames still on their times', async () => {
  // 320×240 at 60 fps → 960×720p60: level 3.2. 640×360 at 60 fps → 1920×1080p60: level 4.2.
  const durations = hitchyDurations(1);
  const small = await bake({ width: 320, height: 240, durationsMs: durations, soundSeconds: null });
  const big = await bake({ width: 640, height: 360, durationsMs: steadyDurations(0.5, 60), soundSeconds: null });
  assert.deepEqual([big.width, big.height], [1920, 1080]);
  for (const [result, most] of [[small, 32], [big, 42]] as const) {
    const { profile = '', level = Infinity } = (await probeStreams(result.mp4Path)).video ?? {};
    assert.ok(['Main', 'High'].includes(profile), `profile ${profile}`);
    assert.ok(level <= most, `level ${level / 10} declared for ${result.width}×${result.height}; at most ${most / 10}`);
  }
  await assertFramesOnTime(small.mp4Path, durations);
});

test('an MP4 over OVEN_MAX_MP4_BYTES is made again at a bitrate that fits, still on time and crisp; one that cannot fit fails MP4_TOO_LARGE', async () => {
  const spec: TapeSpec = { width: 160, height: 120, durationsMs: hitchyDurations(2), busy: true, soundSeconds: 2 };
  const free = await bake(spec);
  const limit = Math.floor(free.bytes / 2);
  const fitted = await bake(spec, { maxMp4Bytes: limit });
  assert.ok(fitted.bytes <= limit, `${fitted.bytes} bytes for a ${limit}-byte budget`);
  assert.equal(fitted.sizeBudget?.limitBytes, limit);
  assert.equal(fitted.sizeBudget?.firstBytes, free.bytes);
  assert.ok((fitted.sizeBudget?.videoKbps ?? 0) > 0);
  await assertFramesOnTime(fitted.mp4Path, spec.durationsMs, { busy: true });
  assert.deepEqual([fitted.width, fitted.height], [free.width, free.height], 'the same nearest-neighbour size');

  const err = await bake(spec, { maxMp4Bytes: 16 * 1024 }).then(
    () => assert.fail('a 2 s tape with sound cannot fit 16 KiB'),
    (e: unknown) => e as { code?: string; message: string },
  );
  assert.equal(err.code, 'MP4_TOO_LARGE');
  assert.match(err.message, /over OVEN_MAX_MP4_BYTES \(16384\)/);
});
