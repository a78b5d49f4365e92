// Ports of kubernetes/kubernetes pkg/controller/podautoscaler/replica_calculator_test.go. Each test title
// names the upstream test function (and case). Upstream pods have two containers with the same request each
// and per-container usage levels; here a pod's request and usage are the pod totals, which is what the
// calculation sums to. Levels and targets are milli-units as upstream (cpu millicores; qps × 1000).
import test from 'ava';
import {
  getExternalMetricReplicas,
  getExternalPerPodMetricReplicas,
  getMetricReplicas,
  getObjectMetricReplicas,
  getObjectPerPodMetricReplicas,
  getResourceReplicas,
  groupPods,
  type CalcSettings,
} from '../../src/autoscale/hpa/replica-calculator.ts';
import type { PodMetricsInfo } from '../../src/autoscale/hpa/metrics.ts';
import { milliValue } from '../../src/core/quantity.ts';
import type { HpaObservation, ObservedPod, PodPhase } from '../../src/autoscale/types.ts';
import type { CrossVersionObjectReference, LabelSelector } from '../../src/scenario/hpa.ts';

const NOW = 1_700_000_000_000;
const MINUTE = 60_000;
// Upstream's defaultTestingCPUInitializationPeriod (2 min) and defaultTestingDelayOfInitialReadinessStatus (10 s).
const SETTINGS: CalcSettings = { nowMs: NOW, cpuInitializationPeriodMs: 2 * MINUTE, delayOfInitialReadinessStatusMs: 10_000 };
const TOLERANCES = { scaleUp: 0.1, scaleDown: 0.1 };
const HOT = NOW; // hotCPUCreationTime
const COOL = NOW - 3 * MINUTE; // coolCPUCreationTime
const CONTAINERS = 2; // numContainersPerPod
const DEPLOYMENT: CrossVersionObjectReference = { kind: 'Deployment', apiVersion: 'apps/v1', name: 'some-deployment' };

interface ResourceInfo {
  requests: number[]; // per-container cpu request (millicores) of pod i
  levels: number[][]; // per-container cpu usage (millicores) of pod i
  podNames?: string[];
  targetUtilization: number;
  expectedUtilization?: number;
  expectedValue?: number;
}

interface MetricInfo {
  name: string;
  levels: number[];
  metricType: 'object' | 'objectPerPod' | 'pod' | 'external' | 'externalPerPod';
  singleObject?: CrossVersionObjectReference;
  selector?: LabelSelector;
  targetUsage?: number;
  perPodTargetUsage?: number;
  expectedUsage: number;
}

interface ReplicaCalcTestCase {
  currentReplicas: number;
  expectedReplicas?: number;
  expectedError?: string;
  timestamp?: number;
  resource?: ResourceInfo;
  metric?: MetricInfo;
  podReadiness?: boolean[];
  podStartTime?: number[];
  podPhase?: PodPhase[];
  podDeletionTimestamp?: boolean[];
  /** ContainerResource: the container whose samples and requests count (upstream's tc.container) */
  container?: string;
}

/** makePodMetricLevels: every container of pod i uses levels[i]. */
function levels(...perContainer: number[]): number[][] {
  return perContainer.map((l) => Array(CONTAINERS).fill(l));
}

function cpu(...cores: number[]): number[] {
  return cores.map((c) => c * 1000);
}

function observation(tc: ReplicaCalcTestCase): HpaObservation {
  const podsCount = Math.max(tc.currentReplicas, tc.podPhase?.length ?? 0);
  const timestamp = tc.timestamp ?? 0;
  const pods: ObservedPod[] = [];
  for (let i = 0; i < podsCount; i++) {
    const pod: ObservedPod = {
      name: `test-pod-${i}`,
      phase: tc.podPhase?.[i] ?? 'Running',
      ready: tc.podReadiness?.[i] ?? true,
      startTime: tc.podStartTime?.[i] ?? 0,
      deleted: tc.podDeletionTimestamp?.[i] ?? false,
    };
    if (tc.resource && i < tc.resource.requests.length) {
      pod.requests = { cpu: CONTAINERS * tc.resource.requests[i] };
      pod.containers = Array.from({ length: CONTAINERS }, (_, c) => ({ name: `container${c + 1}`, requests: { cpu: tc.resource!.requests[i] } }));
    } else pod.containers = Array.from({ length: CONTAINERS }, (_, c) => ({ name: `container${c + 1}` }));
    pods.push(pod);
  }
  const obs: HpaObservation = { currentReplicas: tc.currentReplicas, pods };
  if (tc.resource) {
    obs.resourceMetrics = tc.resource.levels.map((perContainer, i) => ({
      pod: tc.resource!.podNames?.[i] ?? `test-pod-${i}`,
      // a container reported without usage makes the whole pod's sample missing, as upstream
      ...(perContainer.length === CONTAINERS ? { cpu: perContainer.reduce((a, b) => a + b, 0) } : {}),
      containers: perContainer.map((cpu, c) => ({ name: `container${c + 1}`, cpu })),
      timestamp,
      windowMs: MINUTE,
    }));
  }
  if (tc.metric?.metricType === 'pod') {
    obs.podMetrics = tc.metric.levels.map((level, i) => ({ pod: `test-pod-${i}`, name: tc.metric!.name, value: level / 1000, timestamp }));
  } else if (tc.metric?.metricType === 'external' || tc.metric?.metricType === 'externalPerPod') {
    obs.externalMetrics = tc.metric.levels.map((level) => ({ name: tc.metric!.name, selector: tc.metric!.selector, value: `${level}m`, timestamp }));
  } else if (tc.metric) {
    obs.objectMetrics = [{ describedObject: tc.metric.singleObject!, name: tc.metric.name, value: tc.metric.levels[0] / 1000, timestamp }];
  }
  return obs;
}

