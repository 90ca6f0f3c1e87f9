import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { parsePngHeader, NotAPngError, PNG_HEADER_BYTES } from '../../service/bake/png.ts';
import { ASSUMED_FRAME_MS, readTape, type Tape, type TapeLimits } from '../../service/bake/tape.ts';
import { extractTape } from '../../service/bake/unzip.ts';
import { crc32 } from 'node:zlib';
import { OvenError } from '../../service/errors.ts';
import { HITCHY_DURATIONS, makeTapeZip, solidPng, tapeEntries, toneWav } from '../helpers/sample-tape.ts';
import { startsOf } from '../helpers/tapes.ts';
import { buildZip, type ZipEntrySpec } from '../helpers/zip.ts';

const LIMITS: TapeLimits = { maxTapeSeconds: 120, maxFramePixels: 4 * 1024 * 1024 };
let root: string;
let count = 0;

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'oven-tape-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Unpacks and reads a ZIP the way the baker does. */
async function bake(zip: Buffer, limits: TapeLimits = LIMITS): Promise<Tape> {
  const dir = path.join(root, `job-${count++}`);
  await mkdir(dir);
  await writeFile(path.join(dir, 'tape.zip'), zip);
  const extracted = await extractTape(path.join(dir, 'tape.zip'), path.join(dir, 'out'), { maxEntries: 20000, maxUnzippedBytes: 1 << 30 });
  return readTape(extracted, limits);
}

