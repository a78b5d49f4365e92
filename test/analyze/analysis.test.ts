import test from 'ava';
import { analyze, sloFromThresholds } from '../../src/analyze/analysis.ts';
import { buildResult } from '../../src/analyze/results.ts';
import { createHistogram, encode, record } from '../../src/core/histogram.ts';
import { runResultSchema } from '../../src/core/result.ts';
import type { JournalRecord, PlannedStage } from '../../src/core/types.ts';
import { synthetic } from '../render/fixtures.ts';

const T0 = 1_800_000_000_000;

function hist(ms: number, n: number): string {
  const h = createHistogram();
  for (let i = 0; i < n; i++) record(h, ms * 1000 * (0.9 + (i % 10) / 50));
  return encode(h);
}

/**
 * 60 s: a closed warm-up (0–10 s), then a step to 400 req/s. p99 is 20 ms, 300 ms from 10 s to
 * 39 s, 20 ms after. The HPA scales 2 → 4 at 25 s; pods become ready at 31 s and 33 s.
 */
function journal(): JournalRecord[] {
  const plan: PlannedStage[] = [
    { name: 'warm', startMs: 0, durationMs: 10_000, model: 'closed', connections: 4 },
    { name: 'step', startMs: 10_000, durationMs: 50_000, model: 'open', rate: { from: 400, to: 400 } },
  ];
  const scenarioText = 'name: hand\nstages:\n  - { name: warm, duration: 10s, connections: 4 }\n  - { name: step, duration: 50s, rate: 400 }\nthresholds:\n  http_req_duration: ["p(99) < 100", "p(50) < 50"]\n';
  const recs: JournalRecord[] = [
    { type: 'run', runId: 'hand', schemaVersion: 1, scenarioName: 'hand', scenarioFile: 'hand.yaml', scenarioText, engine: 'autocannon', startedAt: T0, durationScale: 1, plan, environment: {}, notices: [] },
    { type: 'event', kind: 'pod.ready', time: T0 - 500, source: 'cluster', attrs: { service: 'api', pod: 'api-1' } },
    { type: 'event', kind: 'pod.ready', time: T0 - 400, source: 'cluster', attrs: { service: 'api', pod: 'api-2' } },
    // the local cluster's service.ready lists its pods; the service itself is not a pod
    { type: 'event', kind: 'service.ready', time: T0 - 300, source: 'cluster', attrs: { service: 'api', pods: ['api-1', 'api-2'] } },
    { type: 'event', kind: 'hpa.start', time: T0 + 1, source: 'autoscaler', attrs: { hpa: 'api', target: 'Deployment/api', minReplicas: 2, maxReplicas: 8 } },
    { type: 'event', kind: 'stage.start', time: T0 + 5, source: 'load', attrs: { stage: 'warm' } },
    { type: 'event', kind: 'stage.end', time: T0 + 10_000, source: 'load', attrs: { stage: 'warm' } },
    { type: 'event', kind: 'stage.start', time: T0 + 10_000, source: 'load', attrs: { stage: 'step' } },
  ];
  for (let w = 0; w < 60; w++) {
    const time = T0 + w * 1000 + 990;
    const stage = w < 10 ? 'warm' : 'step';
    const rps = w < 10 ? 100 : 400;
    const slow = w >= 10 && w < 39;
    recs.push({ type: 'sample', metric: 'http.reqs', time, value: rps, tags: { stage } });
    recs.push({ type: 'sample', metric: 'http.latency_us', time, value: rps, tags: { stage }, hist: hist(slow ? 300 : 20, rps) });
    for (const [pod, weight] of [['api-1', 3], ['api-2', 1]] as const) {
      recs.push({ type: 'sample', metric: 'pod.cpu_seconds', time: T0 + w * 1000 + 500, value: w * 0.5 * weight, tags: { service: 'api', pod } });
      recs.push({ type: 'sample', metric: 'pod.memory_bytes', time: T0 + w * 1000 + 500, value: 64 * 1048576, tags: { service: 'api', pod } });
      recs.push({ type: 'sample', metric: 'pod.requests_served', time: T0 + w * 1000 + 500, value: (w + 1) * 10 * weight, tags: { service: 'api', pod } });
    }
  }
  recs.push({ type: 'event', kind: 'hpa.rescale', time: T0 + 25_000, source: 'autoscaler', attrs: { hpa: 'api', type: 'Normal', reason: 'SuccessfulRescale', message: 'New size: 4; reason: cpu resource utilization (percentage of request) above target', from: 2, to: 4 } });
  recs.push({ type: 'event', kind: 'hpa.status', time: T0 + 25_000, source: 'autoscaler', attrs: { hpa: 'api', conditions: [{ type: 'AbleToScale', status: 'True', reason: 'SucceededRescale', message: 'ok' }] } });
  recs.push({ type: 'event', kind: 'hpa.status', time: T0 + 40_000, source: 'autoscaler', attrs: { hpa: 'api', conditions: [{ type: 'AbleToScale', status: 'True', reason: 'SucceededRescale', message: 'ok' }] } });
  recs.push({ type: 'event', kind: 'pod.ready', time: T0 + 31_000, source: 'cluster', attrs: { service: 'api', pod: 'api-3' } });
  recs.push({ type: 'event', kind: 'pod.ready', time: T0 + 33_000, source: 'cluster', attrs: { service: 'api', pod: 'api-4' } });
  recs.push({ type: 'event', kind: 'stage.end', time: T0 + 60_000, source: 'load', attrs: { stage: 'step' } });
  recs.push({ type: 'end', endedAt: T0 + 60_100, outcome: 'completed' });
  return recs.sort((a, b) => ('time' in a ? a.time : a.type === 'run' ? 0 : Infinity) - ('time' in b ? b.time : b.type === 'run' ? 0 : Infinity));
}

