// Per-metric replica proposals of the HPA port (pkg/controller/podautoscaler/replica_calculator.go): pod
// grouping and readiness rules, the missing- and unready-pod rebalancing, one function per metric source as
// upstream has them. Values are exact integer milli-units (bigint where upstream has int64, metrics.ts),
// ratios are doubles as upstream's float64; time is passed in, nothing reads a clock.

import { MAX_INT64 } from '../../core/quantity.ts';
import type { CrossVersionObjectReference, LabelSelector, ResourceName } from '../../scenario/hpa.ts';
import type { CalcResult, HpaObservation, ObservedPod } from '../types.ts';
import { externalMetricFor, getMetricUsageRatio, getResourceUtilizationRatio, objectMetricFor, podMetricsFor, resourceMetricsFor, resourceMilli, type PodMetricsInfo } from './metrics.ts';

/** Scale-up and scale-down tolerances: no change while (1 − scaleDown) ≤ ratio ≤ (1 + scaleUp). */
export interface Tolerances {
  scaleUp: number;
  scaleDown: number;
}

/** What replica calculation needs besides metrics: the time and the cpu readiness settings. */
export interface CalcSettings {
  nowMs: number;
  cpuInitializationPeriodMs: number;
  delayOfInitialReadinessStatusMs: number;
}

/** How groupPods sorted the pods. */
export interface PodGroups {
  readyPodCount: number;
  unreadyPods: Set<string>;
  missingPods: Set<string>;
  ignoredPods: Set<string>;
}

/** A replica proposal with the metric's current value (exact milli-units) and the metric timestamp. */
export interface ReplicaProposal {
  replicas: number;
  usage: bigint;
  timestamp: number;
}

/** A Resource Utilization proposal: utilization in percent of requests and the raw average (exact milli-units). */
export interface UtilizationProposal {
  replicas: number;
  utilization: number;
  rawUtilization: bigint;
  timestamp: number;
}

/** Go's math.MaxInt32 and math.MinInt32: upstream's replica counts are int32 and saturate there. */
export const MAX_INT32 = 2147483647;
export const MIN_INT32 = -2147483648;

/** ceil(x) as an int32 replica count, saturated at MaxInt32 where upstream caps it. */
function cappedReplicas(x: number): number {
  return x > MAX_INT32 ? MAX_INT32 : Math.ceil(x);
}

/** int64(ceil(x)) of a non-negative double, saturated at MaxInt64 (Go leaves out-of-range conversions undefined). */
function ceilInt64(x: number): bigint {
  return x >= 2 ** 63 ? MAX_INT64 : BigInt(Math.ceil(x));
}

/** Whether a usage ratio is close enough to 1 that nothing should change. */
export function isWithinTolerance(t: Tolerances, usageRatio: number): boolean {
  return 1 - t.scaleDown <= usageRatio && usageRatio <= 1 + t.scaleUp;
}

/**
 * Sorts pods as upstream groupPods: deleted or failed → ignored; pending → unready; no sample → missing;
 * for cpu, pods not yet ready, or still initializing with a sample older than one window after their
 * readiness change, or unready since their start → unready; the rest count as ready.
 */
export function groupPods(
  pods: ObservedPod[],
  metrics: PodMetricsInfo,
  resource: ResourceName | undefined,
  cpuInitializationPeriodMs: number,
  delayOfInitialReadinessStatusMs: number,
  nowMs: number,
): PodGroups {
  const groups: PodGroups = { readyPodCount: 0, unreadyPods: new Set(), missingPods: new Set(), ignoredPods: new Set() };
  for (const pod of pods) {
    if (pod.deleted || pod.phase === 'Failed') {
      groups.ignoredPods.add(pod.name);
      continue;
    }
    if (pod.phase === 'Pending') {
      groups.unreadyPods.add(pod.name);
      continue;
    }
    const metric = metrics.get(pod.name);
    if (!metric) {
      groups.missingPods.add(pod.name);
      continue;
    }
    if (resource === 'cpu') {
      let unready: boolean;
      const transition = pod.readyTransitionTime ?? 0;
      if (pod.ready === undefined || pod.startTime === undefined) unready = true;
      else if (pod.startTime + cpuInitializationPeriodMs > nowMs) unready = !pod.ready || metric.timestamp < transition + metric.windowMs;
      else unready = !pod.ready && pod.startTime + delayOfInitialReadinessStatusMs > transition;
      if (unready) {
        groups.unreadyPods.add(pod.name);
        continue;
      }
    }
    groups.readyPodCount++;
  }
  return groups;
}

