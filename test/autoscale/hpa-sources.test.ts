// External and ContainerResource metric sources end to end: reconcile's status.currentMetrics, metric names and
// failure events as horizontal.go writes them; the local controller's observation; the scenario's checks.
import test from 'ava';
import { buildObservation, formatTarget } from '../../src/autoscale/controller.ts';
import { newHpaState, reconcile } from '../../src/autoscale/hpa/horizontal.ts';
import type { HpaObservation } from '../../src/autoscale/types.ts';
import type { PodSnapshot } from '../../src/core/workload.ts';
import { LoadscopeError } from '../../src/core/errors.ts';
import { REQUESTS_PER_SECOND } from '../../src/scenario/autoscaler.ts';
import type { HpaSpec, MetricSpec } from '../../src/scenario/hpa.ts';
import { validateHpaSpec } from '../../src/scenario/hpa.ts';
import { parseScenario } from '../../src/scenario/load.ts';

const NOW = 1_700_000_000_000;
const spec = (...metrics: MetricSpec[]): HpaSpec => ({ scaleTargetRef: { kind: 'Deployment', name: 'backend' }, minReplicas: 1, maxReplicas: 10, metrics });
const pods = (n: number): HpaObservation['pods'] =>
  Array.from({ length: n }, (_, i) => ({ name: `p${i}`, phase: 'Running', ready: true, startTime: 0, readyTransitionTime: 0, requests: { cpu: 1000 }, containers: [{ name: 'backend', requests: { cpu: 500 } }] }));

test('External Value: status external.current.value, metric name as upstream, scale-up reason', (t) => {
  const obs: HpaObservation = { currentReplicas: 2, pods: pods(2), externalMetrics: [{ name: 'qps', value: 30, timestamp: NOW }, { name: 'qps', value: 10, timestamp: NOW }] };
  const out = reconcile(spec({ type: 'External', external: { metric: { name: 'qps' }, target: { type: 'Value', value: 10 } } }), newHpaState(), obs, NOW);
  t.is(out.desiredReplicas, 4, 'ceil(40/10 × 2 ready) = 8, capped by the legacy scale-up limit max(2 × 2, 4)');
  t.deepEqual(out.metricStatuses, [{ type: 'External', external: { metric: { name: 'qps' }, current: { value: 40 } } }]);
  t.is(out.events[0].message, 'New size: 4; reason: external metric qps(nil) above target');
});

test('External AverageValue: status external.current.averageValue over statusReplicas; failures are FailedGetExternalMetric', (t) => {
  const obs: HpaObservation = { currentReplicas: 4, statusReplicas: 4, pods: pods(4), externalMetrics: [{ name: 'qps', value: 10, timestamp: NOW }] };
  const m: MetricSpec = { type: 'External', external: { metric: { name: 'qps' }, target: { type: 'AverageValue', averageValue: 5 } } };
  const out = reconcile(spec(m), newHpaState(), obs, NOW);
  t.deepEqual(out.metricStatuses, [{ type: 'External', external: { metric: { name: 'qps' }, current: { averageValue: 2.5 } } }]);
  t.is(out.desiredReplicas, 4, 'a scale-down to 2 is held by the stabilization window');
  const missing = reconcile(spec(m), newHpaState(), { ...obs, externalMetrics: [] }, NOW);
  t.deepEqual(missing.events.map((e) => e.reason), ['FailedGetExternalMetric', 'FailedComputeMetricsReplicas']);
  t.is(missing.events[0].message, 'unable to get external metric qps/nil: no metrics returned from external metrics API');
  t.regex(missing.error ?? '', /failed to get qps external metric value: failed to get qps external metric: unable to get external metric qps\/nil/);
  t.is(missing.conditions.find((c) => c.type === 'ScalingActive')?.reason, 'FailedGetExternalMetric');
});

test('ContainerResource Utilization: the container\'s request, status containerResource.current, upstream metric name', (t) => {
  const obs: HpaObservation = {
    currentReplicas: 2,
    pods: pods(2),
    resourceMetrics: [0, 1].map((i) => ({ pod: `p${i}`, cpu: 900, containers: [{ name: 'backend', cpu: 450 }], timestamp: NOW - 1000, windowMs: 15_000 })),
  };
  const m: MetricSpec = { type: 'ContainerResource', containerResource: { name: 'cpu', container: 'backend', target: { type: 'Utilization', averageUtilization: 45 } } };
  const out = reconcile(spec(m), newHpaState(), obs, NOW);
  t.deepEqual(out.metricStatuses, [{ type: 'ContainerResource', containerResource: { name: 'cpu', container: 'backend', current: { averageUtilization: 90, averageValue: 450 } } }]);
  t.is(out.desiredReplicas, 4);
  t.is(out.events[0].message, 'New size: 4; reason: cpu container resource utilization (percentage of request) above target');
  t.is(formatTarget(m, out.metricStatuses[0]), 'cpu (backend) 90%/45%');
  const wrong = reconcile(spec({ ...m, containerResource: { ...m.containerResource, container: 'sidecar' } }), newHpaState(), obs, NOW);
  t.is(wrong.events[0].reason, 'FailedGetContainerResourceMetric');
  t.regex(wrong.error ?? '', /failed to get sidecar container metric value: failed to get cpu utilization: did not receive metrics/);
});