function runTest(title: string, tc: ReplicaCalcTestCase) {
  test(title, (t) => {
    const obs = observation(tc);
    const timestamp = tc.timestamp ?? 0;
    if (tc.resource) {
      const out = getResourceReplicas(obs, tc.currentReplicas, tc.resource.targetUtilization, 'cpu', TOLERANCES, SETTINGS, tc.container);
      if (tc.expectedError !== undefined) {
        t.false(out.ok);
        if (!out.ok) t.true(out.error.includes(tc.expectedError), out.error);
        return;
      }
      if (!out.ok) return t.fail(out.error);
      t.is(out.replicas, tc.expectedReplicas!, 'replicas should be as expected');
      t.is(out.utilization, tc.resource.expectedUtilization!, 'utilization should be as expected');
      t.is(out.rawUtilization, BigInt(tc.resource.expectedValue!), 'raw value should be as expected');
      t.is(out.timestamp, timestamp, 'timestamp should be as expected');
      return;
    }
    const m = tc.metric!;
    const out =
      m.metricType === 'pod'
        ? getMetricReplicas(obs, tc.currentReplicas, m.targetUsage!, m.name, TOLERANCES, SETTINGS)
        : m.metricType === 'object'
          ? getObjectMetricReplicas(obs, tc.currentReplicas, m.targetUsage!, m.name, m.singleObject!, TOLERANCES)
          : m.metricType === 'external'
            ? getExternalMetricReplicas(obs, tc.currentReplicas, m.targetUsage!, m.name, m.selector, TOLERANCES)
            : m.metricType === 'externalPerPod'
              ? getExternalPerPodMetricReplicas(obs, tc.currentReplicas, m.perPodTargetUsage!, m.name, m.selector, TOLERANCES)
              : getObjectPerPodMetricReplicas(obs, tc.currentReplicas, m.perPodTargetUsage!, m.name, m.singleObject!, TOLERANCES);
    if (tc.expectedError !== undefined) {
      t.false(out.ok);
      if (!out.ok) t.true(out.error.includes(tc.expectedError), out.error);
      return;
    }
    if (!out.ok) return t.fail(out.error);
    t.is(out.replicas, tc.expectedReplicas!, 'replicas should be as expected');
    t.is(out.usage, BigInt(m.expectedUsage), 'usage should be as expected');
    t.is(out.timestamp, timestamp, 'timestamp should be as expected');
  });
}

runTest('TestReplicaCalcDisjointResourcesMetrics', {
  currentReplicas: 1,
  expectedError: 'no metrics returned matched known pods',
  resource: { requests: cpu(1), levels: levels(100), podNames: ['an-older-pod-name'], targetUtilization: 100 },
});

runTest('TestReplicaCalcScaleUp', {
  currentReplicas: 3,
  expectedReplicas: 5,
  resource: { requests: cpu(1, 1, 1), levels: levels(300, 500, 700), targetUtilization: 30, expectedUtilization: 50, expectedValue: CONTAINERS * 500 },
});

runTest('TestReplicaCalcScaleUpUnreadyLessScale', {
  currentReplicas: 3,
  expectedReplicas: 4,
  podReadiness: [false, true, true],
  resource: { requests: cpu(1, 1, 1), levels: levels(300, 500, 700), targetUtilization: 30, expectedUtilization: 60, expectedValue: CONTAINERS * 600 },
});

runTest('TestReplicaCalcScaleUpHotCpuLessScale', {
  currentReplicas: 3,
  expectedReplicas: 4,
  podStartTime: [HOT, COOL, COOL],
  resource: { requests: cpu(1, 1, 1), levels: levels(300, 500, 700), targetUtilization: 30, expectedUtilization: 60, expectedValue: CONTAINERS * 600 },
});

runTest('TestReplicaCalcScaleUpUnreadyNoScale', {
  currentReplicas: 3,
  expectedReplicas: 3,
  podReadiness: [true, false, false],
  resource: { requests: cpu(1, 1, 1), levels: levels(400, 500, 700), targetUtilization: 30, expectedUtilization: 40, expectedValue: CONTAINERS * 400 },
});

runTest('TestReplicaCalcScaleHotCpuNoScale', {
  currentReplicas: 3,
  expectedReplicas: 3,
  podReadiness: [true, false, false],
  podStartTime: [COOL, HOT, HOT],
  resource: { requests: cpu(1, 1, 1), levels: levels(400, 500, 700), targetUtilization: 30, expectedUtilization: 40, expectedValue: CONTAINERS * 400 },
});

runTest('TestReplicaCalcScaleUpIgnoresFailedPods', {
  currentReplicas: 2,
  expectedReplicas: 4,
  podReadiness: [true, true, false, false],
  podPhase: ['Running', 'Running', 'Failed', 'Failed'],
  resource: { requests: cpu(1, 1, 1, 1), levels: levels(500, 700), targetUtilization: 30, expectedUtilization: 60, expectedValue: CONTAINERS * 600 },
});

runTest('TestReplicaCalcScaleUpIgnoresDeletionPods', {
  currentReplicas: 2,
  expectedReplicas: 4,
  podReadiness: [true, true, false, false],
  podPhase: ['Running', 'Running', 'Running', 'Running'],
  podDeletionTimestamp: [false, false, true, true],
  resource: { requests: cpu(1, 1, 1, 1), levels: levels(500, 700), targetUtilization: 30, expectedUtilization: 60, expectedValue: CONTAINERS * 600 },
});

runTest('TestReplicaCalcScaleUpCM', {
  currentReplicas: 3,
  expectedReplicas: 4,
  metric: { name: 'qps', levels: [20000, 10000, 30000], targetUsage: 15000, expectedUsage: 20000, metricType: 'pod' },
});