/**
 * Each pod's request of `resource` in milli-units (calculateRequests): the pod's total, or with `container`
 * that container's own; a missing request or container is an error, as upstream.
 */
export function calculatePodRequests(pods: ObservedPod[], resource: ResourceName, container?: string): CalcResult<{ requests: Map<string, bigint> }> {
  const requests = new Map<string, bigint>();
  for (const pod of pods) {
    if (container !== undefined) {
      const c = pod.containers?.find((x) => x.name === container);
      if (!c) return { ok: false, error: `container ${container} not found in Pod ${pod.name}` };
      const request = c.requests?.[resource];
      if (request === undefined) return { ok: false, error: `missing request for ${resource} in container ${container} of Pod ${pod.name}` };
      requests.set(pod.name, resourceMilli(resource, request));
      continue;
    }
    const request = pod.requests?.[resource];
    if (request === undefined) return { ok: false, error: `missing request for ${resource} in Pod ${pod.name}` };
    requests.set(pod.name, resourceMilli(resource, request));
  }
  return { ok: true, requests };
}

/**
 * Desired replicas for a Resource Utilization target (GetResourceReplicas): unready and ignored pods are set
 * aside, missing pods are assumed at 100% (or the target, when above 100%) on a scale-down and 0% on a
 * scale-up, unready pods at 0% on a scale-up; no change when that rebalancing flips the direction. With
 * `container` (ContainerResource metrics) samples and requests are that container's.
 */
export function getResourceReplicas(
  obs: HpaObservation,
  currentReplicas: number,
  targetUtilization: number,
  resource: ResourceName,
  tolerances: Tolerances,
  settings: CalcSettings,
  container?: string,
): CalcResult<UtilizationProposal> {
  const fetched = resourceMetricsFor(obs, resource, container);
  if (!fetched.ok) return fetched;
  const { timestamp } = fetched;
  const metrics = new Map(fetched.metrics);
  if (obs.pods.length === 0) return { ok: false, error: 'no pods returned by selector while calculating replica count' };
  const groups = groupPods(obs.pods, metrics, resource, settings.cpuInitializationPeriodMs, settings.delayOfInitialReadinessStatusMs, settings.nowMs);
  for (const name of [...groups.ignoredPods, ...groups.unreadyPods]) metrics.delete(name);
  if (metrics.size === 0) return { ok: false, error: 'did not receive metrics for targeted pods (pods might be unready)' };
  const req = calculatePodRequests(obs.pods, resource, container);
  if (!req.ok) return req;
  const first = getResourceUtilizationRatio(metrics, req.requests, targetUtilization);
  if (!first.ok) return first;
  const { usageRatio, utilization, rawAverageValue: rawUtilization } = first;
  const keep = { ok: true as const, replicas: currentReplicas, utilization, rawUtilization, timestamp };

  const scaleUpWithUnready = groups.unreadyPods.size > 0 && usageRatio > 1;
  if (!scaleUpWithUnready && groups.missingPods.size === 0) {
    if (isWithinTolerance(tolerances, usageRatio)) return keep;
    return { ...keep, replicas: Math.ceil(usageRatio * groups.readyPodCount) };
  }
  if (groups.missingPods.size > 0) {
    if (usageRatio < 1) {
      const fallback = Math.max(100, targetUtilization);
      for (const name of groups.missingPods) metrics.set(name, { value: (req.requests.get(name)! * BigInt(fallback)) / 100n, timestamp: 0, windowMs: 0 });
    } else if (usageRatio > 1) {
      for (const name of groups.missingPods) metrics.set(name, { value: 0n, timestamp: 0, windowMs: 0 });
    }
  }
  if (scaleUpWithUnready) {
    for (const name of groups.unreadyPods) metrics.set(name, { value: 0n, timestamp: 0, windowMs: 0 });
  }
  const second = getResourceUtilizationRatio(metrics, req.requests, targetUtilization);
  if (!second.ok) return second;
  const newUsageRatio = second.usageRatio;
  if (isWithinTolerance(tolerances, newUsageRatio) || (usageRatio < 1 && newUsageRatio > 1) || (usageRatio > 1 && newUsageRatio < 1)) return keep;
  const newReplicas = Math.ceil(newUsageRatio * metrics.size);
  if ((newUsageRatio < 1 && newReplicas > currentReplicas) || (newUsageRatio > 1 && newReplicas < currentReplicas)) return keep;
  return { ...keep, replicas: newReplicas };
}

