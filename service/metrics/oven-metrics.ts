// Oven's metrics, fed by the job manager's events: what operators graph and alert on.

import type { Jobs } from '../jobs/jobs.ts';
import { Counter, Gauge, Histogram, Registry } from './registry.ts';

const SECONDS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];

export function createOvenMetrics(jobs: Jobs): Registry {
  const registry = new Registry();
  const finished = registry.add(new Counter('oven_jobs_finished_total', 'Jobs that reached an outcome, by outcome and error code.'));
  const bakeSeconds = registry.add(new Histogram('oven_bake_duration_seconds', 'Time from a bake starting to its outcome.', SECONDS));
  const stageSeconds = registry.add(new Histogram('oven_stage_duration_seconds', 'Time spent in each stage of a bake.', SECONDS));
  const callbacks = registry.add(new Counter('oven_callback_attempts_total', 'Callback attempts, by result (delivered, failed, gave-up).'));
  const bytesIn = registry.add(new Counter('oven_bytes_in_total', 'Bytes of tape ZIPs downloaded.'));
  const bytesOut = registry.add(new Counter('oven_bytes_out_total', 'Bytes of MP4s and thumbnails uploaded.'));
  registry.add(new Gauge('oven_queue_depth', 'Jobs waiting to start.', () => jobs.figures().queued));
  registry.add(new Gauge('oven_bakes_running', 'Bakes running now.', () => jobs.figures().running));

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