runTest('TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale', {
  currentReplicas: 3,
  expectedReplicas: 6,
  podReadiness: [true, true, false],
  podStartTime: [COOL, COOL, HOT],
  metric: { name: 'qps', levels: [50000, 10000, 30000], targetUsage: 15000, expectedUsage: 30000, metricType: 'pod' },
});

runTest('TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown', {
  currentReplicas: 3,
  expectedReplicas: 7,
  podReadiness: [false, true, false],
  podStartTime: [HOT, COOL, HOT],
  metric: { name: 'qps', levels: [50000, 15000, 30000], targetUsage: 15000, expectedUsage: 31666, metricType: 'pod' },
});

runTest('TestReplicaCalcScaleUpCMObject', {
  currentReplicas: 3,
  expectedReplicas: 4,
  metric: { name: 'qps', levels: [20000], targetUsage: 15000, expectedUsage: 20000, singleObject: DEPLOYMENT, metricType: 'object' },
});

runTest('TestReplicaCalcScaleUpCMPerPodObject', {
  currentReplicas: 3,
  expectedReplicas: 4,
  metric: { name: 'qps', levels: [20000], perPodTargetUsage: 5000, expectedUsage: 6667, singleObject: DEPLOYMENT, metricType: 'objectPerPod' },
});

runTest('TestReplicaCalcScaleUpCMObjectIgnoresUnreadyPods', {
  currentReplicas: 3,
  expectedReplicas: 5,
  podReadiness: [false, true, false],
  metric: { name: 'qps', levels: [50000], targetUsage: 10000, expectedUsage: 50000, singleObject: DEPLOYMENT, metricType: 'object' },
});

runTest('TestReplicaCalcScaleUpCMExternal (upstream runs it as a pod metric)', {
  currentReplicas: 1,
  expectedReplicas: 2,
  metric: { name: 'qps', levels: [8600], targetUsage: 4400, expectedUsage: 8600, metricType: 'pod' },
});

runTest('TestReplicaCalcScaleUpCMExternalNoLabels (upstream runs it as a pod metric)', {
  currentReplicas: 1,
  expectedReplicas: 2,
  metric: { name: 'qps', levels: [8600], targetUsage: 4400, expectedUsage: 8600, metricType: 'pod' },
});

runTest('TestReplicaCalcScaleDown', {
  currentReplicas: 5,
  expectedReplicas: 3,
  resource: { requests: cpu(1, 1, 1, 1, 1), levels: levels(100, 300, 500, 250, 250), targetUtilization: 50, expectedUtilization: 28, expectedValue: CONTAINERS * 280 },
});

runTest('TestReplicaCalcScaleDownCM', {
  currentReplicas: 5,
  expectedReplicas: 3,
  metric: { name: 'qps', levels: [12000, 12000, 12000, 12000, 12000], targetUsage: 20000, expectedUsage: 12000, metricType: 'pod' },
});

runTest('TestReplicaCalcScaleDownPerPodCMObject', {
  currentReplicas: 5,
  expectedReplicas: 3,
  metric: { name: 'qps', levels: [6000], perPodTargetUsage: 2000, expectedUsage: 1200, singleObject: DEPLOYMENT, metricType: 'objectPerPod' },
});

runTest('TestReplicaCalcScaleDownCMObject', {
  currentReplicas: 5,
  expectedReplicas: 3,
  metric: { name: 'qps', levels: [12000], targetUsage: 20000, expectedUsage: 12000, singleObject: DEPLOYMENT, metricType: 'object' },
});

runTest('TestReplicaCalcScaleDownExcludeUnreadyPods', {
  currentReplicas: 5,
  expectedReplicas: 2,
  podReadiness: [true, true, true, false, false],
  resource: { requests: cpu(1, 1, 1, 1, 1), levels: levels(100, 300, 500, 250, 250), targetUtilization: 50, expectedUtilization: 30, expectedValue: CONTAINERS * 300 },
});

runTest('TestReplicaCalcScaleDownExcludeUnscheduledPods', {
  currentReplicas: 5,
  expectedReplicas: 1,
  podReadiness: [true, false, false, false, false],
  podPhase: ['Running', 'Pending', 'Pending', 'Pending', 'Pending'],
  resource: { requests: cpu(1, 1, 1, 1, 1), levels: levels(100), targetUtilization: 50, expectedUtilization: 10, expectedValue: CONTAINERS * 100 },
});

runTest('TestReplicaCalcScaleDownIgnoreHotCpuPods', {
  currentReplicas: 5,
  expectedReplicas: 2,
  podStartTime: [COOL, COOL, COOL, HOT, HOT],
  resource: { requests: cpu(1, 1, 1, 1, 1), levels: levels(100, 300, 500, 250, 250), targetUtilization: 50, expectedUtilization: 30, expectedValue: CONTAINERS * 300 },
});

runTest('TestReplicaCalcScaleDownIgnoresFailedPods', {
  currentReplicas: 5,
  expectedReplicas: 3,
  podReadiness: [true, true, true, true, true, false, false],
  podPhase: ['Running', 'Running', 'Running', 'Running', 'Running', 'Failed', 'Failed'],
  resource: { requests: cpu(1, 1, 1, 1, 1, 1, 1), levels: levels(100, 300, 500, 250, 250), targetUtilization: 50, expectedUtilization: 28, expectedValue: CONTAINERS * 280 },
});

