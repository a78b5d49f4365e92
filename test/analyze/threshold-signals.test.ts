import test from 'ava';
import { buildResult } from '../../src/analyze/results.ts';
import { createHistogram, encode, record } from '../../src/core/histogram.ts';
import type { JournalRecord, PlannedStage } from '../../src/core/types.ts';
import { synthetic } from '../render/fixtures.ts';

// Thresholds on loadscope's own signals and tag filters, evaluated by the results builder on a journal
// of known content: two stages of different latency and errors, packet latency on two interfaces,
// retransmits, drops, service counters, and a threshold that stopped the run.

const T0 = 1_800_000_000_000;
const plan: PlannedStage[] = [
  { name: 'warm', startMs: 0, durationMs: 1000, model: 'closed', connections: 1 },
  { name: 'peak', startMs: 1000, durationMs: 1000, model: 'closed', connections: 2 },
];

function hist(value: number, n: number): string {
  const h = createHistogram();
  for (let i = 0; i < n; i++) record(h, value);
  return encode(h);
}

function journal(thresholds: Record<string, string[]>, extra: JournalRecord[] = []): JournalRecord[] {
  const ev = (kind: string, time: number, attrs: Record<string, unknown>, source = 'load'): JournalRecord => ({ type: 'event', kind, time, source, attrs });
  const sample = (metric: string, time: number, value: number, tags: Record<string, string>, h?: string): JournalRecord => ({ type: 'sample', metric, time, value, tags, ...(h ? { hist: h } : {}) });
  return [
    { type: 'run', runId: 'r', schemaVersion: 1, scenarioName: 'sig', scenarioFile: 'sig.yaml', scenarioText: 'name: sig\n', engine: 'autocannon', startedAt: T0, durationScale: 1, plan, thresholds, environment: {}, notices: [] },
    ev('probes.status', T0, { enabled: true, probes: ['pktlat', 'tcpwatch'] }, 'probes'),
    ev('stage.start', T0, { stage: 'warm', model: 'closed', connections: 1 }),
    sample('http.reqs', T0 + 100, 10, { stage: 'warm' }),
    sample('http.latency_us', T0 + 100, 10, { stage: 'warm' }, hist(1000, 10)),
    sample('http.errors', T0 + 100, 1, { stage: 'warm', kind: 'timeout' }),
    sample('probe.pkt_latency_ns', T0 + 200, 10, { iface: 'lo', peer: 'lo', dir: 'to' }, hist(20_000, 10)),
    ev('stage.end', T0 + 1000, { stage: 'warm' }),
    ev('stage.start', T0 + 1000, { stage: 'peak', model: 'closed', connections: 2 }),
    sample('http.reqs', T0 + 1100, 10, { stage: 'peak' }),
    sample('http.latency_us', T0 + 1100, 10, { stage: 'peak' }, hist(5000, 10)),
    sample('http.errors', T0 + 1100, 2, { stage: 'peak', kind: 'status' }),
    sample('probe.pkt_latency_ns', T0 + 1200, 10, { iface: 'lsv1', peer: 'lsb1', dir: 'to' }, hist(100_000, 10)),
    sample('probe.tcp_retrans_segs', T0 + 1300, 3, { peer: '127.0.0.1', port: '80', side: 'client' }),
    sample('probe.tcp_synack_retrans', T0 + 1300, 1, { peer: '127.0.0.1', port: '80', side: 'server' }),
    sample('probe.drops', T0 + 1400, 4, { reason: 'NETFILTER_DROP', iface: 'lo' }),
    ev('stage.end', T0 + 2000, { stage: 'peak' }),
    ev('engine.summary', T0 + 2000, { requestsSent: 23, dropped: 0, inFlightAtCutoff: 0, latencyBasis: 'actual-send' }),
    sample('service.requests_served', T0 + 2000, 20, { service: 'frontend', role: 'frontend', pod: 'frontend' }),
    sample('service.requests_served', T0 + 2000, 15, { service: 'backend', role: 'backend', pod: 'backend-1' }),
    sample('service.requests_served', T0 + 2000, 5, { service: 'backend', role: 'backend', pod: 'backend-2' }),
    ...extra,
    { type: 'end', endedAt: T0 + 2000, outcome: 'completed' },
  ];
}

