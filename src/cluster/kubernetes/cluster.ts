// `cluster: { mode: kubernetes }`: the bundled services deployed into a real cluster (or services that
// already run there watched), the cluster's own view of them journalled through informers, and
// everything the run created removed at the end — or by the next run's sweep when this one died.
import {
  ApisApi,
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  VersionApi,
  type CoreV1Event,
  type KubernetesObject,
  type V1Deployment,
  type V1Pod,
  type V1ReplicaSet,
  type V2HorizontalPodAutoscaler,
} from '@kubernetes/client-node';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { now } from '../../core/clock.ts';
import { LoadscopeError } from '../../core/errors.ts';
import { memoryBytes, parseMilliQuantity } from '../../core/quantity.ts';
import type { KubernetesClusterSpec } from '../../scenario/cluster.ts';
import { isSafeHost } from '../../scenario/load.ts';
import type { ScenarioSpec } from '../../scenario/schema.ts';
import type { FaultablePods, FaultPod, Undo } from '../../core/faults.ts';
import type { Cluster, ClusterContext, ClusterTarget, ServiceCounters } from '../cluster.ts';
import { serviceEntry } from '../process.ts';
import { Informer } from './informer.ts';
import { KubeJournal } from './journal.ts';
import { manifestsDir, plan, readManifests, RUN_ID_ANNOTATION, RUN_LABEL, runLabel, runNamespace, type Manifest } from './manifests.ts';
import { HEARTBEAT_ANNOTATION, HEARTBEAT_MS, OWNER_ANNOTATION, ownerDead, self } from './owner.ts';

const FIELD_MANAGER = 'loadscope';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** The longest wait for the run's namespace (or objects) to be gone at stop. */
const DELETE_TIMEOUT_MS = 60_000;
const METRICS_PERIOD_MS = 5_000;
/** What a run in a namespace it did not create leaves as its record (owner, heartbeat). */
const markerName = (label: string) => `loadscope-run-${label}`.slice(0, 253);

