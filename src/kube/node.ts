import { arch } from 'node:os';
import {
  CoordinationV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Container,
  type V1Lease,
  type V1Node,
  type V1Pod,
  type V1Probe,
  type V1Service,
} from '@kubernetes/client-node';
import { now } from '../core/clock.ts';
import { LoadscopeError } from '../core/errors.ts';
import { processStartTime } from '../core/ledger.ts';
import type { HostContainerState, HostPod, HostPodSpec, HostPodState, HostProbe, PodHost, Watcher } from '../core/podhost.ts';
import { cpuMillicores, memoryBytes } from '../core/quantity.ts';
import type { ServiceRole } from '../core/services.ts';
import type { Sink } from '../core/types.ts';
import type { WatchFactory } from './types.ts';

// loadscope as a Kubernetes node, the virtual-kubelet pattern: a Node object with its capacity and a
// Ready condition, its Lease renewed in kube-node-lease, and the kubelet's pod loop for the pods bound
// to it — each run by the injected PodHost (the local cluster's netns pods), its status patched back.

/** Label of every virtual node; the sweep finds dead runs' nodes by it and the owner annotation. */
export const NODE_LABEL = 'loadscope.io/virtual-node';
/** `<pid> <start time>` of the process that serves the node. */
export const OWNER_ANNOTATION = 'loadscope.io/owner';
/** The pod label that picks the bundled service (else the image name does). */
export const SERVICE_LABEL = 'loadscope.io/service';
const LEASE_NS = 'kube-node-lease';
const DEFAULT_PORT = 8080;

/** How a virtual node is set up. */
export interface VirtualNodeOptions {
  kubeConfig: KubeConfig;
  /** The Node's name, e.g. `loadscope-<runid>` (a DNS subdomain). */
  name: string;
  host: PodHost;
  watch: WatchFactory;
  sink: Sink;
  /** The Services of a namespace, for the pods' service-link variables (`BACKEND_SERVICE_HOST`). */
  services?: (namespace: string) => V1Service[];
  /**
   * Resolves once no Service routes to `ip` any more (or after `timeoutMs`): a deleted pod leaves
   * routing before it is signalled, as in local mode (the router's `unrouted`).
   */
  unrouted?: (ip: string, timeoutMs: number) => Promise<void>;
  /** Lease duration, s (default 40, the kubelet's). */
  leaseDurationSeconds?: number;
  /** Lease renewal period, ms (default 10 000, the kubelet's). */
  renewEveryMs?: number;
  /** Node status heartbeat period, ms (default 60 000). */
  statusEveryMs?: number;
  /**
   * Prefix of the kinds of the node's own pod events (`pod.created` … as `<prefix>pod.created`): a run
   * whose cluster informers journal the pods from the API passes `node.` so no pod is counted twice.
   */
  podEventPrefix?: string;
  onStatus?: (line: string) => void;
}

/** One pod bound to the node, as the node tracks it. */
interface Tracked {
  pod: V1Pod;
  key: string;
  run?: HostPod;
  state?: HostPodState;
  /** A status the API must get; `patching` sends the latest one. */
  pending?: Record<string, unknown>;
  patching?: Promise<void>;
  readySince: number;
  wasReady: boolean;
  terminating?: Promise<void>;
  /** Set when the pod can never run here (reason, message). */
  refused?: { reason: string; message: string };
}

const time = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const microTime = (ms: number) => new Date(ms).toISOString().replace(/Z$/, '000Z');
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const statusCode = (err: unknown) => (err as { code?: number }).code;

/**
 * The virtual node. `start` registers the Node (Ready, untainted, capacity from the host) and its
 * Lease, then runs every pod the scheduler binds to it through the host and reports its status
 * (phase, podIP, conditions from the readiness probe, restarts). A pod marked for deletion is drained
 * and then deleted with grace 0, as the kubelet finalises it. `stop` stops the pods and deletes the
 * Node and its Lease.
 */
export class VirtualNode {
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  private readonly pods = new Map<string, Tracked>();
  private watcher?: Watcher<V1Pod>;
  private timers: NodeJS.Timeout[] = [];
  private stopping?: Promise<void>;
  private nodeUid?: string;
  private readonly startedAt = Date.now();