function judge(thresholds: Record<string, string[]>, extra: JournalRecord[] = []) {
  return buildResult(journal(thresholds, extra)).thresholds;
}

const observed = (key: string, expression: string) => judge({ [key]: [expression] })[0];
const near = (a: number | null, b: number) => a !== null && Math.abs(a - b) <= b * 0.001;

test('a stage filter selects that stage: its latencies, failures and requests only', (t) => {
  t.true(near(observed('http_req_duration{stage:warm}', 'p(99) < 100').observed, 1));
  t.true(near(observed('http_req_duration{stage:peak}', 'p(99) < 100').observed, 5));
  t.true(near(observed('http_req_duration', 'p(0) < 100').observed, 1), 'untagged: every stage');
  t.true(near(observed('http_req_duration', 'max < 100').observed, 5));
  t.is(observed('http_req_duration{stage:peak}', 'count > 0').observed, 10);
  // warm: 10 responses and 1 timeout (11 attempts, 1 failed); peak: 10 responses, 2 of them errors
  t.is(observed('http_req_failed{stage:warm}', 'rate < 1').observed, Math.round((1 / 11) * 1e6) / 1e6);
  t.is(observed('http_req_failed{stage:peak}', 'rate < 1').observed, 0.2);
  t.is(observed('http_req_failed', 'count < 10').observed, 3);
  t.is(observed('http_reqs{stage:peak}', 'count > 0').observed, 10);
  t.is(observed('http_reqs{stage:warm}', 'rate > 0').observed, 11, '11 attempts in a 1 s stage');
  const failing = observed('http_req_duration{stage:peak}', 'p(99) < 2');
  t.deepEqual([failing.status, failing.ok], ['fail', false]);
  t.deepEqual([observed('http_req_duration{stage:warm}', 'p(99) < 2').status], ['pass']);
});

test('packet latency in ms, per interface and over all of them; an interface without data says which have', (t) => {
  t.true(near(observed('packet_latency{iface:lo}', 'p(50) < 1').observed, 0.02));
  t.true(near(observed('packet_latency{iface:lsv1}', 'p(50) < 1').observed, 0.1));
  t.true(near(observed('packet_latency', 'max < 1').observed, 0.1));
  t.is(observed('packet_latency', 'count > 0').observed, 20);
  const none = observed('packet_latency{iface:eth9}', 'p(99) < 1');
  t.deepEqual([none.status, none.ok, none.observed], ['no data', false, null]);
  t.regex(none.note ?? '', /no packet latency on interface eth9 \(interfaces: lo, lsv1\)/);
});

test('retransmits, drops (by reason), service counters (by service), route skew', (t) => {
  t.is(observed('tcp_retransmits', 'count < 10').observed, 4, 'segments and SYN-ACKs');
  t.is(observed('tcp_retransmits', 'rate < 10').observed, 2, 'per second of load');
  t.is(observed('packet_drops', 'count < 1').observed, 4);
  t.false(observed('packet_drops', 'count < 1').ok);
  t.is(observed('packet_drops{reason:NETFILTER_DROP}', 'count < 10').observed, 4);
  t.is(observed('packet_drops{reason:OTHER}', 'count < 1').observed, 0);
  t.is(observed('service_served{service:backend}', 'count > 0').observed, 20);
  t.is(observed('service_served{service:frontend}', 'count > 0').observed, 20);
  t.is(observed('service_served', 'count > 0').observed, 40, 'untagged: all services summed');
  // backend-1 served 15 and backend-2 5: the busiest over the mean is 15 / 10
  t.is(observed('route_skew{service:backend}', 'value < 2').observed, 1.5);
  t.true(observed('route_skew{service:backend}', 'value < 2').ok);
  t.false(observed('route_skew', 'value < 1.2').ok);
});

test('signals a run lacks are no data, never a pass: probes off, no SLO, no load step', (t) => {
  const off = buildResult(journal({ tcp_retransmits: ['count < 1'], packet_latency: ['p(99) < 1'], slo_violation_seconds: ['value < 1'], hpa_reaction_time: ['max < 30'] }).map((r) =>
    r.type === 'event' && r.kind === 'probes.status' ? { ...r, attrs: { enabled: false, reason: 'not root' } } : r.type === 'sample' && r.metric.startsWith('probe.') ? { ...r, metric: 'ignored' } : r,
  )).thresholds;
  for (const th of off) t.deepEqual([th.status, th.ok], ['no data', false], th.metric);
  t.regex(off[0].note ?? '', /probes off: not root/);
});

