// The part of the configuration a bake needs, so bake/ does not depend on the whole Config.

import type { Config } from '../config.ts';

export interface BakeLimits {
  /** Largest ZIP downloaded, in bytes. */
  maxZipBytes: number;
  /** Largest total of the entries unpacked from one ZIP, in bytes. */
  maxUnzippedBytes: number;
  /** Most entries one ZIP may hold. */
  maxEntries: number;
  /** Longest tape, by the sum of its frame durations, in seconds. */
  maxTapeSeconds: number;
  /** Most pixels in one frame (width × height). */
  maxFramePixels: number;
  /** Nearest-neighbour upscale factor; lowered so the video fits 1920×1080 / 1080×1920. */
  scale: number;
  /** Wall-clock limit for one ffmpeg run, in seconds. */
  encodeTimeoutSeconds: number;
  /** Largest MP4, in bytes; past it the MP4 is made again to fit, or the bake fails. */
  maxMp4Bytes: number;
  /** Largest GIF, in bytes; a bigger one is left out with a warning. */
  maxGifBytes: number;
  /** Wall-clock limit for unpacking and checking the tape (the extracting stage), in seconds. */
  extractTimeoutSeconds: number;
  /** Wall-clock limit for downloading one ZIP, in seconds. */
  downloadTimeoutSeconds: number;
  /** Longest silence while downloading (and the connect timeout), in seconds. */
  downloadIdleSeconds: number;
  ffmpegPath: string;
}

export function bakeLimitsFrom(config: Config): BakeLimits {
  return {
    maxZipBytes: config.maxZipBytes,
    maxUnzippedBytes: config.maxUnzippedBytes,
    maxEntries: config.maxEntries,
    maxTapeSeconds: config.maxTapeSeconds,
    maxFramePixels: config.maxFramePixels,
    scale: config.scale,
    encodeTimeoutSeconds: config.encodeTimeoutSeconds,
    maxMp4Bytes: config.maxMp4Bytes,
    maxGifBytes: config.maxGifBytes,
    extractTimeoutSeconds: config.extractTimeoutSeconds,
    downloadTimeoutSeconds: config.downloadTimeoutSeconds,
    downloadIdleSeconds: config.downloadIdleSeconds,
    ffmpegPath: config.ffmpegPath ?? 'ffmpeg',
  };
}
