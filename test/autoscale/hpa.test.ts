// Ports of the reconcile-level table tests of kubernetes/kubernetes pkg/controller/podautoscaler/horizontal_test.go
// (titles name the upstream function), then loadscope's own tests of the stateful sync loop.
//
// The upstream harness, reproduced here: pods "test-pod-i", one per reportedCPURequests entry (else
// statusReplicas of them), each with two containers requesting half the pod's cpu (integer halves) and using
// half of reportedLevels[i] each; the same levels also serve as qps (milli-units) for Pods metrics and
// reportedLevels[0] for Object metrics; metric timestamps are now with a 1 min window; readiness transitions
// at the pod's start time. Controller settings: tolerance 0.1, cpu initialization 2 min, readiness delay 10 s,
// downscale window 5 min, and scaleUpLimitFactor 8 (set by the test file's init()).
import test from 'ava';
import { formatRescaleMessage, newHpaState, reconcile } from '../../src/autoscale/hpa/horizontal.ts';
import type { HpaCondition, HpaConditionType, HpaControllerConfig, HpaObservation, HpaState, ObservedPod, PodPhase, TimestampedRecommendation } from '../../src/autoscale/types.ts';
import type { HpaScalingRules, HpaSpec, MetricSpec } from '../../src/scenario/hpa.ts';

const NOW = 1_700_000_000_000;
const MINUTE = 60_000;
const HOT = NOW;
const COOL = NOW - 3 * MINUTE;
const CONFIG: Partial<HpaControllerConfig> = {
  tolerance: 0.1,
  cpuInitializationPeriodMs: 2 * MINUTE,
  delayOfInitialReadinessStatusMs: 10_000,
  downscaleStabilizationWindowMs: 5 * MINUTE,
  scaleUpLimitFactor: 8,
};

type Cond = { type: HpaConditionType; status: 'True' | 'False'; reason: string };

const statusOk: Cond[] = [
  { type: 'AbleToScale', status: 'True', reason: 'SucceededRescale' },
  { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound' },
  { type: 'ScalingLimited', status: 'False', reason: 'DesiredWithinRange' },
];

function statusOkWithOverrides(...overrides: Cond[]): Cond[] {
  let out = statusOk.map((c) => ({ ...c }));
  for (const o of overrides) out = out.some((c) => c.type === o.type) ? out.map((c) => (c.type === o.type ? { ...o } : c)) : [...out, { ...o }];
  return out;
}

interface TestCase {
  minReplicas: number;
  maxReplicas: number;
  specReplicas: number;
  statusReplicas: number;
  expectedDesiredReplicas: number;
  CPUTarget?: number;
  CPUCurrent?: number;
  verifyCPUCurrent?: boolean;
  reportedLevels: number[];
  reportedCPURequests?: number[];
  reportedPodReadiness?: boolean[];
  reportedPodStartTime?: number[];
  reportedPodPhase?: PodPhase[];
  reportedPodDeletionTimestamp?: boolean[];
  metricsTarget?: MetricSpec[];
  scaleUpRules?: HpaScalingRules;
  scaleDownRules?: HpaScalingRules;
  recommendations?: TimestampedRecommendation[];
  expectedConditions?: Cond[];
  verifyEvents?: boolean;
  /** stands in for upstream's reactors that fail every metrics API call */
  metricsApiFails?: boolean;
}

const cpu = (...cores: number[]) => cores.map((c) => Math.round(c * 1000));
const qps = (value: number) => ({ type: 'AverageValue' as const, averageValue: value });
const DEPLOYMENT = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'some-deployment' };
const cheddar = { type: 'CheddarCheese' } as unknown as MetricSpec;

