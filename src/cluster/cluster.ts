import type { Ledger } from '../run/janitor.ts';
import type { Sink } from '../model/types.ts';
import type { ScenarioSpec } from '../scenario/schema.ts';

/** Where the load goes and what the probes should watch, once a cluster is up. */
export interface ClusterTarget {
  /** Entry URL of the service under load (the frontend), no trailing slash. */
  url: string;
  /** TCP ports of the run's own traffic (probe filter). */
  ports: number[];
  /** Interfaces the run's traffic crosses (probe filter). */
  ifaces: string[];
  /** Address ranges of the run's own hosts (probe filter). */
  cidrs: string[];
}

/** Counters one service instance (a pod, or the single process) reports at the end of a run. */
export interface ServiceCounters {
  service: string;
  role: string;
  pod: string;
  requestsServed: number;
  requestsAborted: number;
  cpuSeconds: number;
  rssBytes: number;
}

/** What a cluster implementation gets from the run. */
export interface ClusterContext {
  runId: string;
  sink: Sink;
  ledger: Ledger;
  onStatus: (line: string) => void;
}

/**
 * Where the services run: `loopback` (processes on 127.0.0.1) or `local` (replicas in network
 * namespaces, later) or `kubernetes` (later). start → target; counters at the end; stop removes
 * everything it created (and registers it in the ledger so a dead run's leftovers are swept).
 */
export interface Cluster {
  readonly mode: string;
  start(signal: AbortSignal): Promise<ClusterTarget>;
  counters(): Promise<ServiceCounters[]>;
  stop(): Promise<void>;
  /** Lines for the report's notices (e.g. why a fallback was taken). */
  notices(): string[];
}

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

export function isScalable(c: Cluster): c is Cluster & Scalable {
  return typeof (c as Partial<Scalable>).scale === 'function';
}

export type ClusterFactory = (spec: ScenarioSpec, ctx: ClusterContext) => Cluster;

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
  /** Current memory bytes (cgroup memory.current, or RSS on loopback). */
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

export function hasPodMetrics(c: Cluster): c is Cluster & PodMetricsSource {
  return typeof (c as Partial<PodMetricsSource>).podMetrics === 'function';
}
