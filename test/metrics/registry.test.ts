import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from '../../service/metrics/registry.ts';

function rendered(metric: Counter | Gauge | Histogram): string {
  const registry = new Registry();
  registry.add(metric);
  return registry.render();
}

test('a counter without labels shows 0 before its first event, then its total', () => {
  const bytes = new Counter('oven_test_bytes_total', 'Bytes.');
  assert.equal(rendered(bytes), '# HELP oven_test_bytes_total Bytes.\n# TYPE oven_test_bytes_total counter\noven_test_bytes_total 0\n');
  bytes.inc();
  bytes.inc({}, 41);
  assert.equal(rendered(bytes), '# HELP oven_test_bytes_total Bytes.\n# TYPE oven_test_bytes_total counter\noven_test_bytes_total 42\n');
});

test('a labelled counter shows only the series it has seen, one line each', () => {
  const results = new Counter('oven_test_results_total', 'Results.', ['result']);
  assert.equal(rendered(results), '# HELP oven_test_results_total Results.\n# TYPE oven_test_results_total counter\n');
  results.inc({ result: 'delivered' });
  results.inc({ result: 'failed' });
  results.inc({ result: 'delivered' });
  assert.deepEqual(rendered(results).trimEnd().split('\n').slice(2), ['oven_test_results_total{result="delivered"} 2', 'oven_test_results_total{result="failed"} 1']);
});

test('label values with labels in another order are one series', () => {
  const finished = new Counter('oven_test_finished_total', 'Finished.', ['outcome', 'code']);
  finished.inc({ outcome: 'failed', code: 'ZIP_INVALID' });
  finished.inc({ code: 'ZIP_INVALID', outcome: 'failed' });
  assert.deepEqual(rendered(finished).trimEnd().split('\n').slice(2), ['oven_test_finished_total{outcome="failed",code="ZIP_INVALID"} 2']);
});

test('label values escape backslashes, double quotes and newlines', () => {
  const odd = new Counter('oven_test_odd_total', 'Odd.', ['why']);
  odd.inc({ why: 'C:\\tapes "one"\nand two' });
  assert.equal(rendered(odd).trimEnd().split('\n')[2], 'oven_test_odd_total{why="C:\\\\tapes \\"one\\"\\nand two"} 1');
});

test('a histogram counts cumulatively per bucket, with +Inf, _sum and _count per label set', () => {
  const seconds = new Histogram('oven_test_seconds', 'Seconds.', [1, 5, 10]);
  for (const v of [0.5, 1, 3, 7, 20]) seconds.observe(v, { stage: 'encoding' });
  seconds.observe(2, { stage: 'uploading' });
  assert.deepEqual(rendered(seconds).trimEnd().split('\n'), [
    '# HELP oven_test_seconds Seconds.',
    '# TYPE oven_test_seconds histogram',
    'oven_test_seconds_bucket{stage="encoding",le="1"} 2',
    'oven_test_seconds_bucket{stage="encoding",le="5"} 3',
    'oven_test_seconds_bucket{stage="encoding",le="10"} 4',
    'oven_test_seconds_bucket{stage="encoding",le="+Inf"} 5',
    'oven_test_seconds_sum{stage="encoding"} 31.5',
    'oven_test_seconds_count{stage="encoding"} 5',
    'oven_test_seconds_bucket{stage="uploading",le="1"} 0',
    'oven_test_seconds_bucket{stage="uploading",le="5"} 1',
    'oven_test_seconds_bucket{stage="uploading",le="10"} 1',
    'oven_test_seconds_bucket{stage="uploading",le="+Inf"} 1',
    'oven_test_seconds_sum{stage="uploading"} 2',
    'oven_test_seconds_count{stage="uploading"} 1',
  ]);
});

test('a gauge is read when the registry renders, not when it is added', () => {
  let depth = 3;
  let reads = 0;
  const registry = new Registry();
  registry.add(new Gauge('oven_test_depth', 'Depth.', () => (reads++, depth)));
  assert.equal(reads, 0);
  assert.match(registry.render(), /\noven_test_depth 3\n$/);
  depth = 0;
  assert.match(registry.render(), /\noven_test_depth 0\n$/);
  assert.equal(reads, 2);
});

test('the registry renders its metrics in the order they were added, ending in a newline', () => {
  const registry = new Registry();
  registry.add(new Gauge('oven_test_b', 'B.', () => 1));
  registry.add(new Counter('oven_test_a_total', 'A.'));
  assert.equal(registry.render(), '# HELP oven_test_b B.\n# TYPE oven_test_b gauge\noven_test_b 1\n# HELP oven_test_a_total A.\n# TYPE oven_test_a_total counter\noven_test_a_total 0\n');
});