test('validateHpaSpec checks External and ContainerResource as upstream; External allows minReplicas 0', (t) => {
  t.deepEqual(
    validateHpaSpec(
      spec(
        { type: 'External', external: { metric: { name: '' }, target: { type: 'Utilization', averageUtilization: 5 } } },
        { type: 'External', external: { metric: { name: 'q' }, target: { type: 'AverageValue', averageValue: '0' } } },
        { type: 'ContainerResource', containerResource: { name: 'cpu', container: '', target: { type: 'Value', value: 1 } } },
      ),
    ),
    [
      'metrics[0].external.metric.name: must specify a metric name',
      'metrics[0].external.target.type: must be Value or AverageValue',
      'metrics[1].external.target.averageValue: must be positive',
      'metrics[2].containerResource.container: must populate container name',
      'metrics[2].containerResource.target.type: must be Utilization or AverageValue',
    ],
  );
  t.deepEqual(validateHpaSpec({ ...spec({ type: 'External', external: { metric: { name: 'q' }, target: { type: 'Value', value: '9223372036854775807' } } }), minReplicas: 0 }), []);
});

const snap = (pod: string): PodSnapshot => ({
  service: 'backend', pod, phase: 'Running', ready: true, terminating: false, startTime: 0, readyTransitionTime: 10, time: 3000, cpuSeconds: 1, memoryBytes: 50e6, requestsServed: 1, requests: { cpuMillis: 100 },
});

test('the local controller: one container named after the service, External http_requests_per_second summed over the target', (t) => {
  const s = spec({ type: 'External', external: { metric: { name: REQUESTS_PER_SECOND }, target: { type: 'Value', value: 100 } } });
  const rates = new Map([['backend', [{ pod: 'a', cpuMillis: 250, memoryBytes: 7, requestsPerSecond: 120.5, timestamp: 3000, windowMs: 2000 }, { pod: 'b', cpuMillis: 50, memoryBytes: 8, requestsPerSecond: 10, timestamp: 2900, windowMs: 2000 }]]]);
  const obs = buildObservation(s, 2, [snap('a'), snap('b')], rates);
  t.deepEqual(obs.pods[0].containers, [{ name: 'backend', requests: { cpu: 100 } }]);
  t.deepEqual(obs.resourceMetrics![0].containers, [{ name: 'backend', cpu: 250, memory: 7 }]);
  t.deepEqual(obs.externalMetrics, [{ name: REQUESTS_PER_SECOND, value: 130.5, timestamp: 3000 }]);
  t.is(buildObservation(spec(), 2, [], rates).externalMetrics, undefined);
});

const HEAD = `name: sources
services:
  backend:
    resources:
      requests: { cpu: 250m }
stages:
  - { duration: 10s, rate: 50 }
autoscaler:
  scaleTargetRef: { kind: Deployment, name: backend }
  maxReplicas: 4
  metrics:
`;

test('scenario: External http_requests_per_second and ContainerResource of the service validate', (t) => {
  const s = parseScenario(
    `${HEAD}    - type: External
      external:
        metric: { name: http_requests_per_second }
        target: { type: AverageValue, averageValue: 50 }
    - type: ContainerResource
      containerResource:
        name: cpu
        container: backend
        target: { type: Utilization, averageUtilization: 60 }
`,
    's.yaml',
  );
  t.deepEqual(s.spec.autoscaler!.metrics!.map((m) => m.type), ['External', 'ContainerResource']);
});

test('scenario: another container or external metric is located at its key, with what loadscope measures', (t) => {
  const text = `${HEAD}    - type: External
      external:
        metric: { name: queue_depth, selector: { matchLabels: { q: a } } }
        target: { type: Value, value: 50 }
    - type: ContainerResource
      containerResource:
        name: memory
        container: sidecar
        target: { type: Utilization, averageUtilization: 60 }
`;
  const err = t.throws(() => parseScenario(text, 'c.yaml'), { instanceOf: LoadscopeError })!;
  const got = err.problems.map((p) => `${p.line}:${p.col} ${p.message}`);
  const expect: [number, RegExp][] = [
    [14, /metrics\.0\.external\.metric\.name: loadscope measures "http_requests_per_second" \(requests per second the target's pods served, summed\) only, not "queue_depth"/],
    [14, /metrics\.0\.external\.metric\.selector: metric selectors are not supported/],
    [19, /metrics\.1\.containerResource\.container: loadscope pods run one container, named after the service: write container: backend/],
    [20, /metrics\.1\.containerResource\.target: memory Utilization is a percentage of the pods' requests/],
  ];
  for (const [line, re] of expect) t.true(err.problems.some((p) => p.line === line && re.test(p.message)), `line ${line} ${re}\n${got.join('\n')}`);
  t.true(err.problems.every((p) => p.file === 'c.yaml' && (p.hint ?? '').length > 0), got.join('\n'));
});
