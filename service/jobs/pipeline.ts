// One job's bake, end to end: fetch → unzip → tape → encode → thumbnail (bake/), then upload (storage/).
// It runs inside a bake process (bake-processor.ts), never in the server; the job's supervisor
// decides what happens around it, and this only does the work and reports its stages.

import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Dispatcher } from 'undici';
import { bakeTape, withWorkDir, type ExtraOutput, type MadeOutput } from '../bake/index.ts';
import { bakeLimitsFrom } from '../bake/limits.ts';
import type { Config } from '../config.ts';
import { log } from '../log.ts';
import { checkUrl, type UrlPolicy } from '../net/guard.ts';
import { artObjectKey, contentTypeFor, tapeKeys, type BlobStore } from '../storage/index.ts';
import type { BakeRun } from './bake-order.ts';
import type { ActiveStatus, BakeRequest } from './job.ts';

export interface PipelineDeps {
  config: Config;
  blobs: BlobStore;
  dispatcher: Dispatcher;
  /** The folder the service's job folders are made in (see workRootOf). */
  workRoot: string;
}

/**
 * The service keeps its job folders in a folder of its own under TEMP_DIR, so that at start it can
 * remove what a killed process left behind without touching anything else in TEMP_DIR.
 */
export function workRootOf(config: Pick<Config, 'tempDir'>): string {
  return path.join(config.tempDir, 'oven-jobs');
}

export async function clearWorkRoot(workRoot: string): Promise<void> {
  await rm(workRoot, { recursive: true, force: true });
  await mkdir(workRoot, { recursive: true });
}

/** What a bake tells its supervisor, and how it is stopped. */
export interface BakeControl {
  onStage(stage: ActiveStatus): void;
  onProgress(fraction: number): void;
  signal: AbortSignal;
}

export type BakeAndUpload = (order: { jobId: string; request: BakeRequest }, control: BakeControl) => Promise<BakeRun>;

export function createBakeRunner({ config, blobs, dispatcher, workRoot }: PipelineDeps): BakeAndUpload {
  const limits = bakeLimitsFrom(config);
  const policy: UrlPolicy = { allowPrivateNetworks: config.allowPrivateNetworks, allowedHosts: config.allowedHosts };

  return (job, control): Promise<BakeRun> =>
    withWorkDir(workRoot, job.request.slug, async (workDir) => {
      const zipUrl = new URL(job.request.zipUrl);
      const artKey = config.art ? artObjectKey(zipUrl, config.art) : undefined;
      const baked = await bakeTape({
        source: job.request.zipUrl,
        slug: job.request.slug,
        workDir,
        limits,
        dispatcher,
        checkUrl: async (url) => {
          await checkUrl(url.toString(), policy, 'zipUrl');
        },
        // A tape in the art Space is fetched with credentials: no dependence on a public ACL.
        download:
          artKey && config.art
            ? async (dest) => (await import('../storage/art.ts')).downloadArtObject(config.art!, artKey, dest, limits.maxZipBytes, control.signal)
            : undefined,
        onStage: (stage) => control.onStage(stage),
        onProgress: (fraction) => control.onProgress(fraction * 0.95),
        signal: control.signal,
        log: log.child({ jobId: job.jobId, slug: job.request.slug }),
        ...(job.request.outputs ? { outputs: job.request.outputs } : {}),
      });

      control.onStage('uploading');
      const keys = tapeKeys(job.request.slug);
      const mp4 = await blobs.put(keys.mp4, baked.mp4Path, 'video/mp4');
      let thumbnailUrl: string | undefined;
      let thumbnailBytes = 0;
      let warning = baked.thumbnailError;
      const warnings = [...baked.warnings];
      if (baked.thumbnailPath) {
        try {
          const thumbnail = await blobs.put(keys.thumbnail, baked.thumbnailPath, 'image/jpeg');
          thumbnailUrl = thumbnail.url;
          thumbnailBytes = thumbnail.bytes;
        } catch (err) {
          // A lost thumbnail does not throw away a good MP4.
          warning = { code: 'UPLOAD_FAILED', message: `The thumbnail could not be uploaded: ${(err as Error).message}` };
          warnings.push({ output: 'thumbnail', ...warning });
        }
      }
      // The extra outputs go beside the MP4; one that cannot be stored is a warning, like a thumbnail.
      const outputs: Partial<Record<ExtraOutput, string>> = {};
      let outputBytes = 0;
      for (const [output, made] of Object.entries(baked.extras) as [ExtraOutput, MadeOutput][]) {
        try {
          const stored = await blobs.put(keys[output], made.path, contentTypeFor(keys[output]));
          outputs[output] = stored.url;
          outputBytes += stored.bytes;
        } catch (err) {
          warnings.push({ output, code: 'UPLOAD_FAILED', message: `The ${output} could not be uploaded: ${(err as Error).message}` });
        }
      }
      control.onProgress(1);
      return {
        outcome: {
          mp4Url: mp4.url,
          ...(thumbnailUrl ? { thumbnailUrl } : {}),
          durationMs: Math.round(baked.durationMs),
          frames: baked.frames,
          width: baked.width,
          height: baked.height,
          bytes: mp4.bytes,
          ...(baked.sizeBudget ? { sizeBudget: baked.sizeBudget } : {}),
          ...(Object.keys(outputs).length ? { outputs } : {}),
          ...(warnings.length ? { warnings } : {}),
        },
        ...(warning ? { warning } : {}),
        bytesIn: baked.zipBytes,
        bytesOut: mp4.bytes + thumbnailBytes + outputBytes,
      };
    });
}
