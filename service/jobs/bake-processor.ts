// The bake process: one job's bake and upload, run in a process of its own so that nothing a tape
// does (a library's assertion, a native crash, the OOM killer) can reach the server. Its default
// export is a BullMQ sandboxed processor, `(job, token, signal) => result`; the embedded pool
// (bake-pool.ts, through bake-child.ts) calls the same function in the same kind of process.
// It reports stages and progress through `job.updateProgress`, logs through the same JSON logger
// (its stdout is the server's), and throws an OvenError whose code and `retryable` flag its
// supervisor reads.

import { loadConfig, type Config } from '../config.ts';
import { OvenError, toOvenError } from '../errors.ts';
import { log, logProcessWarnings, registerSecret, setLogLevel } from '../log.ts';
import { createGuardedDispatcher } from '../net/guard.ts';
import { createBlobStore } from '../storage/index.ts';
import { runningEncoders } from '../bake/ffmpeg.ts';
import type { BakeProcessJob, BakeProgress, BakeRun } from './bake-order.ts';
import type { ActiveStatus } from './job.ts';
import { watchMemory } from './memory-ceiling.ts';
import { createBakeRunner, workRootOf, type BakeAndUpload } from './pipeline.ts';

/** Progress is passed on at most this often (stage changes at once): each report may be a Redis write. */
const PROGRESS_EVERY_MS = 250;

let ready: Promise<{ config: Config; bake: BakeAndUpload }> | undefined;

/** Everything a bake needs, made once per process from the same environment as the server's. */
function setUp(): Promise<{ config: Config; bake: BakeAndUpload }> {
  ready ??= makeBaker();
  return ready;
}

async function makeBaker(): Promise<{ config: Config; bake: BakeAndUpload }> {
  const config = loadConfig(process.env);
  setLogLevel(config.logLevel);
  logProcessWarnings();
  for (const secret of [config.callbackSecret, config.blobs?.secret, config.blobs?.key, config.art?.secret, config.art?.key]) registerSecret(secret);
  const policy = { allowPrivateNetworks: config.allowPrivateNetworks, allowedHosts: config.allowedHosts };
  const dispatcher = createGuardedDispatcher(policy, { connectTimeoutMs: config.downloadIdleSeconds * 1000 });
  const blobs = await createBlobStore(config, { log });
  return { config, bake: createBakeRunner({ config, blobs, dispatcher, workRoot: workRootOf(config) }) };
}

export default async function bakeProcessor(job: BakeProcessJob, _token?: string, signal?: AbortSignal): Promise<BakeRun> {
  const { config, bake } = await setUp();
  const { request } = job.data;
  const jobId = job.id ?? 'unknown';
  const stop = new AbortController();
  const onCancel = (): void => stop.abort(signal?.reason instanceof OvenError ? signal.reason : new OvenError('INTERRUPTED', 'The bake was stopped before it finished.', { retryable: true }));
  if (signal?.aborted) onCancel();
  signal?.addEventListener('abort', onCancel, { once: true });
  const unwatch = watchMemory(config.bakeMemoryMb, () => runningEncoders, (error) => {
    log.child({ jobId, slug: request.slug }).error('bake over its memory ceiling; stopping it', { errorCode: error.code, error: error.message });
    stop.abort(error);
  });

  let stage: ActiveStatus = 'downloading';
  let progress = 0;
  let sentAt = 0;
  const report = (force: boolean): void => {
    const now = Date.now();
    if (!force && now - sentAt < PROGRESS_EVERY_MS) return;
    sentAt = now;
    const update: BakeProgress = { stage, progress };
    job.updateProgress(update).catch(() => undefined);
  };
  try {
    return await bake(
      { jobId, request },
      {
        signal: stop.signal,
        onStage: (next) => {
          if (next === stage) return;
          stage = next;
          report(true);
        },
        onProgress: (fraction) => {
          if (fraction <= progress) return;
          progress = fraction;
          report(fraction >= 1);
        },
      },
    );
  } catch (err) {
    // The stop's own reason (over the ceiling, cancelled) is the answer, whatever step it cut short.
    const reason: unknown = stop.signal.aborted ? stop.signal.reason : err;
    const error = toOvenError(reason);
    // Only the code and sentence cross to the supervisor: what was really thrown is logged here.
    if (error.code === 'INTERNAL') log.child({ jobId, slug: request.slug }).error('unexpected failure in the bake', { err: error });
    throw error;
  } finally {
    unwatch();
    signal?.removeEventListener('abort', onCancel);
  }
}
