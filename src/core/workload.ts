// What the autoscaler needs from wherever the pods run: pod snapshots and a scale subresource.
// Clusters implement these abilities; the local HPA controller consumes them. No other imports.

/**
 * Optional ability: clusters whose services can be scaled (the local autoscaler drives it). Like setting a
 * Deployment's spec.replicas: `scale` accepts the size and returns at once (it rejects only a size the cluster
 * cannot run); pods converge in the background, journalled as service.scaled, pod.* and routing.update events.
 * `replicas` is the accepted size, whatever is still starting or draining.
 */
export interface Scalable {
  replicas(service: string): number;
  scale(service: string, replicas: number): Promise<void>;
}


/** One pod as the autoscaler sees it at one sync: state, cumulative usage counters, requests. */
export interface PodSnapshot {
  service: string;
  pod: string;
  /** 'Running' once the process is up; 'Pending' before; 'Failed' if it died. */
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  ready: boolean;
  /** Terminating pods (draining) are excluded from metrics, as Kubernetes does with deleted pods. */
  terminating: boolean;
  startTime: number;
  readyTransitionTime?: number;
  /** Time the counters below were read (epoch ms). */
  time: number;
  /** Cumulative CPU seconds (cgroup cpu.stat usage_usec, or the process's own counter on loopback). */
  cpuSeconds: number;
  /** Memory in use now, bytes: the working set as metrics-server reports it (cgroup memory.current less
   *  inactive file pages), or RSS on loopback. */
  memoryBytes: number;
  /** Cumulative requests served (the pod's own /metrics). */
  requestsServed: number;
  /** The pod spec's resource requests (millicores, bytes); undefined when not set. */
  requests: { cpuMillis?: number; memoryBytes?: number };
}

/** Optional ability: clusters that report per-pod usage (the local autoscaler reads it every sync). */
export interface PodMetricsSource {
  podMetrics(service: string): Promise<PodSnapshot[]>;
}

