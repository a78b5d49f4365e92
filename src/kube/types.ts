import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Watcher, WatchOptions } from '../core/podhost.ts';

/** The processes of the test control plane, in start order. */
export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
export type Component = (typeof COMPONENTS)[number];

/**
 * The address ranges of the test control plane. Both lie in 198.18.0.0/15 (RFC 2544) and outside
 * what the local cluster claims (198.18.x.0/24 and 198.19.x.0/24 for x in 1..254, see
 * cluster/local/sweep.ts), so no ClusterIP or pod CIDR can ever be a destination off the machine or
 * collide with a local-cluster bridge or VIP.
 */
export const SERVICE_CIDR = '198.19.255.0/24';
export const POD_CIDR = '198.18.255.0/24';
/** The first address of SERVICE_CIDR: the `kubernetes` Service's ClusterIP. */
export const KUBERNETES_SERVICE_IP = '198.19.255.1';

/** How to start the control plane. Everything has a default. */
export interface ControlPlaneOptions {
  /** State directory: PKI, etcd data, kubeconfigs, logs, pid files (default `.tools/controlplane` or $LOADSCOPE_CONTROLPLANE_DIR). */
  dir?: string;
  /** Directory of the binaries built by scripts/build-kube.sh (default `.tools/bin`). */
  binDir?: string;
  /** kube-apiserver's secure port (default: a free port). */
  apiServerPort?: number;
  /** The HPA controller's sync period, a Go duration (default `5s`). */
  hpaSyncPeriod?: string;
  /** Extra command-line flags per component, appended after loadscope's own (a later flag wins), e.g. `--enable-aggregator-routing=true`. */
  extraArgs?: Partial<Record<Component, string[]>>;
  /**
   * Keep the resource ledger open while this process lives (tests, a run that starts its own
   * control plane): if the process dies, `loadscope cleanup` or the next run stops the control plane
   * and removes its state. Without it (`loadscope controlplane up`) the control plane outlives the
   * command by design and only `down` stops it; the ledger then covers only the start itself.
   */
  owned?: boolean;
  /** Progress lines ("etcd ready in 0.4 s"). */
  onStatus?: (line: string) => void;
}

/** One running component as recorded in the state directory. */
export interface ComponentState {
  pid: number;
  /** /proc start time of `pid`, to tell it from a reused pid. */
  startTime: string;
  /** Its port on 127.0.0.1 (etcd: the client port). */
  port: number;
  args: string[];
  log: string;
}

/** What `status` reports about one component. */
export interface ComponentStatus {
  name: Component;
  pid?: number;
  port?: number;
  running: boolean;
  /** The answer of its health endpoint (`ok`), or why there is none. */
  health: string;
}

/** The control plane as a client sees it. */
export interface ControlPlaneInfo {
  dir: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** An admin kubeconfig (group system:masters), certificates embedded. */
  kubeconfig: string;
  serviceCidr: string;
  podCidr: string;
}

/** How the virtual node and the Service router watch a collection: src/run wires the informer of src/cluster/kubernetes. */
export type WatchFactory = <T extends KubernetesObject>(opts: WatchOptions<T, KubeConfig> & { list: () => Promise<KubernetesListObject<T>> }) => Watcher<T>;
