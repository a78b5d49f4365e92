import test from 'ava';
import { createHistogram, encode, record } from '../../src/core/histogram.ts';
import type { JournalRecord } from '../../src/core/types.ts';
import { ThresholdWatch } from '../../src/run/abort.ts';

// abortOnFail judged on the records so far (src/run/abort.ts): not before delayAbortEval, never on
// "no data", and with the same evaluation as results.json.

const T0 = 1_800_000_000_000;

function records(thresholds: Record<string, string[]>): JournalRecord[] {
  const h = createHistogram();
  for (let i = 0; i < 10; i++) record(h, 5000);
  return [
    { type: 'run', runId: 'w', schemaVersion: 1, scenarioName: 'w', scenarioFile: 'w.yaml', scenarioText: 'name: w\n', engine: 'autocannon', startedAt: T0, durationScale: 1, plan: [{ name: 's', startMs: 0, durationMs: 60_000, model: 'closed', connections: 1 }], thresholds, environment: {}, notices: [] },
    { type: 'event', kind: 'stage.start', time: T0, source: 'load', attrs: { stage: 's' } },
    { type: 'sample', metric: 'http.reqs', time: T0 + 100, value: 10, tags: { stage: 's' } },
    { type: 'sample', metric: 'http.latency_us', time: T0 + 100, value: 10, tags: { stage: 's' }, hist: encode(h) },
  ];
}

test('a failing threshold is reported once its delay has passed, not before', (t) => {
  const w = new ThresholdWatch([{ key: 'http_req_duration', expression: 'p(99) < 1', delayMs: 3000 }]);
  for (const r of records({ http_req_duration: ['p(99) < 1', 'p(99) < 100'] })) w.add(r);
  t.is(w.check(T0 + 2999), undefined);
  const failed = w.check(T0 + 3000);
  t.is(failed?.metric, 'http_req_duration');
  t.is(failed?.expression, 'p(99) < 1');
  t.true(Math.abs(failed!.observed! - 5) < 0.01, String(failed?.observed));
});

test('a passing threshold, or one with no data, does not stop the run', (t) => {
  const pass = new ThresholdWatch([{ key: 'http_req_duration', expression: 'p(99) < 100', delayMs: 0 }]);
  for (const r of records({ http_req_duration: ['p(99) < 100'] })) pass.add(r);
  t.is(pass.check(T0 + 1000), undefined);
  const none = new ThresholdWatch([{ key: 'http_req_duration{stage:other}', expression: 'p(99) < 1', delayMs: 0 }]);
  for (const r of records({ 'http_req_duration{stage:other}': ['p(99) < 1'] })) none.add(r);
  t.is(none.check(T0 + 1000), undefined);
  t.is(new ThresholdWatch([{ key: 'http_reqs', expression: 'count < 1', delayMs: 0 }]).check(T0), undefined, 'nothing before the header');
});
