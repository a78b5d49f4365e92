import type { BalancerProvider } from '../core/balancer.ts';
import type { Ledger } from '../core/ledger.ts';
import type { Sink } from '../core/types.ts';
import type { ScenarioSpec } from '../scenario/schema.ts';

/** Where the load goes and what the probes should watch, once a cluster is up. */
export interface ClusterTarget {
  /** Entry URL of the service under load (the frontend), no trailing slash. */
  url: string;
  /** TCP ports of the run's own traffic (probe filter). */
  ports: number[];
  /** Interfaces the run's traffic crosses (probe filter); `NAME*` covers every interface whose name starts with NAME, also ones made later (pods started during the run). */
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
  /** The eBPF service balancer (src/kernel/balancer.ts); the local cluster needs it, loopback does not. */
  balancer?: BalancerProvider;
}

/**
 * Where the services run: `loopback` (processes on 127.0.0.1) or `local` (replicas in network
 * namespaces). start → target; counters at the end; stop removes everything it created (and registers
 * it in the ledger so a dead run's leftovers are swept). Both also implement core/workload.ts.
 */
export interface Cluster {
  readonly mode: string;
  start(signal: AbortSignal): Promise<ClusterTarget>;
  counters(): Promise<ServiceCounters[]>;
  stop(): Promise<void>;
  /** Lines for the report's notices (e.g. why a fallback was taken). */
  notices(): string[];
}

export type ClusterFactory = (spec: ScenarioSpec, ctx: ClusterContext) => Cluster;