runTest('TestReplicaCalcScaleDownIgnoresDeletionPods', {
  currentReplicas: 5,
  expectedReplicas: 3,
  podReadiness: [true, true, true, true, true, false, false],
  podPhase: ['Running', 'Running', 'Running', 'Running', 'Running', 'Running', 'Running'],
  podDeletionTimestamp: [false, false, false, false, false, true, true],
  resource: { requests: cpu(1, 1, 1, 1, 1, 1, 1), levels: levels(100, 300, 500, 250, 250), targetUtilization: 50, expectedUtilization: 28, expectedValue: CONTAINERS * 280 },
});

runTest('TestReplicaCalcTolerance', {
  currentReplicas: 3,
  expectedReplicas: 3,
  resource: { requests: cpu(0.9, 1.0, 1.1), levels: levels(1010, 1030, 1020), targetUtilization: 100, expectedUtilization: 102, expectedValue: CONTAINERS * 1020 },
});

runTest('TestReplicaCalcToleranceCM', {
  currentReplicas: 3,
  expectedReplicas: 3,
  metric: { name: 'qps', levels: [20000, 21000, 21000], targetUsage: 20000, expectedUsage: 20666, metricType: 'pod' },
});

runTest('TestReplicaCalcToleranceCMObject', {
  currentReplicas: 3,
  expectedReplicas: 3,
  metric: { name: 'qps', levels: [20666], targetUsage: 20000, expectedUsage: 20666, singleObject: DEPLOYMENT, metricType: 'object' },
});

runTest('TestReplicaCalcTolerancePerPodCMObject', {
  currentReplicas: 4,
  expectedReplicas: 4,
  metric: { name: 'qps', levels: [20166], perPodTargetUsage: 5000, expectedUsage: 5042, singleObject: DEPLOYMENT, metricType: 'objectPerPod' },
});

runTest('TestReplicaCalcSuperfluousMetrics', {
  currentReplicas: 4,
  expectedReplicas: 24,
  resource: { requests: cpu(1, 1, 1, 1), levels: levels(4000, 9500, 3000, 7000, 3200, 2000), targetUtilization: 100, expectedUtilization: 587, expectedValue: CONTAINERS * 5875 },
});

runTest('TestReplicaCalcMissingMetrics', {
  currentReplicas: 4,
  expectedReplicas: 3,
  resource: { requests: cpu(1, 1, 1, 1), levels: levels(400, 95), targetUtilization: 100, expectedUtilization: 24, expectedValue: 495 },
});

runTest('TestReplicaCalcEmptyMetrics', {
  currentReplicas: 4,
  expectedError: 'unable to get metrics for resource cpu: no metrics returned from resource metrics API',
  resource: { requests: cpu(1, 1, 1), levels: levels(), targetUtilization: 100 },
});

runTest('TestReplicaCalcEmptyCPURequest', {
  currentReplicas: 1,
  expectedError: 'missing request for',
  resource: { requests: [], levels: levels(200), targetUtilization: 100 },
});

runTest('TestPlainMetricReplicaCalcMissingMetricsNoChangeEq', {
  currentReplicas: 5,
  expectedReplicas: 5,
  metric: { name: 'qps', levels: [20000, 19000, 21000], targetUsage: 20000, expectedUsage: 20000, metricType: 'pod' },
});

runTest('TestReplicaCalcMissingMetricsNoChangeEq', {
  currentReplicas: 2,
  expectedReplicas: 2,
  resource: { requests: cpu(1, 1), levels: levels(1000), targetUtilization: 100, expectedUtilization: 100, expectedValue: CONTAINERS * 1000 },
});

runTest('TestReplicaCalcMissingMetricsNoChangeGt', {
  currentReplicas: 2,
  expectedReplicas: 2,
  resource: { requests: cpu(1, 1), levels: levels(1900), targetUtilization: 100, expectedUtilization: 190, expectedValue: CONTAINERS * 1900 },
});

runTest('TestReplicaCalcMissingMetricsNoChangeLt', {
  currentReplicas: 2,
  expectedReplicas: 2,
  resource: { requests: cpu(1, 1), levels: levels(600), targetUtilization: 100, expectedUtilization: 60, expectedValue: CONTAINERS * 600 },
});

runTest('TestReplicaCalcMissingMetricsUnreadyChange', {
  currentReplicas: 3,
  expectedReplicas: 3,
  podReadiness: [false, true, true],
  resource: { requests: cpu(1, 1, 1), levels: levels(100, 450), targetUtilization: 50, expectedUtilization: 45, expectedValue: CONTAINERS * 450 },
});

runTest('TestReplicaCalcMissingMetricsHotCpuNoChange', {
  currentReplicas: 3,
  expectedReplicas: 3,
  podStartTime: [HOT, COOL, COOL],
  resource: { requests: cpu(1, 1, 1), levels: levels(100, 450), targetUtilization: 50, expectedUtilization: 45, expectedValue: CONTAINERS * 450 },
});

runTest('TestReplicaCalcMissingMetricsUnreadyScaleUp', {
  currentReplicas: 3,
  expectedReplicas: 4,
  podReadiness: [false, true, true],
  resource: { requests: cpu(1, 1, 1), levels: levels(100, 2000), targetUtilization: 50, expectedUtilization: 200, expectedValue: CONTAINERS * 2000 },
});

runTest('TestReplicaCalcMissingMetricsHotCpuScaleUp', {
  currentReplicas: 3,
  expectedReplicas: 4,
  podReadiness: [false, true, true],
  podStartTime: [HOT, COOL, COOL],
  resource: { requests: cpu(1, 1, 1), levels: levels(100, 2000), targetUtilization: 50, expectedUtilization: 200, expectedValue: CONTAINERS * 2000 },
});

