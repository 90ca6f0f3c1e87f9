// A PNG's size from its first 33 bytes (signature + IHDR chunk), so a frame's pixel count is
// checked before anything decodes it: a tiny file can claim 100000×100000 pixels.

import { open } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflate } from 'node:zlib';
import { crc32 } from './crc32.ts';

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA. */
  colorType: number;
  interlaced: boolean;
}

/** Bytes needed: 8 signature + 4 length + 4 "IHDR" + 13 data + 4 CRC. */
export const PNG_HEADER_BYTES = 33;

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Bit depths each colour type allows (PNG spec, table 11.1). */
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

/** Thrown when the bytes are not the start of a valid PNG; the message says what is wrong. */
export class NotAPngError extends Error {
  override name = 'NotAPngError';
}

export function parsePngHeader(head: Uint8Array): PngHeader {
  const bytes = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (bytes.length < PNG_HEADER_BYTES || !bytes.subarray(0, 8).equals(SIGNATURE)) {
    throw new NotAPngError('it does not start with the PNG signature');
  }
  if (bytes.readUInt32BE(8) !== 13 || bytes.toString('latin1', 12, 16) !== 'IHDR') {
    throw new NotAPngError('its first chunk is not a valid IHDR');
  }
  if (crc32(bytes, 12, 29) !== bytes.readUInt32BE(29)) throw new NotAPngError('its IHDR chunk is corrupt (CRC mismatch)');
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  const bitDepth = bytes[24]!;
  const colorType = bytes[25]!;
  const interlace = bytes[28]!;
  // The spec caps each side at 2^31-1; zero is invalid.
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) {
    throw new NotAPngError(`its size ${width}×${height} is invalid`);
  }
  if (!DEPTHS[colorType]?.includes(bitDepth)) {
    throw new NotAPngError(`colour type ${colorType} with bit depth ${bitDepth} is invalid`);
  }
  if (bytes[26] !== 0 || bytes[27] !== 0 || interlace > 1) throw new NotAPngError('its IHDR names an unknown method');
  return { width, height, bitDepth, colorType, interlaced: interlace === 1 };
}

/** Reads just the header of the PNG at `path`. Throws NotAPngError, or the fs error. */
export async function readPngHeader(path: string): Promise<PngHeader> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(PNG_HEADER_BYTES);
    const { bytesRead } = await file.read(head, 0, PNG_HEADER_BYTES, 0);
    return parsePngHeader(head.subarray(0, bytesRead));
  } finally {
    await file.close();
  }
}

/** Samples per pixel of each colour type. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7 passes: x start, y start, x step, y step. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/** Bytes the image data inflates to by the header: per row a filter byte and the packed pixels (per Adam7 pass when interlaced). */
export function expectedImageBytes(h: PngHeader): number {
  const bitsPerPixel = CHANNELS[h.colorType]! * h.bitDepth;
  const passBytes = (w: number, rows: number) => (w > 0 && rows > 0 ? rows * (1 + Math.ceil((w * bitsPerPixel) / 8)) : 0);
  if (!h.interlaced) return passBytes(h.width, h.height);
  return ADAM7.reduce((sum, [x0, y0, dx, dy]) => sum + passBytes(Math.ceil((h.width - x0) / dx), Math.ceil((h.height - y0) / dy)), 0);
}

const READ_PIECE = 64 * 1024;

/**
 * Inflates the PNG's image data (its IDAT chunks), counting the bytes and keeping none: they must
 * come to exactly what the header promises. A header that lies about the size, garbage or cut-off
 * data would otherwise reach ffmpeg, which skips such a frame or draws it half, and still succeeds.
 * Call only after the header's size has passed the pixel limit: the work is bounded by it.
 */
export async function checkPngData(path: string, header: PngHeader): Promise<void> {
  const expected = expectedImageBytes(header);
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    async function* imageData(): AsyncGenerator<Buffer> {
      const chunkHead = Buffer.alloc(8);
      for (let at = PNG_HEADER_BYTES; ; ) {
        if ((await file.read(chunkHead, 0, 8, at)).bytesRead < 8) throw new NotAPngError('its data is cut off before the IEND chunk');
        const length = chunkHead.readUInt32BE(0);
        const type = chunkHead.toString('latin1', 4, 8);
        if (length > 0x7fffffff || at + 12 + length > size) throw new NotAPngError(`its ${JSON.stringify(type)} chunk runs past the end of the file`);
        if (type === 'IEND') return;
        if (type === 'IDAT') {
          for (let done = 0; done < length; ) {
            const piece = Buffer.alloc(Math.min(READ_PIECE, length - done));
            await file.read(piece, 0, piece.length, at + 8 + done);
            done += piece.length;
            yield piece;
          }
        }
        at += 12 + length;
      }
    }
    let inflated = 0;
    const counter = new Writable({
      write(chunk: Buffer, _encoding, done) {
        inflated += chunk.length;
        done(inflated > expected ? new NotAPngError(`its image data holds more than its ${header.width}×${header.height} header says`) : null);
      },
    });
    try {
      await pipeline(imageData(), createInflate({ chunkSize: READ_PIECE }), counter);
    } catch (err) {
      if (err instanceof NotAPngError) throw err;
      throw new NotAPngError(`its image data is corrupt (${(err as Error).message})`);
    }
    if (inflated !== expected) throw new NotAPngError(`its image data holds less than its ${header.width}×${header.height} header says`);
  } finally {
    await file.close();
  }
}
