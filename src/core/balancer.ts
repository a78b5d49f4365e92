// The eBPF service balancer as the local cluster drives it: a loader process that takes routing-table
// commands (docs/cluster.md) and streams records. src/kernel/balancer.ts implements it; run hands it to
// the cluster through ClusterContext, so the cluster never imports the kernel layer.

/** A loader NDJSON record: `t` names it; kernel times `ts`/`w` are CLOCK_MONOTONIC ns. */
export type BalancerRecord = { t: string } & Record<string, unknown>;

/** The loader's answer to one command. */
export interface BalancerAck {
  seq: number;
  ok: boolean;
  ts: number;
  msg?: string;
  [k: string]: unknown;
}

/** How to start the balancer for one run. */
export interface BalancerOptions {
  /** cgroup v2 directory the connect4 program attaches to (the hierarchy's root). */
  cgroupRoot: string;
  /** Decision records: 1 in N (1: every connection). */
  sampleEvery?: number;
  /** cgroup.procs files the loader joins before it execs (the run's own cgroup, so a sweep can kill it). */
  procsFiles?: string[];
  /** Every record but clock, ready and ack, with `time` = the record's kernel time on the run's time base. */
  onRecord: (r: BalancerRecord, time: number) => void;
  /** The loader exited (after stop(), or by itself). */
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
  readyTimeoutMs?: number;
}

/** A running balancer: commands are applied in order, each resolving with its ack (rejecting on a refusal). */
export interface Balancer {
  readonly pid: number;
  /** The loader's ready record: program names and link ids. */
  readonly ready?: BalancerRecord;
  send(command: string): Promise<BalancerAck>;
  /** Detaches and ends the loader; resolves once it exited. */
  stop(): Promise<void>;
}

/** Where balancers come from: why one cannot run here (undefined when it can), and how to start one. */
export interface BalancerProvider {
  unavailable(): string | undefined;
  start(opts: BalancerOptions): Promise<Balancer>;
}

/** A `sh -c` script that joins the cgroups named in $LS_CGROUP_PROCS, then execs the rest of the command line. */
export const JOIN_CGROUPS = 'for f in $LS_CGROUP_PROCS; do echo $$ > "$f" || exit 97; done; exec "$@"';
