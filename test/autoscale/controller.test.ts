// The local HPA controller against the real loopback cluster: scale-up under CPU and request-rate load, scale-down
// after, events shaped like upstream's; and its pure parts (rates, observation, kubectl-style targets).
import test from 'ava';
import { buildObservation, formatTarget, HpaController, RateTracker } from '../../src/autoscale/controller.ts';
import type { PodSnapshot } from '../../src/core/workload.ts';
import { LoopbackCluster } from '../../src/cluster/loopback.ts';
import { AutocannonEngine } from '../../src/load/autocannon/engine.ts';
import { now } from '../../src/core/clock.ts';
import type { RunEvent, Sample } from '../../src/core/types.ts';
import { Ledger } from '../../src/core/ledger.ts';
import { scenarioSchema, type ScenarioInput } from '../../src/scenario/schema.ts';
import { REQUESTS_PER_SECOND } from '../../src/scenario/autoscaler.ts';
import type { HpaSpec } from '../../src/scenario/hpa.ts';

const UP = /^New size: \d+; reason: (cpu resource utilization \(percentage of request\)|pods metric http_requests_per_second|Service metric http_requests_per_second) above target$/;
const DOWN = /^New size: \d+; reason: All metrics below target$/;

function snap(pod: string, time: number, cpuSeconds: number, requestsServed: number, extra: Partial<PodSnapshot> = {}): PodSnapshot {
  return { service: 'backend', pod, phase: 'Running', ready: true, terminating: false, startTime: 0, readyTransitionTime: 10, time, cpuSeconds, memoryBytes: 50e6, requestsServed, requests: { cpuMillis: 100 }, ...extra };
}

test('rates: cpu millicores and requests per second between consecutive scrapes, like metrics-server', (t) => {
  const r = new RateTracker();
  r.update([snap('a', 1000, 1.0, 100), snap('b', 1000, 2.0, 0, { phase: 'Pending' })]);
  t.deepEqual(r.current(1000, 10_000), [], 'one scrape gives no rate');
  r.update([snap('a', 3000, 1.5, 300), snap('b', 3000, 2.0, 0)]);
  t.deepEqual(r.current(3000, 10_000), [{ pod: 'a', cpuMillis: 250, memoryBytes: 50e6, requestsPerSecond: 100, timestamp: 3000, windowMs: 2000 }]);
  t.deepEqual(r.current(20_000, 10_000), [], 'stale rates are dropped');
  r.update([snap('b', 5000, 2.2, 10)]);
  t.deepEqual(r.current(5000, 10_000).map((x) => [x.pod, x.cpuMillis, x.requestsPerSecond]), [['b', 100, 5]], 'a pod gone from the scrape is forgotten');
});

test('observation: pods with states and requests, Pods and Object metrics from the request rates', (t) => {
  const spec: HpaSpec = {
    scaleTargetRef: { kind: 'Deployment', name: 'backend' },
    maxReplicas: 5,
    metrics: [
      { type: 'Object', object: { describedObject: { kind: 'Service', name: 'backend' }, metric: { name: REQUESTS_PER_SECOND }, target: { type: 'Value', value: 100 } } },
      { type: 'Object', object: { describedObject: { kind: 'Service', name: 'frontend' }, metric: { name: REQUESTS_PER_SECOND }, target: { type: 'AverageValue', averageValue: 100 } } },
    ],
  };
  const pods = [snap('a', 3000, 1, 1), snap('b', 3000, 1, 1, { terminating: true }), snap('c', 3000, 0, 0, { phase: 'Pending', ready: false, readyTransitionTime: undefined })];
  const rates = new Map([
    ['backend', [{ pod: 'a', cpuMillis: 250, memoryBytes: 1, requestsPerSecond: 120.5, timestamp: 3000, windowMs: 2000 }, { pod: 'b', cpuMillis: 50, memoryBytes: 1, requestsPerSecond: 10, timestamp: 2900, windowMs: 2000 }]],
    ['frontend', [{ pod: 'frontend', cpuMillis: 80, memoryBytes: 1, requestsPerSecond: 130, timestamp: 3100, windowMs: 2000 }]],
  ]);
  const obs = buildObservation(spec, 3, pods, rates);
  t.is(obs.currentReplicas, 3);
  t.is(obs.statusReplicas, 2, 'terminating pods are not counted');
  t.deepEqual(obs.pods.map((p) => [p.name, p.phase, p.ready, p.deleted ?? false, p.requests?.cpu]), [['a', 'Running', true, false, 100], ['b', 'Running', true, true, 100], ['c', 'Pending', false, false, 100]]);
  t.deepEqual(obs.resourceMetrics!.map((m) => [m.pod, m.cpu, m.windowMs]), [['a', 250, 2000], ['b', 50, 2000]]);
  t.deepEqual(obs.podMetrics!.map((m) => [m.pod, m.name, m.value]), [['a', REQUESTS_PER_SECOND, 120.5], ['b', REQUESTS_PER_SECOND, 10]]);
  t.deepEqual(obs.objectMetrics!.map((m) => [m.describedObject.name, m.value, m.timestamp]), [['backend', 130.5, 3000], ['frontend', 130, 3100]]);
});

