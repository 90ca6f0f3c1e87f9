// The embedded mode's bake processes: the server never bakes. Each bake runs in a child process
// (bake-child.ts) kept warm in a small pool, one bake per child at a time. A child that crashes, is
// OOM-killed or is killed from outside costs only its job's attempt: the manager retries it as any
// passing fault, and a fresh child takes its place.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { OvenError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { FromChild, ToChild } from './bake-child.ts';
import type { BakeRun } from './bake-order.ts';
import type { Job } from './job.ts';
import type { BakeControl } from './pipeline.ts';

export interface BakePoolOptions {
  /** Children kept ready: the number of bakes that may run at once. */
  size: number;
  /** OVEN_BAKE_MEMORY_MB: each child's JavaScript heap is capped at half of it (the rest is weighed by the child). */
  memoryMb: number;
  log: Logger;
  /** How long a cancelled bake may take to stop before its process is killed. */
  cancelGraceMs?: number;
}

interface Child {
  process: ChildProcess;
  ready: Promise<void>;
  busy: boolean;
}

/** bake-child.ts next to this file, as .ts under tsx or .js once built. */
function childModule(): string {
  const here = fileURLToPath(import.meta.url);
  return here.replace(/bake-pool\.(ts|js)$/, 'bake-child.$1');
}

/**
 * A bake process's Node options (here and for BullMQ's sandbox): the server's own, the heap capped
 * at half the memory ceiling (a runaway script cannot grow to it unnoticed between weighings), and
 * tsx when the bake process is TypeScript (scripts/launch.mjs registers tsx in-process, so the
 * server's own options may not say so).
 */
export function bakeProcessExecArgv(module: string, memoryMb: number): string[] {
  const own = process.execArgv.filter((a) => !a.startsWith('--max-old-space-size'));
  const needsTsx = module.endsWith('.ts') && !own.some((a) => a.includes('tsx'));
  const heapMb = Math.max(64, Math.floor(memoryMb / 2));
  return [...own, ...(needsTsx ? ['--import', import.meta.resolve('tsx')] : []), `--max-old-space-size=${heapMb}`];
}

export class BakePool {
  private readonly children = new Set<Child>();
  private closed = false;

  constructor(private readonly options: BakePoolOptions) {}

  /** Starts the children, so the first bake does not wait for one. */
  start(): void {
    while (this.children.size < this.options.size) this.spawn();
  }

  /** Process ids of the children, for operators and tests. */
  pids(): number[] {
    return [...this.children].flatMap((c) => (c.process.pid === undefined ? [] : [c.process.pid]));
  }

  /** Bakes one job in a child; rejects with the bake's OvenError, or INTERRUPTED (retryable) when the child dies. */
  async run(job: Job, control: BakeControl): Promise<BakeRun> {
    if (this.closed) throw new OvenError('INTERRUPTED', 'The oven is shutting down.', { retryable: true });
    const child = this.idleChild();
    child.busy = true;
    try {
      await child.ready;
      return await this.bakeIn(child, job, control);
    } finally {
      child.busy = false;
      if (child.process.exitCode !== null || child.process.signalCode !== null) this.replace(child);
    }
  }

  /** Stops the idle children; busy ones end with their bakes (the manager stops those first). */
  close(): void {
    this.closed = true;
    for (const child of this.children) if (!child.busy) child.process.kill('SIGTERM');
  }

  private idleChild(): Child {
    for (const child of this.children) if (!child.busy && child.process.connected) return child;
    return this.spawn();
  }

  private spawn(): Child {
    const module = childModule();
    const proc = fork(module, [], {
      execArgv: bakeProcessExecArgv(module, this.options.memoryMb),
      // Its log lines go straight to the server's stdout: the same JSON, with the job's id.
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    const ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: FromChild) => {
        if (m.cmd !== 'ready') return;
        proc.off('message', onMessage);
        resolve();
      };
      proc.on('message', onMessage);
      proc.once('exit', () => reject(new OvenError('INTERRUPTED', 'The bake process stopped while starting.', { retryable: true })));
    });
    ready.catch(() => undefined);
    const child: Child = { process: proc, ready, busy: false };
    this.children.add(child);
    proc.once('exit', (code, signal) => {
      this.children.delete(child);
      if (!child.busy && !this.closed) {
        this.options.log.warn('an idle bake process stopped; starting another', { pid: proc.pid, exitCode: code, signal });
        this.replace(child);
      }
    });
    proc.on('error', (err) => this.options.log.error('bake process error', { pid: proc.pid, err }));
    return child;
  }

  private replace(dead: Child): void {
    this.children.delete(dead);
    if (!this.closed && this.children.size < this.options.size) this.spawn();
  }

  private bakeIn(child: Child, job: Job, control: BakeControl): Promise<BakeRun> {
    const proc = child.process;
    return new Promise<BakeRun>((resolve, reject) => {
      let killTimer: NodeJS.Timeout | undefined;
      const cleanUp = (): void => {
        proc.off('message', onMessage);
        proc.off('exit', onExit);
        control.signal.removeEventListener('abort', onAbort);
        if (killTimer) clearTimeout(killTimer);
      };
      const onMessage = (m: FromChild): void => {
        if (m.cmd === 'progress') {
          control.onStage(m.value.stage);
          control.onProgress(m.value.progress);
        } else if (m.cmd === 'done') {
          cleanUp();
          resolve(m.value as BakeRun);
        } else if (m.cmd === 'failed') {
          cleanUp();
          reject(new OvenError(m.error.code as OvenError['code'], m.error.message, { retryable: m.error.retryable }));
        }
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        cleanUp();
        const how = signal ? `killed by ${signal}` : `exit code ${code}`;
        this.options.log.warn('bake process died mid-bake', { jobId: job.jobId, pid: proc.pid, exitCode: code, signal });
        reject(new OvenError('INTERRUPTED', `The bake process stopped before it finished (${how}); the bake can be tried again.`, { retryable: true }));
      };
      const onAbort = (): void => {
        this.send(proc, { cmd: 'cancel' });
        // A bake that does not stop in time takes its process with it.
        killTimer = setTimeout(() => proc.kill('SIGKILL'), this.options.cancelGraceMs ?? 5000);
      };
      proc.on('message', onMessage);
      proc.once('exit', onExit);
      control.signal.addEventListener('abort', onAbort, { once: true });
      this.options.log.info('bake process took the job', { jobId: job.jobId, slug: job.request.slug, pid: proc.pid });
      this.send(proc, { cmd: 'bake', jobId: job.jobId, request: job.request });
      if (control.signal.aborted) onAbort();
    });
  }

  private send(proc: ChildProcess, message: ToChild): void {
    if (proc.connected) proc.send(message, (err) => err && this.options.log.warn('could not reach a bake process', { pid: proc.pid, err }));
  }
}
