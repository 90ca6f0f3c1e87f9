// Oven's metrics, fed by the job manager's events: what operators graph and alert on.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Jobs } from '../jobs/jobs.ts';
import { Counter, Gauge, Histogram, Registry } from './registry.ts';

const SECONDS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
const LOOP_SAMPLE_MS = 20;

export function createOvenMetrics(jobs: Jobs): Registry {
  const registry = new Registry();
  const finished = registry.add(new Counter('oven_jobs_finished_total', 'Jobs that reached an outcome, by outcome and error code.', ['outcome', 'code']));
  const bakeSeconds = registry.add(new Histogram('oven_bake_duration_seconds', 'Time from a bake starting to its outcome.', SECONDS));
  const stageSeconds = registry.add(new Histogram('oven_stage_duration_seconds', 'Time spent in each stage of a bake.', SECONDS));
  const callbacks = registry.add(new Counter('oven_callback_attempts_total', 'Callback attempts, by result (delivered, failed, gave-up).', ['result']));
  const bytesIn = registry.add(new Counter('oven_bytes_in_total', 'Bytes of tape ZIPs downloaded.'));
  const bytesOut = registry.add(new Counter('oven_bytes_out_total', 'Bytes of MP4s and thumbnails uploaded.'));
  registry.add(new Gauge('oven_queue_depth', 'Jobs waiting to start.', () => jobs.figures().queued));
  registry.add(new Gauge('oven_bakes_running', 'Bakes running now.', () => jobs.figures().running));
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });
  loopDelay.enable();
  registry.add(
    new Gauge('oven_event_loop_delay_seconds', 'p99 of how late the event loop ran its timers since the previous scrape.', () => {
      // Reset on each read rather than a rolling window: each scrape sees exactly the stalls since the one before.
      const p99Ns = loopDelay.count === 0 ? 0 : loopDelay.percentile(99);
      loopDelay.reset();
      // Each sample is the whole gap between ticks, so the sampling interval itself is taken off.
      return Math.max(0, p99Ns / 1e9 - LOOP_SAMPLE_MS / 1000);
    }),
  );
  registry.add(new Gauge('oven_process_resident_memory_bytes', 'Resident memory of the oven process (RSS).', () => process.memoryUsage.rss()));
  registry.add(new Gauge('oven_process_heap_used_bytes', 'JavaScript heap in use by the oven process.', () => process.memoryUsage().heapUsed));

  jobs.on('stage', (stage, ms) => stageSeconds.observe(ms / 1000, { stage }));
  jobs.on('finished', (view, figures) => {
    finished.inc({ outcome: view.status, code: view.error?.code ?? '' });
    bakeSeconds.observe(figures.bakeMs / 1000, { outcome: view.status });
    bytesIn.inc({}, figures.bytesIn);
    bytesOut.inc({}, figures.bytesOut);
  });
  jobs.on('callback', (result) => callbacks.inc({ result }));
  return registry;
}
