// Scheduled faults as the validated scenario plans them, and what the parts a run wires offer a fault
// runner (src/faults): the cluster's pods, the kernel's traffic control, the autoscaler's metric source.
// Types only.

/** The fault kinds of the scenario's `faults:` (docs/faults.md). */
export const FAULT_KINDS = ['pod-kill', 'pod-pause', 'packet-loss', 'bandwidth', 'partition', 'http-errors', 'http-delay', 'metrics-outage'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** What a fault hits: a service, or one of its pods (`service/pod-N` in the scenario). */
export interface FaultTarget {
  service: string;
  pod?: string;
}

/** One planned fault: offsets from the run start (after duration scaling), the kind's own settings. */
export interface FaultPlan {
  name: string;
  kind: FaultKind;
  target: FaultTarget;
  atMs: number;
  /** How long it lasts; absent for pod-kill (an instant). */
  durationMs?: number;
  /** packet-loss: share of packets dropped, (0, 1]. */
  probability?: number;
  /** bandwidth: the rate cap, bits/s. */
  rateBitsPerSecond?: number;
  /** partition: the other service. */
  peer?: string;
  /** http-errors: share of requests failed, (0, 1], and their status. */
  share?: number;
  status?: number;
  /** http-delay: added latency and uniform jitter, ms. */
  delayMs?: number;
  jitterMs?: number;
}

/** A network interface, in a named network namespace or (without one) in the root namespace. */
export interface Link {
  dev: string;
  netns?: string;
}

/**
 * A running pod as faults see it. `url`: its service, '' when the harness must not call it (a pod of a
 * cluster elsewhere); `pid`: 0 when its process is not on this machine; `veth`: its host-side
 * interface; `inside`: its own end (netns pods only).
 */
export interface FaultPod {
  service: string;
  name: string;
  ip: string;
  url: string;
  pid: number;
  veth?: string;
  inside?: Link;
}

/** Undoes one applied fault; idempotent, never rejects. */
export type Undo = () => Promise<void>;

/** A cluster whose pods faults can reach (the local cluster; a Kubernetes cluster deletes pods through its API). */
export interface FaultablePods {
  /** The service's running, not terminating pods, in name order. */
  faultPods(service: string): FaultPod[];
  /** Kills the pod's process (SIGKILL; or deletes it through an API): the replica set replaces it. */
  killPod(service: string, pod: string): Promise<void>;
  /** Stops the pod's process (SIGSTOP) until the returned Undo (SIGCONT); listed for the sweep meanwhile. */
  pausePod(service: string, pod: string): Promise<Undo>;
}

/** Traffic control on interfaces (the kernel module: an eBPF TC program, tbf). */
export interface NetFaults {
  /** Drops a share of the packets crossing `ifaces` both ways; with `peers`, only packets to or from those addresses. */
  drop(ifaces: string[], probability: number, peers?: string[]): Promise<Undo>;
  /** Caps the rate of packets sent out of each link with a tbf root qdisc. */
  bandwidth(links: Link[], bitsPerSecond: number): Promise<Undo>;
}

/** An autoscaler's metric source that can be made to fail (the local HPA controller; the test control plane's metrics APIs). */
export interface MetricsOutageTarget {
  /** While on, every metrics read fails as an unreachable metrics API would. */
  setMetricsOutage(on: boolean): void;
}