function hpaSpec(tc: TestCase): HpaSpec {
  const metrics: MetricSpec[] = [];
  if ((tc.CPUTarget ?? 0) > 0) metrics.push({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: tc.CPUTarget } } });
  metrics.push(...(tc.metricsTarget ?? []));
  if (metrics.length === 0) metrics.push({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization' } } });
  return {
    scaleTargetRef: { apiVersion: 'v1', kind: 'ReplicationController', name: 'test-rc' },
    minReplicas: tc.minReplicas,
    maxReplicas: tc.maxReplicas,
    metrics,
    ...(tc.scaleUpRules || tc.scaleDownRules ? { behavior: { scaleUp: tc.scaleUpRules, scaleDown: tc.scaleDownRules } } : {}),
  };
}

function observe(tc: TestCase, spec: HpaSpec): HpaObservation {
  const requests = tc.reportedCPURequests;
  const count = requests ? requests.length : tc.statusReplicas;
  const pods: ObservedPod[] = [];
  for (let i = 0; i < count; i++) {
    const start = tc.reportedPodStartTime?.[i] ?? 0;
    const request = requests?.[i] ?? 1000;
    pods.push({
      name: `test-pod-${i}`,
      phase: tc.reportedPodPhase?.[i] ?? 'Running',
      ready: tc.reportedPodReadiness?.[i] ?? true,
      readyTransitionTime: start,
      startTime: start,
      deleted: tc.reportedPodDeletionTimestamp?.[i] ?? false,
      requests: { cpu: 2 * Math.trunc(request / 2) },
    });
  }
  const obs: HpaObservation = { currentReplicas: tc.specReplicas, statusReplicas: tc.statusReplicas, pods };
  if (tc.metricsApiFails) return obs;
  obs.resourceMetrics = tc.reportedLevels.map((level, i) => ({ pod: `test-pod-${i}`, cpu: 2 * Math.trunc(level / 2), memory: 1024 * 1024, timestamp: NOW, windowMs: MINUTE }));
  obs.podMetrics = tc.reportedLevels.map((level, i) => ({ pod: `test-pod-${i}`, name: 'qps', value: level / 1000, timestamp: NOW }));
  obs.objectMetrics = (spec.metrics ?? [])
    .filter((m) => m.type === 'Object')
    .map((m) => ({ describedObject: m.object.describedObject, name: 'qps', value: tc.reportedLevels[0] / 1000, timestamp: NOW }));
  return obs;
}

function computeCPUCurrent(tc: TestCase): number | undefined {
  if (tc.CPUCurrent) return tc.CPUCurrent;
  const requests = tc.reportedCPURequests;
  if (!requests || requests.length !== tc.reportedLevels.length || requests.length === 0) return undefined;
  return Math.trunc((100 * tc.reportedLevels.reduce((a, b) => a + b, 0)) / requests.reduce((a, b) => a + b, 0));
}

function runTest(title: string, tc: TestCase) {
  test(title, (t) => {
    const spec = hpaSpec(tc);
    const state: HpaState = { ...newHpaState(), recommendations: tc.recommendations ?? null };
    const out = reconcile(spec, state, observe(tc, spec), NOW, CONFIG);
    t.is(out.desiredReplicas, tc.expectedDesiredReplicas, 'the desired replica count reported in the object status should be as expected');
    t.is(out.rescale, tc.specReplicas !== tc.expectedDesiredReplicas, 'the scale should only be updated if we expected a change in replicas');
    const actual = out.conditions.map(({ type, status, reason }) => ({ type, status, reason }));
    t.deepEqual(actual, tc.expectedConditions ?? statusOk, 'the status conditions should have been as expected');
    if (tc.verifyCPUCurrent) {
      const status = out.metricStatuses.find((s) => s?.type === 'Resource' && s.resource.name === 'cpu');
      const utilization = status?.type === 'Resource' ? status.resource.current.averageUtilization : undefined;
      t.is(utilization, computeCPUCurrent(tc), 'the report CPU utilization percentage should be as expected');
    }
    if (tc.verifyEvents) {
      const expected = tc.specReplicas !== tc.expectedDesiredReplicas
        ? [{ type: 'Normal', reason: 'SuccessfulRescale', message: `New size: ${tc.expectedDesiredReplicas}; reason: cpu resource utilization (percentage of request) above target`, time: NOW }]
        : [];
      t.deepEqual(out.events, expected);
    }
  });
}

const r1 = cpu(1, 1, 1);
const r5 = cpu(1, 1, 1, 1, 1);
const r7 = cpu(1, 1, 1, 1, 1, 1, 1);
const uneven = cpu(0.9, 1.0, 1.1);

runTest('TestScaleUp', { minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 5, CPUTarget: 30, verifyCPUCurrent: true, reportedLevels: [300, 500, 700], reportedCPURequests: r1 });

runTest('TestScaleUpUnreadyLessScale', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4, CPUTarget: 30, CPUCurrent: 60, verifyCPUCurrent: true,
  reportedLevels: [300, 500, 700], reportedCPURequests: r1, reportedPodReadiness: [false, true, true],
});

runTest('TestScaleUpHotCpuLessScale', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4, CPUTarget: 30, CPUCurrent: 60, verifyCPUCurrent: true,
  reportedLevels: [300, 500, 700], reportedCPURequests: r1, reportedPodStartTime: [HOT, COOL, COOL],
});

runTest('TestScaleUpUnreadyNoScale', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 3, CPUTarget: 30, CPUCurrent: 40, verifyCPUCurrent: true,
  reportedLevels: [400, 500, 700], reportedCPURequests: r1, reportedPodReadiness: [true, false, false],
  expectedConditions: statusOkWithOverrides({ type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' }),
});

runTest('TestScaleUpHotCpuNoScale', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 3, CPUTarget: 30, CPUCurrent: 40, verifyCPUCurrent: true,
  reportedLevels: [400, 500, 700], reportedCPURequests: r1, reportedPodReadiness: [true, false, false], reportedPodStartTime: [COOL, HOT, HOT],
  expectedConditions: statusOkWithOverrides({ type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' }),
});

runTest('TestScaleUpIgnoresFailedPods', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 2, statusReplicas: 2, expectedDesiredReplicas: 4, CPUTarget: 30, CPUCurrent: 60, verifyCPUCurrent: true,
  reportedLevels: [500, 700], reportedCPURequests: cpu(1, 1, 1, 1), reportedPodReadiness: [true, true, false, false], reportedPodPhase: ['Running', 'Running', 'Failed', 'Failed'],
});

runTest('TestScaleUpIgnoresDeletionPods', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 2, statusReplicas: 2, expectedDesiredReplicas: 4, CPUTarget: 30, CPUCurrent: 60, verifyCPUCurrent: true,
  reportedLevels: [500, 700], reportedCPURequests: cpu(1, 1, 1, 1), reportedPodReadiness: [true, true, false, false],
  reportedPodPhase: ['Running', 'Running', 'Running', 'Running'], reportedPodDeletionTimestamp: [false, false, true, true],
});

runTest('TestScaleUpCM', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4,
  metricsTarget: [{ type: 'Pods', pods: { metric: { name: 'qps' }, target: qps(15) } }],
  reportedLevels: [20000, 10000, 30000], reportedCPURequests: r1,
});

runTest('TestScaleUpCMUnreadyAndHotCpuNoLessScale', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 6,
  metricsTarget: [{ type: 'Pods', pods: { metric: { name: 'qps' }, target: qps(15) } }],
  reportedLevels: [50000, 10000, 30000], reportedPodReadiness: [true, true, false], reportedPodStartTime: [COOL, COOL, HOT], reportedCPURequests: r1,
});