/** Collections a run's objects may be in, for the sweep of a namespace the run did not create. */
const SWEPT_KINDS: { apiVersion: string; kind: string }[] = [
  { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler' },
  { apiVersion: 'apps/v1', kind: 'Deployment' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
  { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy' },
];

/** HTTP status of a client-node error, if it has one. */
function statusOf(e: unknown): number | undefined {
  const code = (e as { code?: unknown; statusCode?: unknown }).code ?? (e as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** A client-node error as one line: the status and the API's message, never headers or the request. */
function describe(e: unknown): string {
  const code = statusOf(e);
  const body = (e as { body?: unknown }).body;
  let msg: string | undefined;
  if (typeof body === 'string') {
    try {
      msg = (JSON.parse(body) as { message?: string }).message;
    } catch {
      msg = body.slice(0, 200);
    }
  } else if (body && typeof body === 'object') msg = (body as { message?: string }).message;
  if (code !== undefined) return `HTTP ${code}${msg ? `: ${msg}` : ''}`;
  const m = String((e as Error)?.message ?? e).split('\n')[0];
  return m.replace(/(token|password|key|authorization)\S*/gi, '$1…');
}

/**
 * The kubeconfig the scenario names, else $KUBECONFIG or ~/.kube/config, else the in-cluster service
 * account; then its `context`. Only the server's URL is ever shown: the credentials stay in memory.
 */
export function loadKubeConfig(c: Pick<KubernetesClusterSpec, 'kubeconfig' | 'context'>): KubeConfig {
  const kc = new KubeConfig();
  const env = process.env.KUBECONFIG?.split(':').find((p) => p && existsSync(p));
  const home = join(homedir(), '.kube', 'config');
  const inCluster = existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token') && process.env.KUBERNETES_SERVICE_HOST;
  try {
    if (c.kubeconfig) {
      if (!existsSync(c.kubeconfig)) throw new LoadscopeError('FILE_NOT_FOUND', `kubeconfig ${c.kubeconfig} does not exist`, { hint: 'cluster.kubeconfig names the file (relative to the current directory)' });
      kc.loadFromFile(c.kubeconfig);
    } else if (env || existsSync(home)) kc.loadFromDefault();
    else if (inCluster) kc.loadFromCluster();
    else throw new LoadscopeError('ENVIRONMENT', 'no kubeconfig: cluster.kubeconfig is not set, $KUBECONFIG and ~/.kube/config name no file, and this is not a pod', { hint: 'set cluster.kubeconfig, or start the test control plane (`loadscope controlplane up`) and use its kubeconfig' });
  } catch (cause) {
    if (cause instanceof LoadscopeError) throw cause;
    throw new LoadscopeError('ENVIRONMENT', `the kubeconfig cannot be read: ${String((cause as Error).message).split('\n')[0]}`, { hint: 'check cluster.kubeconfig / $KUBECONFIG' });
  }
  if (c.context) {
    if (!kc.getContextObject(c.context)) {
      throw new LoadscopeError('ENVIRONMENT', `the kubeconfig has no context "${c.context}" (it has: ${kc.getContexts().map((x) => x.name).join(', ') || 'none'})`, { hint: 'fix cluster.context, or leave it out for the current context' });
    }
    kc.setCurrentContext(c.context);
  }
  if (!kc.getCurrentCluster()) throw new LoadscopeError('ENVIRONMENT', 'the kubeconfig has no current cluster', { hint: 'set cluster.context, or current-context in the kubeconfig' });
  return kc;
}

/**
 * A real cluster. start: kubeconfig, API server check, sweep of dead runs' objects, the run's
 * namespace (created and labelled, unless the scenario names one), the manifests (deploy: true),
 * informers; target: the frontend Service's ClusterIP, or target.url with deploy: false.
 * stop: informers off, then the namespace (or the run's objects in a named one) deleted and waited for.
 */
export class KubernetesCluster implements Cluster, FaultablePods {
  readonly mode = 'kubernetes';
  private readonly spec: ScenarioSpec;
  private readonly c: KubernetesClusterSpec;
  private readonly ctx: ClusterContext;
  private readonly notes: string[] = [];
  private kc?: KubeConfig;
  private namespace = '';
  private createdNamespace = false;
  private applied: Manifest[] = [];
  private informers: { start(): Promise<void>; stop(): Promise<void> }[] = [];
  private podInformer?: Informer<V1Pod>;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private metricsPoll?: Promise<void>;

  private readonly heartbeatMs: number;

  /** `heartbeatMs`: how often the run's record says it is alive (default HEARTBEAT_MS; tests shorten it). */
  constructor(spec: ScenarioSpec, ctx: ClusterContext, opts: { heartbeatMs?: number } = {}) {
    this.heartbeatMs = opts.heartbeatMs ?? HEARTBEAT_MS;
    if (spec.cluster.mode !== 'kubernetes') throw new LoadscopeError('INTERNAL', `KubernetesCluster for cluster mode ${spec.cluster.mode}`);
    this.spec = spec;
    this.c = spec.cluster;
    this.ctx = ctx;
  }

  /** The namespace the run uses (known after start). */
  get runNamespace(): string {
    return this.namespace;
  }

  notices(): string[] {
    return [...this.notes];
  }

  /** The pods' own counters are not read in a cluster (their /metrics would need the pod network). */
  async counters(): Promise<ServiceCounters[]> {
    return [];
  }

  /** A start that fails (or is aborted) half-way removes what it created before it rejects. */
  async start(signal: AbortSignal): Promise<ClusterTarget> {
    try {
      return await this.begin(signal);
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  private async begin(signal: AbortSignal): Promise<ClusterTarget> {
    const t0 = Date.now();
    const kc = (this.kc = loadKubeConfig(this.c));
    const server = kc.getCurrentCluster()!.server;
    try {
      const v = await kc.makeApiClient(VersionApi).getCode();
      this.ctx.onStatus(`kubernetes: ${server} runs ${v.gitVersion}`);
    } catch (cause) {
      throw new LoadscopeError('ENVIRONMENT', `the Kubernetes API server at ${server} does not answer: ${describe(cause)}`, { hint: 'is the cluster up (`loadscope controlplane status`) and the kubeconfig current?' });
    }
    signal.throwIfAborted();
    const label = runLabel(this.ctx.runId);
    const named = this.c.namespace;
    this.namespace = named ?? runNamespace(this.ctx.runId);
    for (const line of await this.sweep(named)) {
      this.ctx.onStatus(`kubernetes: ${line}`);
      this.notes.push(`swept from the cluster: ${line}`);
    }
    signal.throwIfAborted();

    const core = kc.makeApiClient(CoreV1Api);
    const ownerMeta = () => ({
      labels: { [RUN_LABEL]: label },
      annotations: { [RUN_ID_ANNOTATION]: this.ctx.runId, [OWNER_ANNOTATION]: JSON.stringify(self()), [HEARTBEAT_ANNOTATION]: new Date().toISOString() },
    });
    if (!named) {
      await core.createNamespace({ body: { metadata: { name: this.namespace, ...ownerMeta() } } }).catch((cause) => {
        throw new LoadscopeError('ENVIRONMENT', `cannot create namespace ${this.namespace}: ${describe(cause)}`, { hint: 'the kubeconfig\'s user needs to create namespaces, or name one in cluster.namespace' });
      });
      this.createdNamespace = true;
      this.ctx.onStatus(`kubernetes: namespace ${this.namespace} created`);
    } else {
      await core.readNamespace({ name: named }).catch((cause) => {
        throw new LoadscopeError('ENVIRONMENT', `namespace ${named} cannot be read: ${describe(cause)}`, { hint: 'cluster.namespace names a namespace that exists (or leave it out for a fresh one)' });
      });
      if (this.c.deploy) await core.createNamespacedConfigMap({ namespace: named, body: { metadata: { name: markerName(label), ...ownerMeta() } } });
    }
    this.beat(ownerMeta);
    signal.throwIfAborted();

    const groups = new Set(((await kc.makeApiClient(ApisApi).getAPIVersions()).groups ?? []).map((g) => g.name));
    if (this.c.deploy) await this.deploy(groups.has('cilium.io'));
    signal.throwIfAborted();
    await this.watch(t0);
    if (groups.has('metrics.k8s.io')) this.pollMetrics();
    else this.notes.push('kubernetes: metrics.k8s.io is not served by this cluster: no pod CPU and memory samples (the HPA\'s Resource metrics fail the same way)');

    if (!this.c.deploy) {
      if (!('url' in this.spec.target)) throw new LoadscopeError('SCENARIO_INVALID', 'cluster.deploy: false needs target.url (the services already run; loadscope cannot know where)', { hint: 'set target.url to the Service\'s address (with --allow-remote when it is not this machine)' });
      const url = this.spec.target.url.replace(/\/$/, '');
      return { url, ports: [Number(new URL(url).port || 80)], ifaces: [], cidrs: [] };
    }
    const svc = await core.readNamespacedService({ name: 'frontend', namespace: this.namespace }).catch(() => undefined);
    const ip = svc?.spec?.clusterIP;
    const port = svc?.spec?.ports?.[0]?.port ?? 80;
    if (!ip || ip === 'None') throw new LoadscopeError('SCENARIO_INVALID', 'the manifests have no frontend Service with a ClusterIP: the load has nowhere to go', { hint: 'keep fixtures/k8s/frontend.yaml\'s Service in a custom manifests directory' });
    if (!isSafeHost(ip)) {
      throw new LoadscopeError('UNSAFE_TARGET', `the frontend Service's ClusterIP ${ip} is outside loopback and 198.18.0.0/15: loadscope sends load there only on purpose`, { hint: 'on such a cluster use deploy: false with target.url and --allow-remote (the test control plane\'s ClusterIPs are in 198.19.255.0/24)' });
    }
    this.notes.push(`kubernetes: load goes to Service frontend at ${ip}:${port} in namespace ${this.namespace}; it reaches pods only where the cluster routes ClusterIPs from this machine (the test control plane's virtual node)`);
    return { url: `http://${ip}:${port}`, ports: [port], ifaces: [], cidrs: [`${ip}/32`] };
  }

  /** Renews the heartbeat on the run's record (the namespace, or the marker ConfigMap) so other machines see the run alive. */
  private beat(meta: () => { annotations: Record<string, string> }): void {
    const kc = this.kc!;
    const core = kc.makeApiClient(CoreV1Api);
    const patch = { metadata: { annotations: { [HEARTBEAT_ANNOTATION]: meta().annotations[HEARTBEAT_ANNOTATION] } } };
    const t = setInterval(() => {
      patch.metadata.annotations[HEARTBEAT_ANNOTATION] = new Date().toISOString();
      const marker = markerName(runLabel(this.ctx.runId));
      const done = this.createdNamespace
        ? core.patchNamespace({ name: this.namespace, body: patch }, mergePatch)
        : this.c.deploy
          ? core.patchNamespacedConfigMap({ name: marker, namespace: this.namespace, body: patch }, mergePatch)
          : Promise.resolve();
      done.catch(() => undefined);
    }, this.heartbeatMs);
    t.unref();
    this.timers.push(t);
  }

  private async deploy(cilium: boolean): Promise<void> {
    const dir = manifestsDir(this.c.manifests);
    const bundleFile = serviceEntry().find((a) => a.endsWith('.mjs'));
    if (!bundleFile) throw new LoadscopeError('ENVIRONMENT', 'the bundled services could not be built into one file (esbuild failed)', { hint: 'run npm ci; src/services/.build/main.mjs is built from src/services' });
    const objects = plan(readManifests(dir), this.spec, { runId: this.ctx.runId, namespace: this.namespace, bundle: readFileSync(bundleFile, 'utf8'), cilium });
    const client = KubernetesObjectApi.makeApiClient(this.kc!);
    for (const o of objects) {
      try {
        await client.patch(o, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
      } catch (cause) {
        throw new LoadscopeError('ENVIRONMENT', `cannot apply ${o.kind}/${o.metadata.name} into ${this.namespace}: ${describe(cause)}`, { hint: `check the manifest in ${dir} and the kubeconfig user's rights` });
      }
      this.applied.push(o);
    }
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
    this.ctx.onStatus(`kubernetes: applied ${kinds}`);
    this.ctx.sink.event({ kind: 'cluster.deployed', time: now(), source: 'loadscope', attrs: { namespace: this.namespace, objects: objects.map((o) => `${o.kind}/${o.metadata.name}`), networkPolicy: cilium ? 'CiliumNetworkPolicy' : 'NetworkPolicy', message: `applied ${objects.length} objects into namespace ${this.namespace}: ${kinds}` } });
  }

  private async watch(sinceMs: number): Promise<void> {
    const kc = this.kc!;
    const namespace = this.namespace;
    const j = new KubeJournal(this.ctx.sink, sinceMs);
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    const auto = kc.makeApiClient(AutoscalingV2Api);
    const onState = (what: string) => (state: string, detail?: string) => {
      // a watch the server ended on time is resumed at once: routine, not worth a journal line
      if (state === 'watching' || this.stopped || detail === 'closed by the server') return;
      this.ctx.sink.event({ kind: 'cluster.watch', time: now(), source: 'loadscope', attrs: { collection: what, state, message: `${what} informer ${state}${detail ? `: ${detail.split('\n')[0].slice(0, 200)}` : ''}` } });
    };
    const hpa = new Informer<V2HorizontalPodAutoscaler>({ kubeConfig: kc, path: `/apis/autoscaling/v2/namespaces/${namespace}/horizontalpodautoscalers`, list: () => auto.listNamespacedHorizontalPodAutoscaler({ namespace }), onEvent: (e) => j.hpa(e), onState: onState('hpa') });
    const list = [
      hpa,
      new Informer<CoreV1Event>({ kubeConfig: kc, path: `/api/v1/namespaces/${namespace}/events`, list: () => core.listNamespacedEvent({ namespace }), onEvent: (e) => j.event(e), onState: onState('events') }),
      new Informer<V1Deployment>({ kubeConfig: kc, path: `/apis/apps/v1/namespaces/${namespace}/deployments`, list: () => apps.listNamespacedDeployment({ namespace }), onEvent: (e) => j.deployment(e), onState: onState('deployments') }),
      new Informer<V1ReplicaSet>({ kubeConfig: kc, path: `/apis/apps/v1/namespaces/${namespace}/replicasets`, list: () => apps.listNamespacedReplicaSet({ namespace }), onEvent: (e) => j.replicaSet(e), onState: onState('replicasets') }),
      (this.podInformer = new Informer<V1Pod>({ kubeConfig: kc, path: `/api/v1/namespaces/${namespace}/pods`, list: () => core.listNamespacedPod({ namespace }), onEvent: (e) => j.pod(e), onState: onState('pods') })),
    ];
    this.informers = list;
    await Promise.all(list.map((i) => i.start()));
  }

  /**
   * The service's pods as the pod informer has them: Running, Ready, not being deleted, labelled
   * app=<service>, in name order. `url` is set only for an address the harness may reach (loopback or
   * 198.18.0.0/15: the test control plane's pods); a pod elsewhere gets '' and no control request.
   */
  faultPods(service: string): FaultPod[] {
    const ready = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    return (this.podInformer?.list() ?? [])
      .filter((p) => p.metadata?.labels?.app === service && p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp && ready(p) && p.status?.podIP)
      .sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1))
      .map((p) => {
        const ip = p.status!.podIP!;
        const port = p.spec?.containers[0]?.ports?.[0]?.containerPort ?? 8080;
        return { service, name: p.metadata!.name!, ip, url: isSafeHost(ip) ? `http://${ip}:${port}` : '', pid: 0 };
      });
  }

  /**
   * pod-kill: deletes the pod through the API with grace period 0 (a forced deletion, as `kubectl
   * delete --grace-period=0 --force`): no drain, the node stops its containers at once and the
   * ReplicaSet controller creates a replacement.
   */
  async killPod(_service: string, pod: string): Promise<void> {
    const uid = this.podInformer?.get(this.namespace, pod)?.metadata?.uid;
    await this.kc!.makeApiClient(CoreV1Api)
      .deleteNamespacedPod({ name: pod, namespace: this.namespace, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, ...(uid ? { preconditions: { uid } } : {}) } })
      .catch((e) => {
        throw new Error(`deleting pod ${this.namespace}/${pod} failed: ${describe(e)}`);
      });
  }

  /** A pod on another machine's node cannot be stopped from here; the test control plane's run wiring pauses its own node's pods. */
  async pausePod(): Promise<Undo> {
    throw new Error("pod-pause needs the pod's process on this machine: only on loadscope's test control plane (its virtual node runs the pods)");
  }

  /** Pod CPU (cores, a rate as metrics.k8s.io reports it) and memory (working set, bytes) every 5 s. */
  private pollMetrics(): void {
    const api = this.kc!.makeApiClient(CustomObjectsApi);
    const once = async () => {
      type PodMetrics = { metadata: { name: string; labels?: Record<string, string> }; containers: { usage: { cpu: string; memory: string } }[] };
      const r = (await api.listNamespacedCustomObject({ group: 'metrics.k8s.io', version: 'v1beta1', namespace: this.namespace, plural: 'pods' })) as { items?: PodMetrics[] };
      const t = now();
      for (const p of r.items ?? []) {
        const tags = { service: p.metadata.labels?.app ?? p.metadata.name, pod: p.metadata.name };
        const cpu = p.containers.reduce((a, c) => a + parseMilliQuantity(c.usage.cpu), 0) / 1000;
        const mem = p.containers.reduce((a, c) => a + memoryBytes(c.usage.memory), 0);
        this.ctx.sink.sample({ metric: 'pod.cpu_cores', time: t, value: cpu, tags });
        this.ctx.sink.sample({ metric: 'pod.memory_bytes', time: t, value: mem, tags });
      }
    };
    const t = setInterval(() => {
      if (this.stopped) return;
      this.metricsPoll = once().catch(() => undefined);
    }, METRICS_PERIOD_MS);
    t.unref();
    this.timers.push(t);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.metricsPoll;
    await Promise.all(this.informers.map((i) => i.stop()));
    if (!this.kc) return;
    const core = this.kc.makeApiClient(CoreV1Api);
    const deadline = Date.now() + DELETE_TIMEOUT_MS;
    if (this.createdNamespace) {
      await core.deleteNamespace({ name: this.namespace }).catch((e) => {
        if (statusOf(e) !== 404) throw e;
      });
      while (Date.now() < deadline) {
        const gone = await core.readNamespace({ name: this.namespace }).then(() => false, (e) => statusOf(e) === 404);
        if (gone) return this.ctx.onStatus(`kubernetes: namespace ${this.namespace} deleted`);
        await new Promise((r) => setTimeout(r, 250));
      }
      this.notes.push(`kubernetes: namespace ${this.namespace} was still terminating after ${DELETE_TIMEOUT_MS / 1000} s; the next run's sweep finishes it`);
      return;
    }
    if (!this.c.deploy) return;
    const client = KubernetesObjectApi.makeApiClient(this.kc);
    const marker: Manifest = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: markerName(runLabel(this.ctx.runId)), namespace: this.namespace } };
    // The marker last: while an object is left, a sweep can still tell whose it is.
    for (const o of [...this.applied.reverse(), marker]) {
      await client.delete(o, undefined, undefined, undefined, undefined, 'Foreground').catch((e) => {
        if (statusOf(e) !== 404) this.notes.push(`kubernetes: ${o.kind}/${o.metadata.name} not deleted: ${describe(e)}`);
      });
    }
  }

  /**
   * Deletes what dead runs left: namespaces labelled with a run whose owner is gone, and — in a
   * namespace the scenario names — the objects of runs whose marker's owner is gone. Returns one line per deletion.
   */
  private async sweep(named: string | undefined): Promise<string[]> {
    const kc = this.kc!;
    const core = kc.makeApiClient(CoreV1Api);
    const out: string[] = [];
    const namespaces = await core.listNamespace({ labelSelector: RUN_LABEL });
    for (const ns of namespaces.items) {
      const name = ns.metadata?.name ?? '';
      if (name === this.namespace && !named) continue;
      const v = ownerDead(ns.metadata?.annotations);
      if (!v.dead) continue;
      const terminating = ns.status?.phase === 'Terminating';
      if (!terminating) {
        await core.deleteNamespace({ name }).catch((e) => {
          if (statusOf(e) !== 404) throw e;
        });
      }
      // A dead run's pods get no drain: deleted at once (a Terminating namespace admits no new ones), so
      // the namespace is gone in seconds even when their node is gone or is this run's virtual node.
      const pods = await core.listNamespacedPod({ namespace: name }).catch(() => ({ items: [] as V1Pod[] }));
      for (const p of pods.items) await core.deleteNamespacedPod({ name: p.metadata?.name ?? '', namespace: name, gracePeriodSeconds: 0 }).catch(() => undefined);
      if (terminating) continue;
      out.push(`namespace ${name} of run ${ns.metadata?.annotations?.[RUN_ID_ANNOTATION] ?? '?'} (${v.why})`);
    }
    if (!named) return out;
    const markers = await core.listNamespacedConfigMap({ namespace: named, labelSelector: RUN_LABEL }).catch(() => ({ items: [] }));
    const client = KubernetesObjectApi.makeApiClient(kc);
    for (const m of markers.items) {
      if (!m.metadata?.name?.startsWith('loadscope-run-')) continue;
      const v = ownerDead(m.metadata.annotations);
      if (!v.dead) continue;
      const label = m.metadata.labels?.[RUN_LABEL] ?? '';
      for (const k of SWEPT_KINDS) {
        const objs = await client.list(k.apiVersion, k.kind, named, undefined, undefined, undefined, undefined, `${RUN_LABEL}=${label}`).catch(() => ({ items: [] as KubernetesObject[] }));
        for (const o of objs.items) {
          if (o.metadata?.name === m.metadata.name && k.kind === 'ConfigMap') continue;
          await client.delete({ apiVersion: k.apiVersion, kind: k.kind, metadata: { name: o.metadata?.name, namespace: named } }).catch(() => undefined);
          out.push(`${k.kind}/${o.metadata?.name} in ${named} of run ${m.metadata.annotations?.[RUN_ID_ANNOTATION] ?? label} (${v.why})`);
        }
      }
      await core.deleteNamespacedConfigMap({ name: m.metadata.name, namespace: named }).catch(() => undefined);
    }
    return out;
  }
}
