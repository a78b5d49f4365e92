import test from 'ava';
import { buildResult } from '../../src/analyze/results.ts';
import { createHistogram, encode, record } from '../../src/core/histogram.ts';
import { runResultSchema } from '../../src/core/result.ts';
import type { JournalRecord, PlannedStage, RunHeader } from '../../src/core/types.ts';

// results.json from hand-made journals: what the report is judged by, and where there is no data.

const T0 = 1_800_000_000_000;
const plan: PlannedStage[] = [
  { name: 'a', startMs: 0, durationMs: 2000, model: 'closed', connections: 2 },
  { name: 'b', startMs: 2000, durationMs: 2000, model: 'closed', connections: 2 },
  { name: 'c', startMs: 4000, durationMs: 2000, model: 'closed', connections: 2 },
];

function lat(ms: number, n: number): string {
  const h = createHistogram();
  for (let i = 0; i < n; i++) record(h, ms * 1000);
  return encode(h);
}

function header(over: Partial<RunHeader> = {}): JournalRecord {
  const scenarioText = 'name: moved\nengine: k6\nscript: ./gone/script.js\nstages:\n  - { name: a, duration: 2s, connections: 2 }\nthresholds:\n  http_req_duration: ["p(99) < 0.001"]\n';
  return { type: 'run', runId: 'r', schemaVersion: 1, scenarioName: 'moved', scenarioFile: 'somewhere/else/moved.yaml', scenarioText, engine: 'k6', startedAt: T0, durationScale: 1, plan, environment: {}, notices: [], ...over };
}

/** Stage a: windows 0 and 2 answered, window 1 silent; stage b ran without a response; stage c never started. */
function body(end = true): JournalRecord[] {
  const win = (i: number, n: number): JournalRecord[] => [
    { type: 'sample', metric: 'http.reqs', time: T0 + i * 1000, value: n, tags: { stage: i < 2 ? 'a' : 'b' } },
    { type: 'sample', metric: 'http.latency_us', time: T0 + i * 1000, value: n, tags: { stage: i < 2 ? 'a' : 'b' }, hist: lat(5, n) },
  ];
  return [
    { type: 'event', kind: 'stage.start', time: T0, source: 'load', attrs: { stage: 'a' } },
    ...win(0, 10),
    { type: 'sample', metric: 'http.reqs', time: T0 + 1000, value: 0, tags: { stage: 'a' } },
    { type: 'event', kind: 'stage.end', time: T0 + 2000, source: 'load', attrs: { stage: 'a' } },
    { type: 'event', kind: 'stage.start', time: T0 + 2000, source: 'load', attrs: { stage: 'b' } },
    { type: 'sample', metric: 'http.errors', time: T0 + 2000, value: 3, tags: { stage: 'b', kind: 'conn' } },
    ...(end ? [{ type: 'event', kind: 'stage.end', time: T0 + 4000, source: 'load', attrs: { stage: 'b' } } as JournalRecord, { type: 'end', endedAt: T0 + 4100, outcome: 'completed' } as JournalRecord] : []),
  ];
}

test('the thresholds recorded in the header judge the run: a moved k6 script or another working directory changes nothing', (t) => {
  const r = buildResult([header({ thresholds: { http_req_duration: ['p(99) < 0.001'] }, script: './gone/script.js' }), ...body()]);
  t.deepEqual(r.thresholds.map((x) => [x.metric, x.expression, x.ok, x.status, x.source]), [['http_req_duration', 'p(99) < 0.001', false, 'fail', 'loadscope']]);
});

test('a journal from before resolved thresholds: the kept scenario text is read without touching any file', (t) => {
  const r = buildResult([header(), ...body()]);
  t.deepEqual(r.thresholds.map((x) => [x.metric, x.expression, x.ok]), [['http_req_duration', 'p(99) < 0.001', false]]);
});

test('an old journal whose scenario text cannot be read says so and does not pass', (t) => {
  const r = buildResult([header({ scenarioText: 'name: x\nstages: not-a-list\nthresholds:\n  http_req_duration: ["p(99) < 1"]\n' }), ...body()]);
  t.true(r.notices.some((n) => /^thresholds unknown: .*scenario text does not validate/.test(n)), JSON.stringify(r.notices));
  t.true(r.thresholds.length > 0 && r.thresholds.every((x) => !x.ok), JSON.stringify(r.thresholds));
  t.is(r.thresholds[0].status, 'unknown');
});