runTest('TestReplicaCalcMissingMetricsUnreadyScaleDown', {
  currentReplicas: 4,
  expectedReplicas: 3,
  podReadiness: [false, true, true, true],
  resource: { requests: cpu(1, 1, 1, 1), levels: levels(100, 100, 100), targetUtilization: 50, expectedUtilization: 10, expectedValue: CONTAINERS * 100 },
});

runTest('TestReplicaCalcMissingMetricsScaleDownTargetOver100', {
  currentReplicas: 4,
  expectedReplicas: 2,
  podReadiness: [false, true, true, true],
  resource: { requests: cpu(1, 1, 2, 2), levels: levels(200, 100, 100), targetUtilization: 300, expectedUtilization: 6, expectedValue: CONTAINERS * 100 },
});

runTest('TestReplicaCalcDuringRollingUpdateWithMaxSurge', {
  currentReplicas: 2,
  expectedReplicas: 2,
  podPhase: ['Running', 'Running', 'Running'],
  resource: { requests: cpu(1, 1, 1), levels: levels(100, 100), targetUtilization: 50, expectedUtilization: 10, expectedValue: CONTAINERS * 100 },
});

runTest('TestReplicaCalcDuringRollingUpdateWithMaxSurgeCM', {
  currentReplicas: 2,
  expectedReplicas: 2,
  podPhase: ['Running', 'Running', 'Running'],
  metric: { name: 'qps', levels: [10000, 10000], targetUsage: 17000, expectedUsage: 10000, metricType: 'pod' },
});

// ContainerResource: upstream's container cases (tc.container) read one container's samples and request.
runTest('TestReplicaCalcContainerScaleUp', {
  currentReplicas: 3,
  expectedReplicas: 5,
  container: 'container2',
  resource: { requests: cpu(1, 1, 1), levels: [[1000, 300], [1000, 500], [1000, 700]], targetUtilization: 30, expectedUtilization: 50, expectedValue: 500 },
});

runTest('TestReplicaCalcScaleUpContainerHotCpuLessScale', {
  currentReplicas: 3,
  expectedReplicas: 4,
  podStartTime: [HOT, COOL, COOL],
  container: 'container2',
  resource: { requests: cpu(1, 1, 1), levels: [[0, 300], [0, 500], [0, 700]], targetUtilization: 30, expectedUtilization: 60, expectedValue: 600 },
});

runTest('TestReplicaCalcMissingContainerMetricScaleUpIgnoresFailedPods', {
  currentReplicas: 2,
  expectedReplicas: 4,
  podReadiness: [true, true, false, false],
  podPhase: ['Running', 'Running', 'Failed', 'Failed'],
  container: 'container2',
  resource: { requests: cpu(1, 1, 1, 1), levels: [[1000, 500], [9000, 700], [1000], [9000]], targetUtilization: 30, expectedUtilization: 60, expectedValue: 600 },
});

runTest('TestReplicaCalcScaleUpContainerIgnoresFailedPods', {
  currentReplicas: 2,
  expectedReplicas: 4,
  podReadiness: [true, true, false, false],
  podPhase: ['Running', 'Running', 'Failed', 'Failed'],
  container: 'container2',
  resource: { requests: cpu(1, 1, 1, 1), levels: [[1000, 500], [9000, 700]], targetUtilization: 30, expectedUtilization: 60, expectedValue: 600 },
});

runTest('TestReplicaCalcScaleUpContainerIgnoresDeletionPods', {
  currentReplicas: 2,
  expectedReplicas: 4,
  podReadiness: [true, true, false, false],
  podPhase: ['Running', 'Running', 'Running', 'Running'],
  podDeletionTimestamp: [false, false, true, true],
  container: 'container1',
  resource: { requests: cpu(1, 1, 1, 1), levels: levels(500, 700), targetUtilization: 30, expectedUtilization: 60, expectedValue: 600 },
});

runTest('TestReplicaCalcContainerScaleDown', {
  currentReplicas: 5,
  expectedReplicas: 3,
  container: 'container2',
  resource: { requests: cpu(1, 1, 1, 1, 1), levels: [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], targetUtilization: 50, expectedUtilization: 28, expectedValue: 280 },
});

runTest('TestReplicaCalcScaleDownContainerExcludeUnreadyPods', {
  currentReplicas: 5,
  expectedReplicas: 2,
  podReadiness: [true, true, true, false, false],
  container: 'container2',
  resource: { requests: cpu(1, 1, 1, 1, 1), levels: [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], targetUtilization: 50, expectedUtilization: 30, expectedValue: 300 },
});

runTest('TestReplicaCalcScaleDownContainerExcludeUnscheduledPods', {
  currentReplicas: 5,
  expectedReplicas: 1,
  podReadiness: [true, false, false, false, false],
  podPhase: ['Running', 'Pending', 'Pending', 'Pending', 'Pending'],
  container: 'container2',
  resource: { requests: cpu(1, 1, 1, 1, 1), levels: [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], targetUtilization: 50, expectedUtilization: 10, expectedValue: 100 },
});

runTest('TestReplicaCalcScaleDownContainerIgnoreHotCpuPods', {
  currentReplicas: 5,
  expectedReplicas: 2,
  podStartTime: [COOL, COOL, COOL, HOT, HOT],
  container: 'container2',
  resource: { requests: cpu(1, 1, 1, 1, 1), levels: [[1000, 100], [1000, 300], [1000, 500], [1000, 1000], [1000, 1000]], targetUtilization: 50, expectedUtilization: 30, expectedValue: 300 },
});

runTest('TestReplicaCalcScaleDownContainerIgnoresFailedPods', {
  currentReplicas: 5,
  expectedReplicas: 3,
  podReadiness: [true, true, true, true, true, false, false],
  podPhase: ['Running', 'Running', 'Running', 'Running', 'Running', 'Failed', 'Failed'],
  container: 'container2',
  resource: { requests: cpu(1, 1, 1, 1, 1, 1, 1), levels: [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], targetUtilization: 50, expectedUtilization: 28, expectedValue: 280 },
});