/** Desired replicas for a Resource (or with `container` ContainerResource) AverageValue target (GetRawResourceReplicas); milli-units. */
export function getRawResourceReplicas(
  obs: HpaObservation,
  currentReplicas: number,
  targetUsage: number | bigint,
  resource: ResourceName,
  tolerances: Tolerances,
  settings: CalcSettings,
  container?: string,
): CalcResult<ReplicaProposal> {
  const fetched = resourceMetricsFor(obs, resource, container);
  if (!fetched.ok) return fetched;
  const calc = calcPlainMetricReplicas(obs, new Map(fetched.metrics), currentReplicas, BigInt(targetUsage), tolerances, resource, settings);
  return calc.ok ? { ...calc, timestamp: fetched.timestamp } : calc;
}

/** Desired replicas for a Pods metric with an AverageValue target (GetMetricReplicas); milli-units. */
export function getMetricReplicas(
  obs: HpaObservation,
  currentReplicas: number,
  targetUsage: number | bigint,
  metricName: string,
  tolerances: Tolerances,
  settings: CalcSettings,
): CalcResult<ReplicaProposal> {
  const fetched = podMetricsFor(obs, metricName);
  if (!fetched.ok) return fetched;
  const calc = calcPlainMetricReplicas(obs, new Map(fetched.metrics), currentReplicas, BigInt(targetUsage), tolerances, undefined, settings);
  return calc.ok ? { ...calc, timestamp: fetched.timestamp } : calc;
}

function calcPlainMetricReplicas(
  obs: HpaObservation,
  metrics: PodMetricsInfo,
  currentReplicas: number,
  targetUsage: bigint,
  tolerances: Tolerances,
  resource: ResourceName | undefined,
  settings: CalcSettings,
): CalcResult<{ replicas: number; usage: bigint }> {
  if (obs.pods.length === 0) return { ok: false, error: 'no pods returned by selector while calculating replica count' };
  const groups = groupPods(obs.pods, metrics, resource, settings.cpuInitializationPeriodMs, settings.delayOfInitialReadinessStatusMs, settings.nowMs);
  for (const name of [...groups.ignoredPods, ...groups.unreadyPods]) metrics.delete(name);
  if (metrics.size === 0) return { ok: false, error: 'did not receive metrics for targeted pods (pods might be unready)' };
  const { usageRatio, usage } = getMetricUsageRatio(metrics, targetUsage);
  const keep = { ok: true as const, replicas: currentReplicas, usage };

  const scaleUpWithUnready = groups.unreadyPods.size > 0 && usageRatio > 1;
  if (!scaleUpWithUnready && groups.missingPods.size === 0) {
    if (isWithinTolerance(tolerances, usageRatio)) return keep;
    return { ...keep, replicas: Math.ceil(usageRatio * groups.readyPodCount) };
  }
  if (groups.missingPods.size > 0) {
    const assumed = usageRatio < 1 ? targetUsage : usageRatio > 1 ? 0n : undefined;
    if (assumed !== undefined) for (const name of groups.missingPods) metrics.set(name, { value: assumed, timestamp: 0, windowMs: 0 });
  }
  if (scaleUpWithUnready) {
    for (const name of groups.unreadyPods) metrics.set(name, { value: 0n, timestamp: 0, windowMs: 0 });
  }
  const newUsageRatio = getMetricUsageRatio(metrics, targetUsage).usageRatio;
  if (isWithinTolerance(tolerances, newUsageRatio) || (usageRatio < 1 && newUsageRatio > 1) || (usageRatio > 1 && newUsageRatio < 1)) return keep;
  const newReplicas = Math.ceil(newUsageRatio * metrics.size);
  if ((newUsageRatio < 1 && newReplicas > currentReplicas) || (newUsageRatio > 1 && newReplicas < currentReplicas)) return keep;
  return { ...keep, replicas: newReplicas };
}

/** Pods that are Running and Ready (getReadyPodsCount). */
function getReadyPodsCount(pods: ObservedPod[]): CalcResult<{ count: number }> {
  if (pods.length === 0) return { ok: false, error: 'no pods returned by selector while calculating replica count' };
  return { ok: true, count: pods.filter((p) => p.phase === 'Running' && p.ready === true).length };
}

