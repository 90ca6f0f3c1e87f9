// The GIF against the tape: its timing on the GIF's hundredth-of-a-second clock (pure, and as
// read back from the GIF's own bytes), the loop, the size, exact colours, and the size limit.
// Real ffmpeg on generated tapes, and a real Chromium reading the GIF's frames.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { loadConfig } from '../../service/config.ts';
import { OvenError } from '../../service/errors.ts';
import { encodeGif, gifScaleFor, gifTiming, GifTooLargeError, MIN_GIF_DELAY_CS, type GifTiming } from '../../service/bake/gif.ts';
import { bakeLimitsFrom } from '../../service/bake/limits.ts';
import { CHROMIUM, launchChromium, MEDIA_FLAGS } from '../helpers/chromium.ts';
import { decodeVideo, frameIndexOf, hitchyDurations, random, startsOf, steadyDurations, unpackedTape, type TapeSpec } from '../helpers/tapes.ts';

const limits = bakeLimitsFrom(loadConfig({}));
let root: string;

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'oven-gif-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A generated tape, zipped, unpacked and checked as a bake does it. */
const tapeOf = (spec: TapeSpec) => unpackedTape(root, spec, limits);

function gifOptions(maxBytes = 50 * 1024 * 1024) {
  return { ffmpegPath: limits.ffmpegPath, timeoutSeconds: 60, maxBytes };
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/**
 * What every timing must keep, whatever the durations: delays browsers play as written, the
 * tape's length, and at each GIF frame's start the frame the tape shows then.
 */
function assertTimingKeepsTheTape(durations: number[], timing: GifTiming, label: string): void {
  const { frames, delaysCs } = timing;
  const totalMs = sum(durations);
  assert.equal(frames.length, delaysCs.length, label);
  for (const d of delaysCs) assert.ok(Number.isInteger(d) && d >= MIN_GIF_DELAY_CS && d <= 0xffff, `${label}: delay ${d}`);
  const gifMs = sum(delaysCs) * 10;
  // Within one hundredth per second of tape, as required; in fact within half a hundredth overall.
  assert.ok(Math.abs(gifMs - totalMs) <= 10 * Math.ceil(totalMs / 1000), `${label}: GIF ${gifMs} ms, tape ${totalMs} ms`);
  if (totalMs >= 15) assert.ok(Math.abs(gifMs - totalMs) <= 5 + 1e-6, `${label}: GIF ${gifMs} ms, tape ${totalMs} ms`);

  const starts = startsOf(durations);
  let gifStartMs = 0;
  const shownAt = new Map<number, number>();
  frames.forEach((f, i) => {
    assert.ok(Number.isInteger(f) && f >= 0 && f < durations.length, `${label}: frame ${f}`);
    if (i > 0) assert.ok(f >= frames[i - 1]!, `${label}: frames go forward`);
    // On screen in the tape within half a hundredth of this GIF frame's start.
    const from = starts[f]!;
    const to = from + durations[f]!;
    assert.ok(from <= gifStartMs + 5 + 1e-6 && to >= gifStartMs - 5 - 1e-6, `${label}: GIF frame ${i} at ${gifStartMs} ms shows tape frame ${f} (${from}–${to} ms)`);
    if (!shownAt.has(f)) shownAt.set(f, gifStartMs);
    gifStartMs += delaysCs[i]! * 10;
  });
  // Every frame of 20 ms or more is shown (the last one may not fit), at most a hundredth after its rounded start.
  durations.forEach((d, f) => {
    if (d < 20 || f === durations.length - 1) return;
    const at = shownAt.get(f);
    assert.ok(at !== undefined, `${label}: tape frame ${f} (${d} ms at ${starts[f]} ms) is not shown`);
    assert.ok(at >= starts[f]! - 5 - 1e-6 && at <= starts[f]! + 15 + 1e-6, `${label}: tape frame ${f} recorded at ${starts[f]} ms, shown at ${at} ms`);
  });
}

test('gifTiming: a steady 60 fps tape plays at 50 fps, every delay 2, as long as the tape', () => {
  const durations = steadyDurations(1.5, 60);
  const timing = gifTiming(durations);
  assertTimingKeepsTheTape(durations, timing, '60 fps');
  assert.equal(sum(timing.delaysCs), 150);
  assert.ok(timing.delaysCs.every((d) => d === 2), timing.delaysCs.join(','));
  assert.equal(new Set(timing.frames).size, timing.frames.length, 'no tape frame is shown twice in a row');
});

test('gifTiming: 24 fps keeps every frame, each at its rounded start (4, 4, 5 hundredths…)', () => {
  const durations = Array.from({ length: 48 }, () => 1000 / 24);
  const timing = gifTiming(durations);
  assertTimingKeepsTheTape(durations, timing, '24 fps');
  assert.deepEqual(timing.frames, durations.map((_, i) => i));
  assert.deepEqual(timing.delaysCs.slice(0, 6), [4, 4, 5, 4, 4, 4]);
  assert.equal(sum(timing.delaysCs), 200);
});

test('gifTiming: a hitchy tape keeps its 250 ms stalls whole and on time', () => {
  const durations = hitchyDurations(3, 47);
  const timing = gifTiming(durations);
  assertTimingKeepsTheTape(durations, timing, 'hitchy');
  const starts = startsOf(durations);
  let at = 0;
  timing.frames.forEach((f, i) => {
    if (durations[f] === 250) {
      assert.ok(Math.abs(at - starts[f]!) <= 10, `the stall recorded at ${starts[f]} ms is shown at ${at} ms`);
      assert.ok(Math.abs(timing.delaysCs[i]! * 10 - 250) <= 10, `the stall lasts ${timing.delaysCs[i]} hundredths`);
    }
    at += timing.delaysCs[i]! * 10;
  });
  assert.ok(durations.filter((d) => d === 250).length >= 2);
});

test('gifTiming: fractional durations, 100 fps, one frame, and stretches too long for one delay', () => {
  for (const durations of [[33.333, 33.333, 33.334], [16.66, 16.71, 16.66, 100.4, 16.66], Array(100).fill(10), [12.5, 12.5, 12.5, 12.5]]) {
    assertTimingKeepsTheTape(durations, gifTiming(durations), JSON.stringify(durations.slice(0, 5)));
  }
  assert.deepEqual(gifTiming(Array(100).fill(10)).delaysCs, Array(50).fill(2), '100 fps: every other frame');
  assert.deepEqual(gifTiming([500]), { frames: [0], delaysCs: [50] });
  assert.deepEqual(gifTiming([1]), { frames: [0], delaysCs: [2] }, 'a GIF frame lasts at least two hundredths');
  assert.deepEqual(gifTiming([]), { frames: [], delaysCs: [] });
  assert.deepEqual(gifTiming([100, 700000, 100]), { frames: [0, 1, 1, 2], delaysCs: [10, 0xffff, 70000 - 0xffff, 10] });
});

test('gifTiming: random durations from 10 to 300 ms keep the tape (fixed seed)', (t) => {
  const seed = 20261201;
  t.diagnostic(`seed ${seed}`);
  const rnd = random(seed);
  for (let tape = 0; tape < 400; tape++) {
    const n = 1 + Math.floor(rnd() * 120);
    // Mostly fast frames with some stalls; fractions of a millisecond as browsers record them.
    const durations = Array.from({ length: n }, () => Math.round((10 + rnd() ** 3 * 290) * 100) / 100);
    assertTimingKeepsTheTape(durations, gifTiming(durations), `seed ${seed}, tape ${tape}`);
  }
});

test('gifScaleFor: at most 2×, within 640 px on the long side, never below 1', () => {
  assert.equal(gifScaleFor(32, 24), 2);
  assert.equal(gifScaleFor(320, 240), 2);
  assert.equal(gifScaleFor(240, 320), 2);
  assert.equal(gifScaleFor(321, 100), 1);
  assert.equal(gifScaleFor(640, 480), 1);
  assert.equal(gifScaleFor(2000, 100), 1);
  assert.equal(gifScaleFor(33, 25), 2);
});

/** A GIF's structure from its bytes: size, loop count, and each frame's delay (from its Graphic Control Extension). */
function readGif(bytes: Buffer): { width: number; height: number; loops: number[]; delaysCs: number[] } {
  assert.equal(bytes.toString('latin1', 0, 6), 'GIF89a');
  const info = { width: bytes.readUInt16LE(6), height: bytes.readUInt16LE(8), loops: [] as number[], delaysCs: [] as number[] };
  const colourTableBytes = (packed: number): number => (packed & 0x80 ? 3 * (1 << ((packed & 7) + 1)) : 0);
  let at = 13 + colourTableBytes(bytes[10]!);
  let delay: number | undefined;
  const skipSubBlocks = (): void => {
    while (bytes[at]! !== 0) at += bytes[at]! + 1;
    at++;
  };
  for (;;) {
    assert.ok(at < bytes.length, 'the GIF ends with its trailer');
    const block = bytes[at++];
    if (block === 0x3b) break;
    if (block === 0x21) {
      const label = bytes[at++];
      if (label === 0xf9) {
        assert.equal(bytes[at], 4, 'a Graphic Control Extension holds 4 bytes');
        assert.equal(delay, undefined, 'one Graphic Control Extension per frame');
        delay = bytes.readUInt16LE(at + 2);
      } else if (label === 0xff && bytes.toString('latin1', at + 1, at + 12) === 'NETSCAPE2.0') {
        at += 12;
        assert.equal(bytes[at], 3);
        assert.equal(bytes[at + 1], 1);
        info.loops.push(bytes.readUInt16LE(at + 2));
      }
      skipSubBlocks();
    } else if (block === 0x2c) {
      at += 9 + colourTableBytes(bytes[at + 8]!) + 1;
      skipSubBlocks();
      assert.ok(delay !== undefined, `GIF frame ${info.delaysCs.length} has its delay`);
      info.delaysCs.push(delay);
      delay = undefined;
    } else {
      assert.fail(`unexpected GIF block 0x${block?.toString(16)} at byte ${at - 1}`);
    }
  }
  return info;
}

test('a hitchy tape: the GIF loops forever, is 2× with no padding, and its delays are the ones planned', async () => {
  const durations = [...steadyDurations(0.5, 60), 250, ...hitchyDurations(1, 23), 100.4, 41.7, 41.6];
  const { tape, dir } = await tapeOf({ width: 33, height: 25, durationsMs: durations, soundSeconds: 1 });
  const out = path.join(dir, 'out', 'tape.gif');
  const progress: number[] = [];
  const result = await encodeGif(tape, out, { ...gifOptions(), onProgress: (f) => progress.push(f) });
  const planned = gifTiming(durations);
  assert.deepEqual(result.delaysCs, planned.delaysCs);
  assert.equal(result.frames, planned.frames.length);
  assert.deepEqual([result.width, result.height], [66, 50]);

  const bytes = await readFile(out);
  assert.equal(result.bytes, bytes.length);
  const gif = readGif(bytes);
  assert.deepEqual([gif.width, gif.height], [66, 50]);
  assert.deepEqual(gif.loops, [0], 'one NETSCAPE2.0 block, looping forever');
  assert.deepEqual(gif.delaysCs, planned.delaysCs, 'the delays written are the ones planned, the last one too');
  assert.ok(Math.abs(sum(gif.delaysCs) * 10 - tape.durationMs) <= 5, `GIF ${sum(gif.delaysCs) * 10} ms, tape ${tape.durationMs} ms`);
  assert.ok(progress.length > 0 && progress.at(-1) === 1 && progress.every((p, i) => i === 0 || p > progress[i - 1]!), progress.join(','));

  // Decoded, each GIF frame shows the planned tape frame, in pure black and white: no dithering.
  const video = await decodeVideo(out);
  assert.equal(video.frames.length, planned.frames.length);
  video.frames.forEach((frame, i) => {
    assert.equal(frameIndexOf(frame.rgb, video.width, video.height), planned.frames[i], `GIF frame ${i}`);
    const grey = frame.rgb.findIndex((v) => v !== 0 && v !== 255);
    assert.equal(grey, -1, `GIF frame ${i} has a pixel that is neither black nor white (byte ${grey})`);
  });
  // Nothing of ours is left beside the frames but the frame lists.
  const left = (await readdir(path.dirname(tape.frames[0]!.path))).filter((n) => !n.endsWith('.png') && !n.endsWith('.json') && !n.endsWith('.wav'));
  assert.deepEqual(left, ['frames-gif.ffconcat']);
  assert.deepEqual(await readdir(path.dirname(out)), ['tape.gif']);
});

test('busy pixel art keeps its exact colours: every pixel of every GIF frame is the tape frame’s, upscaled', async () => {
  const durations = steadyDurations(0.4, 30);
  const { tape, dir } = await tapeOf({ width: 40, height: 30, durationsMs: durations, busy: true, soundSeconds: null });
  const out = path.join(dir, 'out', 'busy.gif');
  const result = await encodeGif(tape, out, gifOptions());
  const video = await decodeVideo(out);
  assert.deepEqual([video.width, video.height], [80, 60]);
  assert.equal(video.frames.length, result.frames);
  const shown = gifTiming(durations).frames;
  for (const [i, frame] of video.frames.entries()) {
    const source = tape.frames[shown[i]!]!;
    const expected = await sharp(source.path).removeAlpha().resize(80, 60, { kernel: 'nearest' }).raw().toBuffer();
    const differing = expected.findIndex((v, at) => v !== frame.rgb[at]);
    assert.equal(differing, -1, `GIF frame ${i}: pixel ${Math.floor(differing / 3)} differs from the tape's`);
  }
});

test('a GIF over maxBytes is refused with its size and not written; one at the limit is kept', async () => {
  const { tape, dir } = await tapeOf({ width: 64, height: 48, durationsMs: steadyDurations(1, 30), busy: true, soundSeconds: null });
  const fits = path.join(dir, 'out', 'fits.gif');
  const { bytes } = await encodeGif(tape, fits, gifOptions());
  assert.equal((await encodeGif(tape, path.join(dir, 'out', 'exact.gif'), gifOptions(bytes))).bytes, bytes, 'a GIF of exactly maxBytes is kept');

  for (const maxBytes of [bytes - 1, 2000]) {
    const out = path.join(dir, 'out', `over-${maxBytes}.gif`);
    await assert.rejects(encodeGif(tape, out, gifOptions(maxBytes)), (err: unknown) => {
      assert.ok(err instanceof GifTooLargeError && err instanceof OvenError, String(err));
      assert.equal(err.code, 'GIF_TOO_LARGE');
      assert.equal(err.maxBytes, maxBytes);
      assert.ok(err.bytes > maxBytes, `${err.bytes} bytes reported`);
      assert.match(err.message, new RegExp(`${err.bytes} bytes.*${maxBytes}|${maxBytes}.*${err.bytes} bytes`));
      return true;
    });
    assert.equal(existsSync(out), false, 'nothing is written where the GIF would be');
    assert.equal(existsSync(`${out}.part`), false, 'nor half of it');
  }
  assert.deepEqual((await readdir(path.join(dir, 'out'))).sort(), ['exact.gif', 'fits.gif']);
});

test('a stopped bake makes no GIF', async () => {
  const { tape, dir } = await tapeOf({ durationsMs: [100, 100], soundSeconds: null });
  const out = path.join(dir, 'out', 'stopped.gif');
  await assert.rejects(encodeGif(tape, out, { ...gifOptions(), signal: AbortSignal.abort() }), (err: unknown) => err instanceof OvenError && err.code === 'INTERRUPTED');
  assert.equal(existsSync(out), false);
});

test('Chromium reads the GIF as written: every delay as planned, looping forever', { timeout: 60_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), 'Chromium is missing: run `npm run setup -- --test`');
  const durations = [...steadyDurations(0.3, 60), 250, ...steadyDurations(0.2, 24)];
  const { tape, dir } = await tapeOf({ durationsMs: durations, soundSeconds: null });
  const out = path.join(dir, 'out', 'chromium.gif');
  const result = await encodeGif(tape, out, gifOptions());
  // Served from 127.0.0.1: ImageDecoder is only offered to secure contexts, which loopback is.
  const gif = await readFile(out);
  const server = http.createServer((req, res) => {
    if (req.url === '/tape.gif') return void res.writeHead(200, { 'content-type': 'image/gif', 'content-length': gif.length }).end(gif);
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>gif</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await launchChromium(MEDIA_FLAGS);
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    // WebCodecs' ImageDecoder reports each frame's duration as the browser will play it. The script
    // is a string: functions from here would be compiled by tsx, whose helpers the page lacks.
    const read = (await page.evaluate(`(async () => {
      const decoder = new ImageDecoder({ data: (await fetch('/tape.gif')).body, type: 'image/gif' });
      await decoder.tracks.ready;
      await decoder.completed;
      const track = decoder.tracks.selectedTrack;
      const durationsUs = [];
      for (let i = 0; i < track.frameCount; i++) durationsUs.push((await decoder.decode({ frameIndex: i })).image.duration);
      return { loops: String(track.repetitionCount), durationsUs };
    })()`)) as { loops: string; durationsUs: number[] };
    t.diagnostic(`Chromium: ${read.durationsUs.length} frames, repetitionCount ${read.loops}`);
    assert.equal(read.loops, 'Infinity');
    assert.deepEqual(read.durationsUs, result.delaysCs.map((d) => d * 10_000));
  } finally {
    await browser.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
