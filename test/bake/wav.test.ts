import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWavHeader } from '../../service/bake/wav.ts';
import { OvenError } from '../../service/errors.ts';
import { toneWav } from '../helpers/sample-tape.ts';

function refused(head: Buffer, why: RegExp): void {
  assert.throws(() => parseWavHeader(head), (err: unknown) => err instanceof OvenError && err.code === 'TAPE_BAD_SOUNDTRACK' && why.test(err.message));
}

/** A WAV header with this fmt chunk body, then a data chunk of `dataBytes`. */
function wav(fmt: Buffer, dataBytes = 4, extra: Buffer[] = []): Buffer {
  const chunk = (id: string, body: Buffer) => Buffer.concat([Buffer.from(id, 'latin1'), Buffer.from(Uint32Array.of(body.length).buffer), body, body.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
  return Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVE', 'latin1'), ...extra, chunk('fmt ', fmt), chunk('data', Buffer.alloc(dataBytes))]);
}
function fmt(format: number, channels: number, rate: number, bits: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(format, 0);
  b.writeUInt16LE(channels, 2);
  b.writeUInt32LE(rate, 4);
  b.writeUInt32LE((rate * channels * bits) / 8, 8);
  b.writeUInt16LE((channels * bits) / 8, 12);
  b.writeUInt16LE(bits, 14);
  return b;
}

test("the recorder's WAV reads as 16-bit stereo PCM at 48 kHz, with its data length", () => {
  const head = toneWav(0.1);
  assert.deepEqual(parseWavHeader(head), { format: 1, channels: 2, sampleRate: 48000, bitsPerSample: 16, dataBytes: head.length - 44 });
});

test('chunks before fmt (LIST, an odd-sized one) are skipped, and WAVE_FORMAT_EXTENSIBLE resolves to its sub-format', () => {
  const list = Buffer.concat([Buffer.from('LIST', 'latin1'), Buffer.from(Uint32Array.of(3).buffer), Buffer.from('abc'), Buffer.alloc(1)]);
  assert.equal(parseWavHeader(wav(fmt(3, 1, 44100, 32), 8, [list])).format, 3);
  const ext = Buffer.concat([fmt(0xfffe, 2, 48000, 24), Buffer.from([22, 0, 24, 0, 3, 0, 0, 0]), Buffer.from([1, 0]), Buffer.alloc(14)]);
  assert.deepEqual(parseWavHeader(wav(ext)), { format: 1, channels: 2, sampleRate: 48000, bitsPerSample: 24, dataBytes: 4 });
});

test('anything ffmpeg could not decode as a soundtrack is TAPE_BAD_SOUNDTRACK, naming what is wrong', () => {
  refused(Buffer.from('ID3\x04 an mp3, not a wav'), /not a WAV file/);
  refused(Buffer.concat([Buffer.from('RIFF\xff\xff\x00\x00WAVE', 'latin1'), Buffer.alloc(8000, 0x5a)]), /no format chunk/);
  refused(wav(fmt(0x55, 2, 48000, 16)), /format 85/); // MP3 in a WAV
  refused(wav(fmt(1, 0, 48000, 16)), /0 channels/);
  refused(wav(fmt(1, 2, 12, 16)), /12 Hz/);
  refused(wav(fmt(1, 2, 48000, 12)), /12 bits/);
  refused(toneWav(0.1).subarray(0, 30), /cut-off format chunk/);
  refused(Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVE', 'latin1'), Buffer.from('data\x04\0\0\0abcd', 'latin1')]), /samples before its format/);
  refused(toneWav(0.1).subarray(0, 36), /no sample data/);
});