async function refusedWith(zip: Buffer, code: string, limits: TapeLimits = LIMITS): Promise<OvenError> {
  const err = await bake(zip, limits).then(
    () => assert.fail(`expected ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof OvenError, String(err));
  assert.equal(err.code, code, err.message);
  return err;
}

/** A good tape's entries with timing.json replaced by `timing` (raw text, or a value to stringify). */
async function withTiming(timing: unknown, method: ZipEntrySpec['method'] = 'deflate'): Promise<Buffer> {
  const entries = (await tapeEntries({ durationsMs: [16.67, 16.67, 16.67], soundSeconds: null })).filter((e) => e.name !== 'timing.json');
  return buildZip([...entries, { name: 'timing.json', method, data: typeof timing === 'string' ? timing : JSON.stringify(timing) }]);
}

test('a hitchy tape: each frame starts at the exact sum of the durations before it', async () => {
  const tape = await bake(await makeTapeZip({ soundSeconds: 0.5 }));
  assert.equal(tape.timingSource, 'timing.json');
  assert.equal(tape.width, 16);
  assert.equal(tape.height, 12);
  assert.deepEqual(tape.frames.map((f) => f.durationMs), HITCHY_DURATIONS);
  assert.deepEqual(tape.frames.map((f) => f.startMs), startsOf(HITCHY_DURATIONS));
  assert.equal(tape.frames[3]!.startMs, 16.67 + 16.67 + 250);
  assert.equal(tape.durationMs, HITCHY_DURATIONS.reduce((a, b) => a + b, 0));
  assert.deepEqual(tape.frames.map((f) => f.index), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.ok(tape.soundtrackPath?.endsWith('soundtrack.wav'));
  assert.equal(tape.metadata?.piece, 'test-piece');
  const pixels = await sharp(tape.frames[2]!.path).raw().toBuffer();
  assert.deepEqual([...pixels.subarray(0, 3)], [0, 0, 255], 'frame 2 is the blue one');
});

test('an old tape (frame000000.png, no timing.json) plays at 30 fps', async () => {
  const tape = await bake(await makeTapeZip({ durationsMs: [1, 1, 1, 1, 1], oldNames: true, timing: false, metadata: false, soundSeconds: null }));
  assert.equal(tape.timingSource, 'assumed-30fps');
  assert.deepEqual(tape.frames.map((f) => f.durationMs), Array(5).fill(1000 / 30));
  assert.deepEqual(tape.frames.map((f) => f.startMs), startsOf(Array(5).fill(ASSUMED_FRAME_MS)));
  assert.ok(Math.abs(tape.durationMs - 5000 / 30) < 1e-9);
  assert.equal(tape.metadata, undefined);
  assert.equal(tape.soundtrackPath, undefined);
});

test('timing entries find their frames by filename, whatever their order', async () => {
  const timing = [
    { filename: 'frame-00002.png', duration: 30 },
    { filename: 'frame-00000.png', duration: 10 },
    { frame: 1, duration: 20 },
  ];
  const tape = await bake(await withTiming(timing));
  assert.deepEqual(tape.frames.map((f) => [f.index, f.startMs, f.durationMs]), [
    [0, 0, 10],
    [1, 10, 20],
    [2, 30, 30],
  ]);
});

test('timing entries without names go to the frames in order', async () => {
  const tape = await bake(await withTiming([{ duration: 5 }, { duration: 6 }, { duration: 7 }]));
  assert.deepEqual(tape.frames.map((f) => f.durationMs), [5, 6, 7]);
});

for (const [label, timing] of [
  ['malformed JSON', '[{"duration": 16.67},'],
  ['an object, not an array', { frames: [] }],
  ['an empty array', []],
  ['a number in place of an entry', [16.67, 16.67, 16.67]],
  ['a missing duration', [{ duration: 16 }, { frame: 1 }, { duration: 16 }]],
  ['a null duration (NaN in JSON.stringify)', [{ duration: 16 }, { duration: NaN }, { duration: 16 }]],
  ['a string duration', [{ duration: 16 }, { duration: '16' }, { duration: 16 }]],
  ['a zero duration', [{ duration: 16 }, { duration: 0 }, { duration: 16 }]],
  ['a negative duration', [{ duration: 16 }, { duration: -5 }, { duration: 16 }]],
  ['a duration longer than a whole tape may be', [{ duration: 16 }, { duration: 121_000 }, { duration: 16 }]],
  ['two durations for one frame', [{ frame: 0, duration: 16 }, { frame: 0, duration: 16 }, { frame: 2, duration: 16 }]],
] as const) {
  test(`timing.json with ${label} is TAPE_BAD_TIMING`, async () => {
    await refusedWith(await withTiming(timing), 'TAPE_BAD_TIMING');
  });
}

test('a huge timing.json is refused without parsing it', async () => {
  // Stored, since spaces deflate so well the unzip would call it a bomb first.
  const padding = ' '.repeat(8 * 1024 * 1024 + 1);
  const err = await refusedWith(await withTiming(`[${padding}]`, 'store'), 'TAPE_BAD_TIMING');
  assert.match(err.message, /at most 8388608/);
});

test('timing for a frame that is not in the ZIP is TAPE_MISSING_FRAME', async () => {
  const err = await refusedWith(await withTiming([{ duration: 1 }, { duration: 1 }, { duration: 1 }, { filename: 'frame-00003.png', duration: 1 }]), 'TAPE_MISSING_FRAME');
  assert.match(err.message, /frame-00003\.png/);
});

test('a frame without timing is TAPE_EXTRA_FRAME', async () => {
  const err = await refusedWith(await withTiming([{ frame: 0, duration: 1 }, { frame: 1, duration: 1 }]), 'TAPE_EXTRA_FRAME');
  assert.match(err.message, /frame-00002\.png/);
});

test('a tape longer than maxTapeSeconds is TAPE_TOO_LONG', async () => {
  const zip = await withTiming([{ duration: 900 }, { duration: 900 }, { duration: 900 }]);
  await refusedWith(zip, 'TAPE_TOO_LONG', { ...LIMITS, maxTapeSeconds: 2 });
  assert.equal((await bake(zip, { ...LIMITS, maxTapeSeconds: 3 })).durationMs, 2700);
});

test('a ZIP without frames is TAPE_NO_FRAMES', async () => {
  await refusedWith(buildZip([{ name: 'timing.json', data: '[]' }]), 'TAPE_NO_FRAMES');
});

async function framesZip(frames: (Buffer | string)[], extra: ZipEntrySpec[] = []): Promise<Buffer> {
  return buildZip([...frames.map((data, i) => ({ name: `frame-0000${i}.png`, data })), ...extra]);
}

test('a frame that is not a PNG is TAPE_BAD_FRAME', async () => {
  const png = await solidPng(16, 12, [1, 2, 3]);
  await refusedWith(await framesZip([png, await sharp(png).jpeg().toBuffer()]), 'TAPE_BAD_FRAME');
  await refusedWith(await framesZip([png, png.subarray(0, 20)]), 'TAPE_BAD_FRAME');
  const corrupt = Buffer.from(png);
  corrupt[17] = corrupt[17]! ^ 0x40; // width changed, CRC not
  await refusedWith(await framesZip([png, corrupt]), 'TAPE_BAD_FRAME');
});

/** Just the signature and IHDR of a PNG claiming this size: the file is tiny, the image is not. */
function pngHeaderClaiming(width: number, height: number): Buffer {
  const head = Buffer.alloc(PNG_HEADER_BYTES);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(head);
  head.writeUInt32BE(13, 8);
  head.write('IHDR', 12, 'latin1');
  head.writeUInt32BE(width, 16);
  head.writeUInt32BE(height, 20);
  head[24] = 8;
  head[25] = 6;
  head.writeUInt32BE(crc32(head.subarray(12, 29)), 29);
  return head;
}

test('a frame claiming too many pixels is refused from its header alone', async () => {
  const err = await refusedWith(await framesZip([pngHeaderClaiming(100_000, 100_000)]), 'TAPE_FRAME_TOO_LARGE');
  assert.match(err.message, /100000×100000/);
  await refusedWith(await framesZip([await solidPng(16, 12, [0, 0, 0])]), 'TAPE_FRAME_TOO_LARGE', { ...LIMITS, maxFramePixels: 191 });
  await bake(await framesZip([await solidPng(16, 12, [0, 0, 0])]), { ...LIMITS, maxFramePixels: 192 });
});

test('frames of different sizes are TAPE_FRAME_SIZE_MISMATCH', async () => {
  const err = await refusedWith(await framesZip([await solidPng(16, 12, [0, 0, 0]), await solidPng(12, 16, [0, 0, 0])]), 'TAPE_FRAME_SIZE_MISMATCH');
  assert.match(err.message, /12×16/);
});

test('a soundtrack that is not a WAV is TAPE_BAD_SOUNDTRACK', async () => {
  const png = await solidPng(16, 12, [0, 0, 0]);
  await refusedWith(await framesZip([png], [{ name: 'soundtrack.wav', data: 'ID3 this is an mp3' }]), 'TAPE_BAD_SOUNDTRACK');
  await refusedWith(await framesZip([png], [{ name: 'soundtrack.wav' }]), 'TAPE_BAD_SOUNDTRACK');
  const tape = await bake(await framesZip([png], [{ name: 'soundtrack.wav', data: toneWav(0.05) }]));
  assert.ok(tape.soundtrackPath);
});

test('metadata.json is advice: bad metadata is ignored, good metadata is returned', async () => {
  const png = await solidPng(16, 12, [0, 0, 0]);
  for (const bad of ['{not json', '[1, 2]', '"text"', 'null']) {
    const tape = await bake(await framesZip([png], [{ name: 'metadata.json', data: bad }]));
    assert.equal(tape.metadata, undefined, bad);
  }
  const tape = await bake(await framesZip([png], [{ name: 'metadata.json', data: '\uFEFF{"piece": "wand", "slug": null}' }]));
  assert.deepEqual(tape.metadata, { piece: 'wand', slug: null });
});

test('parsePngHeader reads every colour type sharp writes', async () => {
  const rgba = await sharp({ create: { width: 5, height: 7, channels: 4, background: '#ff000080' } }).png().toBuffer();
  assert.deepEqual(parsePngHeader(rgba), { width: 5, height: 7, bitDepth: 8, colorType: 6, interlaced: false });
  const grey = await sharp({ create: { width: 3, height: 2, channels: 3, background: '#808080' } }).toColourspace('b-w').png().toBuffer();
  assert.equal(parsePngHeader(grey).colorType, 0);
  const palette = await sharp({ create: { width: 9, height: 9, channels: 3, background: '#123456' } }).png({ palette: true }).toBuffer();
  assert.deepEqual([parsePngHeader(palette).colorType, parsePngHeader(palette).width], [3, 9]);
  assert.throws(() => parsePngHeader(Buffer.alloc(PNG_HEADER_BYTES)), NotAPngError);
  assert.throws(() => parsePngHeader(pngHeaderClaiming(0, 10)), /invalid/);
});

test('a frame longer than 4096 pixels on a side is TAPE_FRAME_TOO_LARGE before any encoder sees it, whatever its pixel count', async () => {
  const err = await refusedWith(await framesZip([pngHeaderClaiming(4_194_304, 1)]), 'TAPE_FRAME_TOO_LARGE');
  assert.match(err.message, /4194304×1; a frame may be at most 4096 pixels on a side/);
  await refusedWith(await framesZip([pngHeaderClaiming(1, 4097)]), 'TAPE_FRAME_TOO_LARGE');
});

test('a duration that rounds to nothing (under a millisecond) is TAPE_BAD_TIMING, not a video missing its frames', async () => {
  const err = await refusedWith(await withTiming([{ duration: 0.0004 }, { duration: 16.67 }, { duration: 16.67 }]), 'TAPE_BAD_TIMING');
  assert.match(err.message, /entry 0 lasts 0.0004 ms; a frame must last at least 1 ms/);
  await bake(await withTiming([{ duration: 1 }, { duration: 16.67 }, { duration: 16.67 }]));
});

/** An APNG as ffmpeg writes one: 3 frames of its own, 100 ms each, looping. */
async function apng(width: number, height: number): Promise<Buffer> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const out = path.join(root, `anim-${count++}.png`);
  await promisify(execFile)('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `testsrc=s=${width}x${height}:r=10`, '-frames:v', '3', '-plays', '0', '-f', 'apng', out]);
  const { readFile } = await import('node:fs/promises');
  return readFile(out);
}

test('a frame that is an animated PNG is TAPE_BAD_FRAME: a tape frame is one picture, shown for its own duration', async () => {
  const still = await solidPng(16, 12, [9, 9, 9]);
  const err = await refusedWith(await framesZip([still, await apng(16, 12), still]), 'TAPE_BAD_FRAME');
  assert.match(err.message, /animated PNG/);
});

/** A PNG with `count` empty private chunks between IHDR and its image data. */
function paddedPng(png: Buffer, count: number): Buffer {
  const empty = Buffer.alloc(12);
  empty.write('zzZz', 4, 'latin1');
  empty.writeUInt32BE(crc32(empty.subarray(4, 8)), 8);
  return Buffer.concat([png.subarray(0, PNG_HEADER_BYTES), Buffer.concat(Array.from({ length: count }, () => empty)), png.subarray(PNG_HEADER_BYTES)]);
}

test('a frame padded with empty chunks past what its picture can need is refused by its size, before its chunks are walked', async () => {
  const png = await solidPng(16, 12, [1, 2, 3]);
  // Stored, not deflated: a million identical chunks would otherwise be refused as a ZIP bomb first.
  const padded = buildZip([{ name: 'frame-00000.png', data: png }, { name: 'frame-00001.png', data: paddedPng(png, 1_000_000), method: 'store' }]);
  const err = await refusedWith(padded, 'TAPE_BAD_FRAME');
  assert.match(err.message, /12000\d+ bytes, more than a 16×12 image can need/);
  // A few ancillary chunks are normal, and pass.
  await bake(await framesZip([png, paddedPng(png, 1000)]));
});
