// The shadow HPA's comparison (autoscale/shadow.ts): the local port's decision on the observation a real
// controller synced on, against that controller's; a disagreement is journalled and summarised, an
// incomplete sync is not compared, and the shadow's scale events follow the real controller's.
import test from 'ava';
import { ShadowHpa, summarizeShadow } from '../../src/autoscale/shadow.ts';
import type { HpaObservation } from '../../src/autoscale/types.ts';
import type { RunEvent, Sample } from '../../src/core/types.ts';
import type { HpaSpec } from '../../src/scenario/hpa.ts';

const spec: HpaSpec = {
  scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'backend' },
  minReplicas: 1,
  maxReplicas: 4,
  metrics: [{ type: 'Object', object: { describedObject: { apiVersion: 'v1', kind: 'Service', name: 'backend' }, metric: { name: 'http_requests_per_second' }, target: { type: 'AverageValue', averageValue: 80 } } }],
};

function observation(current: number, rps: string, t: number): HpaObservation {
  const pods = Array.from({ length: current }, (_, i) => ({ name: `backend-${i}`, phase: 'Running' as const, ready: true, readyTransitionTime: t - 600_000, startTime: t - 600_000, requests: { cpu: 200, memory: 128 * 2 ** 20 } }));
  return { currentReplicas: current, statusReplicas: current, pods, objectMetrics: [{ describedObject: { apiVersion: 'v1', kind: 'Service', name: 'backend' }, name: 'http_requests_per_second', value: rps, timestamp: t - 1000 }] };
}

test('agreement, a disagreement with its metrics, an incomplete sync: journalled and summarised', (t) => {
  const events: RunEvent[] = [];
  const sink = { event: (e: RunEvent) => events.push(e), sample: (_: Sample) => {} };
  const shadow = new ShadowHpa(spec, sink, 'backend');
  const t0 = 1_800_000_000_000;
  // 200 req/s over 80 per replica: 3, as upstream computes (ceil(200/80))
  t.deepEqual(shadow.sync({ time: t0 + 5000, observation: observation(1, '200', t0 + 5000), realDesired: 3 }), { time: t0 + 5000, real: 3, shadow: 3, compared: true });
  // 300 req/s on 3 replicas: 1.25 of the target, outside the 0.1 tolerance → ceil(300/80) = 4; a real 3 disagrees
  const d = shadow.sync({ time: t0 + 10_000, observation: observation(3, '300', t0 + 10_000), realDesired: 3 });
  t.is(d.shadow, 4);
  t.false(d.real === d.shadow);
  // an incomplete sync runs but is not compared
  const inc = shadow.sync({ time: t0 + 15_000, observation: { ...observation(3, '240', t0 + 15_000), objectMetrics: [] }, realDesired: 3, incomplete: 'no http_requests_per_second of Service backend (answered 404)' });
  t.false(inc.compared);
  const shadowEvents = events.filter((e) => e.kind === 'hpa.shadow');
  t.is(shadowEvents.length, 3);
  t.regex(String(shadowEvents[1]!.attrs.message), /real 3→3, port 3→4 \(DISAGREE\)/);
  t.is(shadowEvents[1]!.source, 'loadscope-shadow-hpa');
  const sum = summarizeShadow(shadowEvents, t0);
  t.is(sum.syncs, 3);
  t.is(sum.compared, 2);
  t.is(sum.agreements, 1);
  t.is(sum.disagreements.length, 1);
  t.is(sum.disagreements[0]!.time, 10);
  t.is(sum.disagreements[0]!.real, 3);
  t.is(sum.disagreements[0]!.shadow, 4);
  t.truthy(JSON.stringify(sum.disagreements[0]!.metrics).includes('http_requests_per_second'));
});

test('a sync is reconciled at the API\'s wall-clock time and journalled on the run\'s time base', (t) => {
  const events: RunEvent[] = [];
  const shadow = new ShadowHpa(spec, { event: (e: RunEvent) => events.push(e), sample: (_: Sample) => {} }, 'backend');
  const wall = 1_800_000_000_000; // Date.now() when the controller's first call was answered
  const at = wall + 0.4375; // now() at that moment: the run's clock reads a fraction of a ms apart
  const d = shadow.sync({ time: wall, at, observation: observation(1, '200', wall), realDesired: 3 });
  t.is(d.time, at);
  t.is(events.find((e) => e.kind === 'hpa.shadow')!.time, at);
  t.is(d.shadow, 3);
});
