// The shadow HPA of a run on the test control plane: the real HPA controller's metric calls reach
// loadscope's metrics APIs (kube-apiserver proxies them, naming the caller), so each of its syncs is
// seen as a burst of calls by system:serviceaccount:kube-system:horizontal-pod-autoscaler. The answers
// of one burst are exactly the metric values the real controller computed on; the shadow (the local
// port, autoscale/shadow.ts) is given those values, the pods as the API had them at the burst's start,
// and the real controller's current size, and its desired size is compared with the real one's.
//
// "Both had the same metrics" (docs/kubernetes-mode.md): a sync is compared when every metric of the
// spec was answered 200 in its burst; the shadow reads those very answers. The real decision is the
// HPA's status after the burst (status.currentReplicas is the size the sync started from,
// status.desiredReplicas its decision; a status the controller did not rewrite is the same decision).
import { AutoscalingV2Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { ShadowHpa, type ShadowDecision } from '../autoscale/shadow.ts';
import type { HpaObservation, ObservedPod } from '../autoscale/types.ts';
import { now } from '../core/clock.ts';
import { memoryBytes, parseMilliQuantity } from '../core/quantity.ts';
import type { Sink } from '../core/types.ts';
import type { MetricsRequest } from '../kube/metrics-api.ts';
import { REQUESTS_PER_SECOND } from '../scenario/autoscaler.ts';
import { defaultHpaSpec, type HpaSpec } from '../scenario/hpa.ts';

const HPA_USER = 'system:serviceaccount:kube-system:horizontal-pod-autoscaler';
/** Calls closer than this belong to one sync (the controller syncs every few seconds, its calls take ms). */
const BURST_MS = 1500;

interface Burst {
  /** The first call's time, wall clock (MetricsRequest.time): what the API's timestamps compare with. */
  start: number;
  /** The same moment on the run's time base, the hpa.shadow event's time. */
  at: number;
  calls: MetricsRequest[];
  pods: Promise<V1Pod[]>;
}

/** Feeds the shadow from the metrics APIs' call log; `namespace()` is the run's (known once the cluster started). */
export class KubeShadow {
  private readonly shadow: ShadowHpa;
  private readonly spec: ReturnType<typeof defaultHpaSpec>;
  private burst?: Burst;
  private timer?: NodeJS.Timeout;
  private pending: Promise<void>[] = [];
  readonly decisions: ShadowDecision[] = [];
  private stopped = false;

  constructor(
    spec: HpaSpec,
    private readonly kc: KubeConfig,
    private readonly namespace: () => string | undefined,
    sink: Sink,
    private readonly onStatus: (line: string) => void = () => {},
  ) {
    this.spec = defaultHpaSpec(spec);
    this.shadow = new ShadowHpa(spec, sink, spec.scaleTargetRef.name);
  }

  /** The metrics APIs' onRequest. */
  onRequest = (r: MetricsRequest): void => {
    const ns = this.namespace();
    if (this.stopped || !ns || !r.user.includes('horizontal-pod-autoscaler') || !r.path.includes(`/namespaces/${ns}/`)) return;
    if (!this.burst) {
      const core = this.kc.makeApiClient(CoreV1Api);
      const selector = Object.entries({ app: this.spec.scaleTargetRef.name }).map(([k, v]) => `${k}=${v}`).join(',');
      const pods = core.listNamespacedPod({ namespace: ns, labelSelector: selectorOf(r.path) ?? selector }).then((l) => l.items, () => []);
      this.burst = { start: r.time, at: now(), calls: [], pods };
      this.timer = setTimeout(() => this.close(), BURST_MS);
    }
    this.burst.calls.push(r);
  };

  /** Compares the burst under way (if any) and stops. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    if (this.burst) this.close();
    this.stopped = true;
    await Promise.all(this.pending);
  }

  private close(): void {
    const b = this.burst;
    this.burst = undefined;
    const ns = this.namespace();
    if (!b || !ns) return;
    this.pending.push(this.compare(b, ns).catch((e: Error) => this.onStatus(`shadow HPA: sync at ${new Date(b.start).toISOString()} not compared: ${e.message}`)));
  }

  private async compare(b: Burst, ns: string): Promise<void> {
    const hpa = await this.kc.makeApiClient(AutoscalingV2Api).readNamespacedHorizontalPodAutoscaler({ namespace: ns, name: this.spec.scaleTargetRef.name });
    const current = hpa.status?.currentReplicas;
    const desired = hpa.status?.desiredReplicas;
    if (current === undefined || desired === undefined) return;
    const pods = await b.pods;
    const { observation, incomplete } = this.observe(b, ns, current, pods);
    this.decisions.push(this.shadow.sync({ time: b.start, at: b.at, observation, realDesired: desired, ...(incomplete ? { incomplete } : {}) }));
  }

  /** The observation of one burst: the answers it got, the pods at its start, the real controller's current size. */
  private observe(b: Burst, ns: string, currentReplicas: number, pods: V1Pod[]): { observation: HpaObservation; incomplete?: string } {
    const missing: string[] = [];
    const obs: HpaObservation = { currentReplicas, pods: [], resourceMetrics: [], objectMetrics: [] };
    const live = pods.filter((p) => Date.parse(String(p.metadata?.creationTimestamp ?? 0)) <= b.start);
    obs.pods = live.map((p) => observedPod(p, b.start));
    obs.statusReplicas = obs.pods.filter((p) => !p.deleted && p.phase !== 'Failed').length;
    const resources = b.calls.find((c) => c.path.startsWith(`/apis/metrics.k8s.io/v1beta1/namespaces/${ns}/pods`));
    for (const m of this.spec.metrics) {
      if (m.type === 'Resource') {
        if (resources?.code !== 200) {
          missing.push(`${m.resource.name} (${resources ? `answered ${resources.code}` : 'not asked'})`);
          continue;
        }
      } else if (m.type === 'Object' && m.object.describedObject.kind === 'Service' && m.object.metric.name === REQUESTS_PER_SECOND) {
        const path = `/apis/custom.metrics.k8s.io/v1beta2/namespaces/${ns}/services/${m.object.describedObject.name}/${REQUESTS_PER_SECOND}`;
        const call = b.calls.find((c) => c.path.split('?')[0] === path);
        const item = call?.code === 200 ? (call.body as { items?: { value: string; timestamp: string }[] }).items?.[0] : undefined;
        if (!item) {
          missing.push(`${REQUESTS_PER_SECOND} of Service ${m.object.describedObject.name} (${call ? `answered ${call.code}` : 'not asked'})`);
          continue;
        }
        obs.objectMetrics!.push({ describedObject: { ...m.object.describedObject }, name: REQUESTS_PER_SECOND, value: item.value, timestamp: Date.parse(item.timestamp) });
      } else missing.push(`${m.type} metrics are not served by loadscope`);
    }
    if (resources?.code === 200) {
      type Item = { metadata: { name: string }; timestamp: string; window: string; containers: { name: string; usage: { cpu: string; memory: string } }[] };
      for (const it of (resources.body as { items?: Item[] }).items ?? []) {
        const containers = it.containers.map((c) => ({ name: c.name, cpu: parseMilliQuantity(c.usage.cpu), memory: memoryBytes(c.usage.memory) }));
        obs.resourceMetrics!.push({
          pod: it.metadata.name,
          cpu: containers.reduce((a, c) => a + c.cpu, 0),
          memory: containers.reduce((a, c) => a + c.memory, 0),
          containers,
          timestamp: Date.parse(it.timestamp),
          windowMs: goDurationMs(it.window),
        });
      }
    }
    return { observation: obs, ...(missing.length ? { incomplete: `no ${missing.join(', ')}` } : {}) };
  }
}

/** The labelSelector of a call, when it has one. */
function selectorOf(path: string): string | undefined {
  const q = path.indexOf('?');
  return q < 0 ? undefined : (new URLSearchParams(path.slice(q + 1)).get('labelSelector') ?? undefined);
}

/** A pod as the controller's lister had it at `at`: a deletion that started later is not seen. */
function observedPod(p: V1Pod, at: number): ObservedPod {
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
  const grace = (p.metadata?.deletionGracePeriodSeconds ?? 0) * 1000;
  const deletedAt = p.metadata?.deletionTimestamp ? Date.parse(String(p.metadata.deletionTimestamp)) - grace : undefined;
  const sum = (k: 'cpu' | 'memory') =>
    (p.spec?.containers ?? []).reduce<number | undefined>((a, c) => {
      const q = c.resources?.requests?.[k];
      return q === undefined ? a : (a ?? 0) + (k === 'cpu' ? parseMilliQuantity(String(q)) : memoryBytes(String(q)));
    }, undefined);
  const cpu = sum('cpu');
  const memory = sum('memory');
  return {
    name: p.metadata?.name ?? '',
    phase: (p.status?.phase as ObservedPod['phase']) ?? 'Unknown',
    ...(ready ? { ready: ready.status === 'True' } : {}),
    ...(ready?.lastTransitionTime ? { readyTransitionTime: Date.parse(String(ready.lastTransitionTime)) } : {}),
    ...(p.status?.startTime ? { startTime: Date.parse(String(p.status.startTime)) } : {}),
    ...(deletedAt !== undefined && deletedAt <= at ? { deleted: true } : {}),
    requests: { ...(cpu !== undefined ? { cpu } : {}), ...(memory !== undefined ? { memory } : {}) },
  };
}

/** Go's time.Duration text ("5s", "1m0s", "800ms", "2.5s") in ms. */
function goDurationMs(text: string): number {
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/([\d.]+)(h|ms|m|s)/g)) ms += Number(n) * ({ h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as Record<string, number>)[unit as string]!;
  return ms;
}
