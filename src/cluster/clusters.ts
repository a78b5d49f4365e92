import type { ClusterFactory } from './cluster.ts';
import { KubernetesCluster } from './kubernetes/cluster.ts';
import { LocalCluster } from './local/cluster.ts';
import { LoopbackCluster } from './loopback.ts';

/** Cluster implementations by the scenario's cluster mode. */
export const clusters: Record<string, ClusterFactory> = {
  loopback: (spec, ctx) => new LoopbackCluster(spec, ctx),
  local: (spec, ctx) => new LocalCluster(spec, ctx),
  kubernetes: (spec, ctx) => new KubernetesCluster(spec, ctx),
};