test('targets print like kubectl get hpa', (t) => {
  const cpu = { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } } as const;
  t.is(formatTarget(cpu, { type: 'Resource', resource: { name: 'cpu', current: { averageValue: 150, averageUtilization: 150 } } }), 'cpu 150%/60%');
  t.is(formatTarget(cpu, null), 'cpu <unknown>/60%');
  const mem = { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '500Mi' } } } as const;
  t.is(formatTarget(mem, { type: 'Resource', resource: { name: 'memory', current: { averageValue: 80 * 2 ** 20 } } }), 'memory 80.0Mi/500Mi');
  const obj = { type: 'Object', object: { describedObject: { kind: 'Service', name: 'backend' }, metric: { name: REQUESTS_PER_SECOND }, target: { type: 'AverageValue', averageValue: 50 } } } as const;
  t.is(formatTarget(obj, { type: 'Object', object: { metric: { name: REQUESTS_PER_SECOND }, current: { averageValue: 75 } } }), 'service/backend http_requests_per_second 75/50 (avg)');
});

function harness(t: import('ava').ExecutionContext, input: Partial<ScenarioInput>) {
  const spec = scenarioSchema.parse({ name: 'controller-test', stages: [{ duration: '1s', rate: 1 }], ...input });
  const events: RunEvent[] = [];
  const samples: Sample[] = [];
  const sink = { event: (e: RunEvent) => events.push(e), sample: (s: Sample) => samples.push(s) };
  const runId = `test-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const ledger = new Ledger(runId);
  const cluster = new LoopbackCluster(spec, { runId, sink, ledger, onStatus: () => {} });
  t.teardown(async () => {
    await cluster.stop();
    ledger.close();
  });
  const a = spec.autoscaler!;
  const { syncPeriod, metricResolution, ...hpa } = a;
  const controller = new HpaController(cluster, sink, { spec: hpa as HpaSpec, syncPeriodMs: syncPeriod, metricResolutionMs: metricResolution });
  t.teardown(() => controller.stop());
  return { spec, cluster, controller, events, samples, sink };
}

test.serial('scales up under CPU and request-rate load, and back down after it, with upstream-shaped events', async (t) => {
  const { cluster, controller, events, sink, samples } = harness(t, {
    services: { backend: { routes: { '/work': { cpuMs: 2 } }, resources: { requests: { cpu: '100m', memory: '64Mi' } } } },
    autoscaler: {
      scaleTargetRef: { kind: 'Deployment', name: 'backend' },
      minReplicas: 1,
      maxReplicas: 3,
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } },
        { type: 'Pods', pods: { metric: { name: REQUESTS_PER_SECOND }, target: { type: 'AverageValue', averageValue: 40 } } },
      ],
      behavior: { scaleDown: { stabilizationWindowSeconds: 4 } },
      syncPeriod: '2s',
      metricResolution: '2s',
    },
  });
  const target = await cluster.start(new AbortController().signal);
  const start = now();
  await controller.start(new AbortController().signal);
  const summary = await new AutocannonEngine().run(
    {
      baseUrl: target.url,
      requests: [{ method: 'GET', path: '/work', headers: {}, weight: 1 }],
      stages: [
        { name: 'busy', startMs: 0, durationMs: 12_000, model: 'open', rate: { from: 100, to: 100 } },
        { name: 'quiet', startMs: 12_000, durationMs: 16_000, model: 'open', rate: { from: 8, to: 8 } },
      ],
      requestTimeoutMs: 5000,
      runStart: start,
      sink,
      workDir: '/tmp',
    },
    new AbortController().signal,
  );
  await controller.stop();
  t.is(summary.errors, 0, 'no request failed while scaling');

  const rescales = events.filter((e) => e.kind === 'hpa.rescale');
  const ups = rescales.filter((e) => (e.attrs.to as number) > (e.attrs.from as number));
  const downs = rescales.filter((e) => (e.attrs.to as number) < (e.attrs.from as number));
  t.true(ups.length >= 1, JSON.stringify(rescales.map((e) => e.attrs.message)));
  t.true(downs.length >= 1, JSON.stringify(rescales.map((e) => e.attrs.message)));
  for (const e of ups) t.regex(String(e.attrs.message), UP);
  for (const e of downs) t.regex(String(e.attrs.message), DOWN);
  t.like(ups[0].attrs, { type: 'Normal', reason: 'SuccessfulRescale', from: 1 });
  t.is(downs.at(-1)!.attrs.to, 1);
  t.true(ups[0].time - start < 12_000, 'scaled up while the load was high');
  t.true(downs[0].time - start > 12_000 + 4000, 'scaled down after the load fell and the stabilization window passed');
  t.true(Array.isArray(ups[0].attrs.metrics) && (ups[0].attrs.metrics as unknown[]).every((m) => m !== null), 'metric statuses recorded');

  const firstReady = events.find((e) => e.kind === 'pod.ready' && e.attrs.pod === 'backend-2')!;
  const routed = events.find((e) => e.kind === 'routing.update' && (e.attrs.pods as string[]).includes('backend-2'))!;
  t.truthy(firstReady && routed);
  t.true(firstReady.time > ups[0].time && routed.time >= firstReady.time);
  t.log(`load step → rescale ${((ups[0].time - start) / 1000).toFixed(1)} s; rescale → pod ready ${((firstReady.time - ups[0].time) / 1000).toFixed(1)} s; → routed ${((routed.time - firstReady.time) / 1000).toFixed(2)} s`);
  t.log(`load drop → scale-down ${((downs[0].time - start - 12_000) / 1000).toFixed(1)} s; rescales: ${rescales.map((e) => `${e.attrs.from}→${e.attrs.to}`).join(', ')}`);

  const statuses = events.filter((e) => e.kind === 'hpa.status');
  t.true(statuses.length >= 10 && statuses.length <= 16, `${statuses.length} syncs`);
  t.is(controller.syncs, statuses.length);
  const last = statuses.at(-1)!.attrs;
  t.deepEqual((last.conditions as { type: string }[]).map((c) => c.type).sort(), ['AbleToScale', 'ScalingActive', 'ScalingLimited']);
  t.regex(String(last.message), /^replicas \d, desired \d; cpu \d+%\/50%, http_requests_per_second [\d.]+\/40$/);
  t.like(events.find((e) => e.kind === 'hpa.stop')?.attrs, { syncs: statuses.length });
  t.true(samples.some((s) => s.metric === 'hpa.replicas' && s.tags.kind === 'desired' && s.value > 1));

  if (rescales.length > 2) t.log(statuses.map((e) => `${((e.time - start) / 1000).toFixed(1)}s ${e.attrs.message}`).join('\n'));
  const served = (await cluster.counters()).filter((c) => c.service === 'backend');
  t.true(served.filter((c) => c.pod !== 'backend-1' && c.requestsServed > 50).length >= 1, JSON.stringify(served.map((c) => [c.pod, c.requestsServed])));
});

test.serial('a rescale the cluster refuses becomes FailedRescale, AbleToScale False, and no scale event is stored', async (t) => {
  const { cluster, controller, events } = harness(t, {
    autoscaler: {
      scaleTargetRef: { kind: 'Deployment', name: 'frontend' },
      minReplicas: 2,
      maxReplicas: 3,
      metrics: [{ type: 'Object', object: { describedObject: { kind: 'Service', name: 'frontend' }, metric: { name: REQUESTS_PER_SECOND }, target: { type: 'Value', value: 100 } } }],
      syncPeriod: '1s',
      metricResolution: '1s',
    },
  });
  await cluster.start(new AbortController().signal);
  const r = await controller.sync();
  t.false(r.state.lastScaleTime !== undefined);
  const warning = events.find((e) => e.kind === 'hpa.warning' && e.attrs.reason === 'FailedRescale');
  t.regex(String(warning?.attrs.message), /^New size: 2; reason: Current number of replicas below Spec\.MinReplicas; error: the loopback cluster runs one frontend and cannot scale it$/);
  t.like(r.conditions.find((c) => c.type === 'AbleToScale'), { status: 'False', reason: 'FailedUpdateScale' });
  t.is(events.filter((e) => e.kind === 'hpa.rescale').length, 0);
  t.is(cluster.replicas('frontend'), 1);
});
