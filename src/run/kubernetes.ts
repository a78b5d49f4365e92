// A run of `cluster: { mode: kubernetes }` against loadscope's test control plane: loadscope is the
// cluster's only node (the virtual node, run/kube-node.ts) and its metrics server and custom-metrics
// adapter (kube/metrics-api.ts), so the REAL HPA controller of kube-controller-manager scales pods
// that run here and take the load through the eBPF Service routing. Against any other cluster none of
// this starts: the cluster's own nodes and metrics pipeline do that job.
import { AppsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceCounters } from '../cluster/cluster.ts';
import { loadKubeConfig } from '../cluster/kubernetes/cluster.ts';
import { names } from '../cluster/local/net.ts';
import type { BalancerProvider } from '../core/balancer.ts';
import { LoadscopeError } from '../core/errors.ts';
import type { Ledger } from '../core/ledger.ts';
import type { Sink } from '../core/types.ts';
import { ControlPlane } from '../kube/controlplane.ts';
import { MetricsApi } from '../kube/metrics-api.ts';
import type { ScenarioSpec } from '../scenario/schema.ts';
import { hpaSpecOf } from '../scenario/autoscaler.ts';
import { CounterMetricsProvider } from './kube-metrics.ts';
import { KubeShadow } from './kube-shadow.ts';
import { startKubeNode, type KubeNode } from './kube-node.ts';
import { NodePodFaults } from './kube-faults.ts';
import type { FaultablePods } from '../core/faults.ts';

/** metrics-server's default --metric-resolution, when the scenario has no autoscaler.metricResolution. */
const DEFAULT_RESOLUTION_MS = 15_000;
/** The longest wait for the deployed services to be Ready and routed before the load starts. */
const READY_TIMEOUT_MS = 90_000;

/** What the run needs to know to wire loadscope as the test control plane's node. */
export interface KubeSideContext {
  runId: string;
  ledger: Ledger;
  sink: Sink;
  balancer?: BalancerProvider;
  onStatus: (line: string) => void;
  /** The run's namespace, once the cluster made it (the shadow HPA follows the HPA there). */
  namespace: () => string | undefined;
}

/** The virtual node and the metrics APIs of a run; `stop` removes both (after the cluster removed its objects). */
export interface KubeSide {
  node: KubeNode;
  metrics: MetricsApi;
  /** The local HPA port in shadow of the real controller (when the scenario has an autoscaler). */
  shadow?: KubeShadow;
  /** The interfaces and ranges the load and the pods use (for the probes' filter). */
  ifaces: string[];
  cidrs: string[];
  /** The ports the node's pods listen on (known once they run: call after `ready`). */
  ports(): number[];
  /** Waits until every Deployment of `namespace` has its replicas Ready and the target answers /healthz through its ClusterIP. */
  ready(namespace: string, targetUrl: string, signal: AbortSignal): Promise<void>;
  /** Every pod the node ran, with its counters (results.json's per-pod figures). */
  counters(): Promise<ServiceCounters[]>;
  /** What faults reach of the cluster's pods here: the API's pod-kill plus the node's pause and pod wires (run/kube-faults.ts). */
  faults(cluster: FaultablePods & { readonly runNamespace: string }): FaultablePods;
  stop(): Promise<void>;
}

/**
 * The test control plane whose admin kubeconfig the scenario names, or undefined: a kubeconfig in a
 * loadscope control plane's state directory whose server is that control plane's (`loadscope controlplane
 * up` writes it there). That is the rule for "loadscope is the node": no scenario key is needed.
 */
export function testControlPlaneOf(spec: ScenarioSpec): { cp: ControlPlane; kc: KubeConfig } | undefined {
  if (spec.cluster.mode !== 'kubernetes' || !spec.cluster.kubeconfig) return undefined;
  const cp = ControlPlane.open(dirname(resolve(spec.cluster.kubeconfig)));
  if (!cp) return undefined;
  const kc = loadKubeConfig(spec.cluster);
  return kc.getCurrentCluster()?.server === cp.info.server ? { cp, kc } : undefined;
}

