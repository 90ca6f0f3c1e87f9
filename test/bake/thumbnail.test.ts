// Thumbnails: the middle frame, upscaled like the video, fitted into 512×512, crisp; a failure
// leaves the MP4 alone.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { loadConfig } from '../../service/config.ts';
import { bakeLimitsFrom, bakeTape, type BakeResult } from '../../service/bake/index.ts';
import { thumbnailSize } from '../../service/bake/thumbnail.ts';
import { frameIndexOf, makeTapeFiles, type TapeSpec } from '../helpers/tapes.ts';
import { buildZip } from '../helpers/zip.ts';
import { pngChunk } from '../helpers/hostile-zips.ts';
import { deflateSync } from 'node:zlib';

const limits = bakeLimitsFrom(loadConfig({}));
let root: string;

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'oven-thumb-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function bake(spec: TapeSpec, spoil?: (name: string, data: Buffer) => Buffer): Promise<BakeResult> {
  const dir = await mkdtemp(path.join(root, 'job-'));
  const files = await makeTapeFiles(spec);
  const zip = buildZip(files.map((f) => ({ name: f.name, data: spoil ? spoil(f.name, f.data) : f.data })));
  await writeFile(path.join(dir, 'tape.zip'), zip);
  await mkdir(path.join(dir, 'work'));
  return bakeTape({ source: path.join(dir, 'tape.zip'), slug: 'thumb', workDir: path.join(dir, 'work'), limits });
}

test('thumbnailSize: the video factor, then shrunk into 512×512', () => {
  assert.deepEqual(thumbnailSize(32, 24, 3), { width: 96, height: 72, scale: 3 });
  assert.deepEqual(thumbnailSize(320, 240, 3), { width: 512, height: 384, scale: 3 });
  assert.deepEqual(thumbnailSize(240, 320, 3), { width: 384, height: 512, scale: 3 });
  assert.deepEqual(thumbnailSize(640, 480, 3), { width: 512, height: 384, scale: 2 });
});

test('the thumbnail is a JPEG of the middle frame, 3× and crisp', async () => {
  const result = await bake({ width: 33, height: 24, durationsMs: [40, 40, 40, 40, 40, 40, 40], soundSeconds: null });
  assert.ok(result.thumbnailPath);
  assert.equal(result.thumbnailError, undefined);
  const { data, info } = await sharp(result.thumbnailPath).raw().toBuffer({ resolveWithObject: true });
  const meta = await sharp(result.thumbnailPath).metadata();
  assert.equal(meta.format, 'jpeg');
  assert.deepEqual([info.width, info.height], [99, 72]);
  assert.equal(frameIndexOf(data, info.width, info.height, { channels: info.channels }), 3, 'frame 3 of 7 is the middle one');
  // Frame 3: bits 0 and 1 white, then black. Nearest-neighbour leaves no in-between greys at the edge.
  const y = Math.floor(72 / 4);
  const luma = (x: number): number => data[(y * info.width + x) * info.channels]!;
  const middling = [];
  for (let x = 0; x < 40; x++) if (luma(x) > 40 && luma(x) < 215) middling.push(x);
  assert.ok(middling.length <= 1, `in-between pixels at x=${middling.join(',')}`);
});

test('a big frame gives a thumbnail no bigger than 512×512', async () => {
  const result = await bake({ width: 320, height: 240, durationsMs: [40, 40, 40], soundSeconds: null });
  const meta = await sharp(result.thumbnailPath!).metadata();
  assert.deepEqual([meta.width, meta.height], [512, 384]);
});

/**
 * A PNG whose every chunk, CRC and inflated size is right (so the tape reader accepts it) but whose
 * rows use filter type 7, which does not exist: libvips refuses it; ffmpeg shows it anyway.
 */
function pngWithBadFilters(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  const rows = Buffer.alloc(height * (1 + width * 3), 0x80);
  for (let y = 0; y < height; y++) rows[y * (1 + width * 3)] = 7;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(rows)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

test('a middle frame that cannot be decoded fails the thumbnail, not the bake', async () => {
  const result = await bake({ width: 32, height: 24, durationsMs: [40, 40, 40, 40, 40], soundSeconds: null }, (name, data) =>
    name === 'frame-00002.png' ? pngWithBadFilters(32, 24) : data,
  );
  assert.equal(result.thumbnailPath, undefined);
  assert.equal(result.thumbnailError?.code, 'THUMBNAIL_FAILED');
  assert.match(result.thumbnailError.message, /frame 2/);
  assert.ok((await stat(result.mp4Path)).size > 0, 'the MP4 is kept');
  assert.equal(result.bytes, (await stat(result.mp4Path)).size);
});
