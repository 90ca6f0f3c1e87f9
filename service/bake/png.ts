// A PNG's size from its first 33 bytes (signature + IHDR chunk), so a frame's pixel count is
// checked before anything decodes it: a tiny file can claim 100000×100000 pixels.

import { open } from 'node:fs/promises';
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
