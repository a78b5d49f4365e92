// The metrics half of the HPA port (pkg/controller/podautoscaler/metrics): per-pod samples in integer
// milli-units, as upstream's Quantity.MilliValue() gives them; reading them from the observation as the
// resource and custom metrics API clients return them (client.go); their averages against a target
// (utilization.go).

import { ceilInteger, cpuMillicores, parseMilliQuantity, plainMilli, type Quantity } from '../../core/quantity.ts';
import type { CrossVersionObjectReference, ResourceName } from '../../scenario/hpa.ts';
import type { CalcResult, HpaObservation } from '../types.ts';

/** A resource amount in upstream milli-units: millicores for cpu, milli-bytes for memory. */
export function resourceMilli(resource: ResourceName, q: Quantity): number {
  return resource === 'cpu' ? cpuMillicores(q) : typeof q === 'number' ? ceilInteger(q * 1000) : parseMilliQuantity(q);
}

/** Back from milli-units to the spec's units (millicores for cpu, bytes for memory, plain values). */
export function fromMilli(resource: ResourceName | undefined, milli: number): number {
  return resource === 'cpu' ? milli : milli / 1000;
}

/** A per-pod sample in milli-units, with the window it was measured over. */
export interface PodMetric {
  value: number;
  timestamp: number;
  windowMs: number;
}

/** Samples keyed by pod name (may include pods that are not in the pod list). */
export type PodMetricsInfo = Map<string, PodMetric>;

/**
 * Utilization of requests over the pods that have both a sample and a request: percentage truncated to an
 * integer, the ratio to the target, and the raw average sample (milli-units).
 */
export function getResourceUtilizationRatio(
  metrics: PodMetricsInfo,
  requests: Map<string, number>,
  targetUtilization: number,
): CalcResult<{ usageRatio: number; utilization: number; rawAverageValue: number }> {
  let metricsTotal = 0n;
  let requestsTotal = 0n;
  let numEntries = 0n;
  for (const [pod, metric] of metrics) {
    const request = requests.get(pod);
    if (request === undefined) continue;
    metricsTotal += BigInt(metric.value);
    requestsTotal += BigInt(request);
    numEntries++;
  }
  if (requestsTotal === 0n) return { ok: false, error: 'no metrics returned matched known pods' };
  const utilization = Number((metricsTotal * 100n) / requestsTotal);
  return { ok: true, usageRatio: utilization / targetUtilization, utilization, rawAverageValue: Number(metricsTotal / numEntries) };
}

/** Average of the samples (truncated, milli-units) and its ratio to the target. */
export function getMetricUsageRatio(metrics: PodMetricsInfo, targetUsage: number): { usageRatio: number; usage: number } {
  let total = 0n;
  for (const metric of metrics.values()) total += BigInt(metric.value);
  const usage = Number(total / BigInt(metrics.size));
  return { usageRatio: usage / targetUsage, usage };
}

/** Resource samples from the observation in milli-units, as the resource metrics API client returns them. */
export function resourceMetricsFor(obs: HpaObservation, resource: ResourceName): CalcResult<{ metrics: PodMetricsInfo; timestamp: number }> {
  const items = obs.resourceMetrics ?? [];
  if (items.length === 0) return { ok: false, error: `unable to get metrics for resource ${resource}: no metrics returned from resource metrics API` };
  const metrics: PodMetricsInfo = new Map();
  for (const item of items) {
    const value = item[resource];
    if (value === undefined) continue;
    metrics.set(item.pod, { value: resourceMilli(resource, value), timestamp: item.timestamp, windowMs: item.windowMs });
  }
  return { ok: true, metrics, timestamp: items[0].timestamp };
}

/** Samples of one Pods (custom) metric in milli-units, as the custom metrics API client returns them. */
export function podMetricsFor(obs: HpaObservation, metricName: string): CalcResult<{ metrics: PodMetricsInfo; timestamp: number }> {
  const items = (obs.podMetrics ?? []).filter((m) => m.name === metricName);
  if (items.length === 0) return { ok: false, error: `unable to get metric ${metricName}: no metrics returned from custom metrics API` };
  const metrics: PodMetricsInfo = new Map();
  for (const item of items) metrics.set(item.pod, { value: plainMilli(item.value), timestamp: item.timestamp, windowMs: item.windowMs ?? 60_000 });
  return { ok: true, metrics, timestamp: items[0].timestamp };
}

/** The observed value of an Object metric in milli-units. */
export function objectMetricFor(obs: HpaObservation, metricName: string, ref: CrossVersionObjectReference): CalcResult<{ value: number; timestamp: number }> {
  const sample = (obs.objectMetrics ?? []).find(
    (m) =>
      m.name === metricName &&
      m.describedObject.kind === ref.kind &&
      m.describedObject.name === ref.name &&
      (m.describedObject.apiVersion === undefined || ref.apiVersion === undefined || m.describedObject.apiVersion === ref.apiVersion),
  );
  if (!sample) {
    return { ok: false, error: `unable to get metric ${metricName}: no value returned from custom metrics API on ${ref.kind}/${ref.name}` };
  }
  return { ok: true, value: plainMilli(sample.value), timestamp: sample.timestamp };
}