test('the scale-up chain, violation and per-replica latency of a known run', (t) => {
  const r = buildResult(journal());
  const a = r.analysis!;
  t.deepEqual(a.slo, { percentile: 99, limitMs: 100, strict: true, expression: 'p(99) < 100' });
  t.is(a.windows, 61);
  t.is(a.violation!.seconds, 29);
  t.deepEqual(a.violation!.episodes.map((e) => [e.startT, e.endT, e.recovered]), [[10, 39, true]]);
  t.is(a.violation!.timeToRecoverS, 29);
  const readyApi = a.series.replicas.find((x) => x.service === 'api')!.ready;
  t.is(readyApi[0], 2, 'two ready pods at the start, not three');
  t.is(Math.max(...readyApi.map(Number)), 4);
  const step = a.scaleUp.find((s) => s.stage === 'step')!;
  t.truthy(step);
  t.is(step.reactionS, 15);
  t.is(step.readyS, 21);
  t.is(step.recoveryS, 29);
  t.deepEqual([step.from, step.to], [2, 4]);
  t.deepEqual(a.autoscalers, [{ hpa: 'api', service: 'api', minReplicas: 2, maxReplicas: 8 }]);
  t.is(a.conditions.length, 1, 'an unchanged condition is not a transition');
  const ready = a.series.replicas.find((x) => x.service === 'api')!;
  t.is(ready.ready[0], 2);
  t.is(ready.ready[31], 3);
  t.is(ready.ready[59], 4);
  t.deepEqual(ready.desired.slice(24, 27), [2, 4, 4]);
  t.deepEqual(a.latencyByReplicas.map((x) => x.replicas), [2, 3, 4]);
  t.true(a.latencyByReplicas[0].p99Ms > 250);
  t.true(a.latencyByReplicas[2].p50Ms < 30);
  const cpu = a.series.pods.find((p) => p.pod === 'api-1')!;
  t.is(cpu.cpuCores[5], 1.5);
  t.is(cpu.memoryMiB[5], 64);
  const bal = a.balance.find((b) => b.service === 'api')!;
  t.is(bal.basis, 'requests served');
  t.is(bal.skew, 1.5);
  t.deepEqual(bal.backends.map((b) => b.share), [0.75, 0.25]);
  t.true(a.findings.some((f) => f.includes('the first scale-up (2 → 4) came 15 s after the step')), a.findings.join('\n'));
  t.true(a.findings.some((f) => f.startsWith('p99 was over the 100 ms SLO for 29 s')), a.findings.join('\n'));
  t.true(a.findings.some((f) => f.includes('probes did not run')));
  t.is(a.signals.find((s) => s.signal === 'eBPF probes')!.present, false);
  t.notThrows(() => runResultSchema.parse(JSON.parse(JSON.stringify(r))));
});