runTest('TestReplicaCalcScaleDownIgnoresDeletionPods_StillRunning', {
  currentReplicas: 5,
  expectedReplicas: 3,
  podReadiness: [true, true, true, true, true, false, false],
  podPhase: ['Running', 'Running', 'Running', 'Running', 'Running', 'Running', 'Running'],
  podDeletionTimestamp: [false, false, false, false, false, true, true],
  container: 'container2',
  resource: { requests: cpu(1, 1, 1, 1, 1, 1, 1), levels: [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], targetUtilization: 50, expectedUtilization: 28, expectedValue: 280 },
});

// External: upstream's externalMetric / externalPerPodMetric cases (selector label=value on the series).
const LABEL: LabelSelector = { matchLabels: { label: 'value' } };

runTest('TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods', {
  currentReplicas: 3,
  expectedReplicas: 2, // 6 if unready pods were not ignored
  podReadiness: [false, true, false],
  metric: { name: 'qps', levels: [8600], targetUsage: 4400, expectedUsage: 8600, selector: LABEL, metricType: 'external' },
});

runTest('TestReplicaCalcScaleUpPerPodCMExternal', {
  currentReplicas: 3,
  expectedReplicas: 4,
  metric: { name: 'qps', levels: [8600], perPodTargetUsage: 2150, expectedUsage: 2867, selector: LABEL, metricType: 'externalPerPod' },
});

runTest('TestReplicaCalcScaleDownCMExternal', {
  currentReplicas: 5,
  expectedReplicas: 3,
  metric: { name: 'qps', levels: [8600], targetUsage: 14334, expectedUsage: 8600, selector: LABEL, metricType: 'external' },
});

runTest('TestReplicaCalcScaleDownPerPodCMExternal', {
  currentReplicas: 5,
  expectedReplicas: 3,
  metric: { name: 'qps', levels: [8600], perPodTargetUsage: 2867, expectedUsage: 1720, selector: LABEL, metricType: 'externalPerPod' },
});

runTest('TestReplicaCalcToleranceCMExternal', {
  currentReplicas: 3,
  expectedReplicas: 3,
  metric: { name: 'qps', levels: [8600], targetUsage: 8888, expectedUsage: 8600, selector: LABEL, metricType: 'external' },
});

runTest('TestReplicaCalcTolerancePerPodCMExternal', {
  currentReplicas: 3,
  expectedReplicas: 3,
  metric: { name: 'qps', levels: [8600], perPodTargetUsage: 2900, expectedUsage: 2867, selector: LABEL, metricType: 'externalPerPod' },
});

// loadscope's own: what the port does where upstream's tables stop.
runTest('ContainerResource: a container no pod reports has no samples (checked before requests, as upstream)', {
  currentReplicas: 2,
  expectedError: 'did not receive metrics for targeted pods (pods might be unready)',
  container: 'sidecar',
  resource: { requests: cpu(1, 1), levels: levels(500, 700), targetUtilization: 30 },
});

test('ContainerResource: a pod without the container is an error, as calculateRequests', (t) => {
  const pods: ObservedPod[] = [{ name: 'test-pod-0', phase: 'Running', ready: true, startTime: 0, containers: [{ name: 'other', requests: { cpu: 1000 } }] }];
  const obs: HpaObservation = { currentReplicas: 1, pods, resourceMetrics: [{ pod: 'test-pod-0', containers: [{ name: 'app', cpu: 500 }], timestamp: 0, windowMs: MINUTE }] };
  t.deepEqual(getResourceReplicas(obs, 1, 50, 'cpu', TOLERANCES, SETTINGS, 'app'), { ok: false, error: 'container app not found in Pod test-pod-0' });
  pods[0].containers!.push({ name: 'app' });
  t.deepEqual(getResourceReplicas(obs, 1, 50, 'cpu', TOLERANCES, SETTINGS, 'app'), { ok: false, error: 'missing request for cpu in container app of Pod test-pod-0' });
});

test('External: only the series with the spec\'s selector are read', (t) => {
  const obs: HpaObservation = { currentReplicas: 1, pods: [{ name: 'test-pod-0', phase: 'Running', ready: true }], externalMetrics: [{ name: 'qps', selector: LABEL, value: '8600m', timestamp: 0 }] };
  const out = getExternalMetricReplicas(obs, 1, 4400, 'qps', undefined, TOLERANCES);
  t.deepEqual(out, { ok: false, error: 'unable to get external metric qps/nil: no metrics returned from external metrics API' });
});

// Quantities past 2^53, computed exactly as upstream: MilliValue() is int64 and saturates at MaxInt64
// (apimachinery's scaledValue → bigToInt64Saturated), usages are int64, ratios are float64 of those int64s,
// replica counts int32 (capped at MaxInt32 in getUsageRatioReplicaCount / GetExternalPerPodMetricReplicas).
const MAX_INT64 = 9223372036854775807n;
const SERVICE: CrossVersionObjectReference = { kind: 'Service', name: 'backend' };
const threePods = (extra: Partial<HpaObservation> = {}): HpaObservation => ({
  currentReplicas: 3,
  pods: [0, 1, 2].map((i) => ({ name: `test-pod-${i}`, phase: 'Running' as const, ready: true })),
  ...extra,
});
const objectObs = (value: string) => threePods({ objectMetrics: [{ describedObject: SERVICE, name: 'qps', value, timestamp: NOW }] });