runTest('TestScaleUpCMUnreadyandCpuHot', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 6,
  metricsTarget: [{ type: 'Pods', pods: { metric: { name: 'qps' }, target: qps(15) } }],
  reportedLevels: [50000, 15000, 30000], reportedPodReadiness: [false, true, false], reportedPodStartTime: [HOT, COOL, HOT], reportedCPURequests: r1,
  expectedConditions: statusOkWithOverrides({ type: 'AbleToScale', status: 'True', reason: 'SucceededRescale' }, { type: 'ScalingLimited', status: 'True', reason: 'TooManyReplicas' }),
});

runTest('TestScaleUpHotCpuNoScaleWouldScaleDown', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 6,
  metricsTarget: [{ type: 'Pods', pods: { metric: { name: 'qps' }, target: qps(15) } }],
  reportedLevels: [50000, 15000, 30000], reportedCPURequests: r1, reportedPodStartTime: [HOT, COOL, HOT],
  expectedConditions: statusOkWithOverrides({ type: 'AbleToScale', status: 'True', reason: 'SucceededRescale' }, { type: 'ScalingLimited', status: 'True', reason: 'TooManyReplicas' }),
});

runTest('TestScaleUpCMObject', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4,
  metricsTarget: [{ type: 'Object', object: { describedObject: DEPLOYMENT, metric: { name: 'qps' }, target: { type: 'Value', value: 15 } } }],
  reportedLevels: [20000],
});

runTest('TestScaleUpFromZeroCMObject', {
  minReplicas: 0, maxReplicas: 6, specReplicas: 0, statusReplicas: 0, expectedDesiredReplicas: 2,
  metricsTarget: [{ type: 'Object', object: { describedObject: DEPLOYMENT, metric: { name: 'qps' }, target: { type: 'Value', value: 15 } } }],
  reportedLevels: [20000],
});

runTest('TestScaleUpFromZeroIgnoresToleranceCMObject', {
  minReplicas: 0, maxReplicas: 6, specReplicas: 0, statusReplicas: 0, expectedDesiredReplicas: 1,
  metricsTarget: [{ type: 'Object', object: { describedObject: DEPLOYMENT, metric: { name: 'qps' }, target: { type: 'Value', value: '1.0' } } }],
  reportedLevels: [1000],
});

runTest('TestScaleUpPerPodCMObject', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4,
  metricsTarget: [{ type: 'Object', object: { describedObject: DEPLOYMENT, metric: { name: 'qps' }, target: { type: 'AverageValue', averageValue: '10.0' } } }],
  reportedLevels: [40000],
});

runTest('TestScaleDown', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3, CPUTarget: 50, verifyCPUCurrent: true,
  reportedLevels: [100, 300, 500, 250, 250], reportedCPURequests: r5, recommendations: [],
});

runTest('TestScaleDownWithScalingRules', {
  minReplicas: 2, maxReplicas: 6, scaleUpRules: { stabilizationWindowSeconds: 30, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
  specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3, CPUTarget: 50, verifyCPUCurrent: true,
  reportedLevels: [100, 300, 500, 250, 250], reportedCPURequests: r5, recommendations: [],
});

runTest('TestScaleUpOneMetricInvalid', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4, CPUTarget: 30, verifyCPUCurrent: true,
  metricsTarget: [cheddar], reportedLevels: [300, 400, 500], reportedCPURequests: r1,
});

runTest('TestScaleUpFromZeroOneMetricInvalid', {
  minReplicas: 0, maxReplicas: 6, specReplicas: 0, statusReplicas: 0, expectedDesiredReplicas: 4, CPUTarget: 30, verifyCPUCurrent: true,
  metricsTarget: [cheddar], reportedLevels: [300, 400, 500], reportedCPURequests: r1, recommendations: [],
});

runTest('TestScaleUpBothMetricsEmpty', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 3,
  metricsTarget: [cheddar], reportedLevels: [], reportedCPURequests: r1,
  expectedConditions: [
    { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale' },
    { type: 'ScalingActive', status: 'False', reason: 'InvalidMetricSourceType' },
  ],
});

runTest('TestScaleDownStabilizeInitialSize', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 5, CPUTarget: 50, verifyCPUCurrent: true,
  reportedLevels: [100, 300, 500, 250, 250], reportedCPURequests: r5,
  expectedConditions: statusOkWithOverrides({ type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' }, { type: 'AbleToScale', status: 'True', reason: 'ScaleDownStabilized' }),
});

runTest('TestScaleDownCM', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3,
  metricsTarget: [{ type: 'Pods', pods: { metric: { name: 'qps' }, target: qps(20) } }],
  reportedLevels: [12000, 12000, 12000, 12000, 12000], reportedCPURequests: r5, recommendations: [],
});

runTest('TestScaleDownCMObject', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3,
  metricsTarget: [{ type: 'Object', object: { describedObject: DEPLOYMENT, metric: { name: 'qps' }, target: { type: 'Value', value: '20.0' } } }],
  reportedLevels: [12000], reportedCPURequests: r5, recommendations: [],
});

runTest('TestScaleDownToZeroCMObject', {
  minReplicas: 0, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 0,
  metricsTarget: [{ type: 'Object', object: { describedObject: DEPLOYMENT, metric: { name: 'qps' }, target: { type: 'Value', value: '20.0' } } }],
  reportedLevels: [0], reportedCPURequests: r5, recommendations: [],
});

runTest('TestScaleDownPerPodCMObject', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3,
  metricsTarget: [{ type: 'Object', object: { describedObject: DEPLOYMENT, metric: { name: 'qps' }, target: { type: 'AverageValue', averageValue: '20.0' } } }],
  reportedLevels: [60000], reportedCPURequests: r5, recommendations: [],
});

runTest('TestScaleDownIncludeUnreadyPods', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 2, CPUTarget: 50, CPUCurrent: 30, verifyCPUCurrent: true,
  reportedLevels: [100, 300, 500, 250, 250], reportedCPURequests: r5, reportedPodReadiness: [true, true, true, false, false], recommendations: [],
});

