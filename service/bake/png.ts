// A PNG's size from its first 33 bytes (signature + IHDR chunk), so a frame's pixel count is
// checked before anything decodes it: a tiny file can claim 100000×100000 pixels.

import { crc32, inflateSync } from 'node:zlib';

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
  if (crc32(bytes.subarray(12, 29)) !== bytes.readUInt32BE(29)) throw new NotAPngError('its IHDR chunk is corrupt (CRC mismatch)');
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

/**
 * The most bytes a PNG of this header may take on disk: its image data stored uncompressed (deflate's
 * worst case adds 5 bytes per 64 KiB block), plus room for ancillary chunks. A file bigger than this
 * is padded (with empty chunks, say) to make checking it cost far more than its picture is worth.
 */
export function maxPngFileBytes(h: PngHeader): number {
  const data = expectedImageBytes(h);
  return data + Math.ceil(data / 16384) * 5 + 256 * 1024;
}

/**
 * Inflates the PNG's image data (its IDAT chunks), which must come to exactly what the header
 * promises. A header that lies about the size, garbage or cut-off data would otherwise reach
 * ffmpeg, which skips such a frame, draws it half, or draws what the header says, and still
 * succeeds. An animated PNG (APNG) is refused: ffmpeg would play its frames, with timing of its own,
 * inside one tape frame. The work is bounded by the header's size (call this only after it passed
 * the pixel limit): the file may not be larger than maxPngFileBytes, and inflating stops one byte
 * past what the header allows.
 */
export function checkPngImage(bytes: Buffer, header: PngHeader): void {
  const expected = expectedImageBytes(header);
  if (bytes.length > maxPngFileBytes(header)) {
    throw new NotAPngError(`it is ${bytes.length} bytes, more than a ${header.width}×${header.height} image can need`);
  }
  const idat: Buffer[] = [];
  for (let at = PNG_HEADER_BYTES; ; ) {
    if (at + 8 > bytes.length) throw new NotAPngError('its data is cut off before the IEND chunk');
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    if (length > 0x7fffffff || at + 12 + length > bytes.length) throw new NotAPngError(`its ${JSON.stringify(type)} chunk runs past the end of the file`);
    if (type === 'IEND') break;
    if (type === 'acTL') throw new NotAPngError('it is an animated PNG (APNG); a tape frame must be one picture');
    if (type === 'IDAT') idat.push(bytes.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  let inflated: number;
  try {
    // One output buffer of the expected size plus the byte that proves a lie: zlib's default 16 KiB
    // chunks, joined at the end, made this check four times slower.
    inflated = inflateSync(Buffer.concat(idat), { maxOutputLength: expected + 1, chunkSize: Math.max(64, expected + 1) }).length;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new NotAPngError(`its image data holds more than its ${header.width}×${header.height} header says`);
    }
    throw new NotAPngError(`its image data is corrupt (${(err as Error).message})`);
  }
  if (inflated > expected) throw new NotAPngError(`its image data holds more than its ${header.width}×${header.height} header says`);
  if (inflated !== expected) throw new NotAPngError(`its image data holds less than its ${header.width}×${header.height} header says`);
}
