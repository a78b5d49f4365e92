// results.json faults[] from journal events and 1 s windows, by the definitions of docs/faults.md, and
// the report's Faults section with hostile journal text.
import test from 'ava';
import { faultsBlock } from '../../src/analyze/faults.ts';
import { buildResult } from '../../src/analyze/results.ts';
import type { RunResult } from '../../src/core/result.ts';
import type { JournalRecord, RunEvent } from '../../src/core/types.ts';
import { renderReport } from '../../src/render/render.ts';
import { syntheticRecords } from '../helpers/synthetic-journal.ts';

const T0 = 1_800_000_000_000;
const ev = (s: number, kind: string, attrs: Record<string, unknown>): RunEvent => ({ kind, time: T0 + s * 1000, source: 'test', attrs });
/** 30 windows of 100 responses, p99 10 ms, 1 error each; `f` overrides windows by index. */
function windows(f: (t: number) => Partial<{ errors: number; p99: number; rps: number }> = () => ({})): RunResult['windows'] {
  return Array.from({ length: 30 }, (_, t) => {
    const o = { errors: 1, p99: 10, rps: 100, ...f(t) };
    return { time: T0 + t * 1000, t, stage: 's', rps: o.rps, errors: o.errors, latencyMs: { p50: 2, p90: 5, p99: o.p99, max: o.p99 }, stressCores: 0 };
  });
}

test('a wire fault: detected at the end of its first deviating window, recovered at the end of the first normal one after it; failures above the baseline', (t) => {
  const events = [
    ev(10.2, 'fault.start', { name: 'lossy', kind: 'packet-loss', target: 'backend', pods: ['backend-1'], probability: 0.05 }),
    ev(15.2, 'fault.end', { name: 'lossy', kind: 'packet-loss', target: 'backend', reason: 'duration' }),
  ];
  // windows 11..16 slow (p99 40 > 1.5 × 10 + 1), 12 and 13 with 21 errors
  const w = windows((i) => ({ ...(i >= 11 && i <= 16 ? { p99: 40 } : {}), ...(i === 12 || i === 13 ? { errors: 21 } : {}) }));
  const [f] = faultsBlock(events, w, T0, T0 + 30_000, [{ time: T0 + 11_000, dropped: 7 }, { time: T0 + 25_000, dropped: 100 }], Array.from({ length: 30 }, (_, i) => (i >= 11 && i <= 15 ? 3 : 0)));
  t.is(f.startS, 10.2);
  t.is(f.endS, 15.2);
  t.is(f.detectS, 1.8); // window 11 ends at 12 s
  t.is(f.detectedBy, 'window at 11s: 1/100 failed, p99 40 ms');
  t.is(f.recoverS, 2.8); // window 16 starts at/after 15.2 s but deviates; window 17 ends at 18 s
  t.deepEqual(f.baseline, { windows: 9, errorRate: 0.01, p99Ms: 10, retransmitsPerS: 0 });
  // windows 10..17: 800 requests, 6 × 1 + 2 × 21 = 48 errors, 8 expected
  t.is(f.requests, 800);
  t.is(f.errors, 48);
  t.is(f.failedByFault, 40);
  t.is(f.p99Ms, 40);
  t.is(f.packetsDropped, 7);
  t.is(f.retransmits, 15);
});

test('pod-kill and pod-pause: routing leaves the pod (detect), a replacement or the pod itself is routed again (recover)', (t) => {
  const events = [
    ev(1, 'routing.update', { service: 'backend', pods: ['b-1', 'b-2', 'b-3'] }),
    ev(5, 'fault.start', { name: 'kill', kind: 'pod-kill', target: 'backend', pods: ['b-1'] }),
    ev(5, 'fault.end', { name: 'kill', kind: 'pod-kill', target: 'backend', reason: 'instant' }),
    ev(5.01, 'pod.failed', { service: 'backend', pod: 'b-1', message: 'pod b-1 exited' }),
    ev(5.02, 'routing.update', { service: 'backend', pods: ['b-2', 'b-3'], message: 'routes to b-2, b-3' }),
    ev(6.5, 'routing.update', { service: 'backend', pods: ['b-2', 'b-3', 'b-4'], message: 'routes to b-2, b-3, b-4' }),
    ev(10, 'fault.start', { name: 'hang', kind: 'pod-pause', target: 'backend/b-2', pods: ['b-2'] }),
    ev(11.6, 'routing.update', { service: 'backend', pods: ['b-3', 'b-4'] }),
    ev(13, 'fault.end', { name: 'hang', kind: 'pod-pause', target: 'backend/b-2', reason: 'duration' }),
    ev(13.4, 'routing.update', { service: 'backend', pods: ['b-2', 'b-3', 'b-4'] }),
  ];
  const [kill, hang] = faultsBlock(events, windows(), T0, T0 + 30_000, []);
  t.is(kill.detectS, 0.02);
  t.is(kill.recoverS, 1.5);
  t.is(kill.recoveredBy, 'a replacement routed (b-2, b-3, b-4)');
  t.deepEqual(kill.reactions.map((r) => r.kind), ['pod.failed', 'routing.update', 'routing.update']);
  t.is(kill.packetsDropped, null);
  t.is(kill.retransmits, null);
  t.is(hang.detectS, 1.6);
  t.is(hang.recoverS, 0.4);
  t.is(hang.target, 'backend/b-2');
});

