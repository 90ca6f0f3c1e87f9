// What the embedded manager's jobs look like from outside, and which finished ones it may forget:
// plain functions of the jobs it holds, so the state machine (manager.ts) keeps to state.

import { isActive, isTerminal, jobView, type Job, type JobView } from './job.ts';
import type { Summary } from './jobs.ts';

/** /status: the waiting jobs in the order they start, the ones baking, and the most recently finished. */
export function summarize(jobs: Iterable<Job>, positionOf: (jobId: string) => number, recentCount: number): Summary {
  const all = [...jobs];
  const view = (j: Job): JobView => jobView(j, positionOf(j.jobId));
  // A job waiting out a retry has no place in line (0): after those that have one.
  const order = (j: Job) => positionOf(j.jobId) || Number.MAX_SAFE_INTEGER;
  return {
    queued: all.filter((j) => j.status === 'queued').sort((a, b) => order(a) - order(b)).map(view),
    active: all.filter((j) => isActive(j.status)).map(view),
    recent: newestFinishedFirst(all).slice(0, recentCount).map(view),
  };
}

/**
 * The finished jobs to forget: past the newest `keep`, or finished before `now - keepMs`, but
 * never one whose callback is still being delivered (its outcome must stay readable).
 */
export function expired(jobs: Iterable<Job>, keep: number, keepMs: number, now = Date.now()): Job[] {
  const forgettable = newestFinishedFirst([...jobs]).filter((j) => j.callback?.state !== 'pending');
  return forgettable.filter((job, i) => i >= keep || Date.parse(job.finishedAt ?? '') < now - keepMs);
}

function newestFinishedFirst(jobs: Job[]): Job[] {
  return jobs.filter((j) => isTerminal(j.status)).sort((a, b) => (b.finishedAt ?? '').localeCompare(a.finishedAt ?? ''));
}