runTest('TestScaleDownIgnoreHotCpuPods', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 2, CPUTarget: 50, CPUCurrent: 30, verifyCPUCurrent: true,
  reportedLevels: [100, 300, 500, 250, 250], reportedCPURequests: r5, reportedPodStartTime: [COOL, COOL, COOL, HOT, HOT], recommendations: [],
});

runTest('TestScaleDownIgnoresFailedPods', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3, CPUTarget: 50, CPUCurrent: 28, verifyCPUCurrent: true,
  reportedLevels: [100, 300, 500, 250, 250], reportedCPURequests: r7, reportedPodReadiness: [true, true, true, true, true, false, false],
  reportedPodPhase: ['Running', 'Running', 'Running', 'Running', 'Running', 'Failed', 'Failed'], recommendations: [],
});

runTest('TestScaleDownIgnoresDeletionPods', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3, CPUTarget: 50, CPUCurrent: 28, verifyCPUCurrent: true,
  reportedLevels: [100, 300, 500, 250, 250], reportedCPURequests: r7, reportedPodReadiness: [true, true, true, true, true, false, false],
  reportedPodPhase: ['Running', 'Running', 'Running', 'Running', 'Running', 'Running', 'Running'],
  reportedPodDeletionTimestamp: [false, false, false, false, false, true, true], recommendations: [],
});