test('MaxInt64 Object Value: MilliValue saturates, the usage is exact and the ratio is upstream\'s float64', (t) => {
  // value "9223372036854775807" is 9223372036854775807000 milli: MilliValue saturates to MaxInt64.
  // target "9223372036854775807m" is exactly MaxInt64 milli. usage = MaxInt64; float64(usage)/float64(target) = 1.0,
  // within tolerance: replicas stay 3.
  const saturated = getObjectMetricReplicas(objectObs('9223372036854775807'), 3, milliValue('9223372036854775807m'), 'qps', SERVICE, TOLERANCES);
  t.like(saturated, { ok: true, replicas: 3, usage: MAX_INT64 });
  // value MaxInt64 milli, target 2^62 milli: float64(2^63 − 1) rounds to 2^63, so the ratio is exactly 2.0 and
  // ceil(2.0 × 3 ready pods) = 6. The usage stays 9223372036854775807 (a double would say …808).
  const exact = getObjectMetricReplicas(objectObs('9223372036854775807m'), 3, milliValue('4611686018427387904m'), 'qps', SERVICE, TOLERANCES);
  t.like(exact, { ok: true, replicas: 6 });
  t.is(exact.ok && exact.usage, MAX_INT64);
  t.not(exact.ok && exact.usage, BigInt(Number(MAX_INT64)));
  // target "1m": ratio ≈ 9.22e18, × 3 ready pods exceeds MaxInt32, so the count saturates at 2147483647.
  const capped = getObjectMetricReplicas(objectObs('9223372036854775807m'), 3, 1n, 'qps', SERVICE, TOLERANCES);
  t.like(capped, { ok: true, replicas: 2147483647, usage: MAX_INT64 });
});

test('MaxInt64 Object AverageValue: upstream\'s int64(ceil(float64(usage) / statusReplicas))', (t) => {
  // ratio = 2^63 / (2^63 × 3) = 1/3, outside tolerance: replicas = ceil(2^63 / 2^63) = 1. The per-replica usage is
  // float64(MaxInt64)/3 = 2^63/3 = 3074457345618258602.67, whose nearest double (spacing 512 there) is
  // 3074457345618258432; ceil keeps it. Upstream reports 3074457345618258432, not the exact ceiling …603.
  const out = getObjectPerPodMetricReplicas(objectObs('9223372036854775807m'), 3, MAX_INT64, 'qps', SERVICE, TOLERANCES);
  t.like(out, { ok: true, replicas: 1, usage: 3074457345618258432n });
});

test('External sums saturate at MaxInt64 as upstream (positive-overflow cap, per-pod wrap check)', (t) => {
  const obs = threePods({ externalMetrics: ['9223372036854775807m', '1m'].map((value) => ({ name: 'qps', value, timestamp: NOW })) });
  t.like(getExternalMetricReplicas(obs, 3, MAX_INT64, 'qps', undefined, TOLERANCES), { ok: true, replicas: 3, usage: MAX_INT64 });
  // per pod: usage MaxInt64 ≥ float64(MaxInt64) reads MaxInt64; ratio 2^63 / (1000 × 3) is far out: ceil(2^63/1000) caps at MaxInt32.
  t.like(getExternalPerPodMetricReplicas(obs, 3, 1000n, 'qps', undefined, TOLERANCES), { ok: true, replicas: 2147483647, usage: MAX_INT64 });
});

{
  // TestReplicaCalcComputedToleranceAlgImplementation: the same arithmetic as upstream.
  const startPods = 10;
  const totalUsedCPUOfAllPods = startPods * 150;
  const totalRequestedCPUOfAllPods = 2 * totalUsedCPUOfAllPods;
  const requestedToUsed = Math.trunc(totalRequestedCPUOfAllPods / totalUsedCPUOfAllPods);
  const perPodRequested = totalRequestedCPUOfAllPods / startPods;
  let target = Math.abs(1 / (requestedToUsed * (1 - 0.1))) + 0.01;
  const resourcesUsedRatio = totalUsedCPUOfAllPods / (totalRequestedCPUOfAllPods * target);
  const finalPods = Math.ceil(resourcesUsedRatio * startPods);
  const resource = (targetUtilization: number): ResourceInfo => ({
    levels: levels(...Array(10).fill(totalUsedCPUOfAllPods / 10)),
    requests: [100, -100, 10, -10, 2, -2, 1, -1, 0, 0].map((d) => perPodRequested + d),
    targetUtilization,
    expectedUtilization: Math.trunc((totalUsedCPUOfAllPods * 100) / totalRequestedCPUOfAllPods),
    expectedValue: (CONTAINERS * totalUsedCPUOfAllPods) / 10,
  });
  runTest('TestReplicaCalcComputedToleranceAlgImplementation (scales down)', {
    currentReplicas: startPods,
    expectedReplicas: finalPods,
    resource: resource(Math.trunc(target * 100)),
  });
  target = Math.abs(1 / (requestedToUsed * (1 - 0.1))) + 0.004;
  runTest('TestReplicaCalcComputedToleranceAlgImplementation (within tolerance)', {
    currentReplicas: startPods,
    expectedReplicas: startPods,
    resource: resource(Math.trunc(target * 100)),
  });
}

// TestGroupPods: upstream runs with defaultTestingCPUInitializationPeriod 2 min and delay 10 s.
interface GroupPodsCase {
  name: string;
  pods: ObservedPod[];
  metrics: PodMetricsInfo;
  resource: 'cpu' | 'memory';
  ready: number;
  unready: string[];
  missing: string[];
  ignored: string[];
}

