// What the virtual node (src/kube/node.ts) needs from whatever runs its pods, and what it needs to
// watch the API: both sides are layer 2 (kube, cluster) and meet only here; src/run/kube-node.ts wires
// the local cluster's netns host (src/cluster/local/podhost.ts) and the informer into the node.

import type { ServiceRole } from './services.ts';

/** A readiness probe as a pod spec gives it (times in ms). */
export interface HostProbe {
  action: { http: { path: string; port: number } } | { tcp: { port: number } };
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
}

/** The essentials of one pod the node asks its host to run: one container, a bundled service. */
export interface HostPodSpec {
  namespace: string;
  name: string;
  uid: string;
  /** The bundled service the container runs (chosen by the node from the image or a label). */
  role: ServiceRole;
  image: string;
  labels: Record<string, string>;
  /** The container's args, `$(VAR)` already expanded; appended to the service's command line. */
  args: string[];
  /** The container's environment (pod env and service links). */
  env: Record<string, string>;
  /** The port the service listens on (the first container port; 8080 when none is declared). */
  port: number;
  /** Requests and limits (millicores, bytes); absent means none. */
  resources: { requests: { cpuMillis?: number; memoryBytes?: number }; limits: { cpuMillis?: number; memoryBytes?: number } };
  readiness?: HostProbe;
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
}

/** The container's state, as a kubelet reports it. Times are epoch ms. */
export type HostContainerState =
  | { state: 'waiting'; reason: string; message?: string }
  | { state: 'running'; startedAt: number }
  | { state: 'terminated'; exitCode: number; signal?: string; reason: string; message?: string; startedAt?: number; finishedAt: number };

/** A pod's state as its host sees it; every change is reported whole. */
export interface HostPodState {
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  /** The readiness probe's verdict (the container running, when there is no probe). */
  ready: boolean;
  restartCount: number;
  container: HostContainerState;
  /** The container's previous run, after a restart. */
  lastTerminated?: Extract<HostContainerState, { state: 'terminated' }>;
}

/** A pod its host runs: its address is fixed for its life (container restarts keep it). */
export interface HostPod {
  readonly ip: string;
  readonly state: HostPodState;
  /** Drains the service (SIGTERM, killed after `graceMs`), then removes the pod's network and cgroup; idempotent. */
  stop(graceMs: number): Promise<void>;
}

/** What runs a virtual node's pods. */
export interface PodHost {
  /** The pods' address range (the Node's spec.podCIDR) and the host's own address on it (InternalIP, hostIP). */
  readonly podCidr: string;
  readonly hostIp: string;
  /** What the node offers the scheduler. */
  readonly capacity: { cpuMillis: number; memoryBytes: number; pods: number };
  /** Starts a pod (address allocated at once, state Pending until its process is up); `onChange` gets each new state. */
  start(spec: HostPodSpec, onChange: (state: HostPodState) => void): HostPod;
  /** Stops every pod still running and removes what the host created. */
  stop(): Promise<void>;
}

/** One change of a watched collection (the informer's events, without how they were seen). */
export type WatchEvent<T> = { type: 'added' | 'deleted'; object: T } | { type: 'updated'; object: T; old: T };

/** What a watched collection is: the informer's options, as far as the node uses them. */
export interface WatchOptions<T, C = unknown> {
  kubeConfig: C;
  /** The collection's URL path, e.g. `/api/v1/pods`. */
  path: string;
  list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
  onEvent: (e: WatchEvent<T>) => void;
  fieldSelector?: string;
  labelSelector?: string;
}

/** A list + watch with a cache (src/cluster/kubernetes/informer.ts): start resolves after the first list. */
export interface Watcher<T> {
  start(): Promise<void>;
  stop(): Promise<void>;
  list(): T[];
}