runTest('TestTolerance', {
  minReplicas: 1, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 3, CPUTarget: 100,
  reportedLevels: [1010, 1030, 1020], reportedCPURequests: uneven,
  expectedConditions: statusOkWithOverrides({ type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' }),
});

runTest('TestToleranceCM', {
  minReplicas: 1, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 3,
  metricsTarget: [{ type: 'Pods', pods: { metric: { name: 'qps' }, target: qps(20) } }],
  reportedLevels: [20000, 20001, 21000], reportedCPURequests: uneven,
  expectedConditions: statusOkWithOverrides({ type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' }),
});

runTest('TestToleranceCMObject', {
  minReplicas: 1, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 3,
  metricsTarget: [{ type: 'Object', object: { describedObject: DEPLOYMENT, metric: { name: 'qps' }, target: { type: 'Value', value: '20.0' } } }],
  reportedLevels: [20050], reportedCPURequests: uneven,
  expectedConditions: statusOkWithOverrides({ type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' }),
});

runTest('TestTolerancePerPodCMObject', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 4, statusReplicas: 4, expectedDesiredReplicas: 4,
  metricsTarget: [{ type: 'Object', object: { describedObject: DEPLOYMENT, metric: { name: 'qps' }, target: { type: 'AverageValue', averageValue: '2200m' } } }],
  reportedLevels: [8600],
  expectedConditions: statusOkWithOverrides({ type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' }),
});

runTest('TestMinReplicas', {
  minReplicas: 2, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 2, CPUTarget: 90,
  reportedLevels: [10, 95, 10], reportedCPURequests: uneven, recommendations: [],
  expectedConditions: statusOkWithOverrides({ type: 'ScalingLimited', status: 'True', reason: 'TooFewReplicas' }),
});

runTest('TestZeroMinReplicasDesiredZero', {
  minReplicas: 0, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 0, CPUTarget: 90,
  reportedLevels: [0, 0, 0], reportedCPURequests: uneven, recommendations: [],
  expectedConditions: statusOkWithOverrides({ type: 'ScalingLimited', status: 'False', reason: 'DesiredWithinRange' }),
});

runTest('TestMinReplicasDesiredZero', {
  minReplicas: 2, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 2, CPUTarget: 90,
  reportedLevels: [0, 0, 0], reportedCPURequests: uneven, recommendations: [],
  expectedConditions: statusOkWithOverrides({ type: 'ScalingLimited', status: 'True', reason: 'TooFewReplicas' }),
});

runTest('TestZeroReplicas', {
  minReplicas: 3, maxReplicas: 5, specReplicas: 0, statusReplicas: 0, expectedDesiredReplicas: 0, CPUTarget: 90, reportedLevels: [], reportedCPURequests: [],
  expectedConditions: [
    { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale' },
    { type: 'ScalingActive', status: 'False', reason: 'ScalingDisabled' },
  ],
});

runTest('TestTooFewReplicas', {
  minReplicas: 3, maxReplicas: 5, specReplicas: 2, statusReplicas: 2, expectedDesiredReplicas: 3, CPUTarget: 90, reportedLevels: [], reportedCPURequests: [],
  expectedConditions: [{ type: 'AbleToScale', status: 'True', reason: 'SucceededRescale' }],
});

runTest('TestTooManyReplicas', {
  minReplicas: 3, maxReplicas: 5, specReplicas: 10, statusReplicas: 10, expectedDesiredReplicas: 5, CPUTarget: 90, reportedLevels: [], reportedCPURequests: [],
  expectedConditions: [{ type: 'AbleToScale', status: 'True', reason: 'SucceededRescale' }],
});

runTest('TestMaxReplicas', {
  minReplicas: 2, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 5, CPUTarget: 90,
  reportedLevels: [8000, 9500, 1000], reportedCPURequests: uneven,
  expectedConditions: statusOkWithOverrides({ type: 'ScalingLimited', status: 'True', reason: 'TooManyReplicas' }),
});

runTest('TestSuperfluousMetrics', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 4, statusReplicas: 4, expectedDesiredReplicas: 6, CPUTarget: 100,
  reportedLevels: [4000, 9500, 3000, 7000, 3200, 2000], reportedCPURequests: cpu(1, 1, 1, 1),
  expectedConditions: statusOkWithOverrides({ type: 'ScalingLimited', status: 'True', reason: 'TooManyReplicas' }),
});

runTest('TestMissingMetrics', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 4, statusReplicas: 4, expectedDesiredReplicas: 3, CPUTarget: 100,
  reportedLevels: [400, 95], reportedCPURequests: cpu(1, 1, 1, 1), recommendations: [],
});

runTest('TestEmptyMetrics', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 4, statusReplicas: 4, expectedDesiredReplicas: 4, CPUTarget: 100, reportedLevels: [], reportedCPURequests: cpu(1, 1, 1, 1),
  expectedConditions: [
    { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale' },
    { type: 'ScalingActive', status: 'False', reason: 'FailedGetResourceMetric' },
  ],
});

runTest('TestEmptyCPURequest', {
  minReplicas: 1, maxReplicas: 5, specReplicas: 1, statusReplicas: 1, expectedDesiredReplicas: 1, CPUTarget: 100, reportedLevels: [200], reportedCPURequests: [],
  expectedConditions: [
    { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale' },
    { type: 'ScalingActive', status: 'False', reason: 'FailedGetResourceMetric' },
  ],
});

runTest('TestEventCreated', {
  minReplicas: 1, maxReplicas: 5, specReplicas: 1, statusReplicas: 1, expectedDesiredReplicas: 2, CPUTarget: 50, reportedLevels: [200], reportedCPURequests: cpu(0.2), verifyEvents: true,
});

runTest('TestEventNotCreated', {
  minReplicas: 1, maxReplicas: 5, specReplicas: 2, statusReplicas: 2, expectedDesiredReplicas: 2, CPUTarget: 50, reportedLevels: [200, 200], reportedCPURequests: cpu(0.4, 0.4), verifyEvents: true,
  expectedConditions: statusOkWithOverrides({ type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' }),
});

runTest('TestMissingReports', {
  minReplicas: 1, maxReplicas: 5, specReplicas: 4, statusReplicas: 4, expectedDesiredReplicas: 2, CPUTarget: 50, reportedLevels: [200], reportedCPURequests: cpu(0.2), recommendations: [],
});

runTest('TestUpscaleCap', {
  minReplicas: 1, maxReplicas: 100, specReplicas: 3, statusReplicas: 3,
  scaleUpRules: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 700, periodSeconds: 60 }] },
  expectedDesiredReplicas: 24, CPUTarget: 10, reportedLevels: [100, 200, 300], reportedCPURequests: cpu(0.1, 0.1, 0.1),
  expectedConditions: statusOkWithOverrides({ type: 'ScalingLimited', status: 'True', reason: 'ScaleUpLimit' }),
});

runTest('TestUpscaleCapGreaterThanMaxReplicas', {
  minReplicas: 1, maxReplicas: 20, specReplicas: 3, statusReplicas: 3,
  scaleUpRules: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 700, periodSeconds: 60 }] },
  expectedDesiredReplicas: 20, CPUTarget: 10, reportedLevels: [100, 200, 300], reportedCPURequests: cpu(0.1, 0.1, 0.1),
  expectedConditions: statusOkWithOverrides({ type: 'ScalingLimited', status: 'True', reason: 'TooManyReplicas' }),
});

runTest('TestMoreReplicasThanSpecNoScale', {
  minReplicas: 1, maxReplicas: 8, specReplicas: 4, statusReplicas: 5, expectedDesiredReplicas: 4, CPUTarget: 50,
  reportedLevels: [500, 500, 500, 500, 500], reportedCPURequests: cpu(1, 1, 1, 1, 1),
  expectedConditions: statusOkWithOverrides({ type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' }),
});

for (const [reason, metricsTarget] of [
  ['FailedGetResourceMetric', undefined],
  ['FailedGetPodsMetric', [{ type: 'Pods', pods: { metric: { name: 'qps' }, target: qps(15) } }]],
  ['FailedGetObjectMetric', [{ type: 'Object', object: { describedObject: DEPLOYMENT, metric: { name: 'qps' }, target: { type: 'Value', value: 15 } } }]],
] as [string, MetricSpec[] | undefined][]) {
  runTest(`TestConditionFailedGetMetrics / ${reason}`, {
    minReplicas: 1, maxReplicas: 100, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 3, CPUTarget: metricsTarget ? 0 : 10, metricsTarget,
    reportedLevels: [100, 200, 300], reportedCPURequests: cpu(0.1, 0.1, 0.1), metricsApiFails: true,
    expectedConditions: [
      { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale' },
      { type: 'ScalingActive', status: 'False', reason },
    ],
  });
}

runTest('TestConditionInvalidSourceType', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 3, metricsTarget: [cheddar], reportedLevels: [20000],
  expectedConditions: [
    { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale' },
    { type: 'ScalingActive', status: 'False', reason: 'InvalidMetricSourceType' },
  ],
});

runTest('TestNoBackoffUpscaleCM', {
  minReplicas: 1, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4,
  metricsTarget: [{ type: 'Pods', pods: { metric: { name: 'qps' }, target: qps(15) } }],
  reportedLevels: [20000, 10000, 30000], reportedCPURequests: r1,
  expectedConditions: statusOkWithOverrides(
    { type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' },
    { type: 'AbleToScale', status: 'True', reason: 'SucceededRescale' },
    { type: 'ScalingLimited', status: 'False', reason: 'DesiredWithinRange' },
  ),
});

runTest('TestNoBackoffUpscaleCMNoBackoffCpu', {
  minReplicas: 1, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 5, CPUTarget: 10,
  metricsTarget: [{ type: 'Pods', pods: { metric: { name: 'qps' }, target: qps(15) } }],
  reportedLevels: [20000, 10000, 30000], reportedCPURequests: r1,
  expectedConditions: statusOkWithOverrides(
    { type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' },
    { type: 'AbleToScale', status: 'True', reason: 'SucceededRescale' },
    { type: 'ScalingLimited', status: 'True', reason: 'TooManyReplicas' },
  ),
});

runTest('TestStabilizeDownscale', {
  minReplicas: 1, maxReplicas: 5, specReplicas: 4, statusReplicas: 4, expectedDesiredReplicas: 4, CPUTarget: 100,
  reportedLevels: [50, 50, 50], reportedCPURequests: cpu(0.1, 0.1, 0.1),
  recommendations: [
    { recommendation: 10, timestamp: NOW - 10 * MINUTE },
    { recommendation: 4, timestamp: NOW - MINUTE },
  ],
  expectedConditions: statusOkWithOverrides({ type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' }, { type: 'AbleToScale', status: 'True', reason: 'ScaleDownStabilized' }),
});

{
  // TestComputedToleranceAlgImplementation: the same arithmetic as upstream.
  const startPods = 10;
  const totalUsedCPUOfAllPods = startPods * 150;
  const totalRequestedCPUOfAllPods = 2 * totalUsedCPUOfAllPods;
  const requestedToUsed = Math.trunc(totalRequestedCPUOfAllPods / totalUsedCPUOfAllPods);
  const perPodRequested = totalRequestedCPUOfAllPods / startPods;
  let target = Math.abs(1 / (requestedToUsed * (1 - 0.1))) + 0.01;
  const resourcesUsedRatio = totalUsedCPUOfAllPods / (totalRequestedCPUOfAllPods * target);
  const finalPods = Math.ceil(resourcesUsedRatio * startPods);
  const base = {
    minReplicas: 0, maxReplicas: 1000, specReplicas: startPods, statusReplicas: startPods,
    reportedLevels: Array<number>(10).fill(totalUsedCPUOfAllPods / 10),
    reportedCPURequests: [100, -100, 10, -10, 2, -2, 1, -1, 0, 0].map((d) => perPodRequested + d),
    recommendations: [],
  };
  runTest('TestComputedToleranceAlgImplementation (tc1)', { ...base, expectedDesiredReplicas: finalPods, CPUTarget: Math.trunc(target * 100) });
  target = Math.abs(1 / (requestedToUsed * (1 - 0.1))) + 0.004;
  runTest('TestComputedToleranceAlgImplementation (tc2)', {
    ...base, expectedDesiredReplicas: startPods, CPUTarget: Math.trunc(target * 100),
    expectedConditions: statusOkWithOverrides({ type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' }),
  });
}

runTest('TestScaleUpRCImmediately', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 1, statusReplicas: 1, expectedDesiredReplicas: 2, reportedLevels: [0, 0, 0, 0], reportedCPURequests: cpu(1, 1, 1, 1),
  expectedConditions: [{ type: 'AbleToScale', status: 'True', reason: 'SucceededRescale' }],
});

runTest('TestScaleDownRCImmediately', {
  minReplicas: 2, maxReplicas: 5, specReplicas: 6, statusReplicas: 6, expectedDesiredReplicas: 5, CPUTarget: 50, reportedLevels: [8000, 9500, 1000], reportedCPURequests: uneven,
  expectedConditions: [{ type: 'AbleToScale', status: 'True', reason: 'SucceededRescale' }],
});

runTest('TestNoScaleDownOneMetricInvalid', {
  minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 5, CPUTarget: 50, metricsTarget: [cheddar],
  reportedLevels: [100, 300, 500, 250, 250], reportedCPURequests: r5, recommendations: [],
  expectedConditions: [
    { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale' },
    { type: 'ScalingActive', status: 'False', reason: 'InvalidMetricSourceType' },
  ],
});

test('TestAvoidUnnecessaryUpdates: an unchanged status keeps every condition and its transition time', (t) => {
  const lastScaleTime = NOW - 60 * MINUTE;
  const spec: HpaSpec = {
    scaleTargetRef: { apiVersion: 'v1', kind: 'ReplicationController', name: 'test-rc' },
    minReplicas: 2,
    maxReplicas: 6,
    metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }],
  };
  const conditions: HpaCondition[] = [
    { type: 'AbleToScale', status: 'True', lastTransitionTime: lastScaleTime, reason: 'ReadyForNewScale', message: 'recommended size matches current size' },
    {
      type: 'ScalingActive',
      status: 'True',
      lastTransitionTime: lastScaleTime,
      reason: 'ValidMetricFound',
      message: 'the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)',
    },
    { type: 'ScalingLimited', status: 'True', lastTransitionTime: lastScaleTime, reason: 'TooFewReplicas', message: 'the desired replica count is less than the minimum replica count' },
  ];
  const tc: TestCase = {
    minReplicas: 2, maxReplicas: 6, specReplicas: 2, statusReplicas: 2, expectedDesiredReplicas: 2,
    reportedLevels: [400, 500, 700], reportedCPURequests: r1, reportedPodStartTime: [COOL, HOT, HOT],
  };
  const state: HpaState = { recommendations: [], scaleUpEvents: [], scaleDownEvents: [], conditions, lastScaleTime };
  const out = reconcile(spec, state, observe(tc, spec), NOW, CONFIG);
  t.is(out.desiredReplicas, 2);
  t.false(out.rescale);
  t.deepEqual(out.conditions, conditions);
  t.deepEqual(out.metricStatuses, [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 40, averageValue: 400 } } }]);
  t.deepEqual(out.events, []);
  t.is(out.state.lastScaleTime, lastScaleTime);
});

// ---------------------------------------------------------------------------------------------------------
// loadscope's own tests: messages, the sync loop over time, and the pure-function contract.

const cpuSpec = (behavior?: HpaSpec['behavior'], extra: Partial<HpaSpec> = {}): HpaSpec => ({
  scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'backend' },
  minReplicas: 1,
  maxReplicas: 50,
  metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }],
  ...(behavior ? { behavior } : {}),
  ...extra,
});

/** n ready, long-running pods requesting 500m each, every one using `usage` millicores. */
function cpuObservation(n: number, usage: number, now: number): HpaObservation {
  const pods: ObservedPod[] = Array.from({ length: n }, (_, i) => ({
    name: `backend-${i}`,
    phase: 'Running',
    ready: true,
    startTime: now - 60 * MINUTE,
    readyTransitionTime: now - 59 * MINUTE,
    requests: { cpu: 500, memory: 128 * 1024 * 1024 },
  }));
  return {
    currentReplicas: n,
    pods,
    resourceMetrics: pods.map((p) => ({ pod: p.name, cpu: usage, memory: 64 * 1024 * 1024, timestamp: now - 5000, windowMs: 30_000 })),
  };
}

test('SuccessfulRescale message format, as the controller writes it', (t) => {
  t.is(formatRescaleMessage(5, 'cpu resource utilization (percentage of request) above target'), 'New size: 5; reason: cpu resource utilization (percentage of request) above target');
  const rescaleEvents = (spec: HpaSpec, obs: HpaObservation, state = newHpaState()) => reconcile(spec, state, obs, NOW).events.filter((e) => e.reason === 'SuccessfulRescale');
  t.deepEqual(rescaleEvents(cpuSpec(), cpuObservation(2, 500, NOW)), [
    { type: 'Normal', reason: 'SuccessfulRescale', message: 'New size: 4; reason: cpu resource utilization (percentage of request) above target', time: NOW },
  ]);
  t.deepEqual(rescaleEvents(cpuSpec(), cpuObservation(4, 50, NOW), { ...newHpaState(), recommendations: [] }).map((e) => e.message), ['New size: 1; reason: All metrics below target']);
  t.deepEqual(rescaleEvents(cpuSpec(undefined, { maxReplicas: 3 }), cpuObservation(5, 250, NOW)).map((e) => e.message), ['New size: 3; reason: Current number of replicas above Spec.MaxReplicas']);
  t.deepEqual(rescaleEvents(cpuSpec(undefined, { minReplicas: 2 }), cpuObservation(1, 250, NOW)).map((e) => e.message), ['New size: 2; reason: Current number of replicas below Spec.MinReplicas']);
  const pods: HpaSpec = cpuSpec(undefined, { metrics: [{ type: 'Pods', pods: { metric: { name: 'rps' }, target: { type: 'AverageValue', averageValue: '100' } } }] });
  const obs = { ...cpuObservation(2, 250, NOW), podMetrics: [0, 1].map((i) => ({ pod: `backend-${i}`, name: 'rps', value: 300, timestamp: NOW })) };
  t.deepEqual(rescaleEvents(pods, obs).map((e) => e.message), ['New size: 4; reason: pods metric rps above target'], 'wants 6, capped at max(2 × 2, 4)');
});

test('default behavior (behavior: {}) scales up by max(4 pods, 100%) per 15 s sync', (t) => {
  const spec = cpuSpec({});
  let state = newHpaState();
  const sizes: number[] = [];
  let replicas = 1;
  for (let step = 0; step < 5; step++) {
    const now = NOW + step * 15_000;
    const out = reconcile(spec, state, cpuObservation(replicas, 1000, now), now); // 200% of request vs 50% target
    state = out.state;
    replicas = out.desiredReplicas;
    sizes.push(replicas);
  }
  t.deepEqual(sizes, [4, 8, 16, 32, 50]);
  t.is(state.scaleUpEvents.length, 2, 'events older than the 15 s period are reused');
});

test('default behavior holds a scale-down for the 300 s stabilization window, then applies it', (t) => {
  const spec = cpuSpec({});
  let state: HpaState = { ...newHpaState(), recommendations: [] };
  let out = reconcile(spec, state, cpuObservation(8, 250, NOW), NOW); // 50% of request: stays at 8
  t.is(out.desiredReplicas, 8);
  state = out.state;
  const history: number[] = [];
  for (let s = 15; s <= 330; s += 15) {
    const now = NOW + s * 1000;
    out = reconcile(spec, state, cpuObservation(8, 50, now), now); // load gone: 10% → wants 2
    state = out.state;
    history.push(out.desiredReplicas);
    if (out.rescale) break;
  }
  t.is(history.at(-1), 2);
  t.is(history.length, 20, 'held until the 8-replica recommendation leaves the window at +300 s');
  t.true(history.slice(0, -1).every((n) => n === 8));
  t.is(out.conditions.find((c) => c.type === 'AbleToScale')?.reason, 'SucceededRescale');
  t.deepEqual(out.events.map((e) => e.message), ['New size: 2; reason: All metrics below target']);
});

test('the first sync records the current size, so the legacy path does not scale down right after start', (t) => {
  const out = reconcile(cpuSpec(), newHpaState(), cpuObservation(6, 50, NOW), NOW);
  t.is(out.desiredReplicas, 6);
  t.is(out.conditions.find((c) => c.type === 'AbleToScale')?.reason, 'ScaleDownStabilized');
  t.deepEqual(out.state.recommendations?.map((r) => r.recommendation), [6, 2]);
});

test('memory AverageValue and Utilization report in bytes and percent of request', (t) => {
  const spec = cpuSpec(undefined, {
    metrics: [
      { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '32Mi' } } },
      { type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 25 } } },
    ],
  });
  const out = reconcile(spec, newHpaState(), cpuObservation(2, 100, NOW), NOW);
  t.deepEqual(out.metricStatuses, [
    { type: 'Resource', resource: { name: 'memory', current: { averageValue: 64 * 1024 * 1024 } } },
    { type: 'Resource', resource: { name: 'memory', current: { averageUtilization: 50, averageValue: 64 * 1024 * 1024 } } },
  ]);
  t.is(out.desiredReplicas, 4);
  t.deepEqual(out.events.map((e) => e.message), ['New size: 4; reason: memory resource above target']);
});