test('metrics-outage: ScalingActive False detects it, True again recovers it; a fault never undone has no end', (t) => {
  const status = (s: number, st: string, reason: string) => ev(s, 'hpa.status', { conditions: [{ type: 'ScalingActive', status: st, reason }] });
  const events = [
    status(4, 'True', 'ValidMetricFound'),
    ev(5, 'fault.start', { name: 'blind', kind: 'metrics-outage', target: 'backend', pods: [] }),
    status(6, 'False', 'FailedGetResourceMetric'),
    ev(10, 'fault.end', { name: 'blind', kind: 'metrics-outage', target: 'backend', reason: 'duration' }),
    status(11, 'False', 'FailedGetResourceMetric'),
    status(12, 'True', 'ValidMetricFound'),
    ev(20, 'fault.start', { name: 'late', kind: 'http-errors', target: 'backend', pods: ['b-1'], share: 0.5, status: 503 }),
  ];
  const [blind, late] = faultsBlock(events, windows((i) => (i >= 20 ? { errors: 50 } : {})), T0, T0 + 30_000, []);
  t.deepEqual([blind.detectS, blind.detectedBy, blind.recoverS, blind.recoveredBy], [1, 'ScalingActive False (FailedGetResourceMetric)', 2, 'ScalingActive True (ValidMetricFound)']);
  t.is(late.endS, null);
  t.is(late.detectS, 1);
  t.is(late.recoverS, null);
  t.is(late.failedByFault, 490); // windows 20..29: 500 errors, the baseline (1%) expects 10
});

test('the report shows each fault beside its reactions, and hostile journal text stays text', (t) => {
  const hostile = '<img src=x onerror=alert(1)>';
  const records: JournalRecord[] = [...syntheticRecords({ seconds: 40, packetRecords: 10, events: 20, seed: 3 })];
  const end = records.findIndex((r) => r.type === 'end');
  const t0 = (records.find((r) => r.type === 'run') as { startedAt: number }).startedAt;
  const at = (s: number, kind: string, attrs: Record<string, unknown>): JournalRecord => ({ type: 'event', kind, time: t0 + s * 1000, source: 'faults', attrs });
  records.splice(
    end,
    0,
    at(10, 'fault.start', { name: `kill${hostile}`, kind: 'pod-kill', target: `backend${hostile}`, pods: [`pod${hostile}`], message: `kill ${hostile}` }),
    at(10, 'fault.end', { name: `kill${hostile}`, kind: 'pod-kill', target: `backend${hostile}`, reason: 'instant' }),
    at(10.1, 'pod.failed', { service: `backend${hostile}`, pod: `pod${hostile}`, message: `died ${hostile}` }),
  );
  const result = buildResult(records);
  t.is(result.faults?.length, 1);
  const html = renderReport(result, 'name: x');
  t.true(html.includes('<section id="faults">'));
  t.true(html.includes('href="#faults"'));
  t.false(html.includes(hostile), 'no hostile markup reaches the page');
  const section = html.slice(html.indexOf('<section id="faults">'), html.indexOf('</section>', html.indexOf('<section id="faults">')));
  t.regex(section, /died &lt;img src&(#x3D|equals);x onerror&(#x3D|equals);alert\(1\)&gt;/);
});

test('a window the fault touches only in its last milliseconds cannot detect it', (t) => {
  const events = [
    ev(9.999, 'fault.start', { name: 'slow', kind: 'http-delay', target: 'backend', pods: ['b-1'], delayMs: 50 }),
    ev(14, 'fault.end', { name: 'slow', kind: 'http-delay', target: 'backend', reason: 'duration' }),
  ];
  const [f] = faultsBlock(events, windows((i) => (i === 9 || (i >= 11 && i <= 13) ? { p99: 60 } : {})), T0, T0 + 30_000, []);
  t.is(f.detectS, 2.001); // window 9 is noise before the fault; window 11 ends at 12 s
  t.is(f.recoverS, 1); // window 14 (the first at or after the end) is normal: recovered at its end
});
