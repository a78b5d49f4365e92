import test from 'ava';
import { parseScenario } from '../../src/scenario/load.ts';
import { parseThresholdKey, THRESHOLD_CATALOG, THRESHOLD_METRICS } from '../../src/scenario/schema.ts';
import type { LoadscopeError } from '../../src/core/errors.ts';

// The threshold grammar (src/scenario/schema.ts): metric names beyond k6's, tag filters, the long
// form with abortOnFail, and a metric or tag the scenario does not have refused where it is written.

const base = (thresholds: string, extra = 'probes: off\n') =>
  `name: t\n${extra}stages:\n  - { name: warm, duration: 1s, connections: 1 }\n  - { name: peak, duration: 1s, connections: 2 }\nthresholds:\n${thresholds}`;

function problems(text: string): LoadscopeError['problems'] {
  const err = (() => {
    try {
      parseScenario(text, 't.yaml');
    } catch (e) {
      return e as LoadscopeError;
    }
    return undefined;
  })();
  if (!err) throw new Error('the scenario validated');
  if (err.code !== 'SCENARIO_INVALID') throw err;
  return err.problems;
}

test('a misspelt metric is refused at its line, naming the nearest real one', (t) => {
  const [p, ...rest] = problems(base('  http_req_duraton: ["p(99) < 300"]\n'));
  t.is(rest.length, 0);
  t.is(p.line, 7);
  t.regex(p.message, /unknown threshold metric "http_req_duraton"; did you mean "http_req_duration"\?/);
});

test('a metric nothing like any other gets the list, not a guess', (t) => {
  const [p] = problems(base('  zzzzqqq: ["count < 1"]\n'));
  t.notRegex(p.message, /did you mean/);
  t.regex(p.message, /metrics: http_req_duration, .*service_served/);
});

test('a stage filter naming no stage names the stages and the nearest one', (t) => {
  const [p] = problems(base('  http_req_duration{stage:peek}: ["p(99) < 300"]\n'));
  t.is(p.line, 7);
  t.regex(p.message, /no stage is named "peek"; did you mean "peak"\? \(stages: warm, peak\)/);
  // unnamed stages are stage-1, stage-2, … as in the results
  const [q] = problems('name: t\nstages:\n  - { duration: 1s, connections: 1 }\nthresholds:\n  http_reqs{stage:stage-2}: ["count > 0"]\n');
  t.regex(q.message, /no stage is named "stage-2"; did you mean "stage-1"\? \(stages: stage-1\)/);
});

test('an unknown tag names the tags the metric has; a service that is not bundled names the services', (t) => {
  t.regex(problems(base('  http_req_duration{stag:peak}: ["p(99) < 300"]\n'))[0].message, /http_req_duration has no tag "stag"; did you mean "stage"\? \(tags: stage\)/);
  t.regex(problems(base('  dropped_iterations{stage:peak}: ["count < 1"]\n'))[0].message, /dropped_iterations has no tag "stage" \(it takes no tags\)/);
  t.regex(problems(base('  service_served{service:backnd}: ["count > 0"]\n'))[0].message, /no service is named "backnd"; did you mean "backend"\? \(services: frontend, backend\)/);
});

test('a signal the scenario does not record is refused and says what it needs', (t) => {
  t.regex(problems(base('  packet_latency: ["p(99) < 1"]\n'))[0].message, /packet_latency needs probes \(this scenario has probes: off\)/);
  t.regex(problems(base('  tcp_retransmits: ["count < 1"]\n'))[0].message, /tcp_retransmits needs probes/);
  t.regex(problems(base('  hpa_reaction_time: ["max < 30"]\n'))[0].message, /hpa_reaction_time needs an autoscaler section/);
  t.regex(problems(base('  slo_violation_seconds: ["value < 5"]\n'))[0].message, /slo_violation_seconds needs an SLO/);
  t.regex(problems(base('  service_served: ["count > 0"]\n', 'probes: off\ntarget: { url: "http://127.0.0.1:9" }\n'))[0].message, /service_served needs the bundled services/);
  // with an SLO (a percentile bound on http_req_duration) the violation time exists
  const ok = parseScenario(base('  http_req_duration: ["p(99) < 300"]\n  slo_violation_seconds{stage:peak}: ["value < 5"]\n'), 't.yaml');
  t.deepEqual(Object.keys(ok.spec.thresholds), ['http_req_duration', 'slo_violation_seconds{stage:peak}']);
});

test('every metric refuses an aggregation it lacks', (t) => {
  t.regex(problems(base('  route_skew: ["p(99) < 2"]\n'))[0].message, /"p\(99\)" does not apply to route_skew; use value/);
  t.regex(problems(base('  http_req_failed{stage:peak}: ["avg < 2"]\n'))[0].message, /does not apply to http_req_failed; use rate, count/);
});

test('several problems are all reported, each at its own line', (t) => {
  const ps = problems(base('  http_req_duraton: ["p(99) < 300"]\n  http_reqs{stage:peek}: ["count > 1"]\n  packet_latency: ["p(99) < 1"]\n'));
  t.deepEqual(ps.map((p) => p.line), [7, 8, 9]);
});

test('tag filters and the long form parse; keys come out canonical; abortOnFail thresholds are listed', (t) => {
  const s = parseScenario(
    base('  "http_req_duration{ stage : peak }":\n    - "p(99) < 300"\n    - { threshold: "p(50) < 100", abortOnFail: true, delayAbortEval: 10s }\n  http_req_failed: [{ threshold: "rate < 0.01", abortOnFail: true }]\n'),
    't.yaml',
  );
  t.deepEqual(s.spec.thresholds, { 'http_req_duration{stage:peak}': ['p(99) < 300', 'p(50) < 100'], http_req_failed: ['rate < 0.01'] });
  t.deepEqual(s.spec.thresholdAborts, [
    { key: 'http_req_duration{stage:peak}', expression: 'p(50) < 100', delayMs: 10_000 },
    { key: 'http_req_failed', expression: 'rate < 0.01', delayMs: 0 },
  ]);
});

test('delayAbortEval without abortOnFail, and unknown long-form keys, are refused', (t) => {
  t.regex(problems(base('  http_reqs: [{ threshold: "count > 1", delayAbortEval: 5s }]\n'))[0].message, /"delayAbortEval" applies with abortOnFail: true only/);
  t.true(problems(base('  http_reqs: [{ threshold: "count > 1", abortOnFail: true, delay: 5s }]\n')).length > 0);
});

test('threshold keys: metric and tags, malformed keys refused', (t) => {
  t.deepEqual(parseThresholdKey('packet_latency{iface:lo}'), { metric: 'packet_latency', tags: { iface: 'lo' } });
  t.deepEqual(parseThresholdKey('http_reqs'), { metric: 'http_reqs', tags: {} });
  t.is(parseThresholdKey('http_reqs{stage}'), undefined);
  t.is(parseThresholdKey('http_reqs{stage:a,stage:b}'), undefined);
  t.regex(problems(base('  "http_reqs{stage": ["count > 1"]\n'))[0].message, /is not a threshold key/);
  for (const m of THRESHOLD_METRICS) t.true(THRESHOLD_CATALOG[m].aggregations.length > 0 && THRESHOLD_CATALOG[m].unit.length > 0, m);
});