/** Starts the virtual node, then the metrics APIs over its pods; a failure half-way removes what started. */
export async function startKubeSide(spec: ScenarioSpec, cp: ControlPlane, kc: KubeConfig, ctx: KubeSideContext): Promise<KubeSide> {
  const node = await startKubeNode({ kubeConfig: kc, podCidr: cp.info.podCidr, serviceCidr: cp.info.serviceCidr, runId: ctx.runId, ledger: ctx.ledger, sink: ctx.sink, balancer: ctx.balancer, onStatus: ctx.onStatus, podEventPrefix: 'node.' });
  ctx.onStatus(`kubernetes: virtual node ${node.node.name} registered (pods on ${node.host.podCidr} behind bridge ${node.host.bridge}, ClusterIPs of ${cp.info.serviceCidr} routed by eBPF)`);
  const resolutionMs = spec.autoscaler?.metricResolution ?? DEFAULT_RESOLUTION_MS;
  const provider = new CounterMetricsProvider({ scrape: () => node.pods.counters(), resolutionMs });
  let metrics: MetricsApi | undefined;
  const shadow = spec.autoscaler ? new KubeShadow(hpaSpecOf(spec.autoscaler), kc, ctx.namespace, ctx.sink, ctx.onStatus) : undefined;
  try {
    await provider.start();
    metrics = await MetricsApi.start({ kubeconfig: cp.info.kubeconfig, provider, ledger: ctx.ledger, onRequest: shadow?.onRequest });
    ctx.onStatus(`kubernetes: metrics.k8s.io and custom.metrics.k8s.io served at ${metrics.address}:${metrics.port} on link ${metrics.link} (pods scraped every ${resolutionMs / 1000} s)`);
  } catch (err) {
    provider.stop();
    await node.stop();
    throw err;
  }
  const m = metrics;
  let stopped: Promise<void> | undefined;
  let faults: NodePodFaults | undefined;
  return {
    node,
    metrics: m,
    ...(shadow ? { shadow } : {}),
    ifaces: [node.host.bridge, names.vethPattern(node.host.tag)],
    cidrs: [cp.info.podCidr, cp.info.serviceCidr],
    ports: () => node.pods.ports(),
    ready: (namespace, url, signal) => waitReady(kc, namespace, url, signal, ctx.onStatus),
    counters: () => node.pods.serviceCounters(),
    faults: (cluster) => (faults ??= new NodePodFaults(cluster, node.pods, ctx.ledger)),
    stop: () =>
      (stopped ??= (async () => {
        // a stopped process cannot drain: continue every paused pod before the node stops them
        await faults?.resumeAll();
        await shadow?.stop();
        if (shadow) {
          const compared = shadow.decisions.filter((d) => d.compared);
          const dis = compared.filter((d) => d.real !== d.shadow);
          ctx.onStatus(`shadow HPA: ${shadow.decisions.length} syncs of the real controller seen, ${compared.length} compared, ${compared.length - dis.length} agree${dis.length ? `; disagreements: ${dis.map((d) => `${new Date(d.time).toISOString().slice(11, 19)} real ${d.real} port ${d.shadow}`).join(', ')}` : ''}`);
        }
        provider.stop();
        let failure: unknown;
        await m.stop().catch((e: unknown) => (failure = e));
        await node.stop();
        if (failure) throw failure;
      })()),
  };
}

async function waitReady(kc: KubeConfig, namespace: string, url: string, signal: AbortSignal, say: (l: string) => void): Promise<void> {
  const apps = kc.makeApiClient(AppsV1Api);
  const t0 = Date.now();
  const deadline = t0 + READY_TIMEOUT_MS;
  let waiting = 'the Deployments';
  for (;;) {
    signal.throwIfAborted();
    const deps = (await apps.listNamespacedDeployment({ namespace }).catch(() => ({ items: [] }))).items;
    const notReady = deps.filter((d) => (d.status?.readyReplicas ?? 0) < (d.spec?.replicas ?? 1)).map((d) => d.metadata?.name ?? '?');
    if (deps.length && !notReady.length) {
      waiting = `${url}/healthz`;
      if (await healthy(url)) break;
    } else if (deps.length) waiting = `Deployments ${notReady.join(', ')}`;
    if (Date.now() > deadline) {
      throw new LoadscopeError('SERVICE_START', `the services in namespace ${namespace} were not ready within ${READY_TIMEOUT_MS / 1000} s (waiting for ${waiting})`, {
        hint: 'see the journal\'s pod.* and k8s.event records (the virtual node reports why a pod did not start)',
      });
    }
    await sleep(250, undefined, { signal });
  }
  say(`kubernetes: services ready and routed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

async function healthy(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
    await r.arrayBuffer();
    return r.ok;
  } catch {
    return false;
  }
}
