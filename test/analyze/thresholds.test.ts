import test from 'ava';
import { evaluateThresholds, k6Thresholds, type ThresholdInputs } from '../../src/analyze/thresholds.ts';
import { createHistogram, record, sparseOf } from '../../src/core/histogram.ts';
import { THRESHOLD_METRICS } from '../../src/scenario/schema.ts';
import { parseScenario } from '../../src/scenario/load.ts';

// Threshold evaluation (src/analyze/thresholds.ts) on known aggregates: latencies of 1, 1.5 and 2 ms
// (exact in the histogram), 4 attempts of which 1 failed, 2 dropped arrivals, 2 s of load.

function inputs(over: Partial<ThresholdInputs> = {}): ThresholdInputs {
  const h = createHistogram();
  for (const us of [1000, 1500, 1500, 2000]) record(h, us);
  return { latencyMs: sparseOf(h), attempts: 4, failed: 1, dropped: 2, durationS: 2, ...over };
}

const EMPTY = sparseOf(createHistogram());
const one = (metric: string, expression: string, x = inputs()) => evaluateThresholds({ [metric]: [expression] }, x)[0];

test('every comparison operator, on both sides of the bound and at it', (t) => {
  // med = 1.5 ms
  const cases: [string, boolean][] = [
    ['med < 1.5', false], ['med < 1.6', true],
    ['med <= 1.5', true], ['med <= 1.4', false],
    ['med > 1.5', false], ['med > 1.4', true],
    ['med >= 1.5', true], ['med >= 1.6', false],
    ['med == 1.5', true], ['med == 1.4', false],
    ['med != 1.5', false], ['med != 1.4', true],
  ];
  for (const [expression, ok] of cases) {
    const r = one('http_req_duration', expression);
    t.is(r.ok, ok, `${expression}: observed ${r.observed}`);
    t.is(r.status, ok ? 'pass' : 'fail', expression);
    t.is(r.observed, 1.5, expression);
    t.is(r.source, 'loadscope');
  }
});

test('trend aggregates: avg, min, max, count, p(0) is the minimum and p(100) the maximum', (t) => {
  t.is(one('http_req_duration', 'min == 1').observed, 1);
  t.is(one('http_req_duration', 'max == 2').observed, 2);
  t.is(one('http_req_duration', 'count == 4').observed, 4);
  t.is(one('http_req_duration', 'avg < 10').observed, 1.5);
  t.is(one('http_req_duration', 'p(0) == 1').observed, 1);
  t.true(one('http_req_duration', 'p(0) == 1').ok);
  t.is(one('http_req_duration', 'p(100) == 2').observed, 2);
  t.true(one('http_req_duration', 'p(100) <= 2').ok);
  t.false(one('http_req_duration', 'p(100) < 2').ok, 'p(100) is the slowest request, not below it');
  t.is(one('http_req_duration', 'p(50) <= 1.5').observed, 1.5);
});

test('rates and counters: http_req_failed, http_reqs, dropped_iterations', (t) => {
  t.is(one('http_req_failed', 'rate < 0.25').observed, 0.25);
  t.false(one('http_req_failed', 'rate < 0.25').ok, 'the boundary itself is not below it');
  t.true(one('http_req_failed', 'rate <= 0.25').ok);
  t.is(one('http_req_failed', 'count == 1').observed, 1);
  t.is(one('http_reqs', 'count >= 4').observed, 4);
  t.is(one('http_reqs', 'rate == 2').observed, 2);
  t.deepEqual(one('dropped_iterations', 'count < 1'), { metric: 'dropped_iterations', expression: 'count < 1', observed: 2, ok: false, status: 'fail', source: 'loadscope' });
  t.is(one('dropped_iterations', 'rate <= 1').observed, 1);
  t.true(one('dropped_iterations', 'count == 0', inputs({ dropped: 0 })).ok, 'nothing dropped is a count of 0, not "no data"');
});

test('no data is never a pass: no requests, no latencies, no time, no engine totals', (t) => {
  const none = inputs({ latencyMs: EMPTY, attempts: 0, failed: 0, dropped: null, durationS: 0 });
  for (const [metric, expression] of [
    ['http_req_failed', 'rate < 0.01'],
    ['http_req_failed', 'count < 1'],
    ['http_req_duration', 'p(99) < 500'],
    ['http_req_duration', 'avg < 500'],
    ['http_req_duration', 'p(0) >= 0'],
    ['http_reqs', 'rate >= 0'],
    ['dropped_iterations', 'count < 1'],
    ['dropped_iterations', 'rate < 1'],
  ]) {
    const r = one(metric, expression, none);
    t.deepEqual([r.observed, r.ok, r.status], [null, false, 'no data'], `${metric} ${expression}: ${JSON.stringify(r)}`);
  }
  t.deepEqual(evaluateThresholds({}, none), []);
});

test('an aggregation a metric lacks, or an expression that does not parse, is not a pass', (t) => {
  t.deepEqual([one('http_req_failed', 'p(99) < 1').ok, one('http_req_failed', 'p(99) < 1').observed], [false, null]);
  const bad = one('http_req_duration', 'p99 < 1');
  t.deepEqual([bad.ok, bad.status], [false, 'unknown']);
});

test('dropped_iterations is in the threshold grammar with count and rate, as in k6', (t) => {
  t.true((THRESHOLD_METRICS as readonly string[]).includes('dropped_iterations'));
  const s = parseScenario('name: d\nstages:\n  - { duration: 1s, rate: 10 }\nthresholds:\n  dropped_iterations: ["count < 1", "rate < 0.5"]\n', 'd.yaml');
  t.deepEqual(s.spec.thresholds, { dropped_iterations: ['count < 1', 'rate < 0.5'] });
  const err = t.throws(() => parseScenario('name: d\nstages:\n  - { duration: 1s, rate: 10 }\nthresholds:\n  dropped_iterations: ["p(99) < 1"]\n', 'd.yaml')) as unknown as { problems: { message: string }[] };
  t.regex(err.problems[0].message, /"p\(99\)" does not apply to dropped_iterations; use count, rate/);
});

test('k6\'s own thresholds of a user script: one row each, crossed in any process is crossed', (t) => {
  const rows = k6Thresholds([
    [{ metric: 'http_req_duration', expression: 'p(95)<500', ok: true }, { metric: 'checks', expression: 'rate>0.99', ok: true }],
    [{ metric: 'http_req_duration', expression: 'p(95)<500', ok: false }, { metric: 'checks', expression: 'rate>0.99', ok: true }],
  ]);
  t.deepEqual(rows, [
    { metric: 'http_req_duration', expression: 'p(95)<500', observed: null, ok: false, status: 'fail', source: 'k6' },
    { metric: 'checks', expression: 'rate>0.99', observed: null, ok: true, status: 'pass', source: 'k6' },
  ]);
  t.deepEqual(k6Thresholds([]), []);
});