test('the SLO comes from the highest percentile threshold', (t) => {
  t.is(sloFromThresholds({}), null);
  t.is(sloFromThresholds({ http_req_duration: ['avg < 10'] }), null);
  t.deepEqual(sloFromThresholds({ http_req_duration: ['p(95) < 200', 'p(99.9) <= 900', 'med < 20'] }), { percentile: 99.9, limitMs: 900, strict: false, expression: 'p(99.9) <= 900' });
  t.deepEqual(sloFromThresholds({ http_req_duration: ['max < 2000'] })?.percentile, 100);
});

test('without an SLO, probes or a cluster, the analysis says what is missing', (t) => {
  const recs = journal().filter((r) => !(r.type === 'event' && (r.kind.startsWith('hpa.') || r.kind.startsWith('pod.') || r.kind.startsWith('service.'))) && !(r.type === 'sample' && r.metric.startsWith('pod.')));
  const header = recs.find((r) => r.type === 'run')!;
  if (header.type === 'run') header.scenarioText = header.scenarioText.replace(/thresholds:[\s\S]*/, '');
  const a = buildResult(recs).analysis!;
  t.is(a.slo, null);
  t.regex(a.sloAbsent!, /no http_req_duration threshold/);
  t.is(a.violation, null);
  t.deepEqual(a.series.replicas, []);
  t.deepEqual(a.series.pods, []);
  const step = a.scaleUp.find((s) => s.stage === 'step')!;
  t.is(step.reactionS, null);
  t.regex(step.note, /no autoscaler in this run/);
  for (const name of ['autoscaler', 'pod CPU and memory', 'routing updates', 'per-backend load', 'packet latency']) t.false(a.signals.find((s) => s.signal === name)!.present, name);
  t.regex(a.packetShareAbsent!, /^probes did not run: /);
});

test('every series of the synthetic run is on one 1 s time base', (t) => {
  const recs = synthetic({ seconds: 180, packetRecords: 1500, events: 60 });
  const r = buildResult(recs);
  const a = r.analysis!;
  const n = a.windows;
  t.true(n >= 180);
  const s = a.series;
  const lens = [s.t, s.stage, s.rps, s.errors, s.p50Ms, s.p99Ms, s.sloMs, s.violation, s.stressCores, s.routingUpdates, s.retransmits, ...s.replicas.flatMap((x) => [x.ready, x.desired]), ...s.pods.flatMap((p) => [p.cpuCores, p.memoryMiB]), ...s.backends.map((b) => b.counts), ...s.packetLatency.flatMap((p) => [p.p50Us, p.p99Us, p.packets]), s.rttMs!.p50, ...s.drops.map((d) => d.counts), ...a.heatmaps.map((h) => h.counts)].map((x) => x.length);
  t.deepEqual([...new Set(lens)], [n]);
  t.true(s.pods.length >= 2 && s.packetLatency.length === 4 && a.heatmaps.length === 4 && s.backends.length >= 2 && s.drops.length >= 1);
  t.true(a.rescales.length >= 1 && a.scaleUp.some((x) => x.reactionS !== null));
  t.truthy(a.packetShare);
  t.true(a.signals.every((x) => x.present), JSON.stringify(a.signals.filter((x) => !x.present)));
  t.notThrows(() => runResultSchema.parse(JSON.parse(JSON.stringify(r))));
  // analyze() is pure: the same journal gives the same answers
  t.deepEqual(analyze(recs, r, { http_req_duration: ['p(99) < 250', 'p(50) < 50'] }), a);
});
