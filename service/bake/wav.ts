// The soundtrack's header, read in-process: is this a WAV ffmpeg will decode, and what does it hold.
// Cheaper than asking ffprobe (a process start, ~0.15 s on one vCPU), and as strict: the header is
// all ffprobe looked at too, since any bytes are valid PCM samples.

import { open } from 'node:fs/promises';
import { OvenError } from '../errors.ts';

export interface WavFormat {
  /** 1 PCM, 3 IEEE float, 6 A-law, 7 µ-law (WAVE_FORMAT_EXTENSIBLE is resolved to its sub-format). */
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** Bytes of sample data the header declares (undefined for a streamed or RF64 length). */
  dataBytes?: number;
}

/** The chunks before the samples are small; a header spread over more than this is not a recorder's. */
const HEADER_BYTES = 64 * 1024;
const FORMATS = new Set([1, 3, 6, 7]);
const EXTENSIBLE = 0xfffe;

function bad(why: string): OvenError {
  return new OvenError('TAPE_BAD_SOUNDTRACK', `soundtrack.wav ${why}.`);
}

/** Reads and checks the WAV header of `file`; throws TAPE_BAD_SOUNDTRACK naming what is wrong. */
export async function readWavFormat(file: string): Promise<WavFormat> {
  const handle = await open(file, 'r');
  let head: Buffer;
  try {
    head = Buffer.alloc(HEADER_BYTES);
    head = head.subarray(0, (await handle.read(head, 0, HEADER_BYTES, 0)).bytesRead);
  } finally {
    await handle.close();
  }
  return parseWavHeader(head);
}

export function parseWavHeader(head: Buffer): WavFormat {
  const riff = head.toString('latin1', 0, 4);
  if (head.length < 12 || (riff !== 'RIFF' && riff !== 'RF64') || head.toString('latin1', 8, 12) !== 'WAVE') {
    throw bad('is not a WAV file (it does not start with RIFF…WAVE)');
  }
  let fmt: Omit<WavFormat, 'dataBytes'> | undefined;
  for (let at = 12; at + 8 <= head.length; ) {
    const id = head.toString('latin1', at, at + 4);
    const size = head.readUInt32LE(at + 4);
    const body = at + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + size > head.length) throw bad('has a cut-off format chunk');
      fmt = readFmt(head.subarray(body, body + size));
    } else if (id === 'data') {
      if (!fmt) throw bad('has its samples before its format chunk');
      // 0xFFFFFFFF: a length not known when the header was written (streamed, or RF64's ds64 holds it).
      return { ...fmt, ...(size !== 0xffffffff && riff === 'RIFF' ? { dataBytes: size } : {}) };
    }
    at = body + size + (size % 2); // chunks are padded to an even length
  }
  throw bad(fmt ? 'has no sample data (no data chunk)' : 'has no format chunk');
}

function readFmt(chunk: Buffer): Omit<WavFormat, 'dataBytes'> {
  let format = chunk.readUInt16LE(0);
  const channels = chunk.readUInt16LE(2);
  const sampleRate = chunk.readUInt32LE(4);
  const bitsPerSample = chunk.readUInt16LE(14);
  if (format === EXTENSIBLE) {
    if (chunk.length < 26) throw bad('has a cut-off extensible format chunk');
    format = chunk.readUInt16LE(24); // the sub-format GUID starts with the format code
  }
  if (!FORMATS.has(format)) throw bad(`holds audio in format ${format}; PCM, float, A-law and µ-law WAVs are baked`);
  if (channels < 1 || channels > 8) throw bad(`says it has ${channels} channels`);
  if (sampleRate < 4000 || sampleRate > 384_000) throw bad(`says its sample rate is ${sampleRate} Hz`);
  const widths = format === 3 ? [32, 64] : format === 1 ? [8, 16, 24, 32] : [8];
  if (!widths.includes(bitsPerSample)) throw bad(`says its samples are ${bitsPerSample} bits`);
  return { format, channels, sampleRate, bitsPerSample };
}
