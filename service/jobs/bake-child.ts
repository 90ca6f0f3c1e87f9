// The embedded pool's bake process: waits for a job over IPC, runs the bake processor on it (the
// same file BullMQ runs in Redis mode), and answers. It bakes one job at a time, is reused for the
// next, and exits when the server goes away, taking its ffmpeg with it.

import { toOvenError } from '../errors.ts';
import type { BakeProgress, CarriedError } from './bake-order.ts';
import bakeProcessor from './bake-processor.ts';
import type { BakeRequest } from './job.ts';

/** Messages from the pool. */
export type ToChild = { cmd: 'bake'; jobId: string; request: BakeRequest } | { cmd: 'cancel' };
/** Messages to the pool. */
export type FromChild =
  | { cmd: 'ready' }
  | { cmd: 'progress'; value: BakeProgress }
  | { cmd: 'done'; value: unknown }
  | { cmd: 'failed'; error: CarriedError };

let running: AbortController | undefined;

function tell(message: FromChild): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(message, undefined, {}, () => resolve());
  });
}

async function bake(jobId: string, request: BakeRequest): Promise<void> {
  running = new AbortController();
  try {
    const value = await bakeProcessor(
      { id: jobId, data: { request }, updateProgress: (value) => tell({ cmd: 'progress', value }) },
      undefined,
      running.signal,
    );
    await tell({ cmd: 'done', value });
  } catch (err) {
    const e = toOvenError(err);
    await tell({ cmd: 'failed', error: { code: e.code, message: e.message, retryable: e.retryable } });
    // A bake stopped for its memory leaves this process bloated: the pool starts a fresh one.
    if (e.code === 'BAKE_MEMORY_LIMIT') process.exit(0);
  } finally {
    running = undefined;
  }
}

process.on('message', (message: ToChild) => {
  if (message.cmd === 'bake' && !running) void bake(message.jobId, message.request);
  if (message.cmd === 'cancel') running?.abort();
});
// A server gone (even kill -9) is handled by bake-processor.ts: it stops the bake and leaves.
// Gone already while this process was still loading: nothing will ever be asked of it.
if (!process.connected) process.exit(0);
void tell({ cmd: 'ready' });