const sample = (timestamp = 0, windowMs = 0) => ({ value: 1n, timestamp, windowMs });
const groupPodsCases: GroupPodsCase[] = [
  { name: 'void', pods: [], metrics: new Map(), resource: 'cpu', ready: 0, unready: [], missing: [], ignored: [] },
  {
    name: 'count in a ready pod - memory',
    pods: [{ name: 'bentham', phase: 'Succeeded' }],
    metrics: new Map([['bentham', sample(NOW, MINUTE)]]),
    resource: 'memory',
    ready: 1,
    unready: [],
    missing: [],
    ignored: [],
  },
  {
    name: 'unready a pod without ready condition - CPU',
    pods: [{ name: 'lucretius', phase: 'Succeeded', startTime: NOW }],
    metrics: new Map([['lucretius', sample()]]),
    resource: 'cpu',
    ready: 0,
    unready: ['lucretius'],
    missing: [],
    ignored: [],
  },
  {
    name: 'count in a ready pod with fresh metrics during initialization period - CPU',
    pods: [{ name: 'bentham', phase: 'Succeeded', startTime: NOW - MINUTE, ready: true, readyTransitionTime: NOW - 30_000 }],
    metrics: new Map([['bentham', sample(NOW, 30_000)]]),
    resource: 'cpu',
    ready: 1,
    unready: [],
    missing: [],
    ignored: [],
  },
  {
    name: 'unready a ready pod without fresh metrics during initialization period - CPU',
    pods: [{ name: 'bentham', phase: 'Succeeded', startTime: NOW - MINUTE, ready: true, readyTransitionTime: NOW - 30_000 }],
    metrics: new Map([['bentham', sample(NOW, 60_000)]]),
    resource: 'cpu',
    ready: 0,
    unready: ['bentham'],
    missing: [],
    ignored: [],
  },
  {
    name: 'unready an unready pod during initialization period - CPU',
    pods: [{ name: 'lucretius', phase: 'Succeeded', startTime: NOW - 10 * MINUTE, ready: false, readyTransitionTime: NOW - 9 * MINUTE - 54_000 }],
    metrics: new Map([['lucretius', sample()]]),
    resource: 'cpu',
    ready: 0,
    unready: ['lucretius'],
    missing: [],
    ignored: [],
  },
  {
    name: 'count in a ready pod without fresh metrics after initialization period - CPU',
    pods: [{ name: 'bentham', phase: 'Succeeded', startTime: NOW - 3 * MINUTE, ready: true, readyTransitionTime: NOW - 3 * MINUTE }],
    metrics: new Map([['bentham', sample(NOW - 2 * MINUTE, MINUTE)]]),
    resource: 'cpu',
    ready: 1,
    unready: [],
    missing: [],
    ignored: [],
  },
  {
    name: 'count in an unready pod that was ready after initialization period - CPU',
    pods: [{ name: 'lucretius', phase: 'Succeeded', startTime: NOW - 10 * MINUTE, ready: false, readyTransitionTime: NOW - 9 * MINUTE }],
    metrics: new Map([['lucretius', sample()]]),
    resource: 'cpu',
    ready: 1,
    unready: [],
    missing: [],
    ignored: [],
  },
  {
    name: 'unready pod that has never been ready after initialization period - CPU',
    pods: [{ name: 'lucretius', phase: 'Succeeded', startTime: NOW - 10 * MINUTE, ready: false, readyTransitionTime: NOW - 9 * MINUTE - 50_000 }],
    metrics: new Map([['lucretius', sample()]]),
    resource: 'cpu',
    ready: 1,
    unready: [],
    missing: [],
    ignored: [],
  },
  {
    name: 'a missing pod',
    pods: [{ name: 'epicurus', phase: 'Succeeded', startTime: NOW - 3 * MINUTE }],
    metrics: new Map(),
    resource: 'cpu',
    ready: 0,
    unready: [],
    missing: ['epicurus'],
    ignored: [],
  },
  {
    name: 'several pods',
    pods: [
      { name: 'lucretius', phase: 'Succeeded', startTime: NOW },
      { name: 'niccolo', phase: 'Succeeded', startTime: NOW - 3 * MINUTE, ready: true, readyTransitionTime: NOW - 3 * MINUTE },
      { name: 'epicurus', phase: 'Succeeded', startTime: NOW - 3 * MINUTE },
    ],
    metrics: new Map([
      ['lucretius', sample()],
      ['niccolo', sample()],
    ]),
    resource: 'cpu',
    ready: 1,
    unready: ['lucretius'],
    missing: ['epicurus'],
    ignored: [],
  },
  {
    name: 'pending pods are unreadied',
    pods: [{ name: 'unscheduled', phase: 'Pending' }],
    metrics: new Map(),
    resource: 'cpu',
    ready: 0,
    unready: ['unscheduled'],
    missing: [],
    ignored: [],
  },
  {
    name: 'ignore pods with deletion timestamps',
    pods: [{ name: 'deleted', phase: 'Pending', deleted: true }],
    metrics: new Map([['deleted', sample()]]),
    resource: 'cpu',
    ready: 0,
    unready: [],
    missing: [],
    ignored: ['deleted'],
  },
  {
    name: 'ignore pods in a failed state',
    pods: [{ name: 'failed', phase: 'Failed' }],
    metrics: new Map([['failed', sample()]]),
    resource: 'cpu',
    ready: 0,
    unready: [],
    missing: [],
    ignored: ['failed'],
  },
];

for (const tc of groupPodsCases) {
  test(`TestGroupPods / ${tc.name}`, (t) => {
    const g = groupPods(tc.pods, tc.metrics, tc.resource, 2 * MINUTE, 10_000, NOW);
    t.is(g.readyPodCount, tc.ready);
    t.deepEqual([...g.unreadyPods].sort(), tc.unready);
    t.deepEqual([...g.missingPods].sort(), tc.missing);
    t.deepEqual([...g.ignoredPods].sort(), tc.ignored);
  });
}
