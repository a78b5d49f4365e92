// The metrics half of the HPA port (pkg/controller/podautoscaler/metrics): per-pod samples in integer
// milli-units (bigint, int64 as upstream's Quantity.MilliValue() gives them); reading them from the
// observation as the resource, custom and external metrics API clients return them (client.go); their
// averages against a target (utilization.go).

import { ceilInteger, milliValue, saturateInt64, type Quantity } from '../../core/quantity.ts';
import type { CrossVersionObjectReference, LabelSelector, ResourceName } from '../../scenario/hpa.ts';
import type { CalcResult, HpaObservation } from '../types.ts';

/** A resource amount in upstream milli-units: millicores for cpu (numbers are millicores), milli-bytes for memory. */
export function resourceMilli(resource: ResourceName, q: Quantity): bigint {
  return resource === 'cpu' && typeof q === 'number' ? saturateInt64(BigInt(ceilInteger(q))) : milliValue(q);
}

/** Back from milli-units to the spec's units (millicores for cpu, bytes for memory, plain values). */
export function fromMilli(resource: ResourceName | undefined, milli: bigint): number {
  return resource === 'cpu' ? Number(milli) : Number(milli) / 1000;
}

/** A per-pod sample in milli-units, with the window it was measured over. */
export interface PodMetric {
  value: bigint;
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
  requests: Map<string, bigint>,
  targetUtilization: number,
): CalcResult<{ usageRatio: number; utilization: number; rawAverageValue: bigint }> {
  let metricsTotal = 0n;
  let requestsTotal = 0n;
  let numEntries = 0n;
  for (const [pod, metric] of metrics) {
    const request = requests.get(pod);
    if (request === undefined) continue;
    metricsTotal += metric.value;
    requestsTotal += request;
    numEntries++;
  }
  if (requestsTotal === 0n) return { ok: false, error: 'no metrics returned matched known pods' };
  const utilization = Number((metricsTotal * 100n) / requestsTotal);
  return { ok: true, usageRatio: utilization / targetUtilization, utilization, rawAverageValue: metricsTotal / numEntries };
}

/** Average of the samples (truncated, milli-units) and its ratio to the target. */
export function getMetricUsageRatio(metrics: PodMetricsInfo, targetUsage: bigint): { usageRatio: number; usage: bigint } {
  let total = 0n;
  for (const metric of metrics.values()) total += metric.value;
  const usage = total / BigInt(metrics.size);
  return { usageRatio: Number(usage) / Number(targetUsage), usage };
}

/**
 * Resource samples from the observation in milli-units, as the resource metrics API client returns them: the
 * pod's total, or with `container` that container's usage (a pod without it is missing).
 */
export function resourceMetricsFor(
  obs: HpaObservation,
  resource: ResourceName,
  container?: string,
): CalcResult<{ metrics: PodMetricsInfo; timestamp: number }> {
  const items = obs.resourceMetrics ?? [];
  if (items.length === 0) return { ok: false, error: `unable to get metrics for resource ${resource}: no metrics returned from resource metrics API` };
  const metrics: PodMetricsInfo = new Map();
  for (const item of items) {
    const value = container === undefined ? item[resource] : item.containers?.find((c) => c.name === container)?.[resource];
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
  for (const item of items) metrics.set(item.pod, { value: milliValue(item.value), timestamp: item.timestamp, windowMs: item.windowMs ?? 60_000 });
  return { ok: true, metrics, timestamp: items[0].timestamp };
}

/** The observed value of an Object metric in milli-units. */
export function objectMetricFor(obs: HpaObservation, metricName: string, ref: CrossVersionObjectReference): CalcResult<{ value: bigint; timestamp: number }> {
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
  return { ok: true, value: milliValue(sample.value), timestamp: sample.timestamp };
}

/** The values of every series of an External metric (selector equal to `selector`), in milli-units, and the first timestamp. */
export function externalMetricFor(obs: HpaObservation, metricName: string, selector: LabelSelector | undefined): CalcResult<{ values: bigint[]; timestamp: number }> {
  const key = selectorKey(selector);
  const items = (obs.externalMetrics ?? []).filter((m) => m.name === metricName && selectorKey(m.selector) === key);
  if (items.length === 0) {
    return { ok: false, error: `unable to get external metric ${metricName}/${formatSelector(selector)}: no metrics returned from external metrics API` };
  }
  return { ok: true, values: items.map((m) => milliValue(m.value)), timestamp: items[0].timestamp };
}

function selectorKey(s: LabelSelector | undefined): string {
  const labels = Object.entries(s?.matchLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([labels, s?.matchExpressions ?? []]);
}

/** A selector as Go's %+v prints a *metav1.LabelSelector ("nil" when unset), as upstream's messages show it. */
export function formatSelector(s: LabelSelector | undefined): string {
  if (!s) return 'nil';
  const labels = Object.keys(s.matchLabels ?? {}).sort().map((k) => `${k}: ${s.matchLabels![k]},`).join('');
  const exprs = (s.matchExpressions ?? [])
    .map((e) => `LabelSelectorRequirement{Key:${e.key},Operator:${e.operator},Values:[${(e.values ?? []).join(' ')}],},`)
    .join('');
  return `&LabelSelector{MatchLabels:map[string]string{${labels}},MatchExpressions:[]LabelSelectorRequirement{${exprs}},}`;
}
