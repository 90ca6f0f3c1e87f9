// A bake process's memory ceiling: its own resident memory plus that of the encoders it runs,
// weighed a few times a second. Over the ceiling, the bake is stopped before the kernel's OOM
// killer picks a victim (on a 1 GB droplet that could be the server).

import { readFileSync } from 'node:fs';
import { OvenError } from '../errors.ts';

const PAGE_BYTES = 4096;

/** Resident bytes of a process by /proc/<pid>/statm (its second field, in pages); 0 when it is gone. */
function residentBytes(pid: number): number {
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return Number.isFinite(pages) ? pages * PAGE_BYTES : 0;
  } catch {
    return 0;
  }
}

/** This process and the given children, resident, in bytes. */
export function processTreeBytes(children: Iterable<number>): number {
  let total = process.memoryUsage.rss();
  for (const pid of children) total += residentBytes(pid);
  return total;
}

export function overCeiling(usedBytes: number, ceilingMb: number): OvenError {
  return new OvenError(
    'BAKE_MEMORY_LIMIT',
    `The bake used ${Math.round(usedBytes / 2 ** 20)} MiB, more than the ${ceilingMb} MiB a bake may (OVEN_BAKE_MEMORY_MB); it was stopped.`,
  );
}

/**
 * Calls `onOver` once, with the error to stop the bake with, when this process and `children()`
 * together hold more than `ceilingMb`. Returns the function that stops watching.
 */
export function watchMemory(ceilingMb: number, children: () => Iterable<number>, onOver: (error: OvenError) => void, everyMs = 200): () => void {
  const ceiling = ceilingMb * 2 ** 20;
  const timer = setInterval(() => {
    const used = processTreeBytes(children());
    if (used <= ceiling) return;
    clearInterval(timer);
    onOver(overCeiling(used, ceilingMb));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