test('Object AverageValue keeps upstream metric naming and divides over statusReplicas', (t) => {
  const spec = cpuSpec(undefined, {
    metrics: [{ type: 'Object', object: { describedObject: { kind: 'Service', name: 'frontend' }, metric: { name: 'requests' }, target: { type: 'AverageValue', averageValue: 10 } } }],
  });
  const obs: HpaObservation = { ...cpuObservation(3, 0, NOW), statusReplicas: 4, objectMetrics: [{ describedObject: { kind: 'Service', name: 'frontend' }, name: 'requests', value: 60, timestamp: NOW }] };
  const out = reconcile(spec, newHpaState(), obs, NOW);
  t.is(out.desiredReplicas, 6);
  t.deepEqual(out.metricStatuses, [{ type: 'Object', object: { metric: { name: 'requests' }, current: { averageValue: 15 } } }]);
  t.is(out.conditions.find((c) => c.type === 'ScalingActive')?.message, 'the HPA was able to successfully calculate a replica count from external metric requests(nil)');
});

test('per-direction tolerance from behavior (Kubernetes 1.33+) overrides the controller tolerance', (t) => {
  const obs = cpuObservation(10, 265, NOW); // 53% vs 50%: ratio 1.06
  t.is(reconcile(cpuSpec({}), newHpaState(), obs, NOW).desiredReplicas, 10);
  t.is(reconcile(cpuSpec({ scaleUp: { tolerance: '0.05' } }), newHpaState(), obs, NOW).desiredReplicas, 11);
  t.is(reconcile(cpuSpec({}), newHpaState(), obs, NOW, { tolerance: 0.01 }).desiredReplicas, 11);
});

