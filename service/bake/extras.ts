// The outputs a job may ask for beside the MP4 and thumbnail ("webm", "gif"), made from the same
// frames with the same timing and nearest-neighbour upscale. One that fails is reported as a
// warning and left out: it never throws away a good MP4.

import path from 'node:path';
import type { ExtraOutput, OutputWarning } from '../../contract/index.ts';
import { OvenError, toOvenError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { encodeGif } from './gif.ts';
import type { Tape } from './tape.ts';
import { encodeWebm } from './webm.ts';

export type { ExtraOutput, OutputWarning };

export interface MadeOutput {
  path: string;
  bytes: number;
  width: number;
  height: number;
}

export interface ExtrasOptions {
  ffmpegPath: string;
  scale: number;
  timeoutSeconds: number;
  /** OVEN_MAX_GIF_BYTES. */
  maxGifBytes: number;
  signal?: AbortSignal;
  /** 0..1 over all the requested outputs. */
  onProgress?: (fraction: number) => void;
  log?: Logger;
}

/** Makes each requested output in `outDir` as `<slug>.<output>`, one after another. */
export async function makeExtras(
  tape: Tape,
  outDir: string,
  slug: string,
  requested: readonly ExtraOutput[],
  options: ExtrasOptions,
): Promise<{ made: Partial<Record<ExtraOutput, MadeOutput>>; warnings: OutputWarning[] }> {
  const made: Partial<Record<ExtraOutput, MadeOutput>> = {};
  const warnings: OutputWarning[] = [];
  for (const [i, output] of requested.entries()) {
    const outPath = path.join(outDir, `${slug}.${output}`);
    const share = (f: number) => options.onProgress?.((i + Math.min(1, f)) / requested.length);
    const common = {
      ffmpegPath: options.ffmpegPath,
      timeoutSeconds: options.timeoutSeconds,
      onProgress: share,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.log ? { log: options.log } : {}),
    };
    try {
      const result = output === 'webm' ? await encodeWebm(tape, outPath, { ...common, scale: options.scale }) : await encodeGif(tape, outPath, { ...common, maxBytes: options.maxGifBytes });
      made[output] = { path: outPath, bytes: result.bytes, width: result.width, height: result.height };
    } catch (err) {
      // A stop is the bake's, not the output's: it ends the bake.
      if (options.signal?.aborted) throw err;
      const e = err instanceof OvenError ? err : toOvenError(err);
      options.log?.warn(`the ${output} was not made`, { errorCode: e.code, error: e.message });
      warnings.push({ output, code: e.code, message: e.message });
    }
    share(1);
  }
  return { made, warnings };
}
