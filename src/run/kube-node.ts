import type { KubeConfig } from '@kubernetes/client-node';
import { Informer } from '../cluster/kubernetes/informer.ts';
import { NetnsPodHost } from '../cluster/local/podhost.ts';
import type { BalancerProvider } from '../core/balancer.ts';
import type { Ledger } from '../core/ledger.ts';
import type { Sink } from '../core/types.ts';
import { balancer as lbBalancer } from '../kernel/balancer.ts';
import { ServiceRouter } from '../kube/endpoints.ts';
import { VirtualNode } from '../kube/node.ts';
import type { WatchFactory } from '../kube/types.ts';
import { CountedPodHost } from './kube-pods.ts';

// The virtual node wired: the local cluster's netns pods host the pods, the eBPF balancer the host
// starts routes the Services (the kube side's router programs it from the API), the informer of
// cluster/kubernetes watches for both.

/** What a virtual node of a run needs. */
export interface KubeNodeOptions {
  kubeConfig: KubeConfig;
  /** The cluster's pod range (the Node's podCIDR, the pods' addresses) and Service range (its ClusterIPs are routed onto the node's bridge, never off the machine). */
  podCidr: string;
  serviceCidr: string;
  runId: string;
  ledger: Ledger;
  sink: Sink;
  /** Node name (default `loadscope-<runId>`, lower-cased). */
  name?: string;
  balancer?: BalancerProvider;
  onStatus?: (line: string) => void;
  /** Lease renewal and node heartbeat periods, ms (tests shorten them). */
  renewEveryMs?: number;
  statusEveryMs?: number;
  /** See VirtualNodeOptions.podEventPrefix. */
  podEventPrefix?: string;
}

/** A running virtual node with its pod host and Service router; `stop` removes all three. */
export interface KubeNode {
  node: VirtualNode;
  host: NetnsPodHost;
  /** The node's pods with their counters (the metrics APIs' source, results.json's per-pod figures). */
  pods: CountedPodHost;
  router: ServiceRouter;
  stop(): Promise<void>;
}

const informers: WatchFactory = (opts) => new Informer(opts);

/** Starts the pod host (bridge, cgroups, balancer), the Service router, then registers the node. */
export async function startKubeNode(o: KubeNodeOptions): Promise<KubeNode> {
  const host = await NetnsPodHost.start({ runId: o.runId, ledger: o.ledger, balancer: o.balancer ?? lbBalancer, podCidr: o.podCidr, serviceCidr: o.serviceCidr, sink: o.sink, onStatus: o.onStatus });
  const router = new ServiceRouter({ kubeConfig: o.kubeConfig, watch: informers, balancer: host.balancer, sink: o.sink, onStatus: o.onStatus });
  const pods = new CountedPodHost(host);
  const name = (o.name ?? `loadscope-${o.runId}`).toLowerCase().replace(/[^a-z0-9.-]/g, '-');
  const node = new VirtualNode({
    kubeConfig: o.kubeConfig,
    name,
    host: pods,
    watch: informers,
    sink: o.sink,
    services: (ns) => router.servicesIn(ns),
    unrouted: (ip, ms) => router.unrouted(ip, ms),
    renewEveryMs: o.renewEveryMs,
    statusEveryMs: o.statusEveryMs,
    podEventPrefix: o.podEventPrefix,
    onStatus: o.onStatus,
  });
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await node.stop().catch((e: Error) => o.onStatus?.(`virtual node stop: ${e.message}`));
      await router.stop();
      await host.stop();
    })());
  try {
    await router.start();
    await node.start();
  } catch (err) {
    await stop();
    throw err;
  }
  return { node, host, pods, router, stop };
}