test('a failing metric is reported as a Warning event and a null status entry; the others still scale up', (t) => {
  const spec = cpuSpec(undefined, {
    metrics: [
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } },
      { type: 'Pods', pods: { metric: { name: 'rps' }, target: { type: 'AverageValue', averageValue: 100 } } },
    ],
  });
  const out = reconcile(spec, newHpaState(), cpuObservation(2, 500, NOW), NOW);
  t.is(out.desiredReplicas, 4);
  t.is(out.metricStatuses[1], null);
  t.deepEqual(out.events[0], { type: 'Warning', reason: 'FailedGetPodsMetric', message: 'unable to get metric rps: no metrics returned from custom metrics API', time: NOW });
  t.is(out.error, 'invalid metrics (1 invalid out of 2), first error is: failed to get pods metric value: unable to get metric rps: no metrics returned from custom metrics API');
  t.is(out.conditions.find((c) => c.type === 'ScalingActive')?.reason, 'ValidMetricFound');
});

test('when metrics fail and nothing can be computed: FailedComputeMetricsReplicas and no change', (t) => {
  const obs = { ...cpuObservation(3, 500, NOW), resourceMetrics: [] };
  const out = reconcile(cpuSpec(), newHpaState(), obs, NOW);
  t.is(out.desiredReplicas, 3);
  t.false(out.rescale);
  t.deepEqual(out.events.map((e) => e.reason), ['FailedGetResourceMetric', 'FailedComputeMetricsReplicas']);
  t.is(
    out.conditions.find((c) => c.type === 'ScalingActive')?.message,
    'the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API',
  );
  t.true(out.error?.startsWith('failed to compute desired number of replicas based on listed metrics for Deployment/backend: invalid metrics (1 invalid out of 1)'));
});

