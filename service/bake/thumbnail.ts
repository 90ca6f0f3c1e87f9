// The thumbnail: the middle frame, upscaled like the video, fitted into 512×512, pixels kept crisp.

import sharp from 'sharp';
import { OvenError } from '../errors.ts';
import { scaleFactorFor } from './encode.ts';
import type { Tape } from './tape.ts';

export const THUMBNAIL_BOX = 512;
export const THUMBNAIL_QUALITY = 90;

// One small droplet: no cache of decoded images and one libvips thread, so a bake stays lean.
sharp.cache(false);
sharp.concurrency(1);

export interface ThumbnailResult {
  width: number;
  height: number;
  frameIndex: number;
}

/** The frame the first oven used: the one in the middle by count. */
export function middleFrame(tape: Tape): Tape['frames'][number] {
  const frame = tape.frames[Math.floor(tape.frames.length / 2)];
  if (!frame) throw new OvenError('THUMBNAIL_FAILED', 'The tape has no frame to make a thumbnail from.');
  return frame;
}

/** Size of the thumbnail for a frame of width×height: the whole upscale, then shrunk to fit the box. */
export function thumbnailSize(width: number, height: number, preferredScale: number): { width: number; height: number; scale: number } {
  const scale = scaleFactorFor(width, height, preferredScale);
  const w = width * scale;
  const h = height * scale;
  const shrink = Math.min(1, THUMBNAIL_BOX / w, THUMBNAIL_BOX / h);
  return { width: Math.max(1, Math.round(w * shrink)), height: Math.max(1, Math.round(h * shrink)), scale };
}

/** Writes a JPEG of the tape's middle frame to outPath; any failure is THUMBNAIL_FAILED. */
export async function makeThumbnail(tape: Tape, outPath: string, preferredScale: number): Promise<ThumbnailResult> {
  const frame = middleFrame(tape);
  const size = thumbnailSize(tape.width, tape.height, preferredScale);
  try {
    // Nearest-neighbour straight to the final size is the same as upscaling by the whole factor
    // and then shrinking with nearest: every output pixel takes one source pixel's colour.
    const info = await sharp(frame.path, { limitInputPixels: tape.width * tape.height, sequentialRead: true })
      .removeAlpha()
      .resize(size.width, size.height, { kernel: 'nearest', fit: 'fill' })
      .jpeg({ quality: THUMBNAIL_QUALITY, chromaSubsampling: '4:4:4' })
      .toFile(outPath);
    return { width: info.width, height: info.height, frameIndex: frame.index };
  } catch (err) {
    throw new OvenError('THUMBNAIL_FAILED', `The thumbnail could not be made from frame ${frame.index}.`, { cause: err });
  }
}