/** ceil(ratio × ready pods), or ceil(ratio) when scaled to zero, where tolerance does not apply. */
function getUsageRatioReplicaCount(
  obs: HpaObservation,
  currentReplicas: number,
  usageRatio: number,
  tolerances: Tolerances,
): CalcResult<{ replicas: number }> {
  if (currentReplicas === 0) return { ok: true, replicas: Math.ceil(usageRatio) };
  if (isWithinTolerance(tolerances, usageRatio)) return { ok: true, replicas: currentReplicas };
  const ready = getReadyPodsCount(obs.pods);
  if (!ready.ok) return { ok: false, error: `unable to calculate ready pods: ${ready.error}` };
  return { ok: true, replicas: cappedReplicas(usageRatio * ready.count) };
}

/** Desired replicas for an Object metric with a Value target (GetObjectMetricReplicas); milli-units. */
export function getObjectMetricReplicas(
  obs: HpaObservation,
  currentReplicas: number,
  targetUsage: number | bigint,
  metricName: string,
  ref: CrossVersionObjectReference,
  tolerances: Tolerances,
): CalcResult<ReplicaProposal> {
  const sample = objectMetricFor(obs, metricName, ref);
  if (!sample.ok) return sample;
  const count = getUsageRatioReplicaCount(obs, currentReplicas, Number(sample.value) / Number(targetUsage), tolerances);
  return count.ok ? { ok: true, replicas: count.replicas, usage: sample.value, timestamp: sample.timestamp } : count;
}

/**
 * Desired replicas for an Object metric with an AverageValue target (GetObjectPerPodMetricReplicas): the
 * value divided over `statusReplicas`; milli-units, the reported usage is the per-replica value rounded up.
 */
export function getObjectPerPodMetricReplicas(
  obs: HpaObservation,
  statusReplicas: number,
  targetAverageUsage: number | bigint,
  metricName: string,
  ref: CrossVersionObjectReference,
  tolerances: Tolerances,
): CalcResult<ReplicaProposal> {
  const sample = objectMetricFor(obs, metricName, ref);
  if (!sample.ok) return sample;
  const usage = Number(sample.value);
  const target = Number(targetAverageUsage);
  const replicas = isWithinTolerance(tolerances, usage / (target * statusReplicas)) ? statusReplicas : Math.ceil(usage / target);
  return { ok: true, replicas, usage: ceilInt64(usage / statusReplicas), timestamp: sample.timestamp };
}

/**
 * Desired replicas for an External metric with a Value target (GetExternalMetricReplicas): the series summed
 * (saturating at MaxInt64) against the target, scaled by the ready pods as an Object Value metric; milli-units.
 */
export function getExternalMetricReplicas(
  obs: HpaObservation,
  currentReplicas: number,
  targetUsage: number | bigint,
  metricName: string,
  selector: LabelSelector | undefined,
  tolerances: Tolerances,
): CalcResult<ReplicaProposal> {
  const fetched = externalMetricFor(obs, metricName, selector);
  if (!fetched.ok) return fetched;
  let usage = 0n;
  for (const val of fetched.values) {
    if (val > 0n && usage > MAX_INT64 - val) {
      usage = MAX_INT64;
      break;
    }
    usage += val;
  }
  const count = getUsageRatioReplicaCount(obs, currentReplicas, Number(usage) / Number(targetUsage), tolerances);
  return count.ok ? { ok: true, replicas: count.replicas, usage, timestamp: fetched.timestamp } : count;
}

/**
 * Desired replicas for an External metric with an AverageValue target (GetExternalPerPodMetricReplicas): the
 * summed series divided over `statusReplicas` (a sum that overflows or turns negative reads MaxInt64, as
 * upstream's int64 wrap check); replicas saturate at MaxInt32, the per-replica usage is rounded up.
 */
export function getExternalPerPodMetricReplicas(
  obs: HpaObservation,
  statusReplicas: number,
  targetUsagePerPod: number | bigint,
  metricName: string,
  selector: LabelSelector | undefined,
  tolerances: Tolerances,
): CalcResult<ReplicaProposal> {
  const fetched = externalMetricFor(obs, metricName, selector);
  if (!fetched.ok) return fetched;
  let usage = 0n;
  for (const val of fetched.values) {
    usage += val;
    if (usage < 0n || usage > MAX_INT64) {
      usage = MAX_INT64;
      break;
    }
  }
  const target = Number(targetUsagePerPod);
  const replicas = isWithinTolerance(tolerances, Number(usage) / (target * statusReplicas)) ? statusReplicas : cappedReplicas(Math.ceil(Number(usage) / target));
  return { ok: true, replicas, usage: Number(usage) >= 2 ** 63 ? MAX_INT64 : ceilInt64(Number(usage) / statusReplicas), timestamp: fetched.timestamp };
}