test('reconcile leaves its inputs untouched and its state is plain JSON', (t) => {
  const spec = cpuSpec({ scaleDown: { stabilizationWindowSeconds: 0 } });
  const state: HpaState = { recommendations: [{ recommendation: 3, timestamp: NOW - MINUTE }], scaleUpEvents: [], scaleDownEvents: [{ replicaChange: 1, timestamp: NOW - 100_000, outdated: false }], conditions: [] };
  const obs = cpuObservation(3, 50, NOW);
  const before = JSON.stringify([spec, state, obs]);
  const out = reconcile(spec, state, obs, NOW);
  t.is(JSON.stringify([spec, state, obs]), before);
  t.deepEqual(JSON.parse(JSON.stringify(out.state)), out.state);
  t.is(out.desiredReplicas, 1);
  t.deepEqual(out.state.scaleDownEvents.map((e) => [e.replicaChange, e.outdated]), [[2, false]]);
});

test('scale-to-zero is off while currentReplicas is 0 and minReplicas is not', (t) => {
  const out = reconcile(cpuSpec(), newHpaState(), { ...cpuObservation(0, 0, NOW) }, NOW);
  t.is(out.desiredReplicas, 0);
  t.false(out.rescale);
  t.deepEqual(out.conditions.map((c) => [c.type, c.status, c.reason, c.message]), [
    ['AbleToScale', 'True', 'SucceededGetScale', "the HPA controller was able to get the target's current scale"],
    ['ScalingActive', 'False', 'ScalingDisabled', 'scaling is disabled since the replica count of the target is zero'],
  ]);
});

test('missing cpu request fails the metric with the upstream message', (t) => {
  const obs = cpuObservation(2, 300, NOW);
  obs.pods[1] = { ...obs.pods[1], requests: {} };
  const out = reconcile(cpuSpec(), newHpaState(), obs, NOW);
  t.false(out.rescale);
  t.is(out.events[0].message, 'failed to get cpu utilization: missing request for cpu in Pod backend-1');
});
