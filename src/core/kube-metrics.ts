// What the metrics APIs that loadscope serves to Kubernetes (kube/metrics-api.ts) read: one sample per
// pod, from whatever runs the pods (the local cluster's cgroups and the services' request counters,
// wired by run/kube-metrics.ts). The server never sees where the numbers come from.
import type { PodSnapshot } from './workload.ts';

/** One container's usage, as metrics-server reports it. */
export interface ContainerUsage {
  name: string;
  /** CPU in cores, a rate over the sample's window (Δ usage_usec / Δ time). */
  cpuCores: number;
  /** Working set in bytes: memory.current minus inactive_file (never below 0). */
  workingSetBytes: number;
}

/** The latest sample of one pod. */
export interface PodMetricsSample {
  namespace: string;
  name: string;
  containers: ContainerUsage[];
  /** Requests per second the pod's service answered over the window; absent when the pod serves no HTTP. */
  requestsPerSecond?: number;
  /** End of the window, epoch ms. */
  time: number;
  /** Length of the window the rates were taken over, ms (> 0). */
  windowMs: number;
}

/** The latest sample of one node. */
export interface NodeMetricsSample {
  name: string;
  cpuCores: number;
  workingSetBytes: number;
  time: number;
  windowMs: number;
}

/**
 * The source of the metrics APIs. `pods` answers the latest sample of every pod it knows in
 * `namespace` (all namespaces when undefined); a pod it has no sample for is left out, as
 * metrics-server leaves out a pod it has not scraped twice. It rejects when the source itself fails:
 * the APIs then answer 500 and the HPA reports FailedGet*Metric.
 */
export interface KubeMetricsProvider {
  pods(namespace?: string): Promise<PodMetricsSample[]>;
  /** Node usage; without it the `nodes` resource lists nothing. */
  nodes?(): Promise<NodeMetricsSample[]>;
}

/**
 * One pod of a scrape of cumulative counters (what a pod host reports, run/kube-metrics.ts turns into
 * samples), named as Kubernetes knows it; its container is named after `snapshot.service`.
 */
export interface KubePodCounters {
  namespace: string;
  name: string;
  snapshot: PodSnapshot;
}
