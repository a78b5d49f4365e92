// The wire form of the metrics APIs: quantities, times and documents as metrics-server and the
// custom-metrics adapters write them, so that client-go's decoders in the HPA controller read them.
import type { ContainerUsage, NodeMetricsSample, PodMetricsSample } from '../core/kube-metrics.ts';

export const RESOURCE_GROUP = 'metrics.k8s.io';
export const RESOURCE_VERSION = 'v1beta1';
export const CUSTOM_GROUP = 'custom.metrics.k8s.io';
export const CUSTOM_VERSION = 'v1beta2';
/** The one custom metric served: the services' own request counters, per pod and per Service. */
export const REQUESTS_METRIC = 'http_requests_per_second';

/** CPU cores as a canonical decimal quantity of nanocores ("250m", "1", "12345n"). */
export function cpuQuantity(cores: number): string {
  const n = Math.max(0, Math.round(cores * 1e9));
  if (n % 1e9 === 0) return `${n / 1e9}`;
  if (n % 1e6 === 0) return `${n / 1e6}m`;
  if (n % 1e3 === 0) return `${n / 1e3}u`;
  return `${n}n`;
}

/** Bytes as a canonical binary quantity ("64Mi", "1536Ki", "1000"). */
export function bytesQuantity(bytes: number): string {
  let n = Math.max(0, Math.round(bytes));
  if (n === 0) return '0';
  for (const suffix of ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi']) {
    if (n % 1024 !== 0 || suffix === 'Pi') return `${n}${suffix}`;
    n /= 1024;
  }
  return `${n}Ei`;
}

/** A rate as a quantity with milli precision ("2500m", "25"). */
export function rateQuantity(perSecond: number): string {
  const m = Math.max(0, Math.round(perSecond * 1000));
  return m % 1000 === 0 ? `${m / 1000}` : `${m}m`;
}

/** metav1.Time: RFC 3339 in UTC, whole seconds. */
export function kubeTime(ms: number): string {
  return `${new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19)}Z`;
}

/** metav1.Duration: Go's time.Duration text ("15s", "10.5s", "1m0s", "800ms"). */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${trim(ms)}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = trim((ms % 60_000) / 1000);
  return h ? `${h}h${m}m${s}s` : m ? `${m}m${s}s` : `${s}s`;
}

function trim(x: number): string {
  return String(Number(x.toFixed(9)));
}

const usage = (c: Pick<ContainerUsage, 'cpuCores' | 'workingSetBytes'>) => ({ cpu: cpuQuantity(c.cpuCores), memory: bytesQuantity(c.workingSetBytes) });

/** A PodMetrics of metrics.k8s.io/v1beta1 (labels from the Pod object). */
export function podMetrics(s: PodMetricsSample, labels: Record<string, string> | undefined) {
  return {
    kind: 'PodMetrics',
    apiVersion: `${RESOURCE_GROUP}/${RESOURCE_VERSION}`,
    metadata: { name: s.name, namespace: s.namespace, creationTimestamp: kubeTime(Date.now()), ...(labels ? { labels } : {}) },
    timestamp: kubeTime(s.time),
    window: goDuration(s.windowMs),
    containers: s.containers.map((c) => ({ name: c.name, usage: usage(c) })),
  };
}

/** A NodeMetrics of metrics.k8s.io/v1beta1. */
export function nodeMetrics(s: NodeMetricsSample) {
  return {
    kind: 'NodeMetrics',
    apiVersion: `${RESOURCE_GROUP}/${RESOURCE_VERSION}`,
    metadata: { name: s.name, creationTimestamp: kubeTime(Date.now()) },
    timestamp: kubeTime(s.time),
    window: goDuration(s.windowMs),
    usage: usage(s),
  };
}

export function list(kind: string, apiVersion: string, items: unknown[]) {
  return { kind, apiVersion, metadata: {}, items };
}

/** One MetricValue of custom.metrics.k8s.io/v1beta2. */
export function metricValue(described: { kind: string; namespace: string; name: string }, value: number, time: number, windowMs: number) {
  return {
    describedObject: { kind: described.kind, namespace: described.namespace, name: described.name, apiVersion: '/v1' },
    metric: { name: REQUESTS_METRIC },
    timestamp: kubeTime(time),
    windowSeconds: Math.max(1, Math.round(windowMs / 1000)),
    value: rateQuantity(value),
  };
}

/** A meta/v1 Status, the body of every error answer. */
export function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

const groupVersion = (group: string, version: string) => ({ groupVersion: `${group}/${version}`, version });

/** Discovery: the APIGroup of `group`. */
export function apiGroup(group: string) {
  const v = groupVersion(group, group === RESOURCE_GROUP ? RESOURCE_VERSION : CUSTOM_VERSION);
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: [v], preferredVersion: v };
}

/** Discovery: the APIResourceList of a served group/version. */
export function apiResources(group: string) {
  if (group === RESOURCE_GROUP) {
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: `${RESOURCE_GROUP}/${RESOURCE_VERSION}`,
      resources: [
        { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
        { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
      ],
    };
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: `${CUSTOM_GROUP}/${CUSTOM_VERSION}`,
    resources: ['pods', 'services'].map((r) => ({ name: `${r}/${REQUESTS_METRIC}`, singularName: '', namespaced: true, kind: 'MetricValueList', verbs: ['get'] })),
  };
}
