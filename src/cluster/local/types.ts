// Types of the embedded local cluster (LocalCluster): pods, their snapshots for the autoscaler, and
// the knobs a caller may turn. Scenario-level settings (replicas, resources, rateLimit) come from
// the validated ScenarioSpec; these are the implementation's own.

import type { PodSnapshot } from '../../core/workload.ts';
import type { ServiceRole } from '../../core/services.ts';

/**
 * A pod as LocalCluster.podMetrics returns it: the shared PodSnapshot plus what only the local
 * cluster knows. Usage counters are cumulative; a rate is the difference of two snapshots over
 * their `time`.
 */
export interface LocalPodSnapshot extends PodSnapshot {
  role: ServiceRole;
  ip: string;
  /** When the pod was taken out of the routing table to drain. */
  terminatingTime?: number;
  /** memoryBytes minus inactive file pages: what the kubelet reports as the working set. */
  workingSetBytes: number;
  /** The pod spec's limits (millicores, bytes); undefined when not set. */
  limits: { cpuMillis?: number; memoryBytes?: number };
}

/** Implementation settings of LocalCluster; every field has a default. */
export interface LocalClusterOptions {
  /** Port every pod listens on (the service's targetPort); default 8080. */
  podPort?: number;
  /** Port of the service VIPs; default 80. */
  vipPort?: number;
  /** After SIGTERM, a draining pod keeps answering (with `connection: close`) this long; default 1000 ms. */
  drainDelayMs?: number;
  /** Longest drain before in-flight requests are cut; default 10 000 ms. */
  drainTimeoutMs?: number;
  /**
   * Backends close a keep-alive connection after this many requests so the frontend opens new ones,
   * which the load balancer spreads over the current pods (what keeps a scale-up useful under a
   * steady keep-alive pool); default 100, 0 turns it off.
   */
  maxRequestsPerConnection?: number;
  /** Routing decisions journalled: 1 in N new connections (1: all); default 1. */
  decisionSampleEvery?: number;
  /** How often pod usage is sampled into the journal; default 1000 ms. */
  sampleIntervalMs?: number;
  /** Longest wait for a pod's readiness; default 30 000 ms. */
  readyTimeoutMs?: number;
  /** A pod that exits on its own is replaced after this delay (doubling per crash, at most 30 s); default 1000 ms. */
  restartBackoffMs?: number;
}