test('a user k6 script\'s own thresholds join results.thresholds, marked as k6\'s; crossed in one process is crossed', (t) => {
  const k6 = (instance: number, ok: boolean): JournalRecord => ({
    type: 'event', kind: 'k6.summary', time: T0 + 4050, source: 'load',
    attrs: { instance, thresholds: [{ metric: 'http_req_duration{scenario:browse}', expression: 'p(95)<500', ok }, { metric: 'checks', expression: 'rate>0.99', ok: true }] },
  });
  const r = buildResult([header({ thresholds: {}, script: './gone/script.js' }), ...body(), k6(0, true), k6(1, false)]);
  t.deepEqual(r.thresholds.map((x) => [x.metric, x.expression, x.ok, x.source]), [
    ['http_req_duration{scenario:browse}', 'p(95)<500', false, 'k6'],
    ['checks', 'rate>0.99', true, 'k6'],
  ]);
  // a generated script's k6 thresholds are the YAML's own, already judged on the merged data
  const generated = buildResult([header({ thresholds: { http_req_duration: ['p(99) < 1000'] } }), ...body(), k6(0, false)]);
  t.deepEqual(generated.thresholds.map((x) => [x.metric, x.source, x.ok]), [['http_req_duration', 'loadscope', true]]);
});

test('nothing attempted: "rate < 0.01" is no data and not a pass', (t) => {
  const r = buildResult([header({ thresholds: { http_req_failed: ['rate < 0.01'] } }), { type: 'event', kind: 'stage.start', time: T0, source: 'load', attrs: { stage: 'a' } }, { type: 'event', kind: 'stage.end', time: T0 + 2000, source: 'load', attrs: { stage: 'a' } }, { type: 'end', endedAt: T0 + 2100, outcome: 'completed' }]);
  t.deepEqual(r.thresholds.map((x) => [x.observed, x.ok, x.status]), [[null, false, 'no data']]);
});

test('a run in which no request finished has no latency at all (null), not zeros', (t) => {
  const r = runResultSchema.parse(buildResult([header({ thresholds: {} }), { type: 'event', kind: 'stage.start', time: T0, source: 'load', attrs: { stage: 'a' } }, { type: 'sample', metric: 'http.errors', time: T0, value: 4, tags: { stage: 'a', kind: 'conn' } }, { type: 'event', kind: 'stage.end', time: T0 + 2000, source: 'load', attrs: { stage: 'a' } }, { type: 'end', endedAt: T0 + 2100, outcome: 'completed' }]));
  t.is(r.http.latencyMs, null);
  t.is(r.http.errors, 4);
});

test('windows and stages without data are null with the reason, not 0', (t) => {
  const r = runResultSchema.parse(buildResult([header({ thresholds: {} }), ...body()]));
  t.deepEqual(r.windows[1].latencyMs, { p50: null, p90: null, p99: null, max: null });
  t.regex(r.windows[1].noData ?? '', /no request finished/);
  t.true(Math.abs(r.windows[0].latencyMs.p50! - 5) < 0.01);
  t.is(r.windows[0].noData, undefined);
  const [a, b, c] = r.stages;
  t.true(Math.abs(a.latencyMs!.p99! - 5) < 0.01);
  t.is(b.latencyMs, null, 'stage b got no responses');
  t.regex(b.note ?? '', /no responses/);
  t.deepEqual([c.durationS, c.rps, c.latencyMs], [null, null, null]);
  t.regex(c.note ?? '', /never started/);
});

test('a crashed run\'s unfinished stage has no duration and no rate, and says why', (t) => {
  const r = buildResult([header({ thresholds: {} }), ...body(false)]);
  t.is(r.outcome, 'crashed');
  const b = r.stages[1];
  t.deepEqual([b.durationS, b.rps], [null, null], JSON.stringify(b));
  t.regex(b.note ?? '', /did not end: the run crashed first/);
});

test('responses that came after their stage ended count in the stage, not in its rate', (t) => {
  const r = buildResult([
    header({ thresholds: {}, plan: plan.slice(0, 1) }),
    { type: 'event', kind: 'stage.start', time: T0, source: 'load', attrs: { stage: 'a' } },
    { type: 'sample', metric: 'http.reqs', time: T0, value: 100, tags: { stage: 'a' } },
    { type: 'sample', metric: 'http.reqs', time: T0 + 1000, value: 100, tags: { stage: 'a' } },
    { type: 'event', kind: 'stage.end', time: T0 + 2000, source: 'load', attrs: { stage: 'a' } },
    { type: 'sample', metric: 'http.reqs', time: T0 + 2000, value: 40, tags: { stage: 'a' } },
    { type: 'sample', metric: 'http.reqs_late', time: T0 + 2000, value: 40, tags: { stage: 'a' } },
    { type: 'end', endedAt: T0 + 2500, outcome: 'completed' },
  ]);
  t.is(r.stages[0].requests, 240);
  t.is(r.stages[0].rps, 100);
  t.is(r.http.requests, 240);
  t.is(r.http.rps, 100);
});