test('seconds in SLO violation: every window over the SLO, per stage too', (t) => {
  // the SLO p(99) < 2 ms: warm (1 ms) keeps it, peak (5 ms) breaks it
  const th = judge({ http_req_duration: ['p(99) < 2'], slo_violation_seconds: ['value < 1'], 'slo_violation_seconds{stage:peak}': ['value < 1', 'rate < 1'], 'slo_violation_seconds{stage:warm}': ['value < 1'] });
  t.deepEqual(th.slice(1).map((x) => [x.metric, x.observed, x.status]), [
    ['slo_violation_seconds', 1, 'fail'],
    ['slo_violation_seconds{stage:peak}', 1, 'fail'],
    ['slo_violation_seconds{stage:peak}', 1, 'fail'],
    ['slo_violation_seconds{stage:warm}', 0, 'pass'],
  ]);
});

test('the threshold that stopped the run is marked, with the time and the value it failed with', (t) => {
  const abort: JournalRecord = { type: 'event', kind: 'threshold.abort', time: T0 + 1500, source: 'thresholds', attrs: { metric: 'http_req_duration{stage:peak}', expression: 'p(99) < 2', observed: 5 } };
  const th = judge({ 'http_req_duration{stage:peak}': ['p(99) < 2', 'p(99) < 100'] }, [abort]);
  t.deepEqual(th[0].aborted, { t: 1.5, observed: 5 });
  t.is(th[1].aborted, undefined);
});

test('HPA reaction time: the load steps followed by a scale-up, per stage too (the synthetic hour of test/helpers)', (t) => {
  const thresholds = { hpa_reaction_time: ['max < 1000', 'count > 0', 'min >= 0'], 'hpa_reaction_time{stage:peak}': ['max < 1000'], 'hpa_reaction_time{stage:warm}': ['max < 1000'] };
  const recs = synthetic({ seconds: 3600, packetRecords: 0, events: 40 }).map((r) => (r.type === 'run' ? { ...r, thresholds } : r));
  const res = buildResult(recs);
  const steps = res.analysis!.scaleUp.filter((s) => s.reactionS !== null);
  t.true(steps.length > 0, 'the synthetic run scales up after a load step');
  const th = res.thresholds;
  t.is(th[0].observed, Math.max(...steps.map((s) => s.reactionS!)));
  t.is(th[1].observed, steps.length);
  t.is(th[2].observed, Math.min(...steps.map((s) => s.reactionS!)));
  const peak = steps.filter((s) => s.stage === 'peak');
  t.is(th[3].observed, peak.length ? Math.max(...peak.map((s) => s.reactionS!)) : null);
  t.is(th[4].status, 'no data', 'warm is not a load step');
  t.regex(th[4].note ?? '', /no load step/);
});

test('sampled packet timing: each window counts at its 1 in N, as results.json\'s probes do', (t) => {
  const timed = (time: number, every: number): JournalRecord => ({ type: 'sample', metric: 'probe.pkt_timed', time, value: 10, tags: {}, meta: { every, packets: 10 * every, windowMs: 1000 } });
  // the lo window (T0 + 200) was timed 1 in 4, the lsv1 window (T0 + 1200) 1 in 1
  const recs = journal({ packet_latency: ['count > 0'], 'packet_latency{iface:lo}': ['count > 0', 'p(50) < 1'] });
  const at = recs.findIndex((r) => r.type === 'sample' && r.metric === 'probe.pkt_latency_ns' && r.tags.iface === 'lsv1');
  recs.splice(at + 1, 0, timed(T0 + 1200, 1));
  recs.splice(at, 0, timed(T0 + 200, 4));
  const th = buildResult(recs).thresholds;
  t.deepEqual(th.map((x) => x.observed).slice(0, 2), [50, 40]);
  t.true(near(th[2].observed, 0.02));
  const lo = (buildResult(recs).probes as { packetLatency: { iface: string; count: number }[] }).packetLatency.find((p) => p.iface === 'lo');
  t.is(lo?.count, 40, 'the same weighting as the probes summary');
});
