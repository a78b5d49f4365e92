// Faults on the test control plane, where loadscope's virtual node runs the pods: the cluster lists
// them and deletes one through the API (pod-kill, cluster/kubernetes/cluster.ts); the node's pod host
// adds what only this machine has of each — the service's pid (pod-pause: SIGSTOP/SIGCONT, listed in the
// ledger as `paused` as in local mode, cluster/faults.ts), its veth and netns (packet-loss, bandwidth,
// partition on the pod's own wire). The readiness probe of the virtual node then takes a paused pod out
// of the Service's ready endpoints, as a kubelet's would.
import { ProcessPodFaults } from '../cluster/faults.ts';
import type { Pod } from '../cluster/replicaset.ts';
import type { FaultablePods, FaultPod } from '../core/faults.ts';
import type { Resource } from '../core/ledger.ts';
import type { CountedPodHost } from './kube-pods.ts';

/** The cluster's pods (API) with the node's local view of each; pods the node does not run are left out. */
export class NodePodFaults extends ProcessPodFaults<Pod> {
  constructor(
    private readonly cluster: FaultablePods & { readonly runNamespace: string },
    private readonly node: CountedPodHost,
    listing: { add(r: Resource): void; remove(match: (r: Resource) => boolean): void },
  ) {
    super(() => [], listing);
  }

  override faultPods(service: string): FaultPod[] {
    return this.cluster.faultPods(service).flatMap((p) => {
      const local = this.node.local(this.cluster.runNamespace, p.name);
      return local ? [{ ...p, pid: local.pid, veth: local.veth, inside: { dev: 'eth0', netns: local.netns } }] : [];
    });
  }

  /** Through the API: the node stops the pod when the API says it is gone, the ReplicaSet replaces it. */
  override killPod(service: string, pod: string): Promise<void> {
    return this.cluster.killPod(service, pod);
  }
}
