import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ffmpegReason } from '../../service/bake/ffmpeg.ts';

test("ffmpegReason: ffmpeg's most telling line, without its context tags, memory addresses or our paths", () => {
  assert.equal(
    ffmpegReason([
      '[libx264 @ 0x55d4c3a0b2c0] frame MB size (262144x1) > level limit (139264)',
      'Error initializing output stream 0:0 -- Error while opening encoder for output stream #0:0 - maybe incorrect parameters such as bit_rate, rate, width or height',
      'Conversion failed!',
    ]),
    'frame MB size (262144x1) > level limit (139264)',
  );
  assert.equal(ffmpegReason(['/var/cache/oven/oven-jobs/oven-x-abc/tape/f000007.png: Invalid data found when processing input.']), 'f000007.png: Invalid data found when processing input');
  assert.equal(ffmpegReason(['Conversion failed!']), 'Conversion failed!');
  assert.equal(ffmpegReason([]), 'it exited with an error');
  assert.ok(ffmpegReason(['x'.repeat(500)]).length <= 200);
});
