// The bake process: one job's bake and upload, run in a process of its own so that nothing a tape
// does (a library's assertion, a native crash, the OOM killer) can reach the server. Its default
// export is a BullMQ sandboxed processor, `(job, token, signal) => result`; the embedded pool
// (bake-pool.ts, through bake-child.ts) calls the same function in the same kind of process.
// It reports stages and progress through `job.updateProgress`, logs through the same JSON logger
// (its stdout is the server's), and throws an OvenError whose code and `retryable` flag its
// supervisor reads.

import { loadConfig, secretsOf, type Config } from '../config.ts';
import { OvenError, toOvenError } from '../errors.ts';
import { log, logProcessWarnings, registerSecret, setLogLevel } from '../log.ts';
import { createGuardedDispatcher } from '../net/guard.ts';
import { createBlobStore } from '../storage/index.ts';
import { runningEncoders } from '../bake/ffmpeg.ts';
import { HAND_BACK, type BakeProcessJob, type BakeProcessorResult, type BakeProgress } from './bake-order.ts';
import type { ActiveStatus } from './job.ts';
import { watchMemory } from './memory-ceiling.ts';
import { messageWithCode } from './redis/queues.ts';
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
  for (const secret of secretsOf(config)) registerSecret(secret);
  const policy = { allowPrivateNetworks: config.allowPrivateNetworks, allowedHosts: config.allowedHosts };
  const dispatcher = createGuardedDispatcher(policy, { connectTimeoutMs: config.downloadIdleSeconds * 1000 });
  const blobs = await createBlobStore(config, { log });
  return { config, bake: createBakeRunner({ config, blobs, dispatcher, workRoot: workRootOf(config) }) };
}

/** Bakes running in this process, so that they can be stopped when its supervisor is gone. */
const running = new Set<AbortController>();

// A bake process whose supervisor died (even kill -9) stops its bakes (which SIGKILLs their ffmpeg
// at once) and leaves at once: another process takes the job up, and nothing is left baking for
// nobody. Not a moment later: under BullMQ the failure then thrown would go to the sandbox's own
// crash handler, which reports to the dead parent, fails, and loops at full CPU.
if (process.channel) {
  process.once('disconnect', () => {
    for (const stop of running) stop.abort(new OvenError('INTERRUPTED', 'The bake process lost its supervisor.', { retryable: true }));
    process.exit(0);
  });
}

export default async function bakeProcessor(job: BakeProcessJob, token?: string, signal?: AbortSignal): Promise<BakeProcessorResult> {
  const { config, bake } = await setUp();
  const { request } = job.data;
  const jobId = job.id ?? 'unknown';
  const stop = new AbortController();
  running.add(stop);
  const onCancel = (): void => stop.abort(signal?.reason instanceof OvenError ? signal.reason : new OvenError('INTERRUPTED', 'The bake was stopped before it finished.', { retryable: true }));
  if (signal?.aborted) onCancel();
  signal?.addEventListener('abort', onCancel, { once: true });
  const unwatch = watchMemory(config.bakeMemoryMb, () => runningEncoders, (error) => {
    log.child({ jobId, slug: request.slug }).error('bake over its memory ceiling; stopping it', { errorCode: error.code, error: error.message });
    stop.abort(error);
  });

  let stage: ActiveStatus = 'downloading';
  let stageStarted = Date.now();
  const stageMs: Partial<Record<ActiveStatus, number>> = {};
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
    const run = await bake(
      { jobId, request },
      {
        signal: stop.signal,
        onStage: (next) => {
          if (next === stage) return;
          stageMs[stage] = Date.now() - stageStarted;
          stage = next;
          stageStarted = Date.now();
          report(true);
        },
        onProgress: (fraction) => {
          if (fraction <= progress) return;
          progress = fraction;
          report(fraction >= 1);
        },
      },
    );
    stageMs[stage] = Date.now() - stageStarted;
    return { ...run, stageMs };
  } catch (err) {
    // The stop's own reason (over the ceiling, cancelled) is the answer, whatever step it cut short.
    const reason: unknown = stop.signal.aborted ? stop.signal.reason : err;
    const error = toOvenError(reason);
    // Only the code and sentence cross to the supervisor: what was really thrown is logged here.
    if (error.code === 'INTERNAL') log.child({ jobId, slug: request.slug }).error('unexpected failure in the bake', { err: error });
    if (job.opts?.attempts === undefined) throw error;
    return asBullmqOutcome(job, error, token, signal);
  } finally {
    running.delete(stop);
    unwatch();
    signal?.removeEventListener('abort', onCancel);
  }
}

/**
 * Under BullMQ, which keeps only an error's message: a drained bake goes back to the queue
 * uncounted; a failure that may pass is thrown, for BullMQ to try again later; a final one (the
 * tape's fault, or the last attempt) is returned, so that its code reaches the job's status and its
 * callback.
 */
async function asBullmqOutcome(job: BakeProcessJob, error: OvenError, token: string | undefined, signal: AbortSignal | undefined): Promise<BakeProcessorResult> {
  if (signal?.aborted && signal.reason === HAND_BACK && job.moveToWait) {
    await job.moveToWait(token);
    // BullMQ's own sign that the processor moved the job itself.
    throw Object.assign(new Error('The bake was handed back to the queue for shutdown.'), { name: 'WaitingError' });
  }
  const lastAttempt = (job.attemptsMade ?? 0) + 1 >= (job.opts?.attempts ?? 1);
  // BullMQ keeps the message only: the code goes with it, for the job's status while it waits.
  if (error.retryable && !lastAttempt) throw Object.assign(new Error(messageWithCode(error.code, error.message)), { code: error.code, retryable: true });
  return { failure: { code: error.code, message: error.message } };
}
