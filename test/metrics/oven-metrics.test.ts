import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { Jobs, JobsEvents, QueueFigures } from '../../service/jobs/jobs.ts';
import type { JobView } from '../../service/jobs/job.ts';
import { createOvenMetrics } from '../../service/metrics/oven-metrics.ts';

/** Only what the metrics use: the events and figures(). */
function fakeJobs(figures: Partial<QueueFigures> = {}) {
  const emitter = new EventEmitter<JobsEvents>();
  return Object.assign(emitter, {
    figures: (): QueueFigures => ({ queued: 4, running: 2, concurrency: 2, limit: 50, draining: false, ...figures }),
  });
}

function samples(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

function viewOf(status: 'done' | 'failed', code?: string): JobView {
  return { status, error: code ? { code, message: 'x' } : null } as unknown as JobView;
}

test('before any event: queue figures as gauges, unlabelled counters at 0, no labelled series', () => {
  const m = samples(createOvenMetrics(fakeJobs() as unknown as Jobs).render());
  assert.equal(m.get('oven_queue_depth'), 4);
  assert.equal(m.get('oven_bakes_running'), 2);
  assert.equal(m.get('oven_bytes_in_total'), 0);
  assert.equal(m.get('oven_bytes_out_total'), 0);
  assert.ok(![...m.keys()].some((k) => k.startsWith('oven_jobs_finished_total') || k.startsWith('oven_callback_attempts_total')));
});

test("'finished', 'stage' and 'callback' events move their counters and histograms", () => {
  const jobs = fakeJobs();
  const registry = createOvenMetrics(jobs as unknown as Jobs);
  jobs.emit('stage', 'downloading', 1500);
  jobs.emit('stage', 'encoding', 4000);
  jobs.emit('stage', 'encoding', 25_000);
  jobs.emit('finished', viewOf('done'), { bakeMs: 3000, bytesIn: 1000, bytesOut: 700 });
  jobs.emit('finished', viewOf('failed', 'ZIP_INVALID'), { bakeMs: 200, bytesIn: 50, bytesOut: 0 });
  jobs.emit('callback', 'delivered');
  jobs.emit('callback', 'delivered');
  jobs.emit('callback', 'gave-up');
  const m = samples(registry.render());

  assert.equal(m.get('oven_jobs_finished_total{outcome="done",code=""}'), 1);
  assert.equal(m.get('oven_jobs_finished_total{outcome="failed",code="ZIP_INVALID"}'), 1);
  assert.equal(m.get('oven_bytes_in_total'), 1050);
  assert.equal(m.get('oven_bytes_out_total'), 700);
  assert.equal(m.get('oven_bake_duration_seconds_count{outcome="done"}'), 1);
  assert.equal(m.get('oven_bake_duration_seconds_sum{outcome="done"}'), 3);
  assert.equal(m.get('oven_bake_duration_seconds_bucket{outcome="failed",le="0.5"}'), 1);
  assert.equal(m.get('oven_stage_duration_seconds_count{stage="encoding"}'), 2);
  assert.equal(m.get('oven_stage_duration_seconds_sum{stage="encoding"}'), 29);
  assert.equal(m.get('oven_stage_duration_seconds_bucket{stage="encoding",le="5"}'), 1);
  assert.equal(m.get('oven_stage_duration_seconds_bucket{stage="encoding",le="30"}'), 2);
  assert.equal(m.get('oven_stage_duration_seconds_count{stage="downloading"}'), 1);
  assert.equal(m.get('oven_callback_attempts_total{result="delivered"}'), 2);
  assert.equal(m.get('oven_callback_attempts_total{result="gave-up"}'), 1);
  assert.equal(m.get('oven_callback_attempts_total{result="failed"}'), undefined);
});

test('the gauges follow the figures at each render', () => {
  let queued = 7;
  const jobs = Object.assign(new EventEmitter<JobsEvents>(), {
    figures: (): QueueFigures => ({ queued, running: 1, concurrency: 1, limit: 50, draining: false }),
  });
  const registry = createOvenMetrics(jobs as unknown as Jobs);
  assert.equal(samples(registry.render()).get('oven_queue_depth'), 7);
  queued = 0;
  assert.equal(samples(registry.render()).get('oven_queue_depth'), 0);
});

test('event loop delay, resident memory and heap in use appear with plausible values', async () => {
  const registry = createOvenMetrics(fakeJobs() as unknown as Jobs);
  // Give the delay monitor a few samples, one of them after a loop stalled on purpose.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const stalledUntil = Date.now() + 150;
  while (Date.now() < stalledUntil);
  await new Promise((resolve) => setTimeout(resolve, 60));
  const text = registry.render();
  for (const name of ['oven_event_loop_delay_seconds', 'oven_process_resident_memory_bytes', 'oven_process_heap_used_bytes']) {
    assert.match(text, new RegExp(`# TYPE ${name} gauge\n`), name);
  }
  const m = samples(text);
  const delay = m.get('oven_event_loop_delay_seconds')!;
  assert.ok(delay >= 0.1 && delay < 5, `the stall shows in the delay: ${delay} s`);
  const rss = m.get('oven_process_resident_memory_bytes')!;
  const heap = m.get('oven_process_heap_used_bytes')!;
  assert.ok(rss > 10 * 1024 * 1024, `rss ${rss}`);
  assert.ok(heap > 0 && heap < rss, `heap ${heap}, rss ${rss}`);

  // Read and reset: the next scrape, without a stall, no longer shows it.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const after = samples(registry.render()).get('oven_event_loop_delay_seconds')!;
  assert.ok(after >= 0 && after < 0.1, `after the stall: ${after} s`);
});