  constructor(private readonly opts: VirtualNodeOptions) {
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.coordination = opts.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  get name(): string {
    return this.opts.name;
  }

  async start(): Promise<void> {
    for (const line of await sweepDeadNodes(this.opts.kubeConfig)) this.opts.onStatus?.(`cleanup: ${line}`);
    const { host, name } = this.opts;
    const node: V1Node = {
      metadata: {
        name,
        labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': arch() === 'x64' ? 'amd64' : arch(), type: 'virtual-kubelet', [NODE_LABEL]: 'true' },
        annotations: { [OWNER_ANNOTATION]: `${process.pid} ${processStartTime(process.pid) ?? ''}` },
      },
      spec: { podCIDR: host.podCidr, podCIDRs: [host.podCidr] },
      // A Node may be created with its status (the kubelet's registration does so): Ready from the start.
      status: this.nodeStatus() as V1Node['status'],
    };
    try {
      this.nodeUid = (await this.core.createNode({ body: node })).metadata?.uid;
    } catch (err) {
      if (statusCode(err) === 409) throw new LoadscopeError('USAGE', `a Node named ${name} exists already`, { hint: 'give the virtual node a name of its own (loadscope-<run id>)' });
      throw err;
    }
    try {
      await this.heartbeat();
      const renew = this.opts.renewEveryMs ?? 10_000;
      await this.coordination.createNamespacedLease({ namespace: LEASE_NS, body: this.lease() });
      this.timers.push(setInterval(() => void this.renew(), renew));
      this.timers.push(setInterval(() => void this.heartbeat().catch((e: Error) => this.opts.onStatus?.(`node status update failed: ${e.message}`)), this.opts.statusEveryMs ?? 60_000));
      for (const t of this.timers) t.unref();
      this.watcher = this.opts.watch<V1Pod>({
        kubeConfig: this.opts.kubeConfig,
        path: '/api/v1/pods',
        fieldSelector: `spec.nodeName=${name}`,
        list: () => this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${name}` }),
        onEvent: (e) => (e.type === 'deleted' ? this.forget(e.object) : this.sync(e.object)),
      });
      await this.watcher.start();
      this.opts.onStatus?.(`virtual node ${name} registered: pods in ${host.podCidr}, ${host.capacity.cpuMillis}m CPU, ${Math.round(host.capacity.memoryBytes / 2 ** 20)} MiB`);
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  /** The node's pods: namespace/name → podIP and the host's state (tests, diagnostics). */
  podStates(): Record<string, { ip?: string; state?: HostPodState }> {
    return Object.fromEntries([...this.pods.values()].map((t) => [t.key, { ip: t.run?.ip, state: t.state }]));
  }

  /** Stops every pod (drained), stops watching, deletes the Lease and the Node. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      await this.watcher?.stop();
      await Promise.all([...this.pods.values()].map((t) => t.run?.stop(10_000)));
      await Promise.all([...this.pods.values()].map((t) => t.patching));
      await this.coordination.deleteNamespacedLease({ name: this.opts.name, namespace: LEASE_NS }).catch(() => undefined);
      await this.core.deleteNode({ name: this.opts.name }).catch((err: unknown) => {
        if (statusCode(err) !== 404) throw err;
      });
    })();
    return this.stopping;
  }

  // ---- node ----

  private lease(): V1Lease {
    return {
      metadata: {
        name: this.opts.name,
        namespace: LEASE_NS,
        ownerReferences: this.nodeUid ? [{ apiVersion: 'v1', kind: 'Node', name: this.opts.name, uid: this.nodeUid }] : undefined,
      },
      spec: { holderIdentity: this.opts.name, leaseDurationSeconds: this.opts.leaseDurationSeconds ?? 40, renewTime: microTime(Date.now()) as unknown as Date },
    };
  }

  private async renew(): Promise<void> {
    if (this.stopping) return;
    try {
      await this.coordination.patchNamespacedLease({ name: this.opts.name, namespace: LEASE_NS, body: { spec: { renewTime: microTime(Date.now()) } } }, merge);
    } catch (err) {
      if (statusCode(err) === 404 && !this.stopping) await this.coordination.createNamespacedLease({ namespace: LEASE_NS, body: this.lease() }).catch(() => undefined);
      else this.opts.onStatus?.(`lease renewal of ${this.opts.name} failed: ${(err as Error).message}`);
    }
  }

  /** Status, capacity, addresses and conditions (heartbeat now). */
  private async heartbeat(): Promise<void> {
    await this.core.patchNodeStatus({ name: this.opts.name, body: { status: this.nodeStatus() } }, strategic);
  }

  private nodeStatus(): Record<string, unknown> {
    const { host, name } = this.opts;
    const t = time(Date.now());
    const since = time(this.startedAt);
    const cap = { cpu: `${host.capacity.cpuMillis}m`, memory: String(host.capacity.memoryBytes), pods: String(host.capacity.pods) };
    const cond = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastHeartbeatTime: t, lastTransitionTime: since });
    return {
      capacity: cap,
      allocatable: cap,
      conditions: [
        cond('Ready', 'True', 'KubeletReady', 'loadscope virtual node is posting ready status'),
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'no memory pressure'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'no disk pressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'no PID pressure'),
        cond('NetworkUnavailable', 'False', 'RouteCreated', `pods on a bridge in ${host.podCidr}`),
      ],
      addresses: [
        { type: 'InternalIP', address: host.hostIp },
        { type: 'Hostname', address: name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
      nodeInfo: {
        architecture: arch() === 'x64' ? 'amd64' : arch(),
        operatingSystem: 'linux',
        kernelVersion: '',
        osImage: 'loadscope',
        containerRuntimeVersion: 'loadscope://netns',
        kubeletVersion: 'v0.0.0-loadscope',
        kubeProxyVersion: '',
        machineID: '',
        systemUUID: '',
        bootID: '',
      },
    };
  }

  // ---- pods ----

  /** A pod was added or changed: run it, or drain it once it is marked for deletion. */
  private sync(pod: V1Pod): void {
    const uid = pod.metadata?.uid ?? '';
    let t = this.pods.get(uid);
    if (!t) {
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed' || this.stopping) return;
      t = { pod, key: `${pod.metadata?.namespace}/${pod.metadata?.name}`, readySince: Date.now(), wasReady: false };
      this.pods.set(uid, t);
      if (!pod.metadata?.deletionTimestamp) this.admit(t);
    }
    t.pod = pod;
    if (pod.metadata?.deletionTimestamp) this.terminate(t);
  }

  /** The pod is gone from the API (finalised, or force-deleted): whatever still runs stops. */
  private forget(pod: V1Pod): void {
    const t = this.pods.get(pod.metadata?.uid ?? '');
    if (!t) return;
    t.pod = pod;
    void t.run?.stop(0);
    this.pods.delete(pod.metadata?.uid ?? '');
  }

  private admit(t: Tracked): void {
    const spec = this.hostSpec(t.pod);
    if ('reason' in spec) {
      t.refused = spec;
      this.opts.onStatus?.(`pod ${t.key} cannot run on ${this.opts.name}: ${spec.message}`);
      this.report(t);
      return;
    }
    try {
      t.run = this.opts.host.start(spec, (s) => this.changed(t, s));
    } catch (err) {
      t.refused = { reason: 'HostError', message: (err as Error).message };
      this.report(t);
      return;
    }
    this.event(t, 'pod.created', `pod ${t.key} created at ${t.run.ip}`);
    this.report(t);
  }

  /** The host's new state of a pod: journalled when readiness or the phase changed, reported. */
  private changed(t: Tracked, s: HostPodState): void {
    t.state = s;
    if (s.ready !== t.wasReady) {
      t.wasReady = s.ready;
      t.readySince = Date.now();
      this.event(t, s.ready ? 'pod.ready' : 'pod.unready', `pod ${t.key} ${s.ready ? 'ready' : 'not ready'} at ${t.run?.ip}`);
    }
    if (s.phase === 'Failed') this.event(t, 'pod.failed', `pod ${t.key} failed: ${s.container.state === 'terminated' ? `${s.container.reason} ${s.container.message ?? ''}` : ''}`.trim());
    this.report(t);
  }

  /** Drain (the host's graceful stop within the pod's grace period), then delete with grace 0. */
  private terminate(t: Tracked): void {
    t.terminating ??= (async () => {
      const graceMs = (t.pod.metadata?.deletionGracePeriodSeconds ?? t.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
      const t0 = Date.now();
      this.event(t, 'pod.terminating', `pod ${t.key} terminating (grace ${graceMs / 1000} s)`);
      if (t.run && this.opts.unrouted) await this.opts.unrouted(t.run.ip, Math.min(graceMs, 5000));
      // On the run's time base (core/clock now(), as every event's time), so it compares with the routing updates'.
      const signalledAt = now();
      await t.run?.stop(graceMs);
      await t.patching;
      this.opts.onStatus?.(`pod ${t.key} drained in ${Date.now() - t0} ms; deleting it`);
      this.event(t, 'pod.terminated', `pod ${t.key} terminated after a ${Date.now() - t0} ms drain`, { drainMs: Date.now() - t0, signalledAt });
      await this.core
        .deleteNamespacedPod({ name: t.pod.metadata?.name ?? '', namespace: t.pod.metadata?.namespace ?? '', body: { gracePeriodSeconds: 0, preconditions: { uid: t.pod.metadata?.uid } } })
        .catch((err: unknown) => {
          if (statusCode(err) !== 404) this.opts.onStatus?.(`cannot delete pod ${t.key}: ${(err as Error).message}`);
        });
    })();
  }

  private event(t: Tracked, kind: string, message: string, extra: Record<string, unknown> = {}): void {
    const labels = t.pod.metadata?.labels ?? {};
    this.opts.sink.event({ kind: `${this.opts.podEventPrefix ?? ''}${kind}`, time: now(), source: 'cluster', attrs: { service: labels.app ?? labels[SERVICE_LABEL] ?? '', pod: t.key, ip: t.run?.ip, node: this.opts.name, ...extra, message } });
  }

  /** Queues the pod's current status; one patch at a time per pod, the latest wins. */
  private report(t: Tracked): void {
    t.pending = this.podStatus(t);
    if (t.patching) return;
    t.patching = (async () => {
      while (t.pending) {
        const status = t.pending;
        t.pending = undefined;
        try {
          await this.core.patchNamespacedPodStatus({ name: t.pod.metadata?.name ?? '', namespace: t.pod.metadata?.namespace ?? '', body: { status } }, strategic);
        } catch (err) {
          if (statusCode(err) !== 404) this.opts.onStatus?.(`status of pod ${t.key} not patched: ${(err as Error).message}`);
        }
      }
      t.patching = undefined;
    })();
  }

  private podStatus(t: Tracked): Record<string, unknown> {
    const host = this.opts.host;
    const started = time(Date.now());
    const startTime = t.pod.status?.startTime ? time(new Date(t.pod.status.startTime).getTime()) : started;
    const c = t.pod.spec?.containers[0];
    const base = { hostIP: host.hostIp, hostIPs: [{ ip: host.hostIp }], startTime };
    const cond = (type: string, ok: boolean, since: string) => ({ type, status: ok ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: since });
    if (t.refused) {
      const failed = t.pod.spec?.restartPolicy !== 'Always';
      // A pod a controller would replace stays Pending (as with an image that cannot be pulled): failing it would make its ReplicaSet churn.
      return {
        ...base,
        phase: failed ? 'Failed' : 'Pending',
        reason: t.refused.reason,
        message: t.refused.message,
        conditions: [cond('Initialized', true, startTime), cond('ContainersReady', false, startTime), cond('Ready', false, startTime)],
        containerStatuses: (t.pod.spec?.containers ?? []).map((k) => ({
          name: k.name,
          image: k.image ?? '',
          imageID: '',
          ready: false,
          started: false,
          restartCount: 0,
          state: failed
            ? { terminated: { exitCode: 128, reason: t.refused!.reason, message: t.refused!.message, finishedAt: started } }
            : { waiting: { reason: t.refused!.reason, message: t.refused!.message } },
        })),
      };
    }
    const s = t.state ?? t.run?.state;
    const ip = t.run?.ip;
    const readySince = time(t.readySince);
    return {
      ...base,
      phase: s?.phase ?? 'Pending',
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      conditions: [
        cond('PodReadyToStartContainers', true, startTime),
        cond('Initialized', true, startTime),
        cond('ContainersReady', s?.ready ?? false, readySince),
        cond('Ready', s?.ready ?? false, readySince),
      ],
      containerStatuses: c
        ? [
            {
              name: c.name,
              image: c.image ?? '',
              imageID: '',
              containerID: `loadscope://${t.pod.metadata?.uid}`,
              ready: s?.ready ?? false,
              started: s?.container.state === 'running',
              restartCount: s?.restartCount ?? 0,
              state: containerState(s?.container ?? { state: 'waiting', reason: 'ContainerCreating' }),
              lastState: s?.lastTerminated ? containerState(s.lastTerminated) : {},
            },
          ]
        : [],
    };
  }

  /** What the host runs for `pod`, or why it cannot run here. */
  private hostSpec(pod: V1Pod): HostPodSpec | { reason: string; message: string } {
    const meta = pod.metadata ?? {};
    const containers = pod.spec?.containers ?? [];
    if (containers.length !== 1) return { reason: 'UnsupportedPod', message: `the virtual node runs pods of one container, this one has ${containers.length}` };
    const c = containers[0];
    const role = roleOf(meta.labels ?? {}, c.image ?? '');
    if (!role) {
      return {
        reason: 'UnsupportedImage',
        message: `image "${c.image ?? ''}" is not a bundled service: the virtual node runs images named loadscope-frontend or loadscope-backend, or pods labelled ${SERVICE_LABEL}: frontend|backend`,
      };
    }
    const ns = meta.namespace ?? 'default';
    const env = this.environment(pod, c);
    const port = c.ports?.[0]?.containerPort ?? DEFAULT_PORT;
    const q = (v: unknown, f: (x: string) => number) => (v === undefined ? undefined : f(String(v)));
    let resources: HostPodSpec['resources'];
    let readiness: HostProbe | undefined;
    try {
      const r = c.resources ?? {};
      resources = {
        requests: { cpuMillis: q(r.requests?.cpu, cpuMillicores), memoryBytes: q(r.requests?.memory, memoryBytes) },
        limits: { cpuMillis: q(r.limits?.cpu, cpuMillicores), memoryBytes: q(r.limits?.memory, memoryBytes) },
      };
      readiness = c.readinessProbe ? probeOf(c.readinessProbe, c, port) : undefined;
    } catch (err) {
      return { reason: 'InvalidSpec', message: (err as Error).message };
    }
    return {
      namespace: ns,
      name: meta.name ?? '',
      uid: meta.uid ?? '',
      role,
      image: c.image ?? '',
      labels: meta.labels ?? {},
      args: (c.args ?? []).map((a) => expand(a, env)),
      env,
      port,
      resources,
      readiness,
      restartPolicy: (pod.spec?.restartPolicy as HostPodSpec['restartPolicy'] | undefined) ?? 'Always',
    };
  }

  /** The container's environment: service links of the namespace first, then its own env (plain values and field references). */
  private environment(pod: V1Pod, c: V1Container): Record<string, string> {
    const env: Record<string, string> = {};
    if (pod.spec?.enableServiceLinks !== false) {
      for (const svc of this.opts.services?.(pod.metadata?.namespace ?? 'default') ?? []) {
        const ip = svc.spec?.clusterIP;
        const ports = svc.spec?.ports ?? [];
        if (!ip || ip === 'None' || ports.length === 0) continue;
        const prefix = (svc.metadata?.name ?? '').toUpperCase().replace(/-/g, '_');
        env[`${prefix}_SERVICE_HOST`] = ip;
        env[`${prefix}_SERVICE_PORT`] = String(ports[0].port);
        for (const p of ports) if (p.name) env[`${prefix}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
      }
    }
    const fields: Record<string, string | undefined> = {
      'metadata.name': pod.metadata?.name,
      'metadata.namespace': pod.metadata?.namespace,
      'metadata.uid': pod.metadata?.uid,
      'spec.nodeName': this.opts.name,
      'status.hostIP': this.opts.host.hostIp,
    };
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env[e.name] = expand(e.value, env);
      else if (e.valueFrom?.fieldRef && fields[e.valueFrom.fieldRef.fieldPath] !== undefined) env[e.name] = fields[e.valueFrom.fieldRef.fieldPath]!;
    }
    return env;
  }
}

/** The bundled service a pod asks for: its label, else its image name. */
export function roleOf(labels: Record<string, string>, image: string): ServiceRole | undefined {
  const label = labels[SERVICE_LABEL];
  if (label === 'frontend' || label === 'backend') return label;
  if (label !== undefined) return undefined;
  const m = /loadscope-(frontend|backend)(?=$|[:@])/.exec(image.split('/').pop() ?? '');
  return m ? (m[1] as ServiceRole) : undefined;
}

/** `$(VAR)` replaced by its value when defined (kept as written otherwise); `$$(` stands for a literal `$(`. */
export function expand(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$\(|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => (name === undefined ? '$(' : (env[name] ?? m)));
}

function probeOf(p: V1Probe, c: V1Container, defaultPort: number): HostProbe {
  const portOf = (v: unknown): number => {
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
    const named = c.ports?.find((x) => x.name === v)?.containerPort;
    if (named === undefined) throw new Error(`readiness probe port "${String(v)}" names no container port`);
    return named ?? defaultPort;
  };
  const action = p.httpGet ? { http: { path: p.httpGet.path ?? '/', port: portOf(p.httpGet.port) } } : p.tcpSocket ? { tcp: { port: portOf(p.tcpSocket.port) } } : undefined;
  if (!action) throw new Error('the readiness probe must be httpGet or tcpSocket (exec and grpc are not supported by the virtual node)');
  return {
    action,
    initialDelayMs: (p.initialDelaySeconds ?? 0) * 1000,
    periodMs: (p.periodSeconds ?? 10) * 1000,
    timeoutMs: (p.timeoutSeconds ?? 1) * 1000,
    successThreshold: p.successThreshold ?? 1,
    failureThreshold: p.failureThreshold ?? 3,
  };
}

function containerState(s: HostContainerState): Record<string, unknown> {
  switch (s.state) {
    case 'waiting':
      return { waiting: { reason: s.reason, ...(s.message ? { message: s.message } : {}) } };
    case 'running':
      return { running: { startedAt: time(s.startedAt) } };
    case 'terminated':
      return {
        terminated: {
          exitCode: s.exitCode,
          reason: s.reason,
          ...(s.message ? { message: s.message.slice(0, 1000) } : {}),
          ...(s.startedAt ? { startedAt: time(s.startedAt) } : {}),
          finishedAt: time(s.finishedAt),
        },
      };
  }
}

/**
 * Deletes the virtual nodes whose serving process is dead (the owner annotation's pid and start time),
 * their Leases, and force-deletes their pods (no kubelet will finalise them). Returns one line per node.
 */
export async function sweepDeadNodes(kc: KubeConfig): Promise<string[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const done: string[] = [];
  const nodes = await core.listNode({ labelSelector: `${NODE_LABEL}=true` });
  for (const n of nodes.items) {
    const [pid, start] = (n.metadata?.annotations?.[OWNER_ANNOTATION] ?? '').split(' ');
    if (!pid || processStartTime(Number(pid)) === start) continue;
    const name = n.metadata?.name ?? '';
    const pods = await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${name}` });
    for (const p of pods.items) {
      await core.deleteNamespacedPod({ name: p.metadata?.name ?? '', namespace: p.metadata?.namespace ?? '', gracePeriodSeconds: 0 }).catch(() => undefined);
    }
    await coordination.deleteNamespacedLease({ name, namespace: LEASE_NS }).catch(() => undefined);
    await core.deleteNode({ name }).catch(() => undefined);
    done.push(`deleted virtual node ${name} and ${pods.items.length} pod(s) (its process ${pid} is gone)`);
  }
  return done;
}
