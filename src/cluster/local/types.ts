// Types and settings of the embedded local cluster (LocalCluster): its pods' snapshots for the
// autoscaler, and the implementation's own settings. Scenario-level settings (replicas, resources,
// rateLimit) come from the validated ScenarioSpec.

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
  /** The pod spec's limits (millicores, bytes); undefined when not set. */
  limits: { cpuMillis?: number; memoryBytes?: number };
}

/** Implementation settings of LocalCluster (none of them is a scenario key). */
export const LOCAL_SETTINGS = {
  /** Port every pod listens on (the service's targetPort). */
  podPort: 8080,
  /** Port of the service VIPs. */
  vipPort: 80,
  /** After SIGTERM, a draining pod keeps answering (with `connection: close`) this long, ms. */
  drainDelayMs: 1000,
  /** Longest drain before in-flight requests are cut, ms. */
  drainTimeoutMs: 10_000,
  /**
   * Backends close a keep-alive connection after this many requests so the frontend opens new ones,
   * which the load balancer spreads over the current pods (what keeps a scale-up useful under a
   * steady keep-alive pool); 0 turns it off.
   */
  maxRequestsPerConnection: 100,
  /** Routing decisions journalled: 1 in N new connections (1: all). */
  decisionSampleEvery: 1,
  /** How often pod usage is sampled into the journal, ms. */
  sampleIntervalMs: 1000,
  /** Longest wait for a pod's readiness, ms. */
  readyTimeoutMs: 30_000,
  /** A pod that exits on its own is replaced after this delay, ms (doubling per crash, at most 30 s). */
  restartBackoffMs: 1000,
} as const;
