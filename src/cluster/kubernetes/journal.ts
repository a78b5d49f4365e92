// What the informers see, written into the journal as local mode writes it (pod.*, service.scaled,
// hpa.start / hpa.status / hpa.rescale / hpa.warning, hpa.replicas samples), each event's `source`
// the Kubernetes component behind it: an Event's source.component (or reportingController), the HPA
// controller for the HPA's status, the kubelet for readiness, the API server for creations and deletions.
import type { CoreV1Event, V1Deployment, V1ManagedFieldsEntry, V1Pod, V1ReplicaSet, V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import { now } from '../../core/clock.ts';
import type { Sink } from '../../core/types.ts';
import type { InformerEvent } from './informer.ts';

const HPA_CONTROLLER = 'horizontal-pod-autoscaler';

/** The service a pod, ReplicaSet or Deployment belongs to: its `app` label, else its name. */
function serviceOf(o: { metadata?: { labels?: Record<string, string>; name?: string } }): string {
  return o.metadata?.labels?.app ?? o.metadata?.name ?? '';
}

/** The field manager that last set spec.replicas (the HPA writes it through the scale subresource). */
function replicasManager(fields: V1ManagedFieldsEntry[] | undefined): string | undefined {
  const setters = (fields ?? []).filter((f) => (f.fieldsV1 as { 'f:spec'?: { 'f:replicas'?: unknown } } | undefined)?.['f:spec']?.['f:replicas'] !== undefined);
  setters.sort((a, b) => new Date(a.time ?? 0).getTime() - new Date(b.time ?? 0).getTime());
  const last = setters.at(-1);
  return last ? `${last.manager ?? 'unknown'}${last.subresource ? `/${last.subresource}` : ''}` : undefined;
}

const ready = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const toMs = (t: Date | string | undefined) => (t === undefined ? undefined : new Date(t).getTime());

/**
 * Turns informer changes into journal records. Each change is written once: the informer reports
 * each once, and an Event that repeats is written again only when its count grows.
 */
export class KubeJournal {
  private readonly sink: Sink;
  private readonly since: number;
  private readonly eventCounts = new Map<string, number>();
  /** HPA name → the Deployment it scales. */
  private readonly targets = new Map<string, string>();
  /** Deployment name → its spec.replicas and the value before the last change. */
  private readonly replicas = new Map<string, { now?: number; before?: number }>();

  /** Events last seen before `sinceMs` (epoch ms) are history, not this run's: they are skipped. */
  constructor(sink: Sink, sinceMs: number) {
    this.sink = sink;
    this.since = sinceMs;
  }

  hpa(e: InformerEvent<V2HorizontalPodAutoscaler>): void {
    const h = e.object;
    const name = h.metadata?.name ?? '';
    const s = h.spec;
    if (s?.scaleTargetRef.kind === 'Deployment') this.targets.set(name, s.scaleTargetRef.name);
    if (e.type === 'added' && s) {
      const target = `${s.scaleTargetRef.kind}/${s.scaleTargetRef.name}`;
      this.sink.event({
        kind: 'hpa.start',
        time: now(),
        source: HPA_CONTROLLER,
        attrs: { hpa: name, target, minReplicas: s.minReplicas ?? 1, maxReplicas: s.maxReplicas, metrics: s.metrics ?? [], ...(s.behavior ? { behavior: s.behavior } : {}), message: `HorizontalPodAutoscaler ${name} (in the cluster) watches ${target} (${s.minReplicas ?? 1}..${s.maxReplicas} replicas)` },
      });
    }
    if (e.type === 'deleted' || !h.status) return;
    if (e.type === 'updated' && JSON.stringify(e.old.status) === JSON.stringify(h.status)) return;
    if (e.type === 'added' && !h.status.conditions?.length && h.status.currentReplicas === undefined) return;
    const st = h.status;
    const t = now();
    const conditions = (st.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason ?? '', message: c.message ?? '' }));
    const current = st.currentReplicas ?? 0;
    const desired = st.desiredReplicas;
    this.sink.event({
      kind: 'hpa.status',
      time: t,
      source: HPA_CONTROLLER,
      attrs: {
        hpa: name,
        currentReplicas: current,
        desiredReplicas: desired,
        currentMetrics: st.currentMetrics ?? [],
        conditions,
        ...(st.lastScaleTime ? { lastScaleTime: toMs(st.lastScaleTime) } : {}),
        message: `replicas ${current}, desired ${desired}; ${conditions.map((c) => `${c.type}=${c.status} (${c.reason})`).join(', ') || 'no conditions yet'}`,
      },
    });
    this.sink.sample({ metric: 'hpa.replicas', time: t, value: current, tags: { hpa: name, kind: 'current' } });
    this.sink.sample({ metric: 'hpa.replicas', time: t, value: desired, tags: { hpa: name, kind: 'desired' } });
  }

  /**
   * The size a rescale to `to` started from: the target Deployment's replicas — or, when the Deployment
   * informer has already seen the scale to `to`, the value before it (the two informers race).
   */
  private fromOf(hpa: string, to: number): number | undefined {
    const d = this.replicas.get(this.targets.get(hpa) ?? '');
    if (!d) return undefined;
    return d.now === to && d.before !== undefined ? d.before : d.now;
  }

  /** Events: the HPA's as hpa.rescale / hpa.warning / hpa.event, the others as k8s.event. */
  event(e: InformerEvent<CoreV1Event>): void {
    if (e.type === 'deleted') return; // Events expire (an hour by default): not something that happened
    const ev = e.object;
    const uid = ev.metadata?.uid ?? `${ev.metadata?.namespace}/${ev.metadata?.name}`;
    const count = ev.series?.count ?? ev.count ?? 1;
    if ((this.eventCounts.get(uid) ?? 0) >= count) return;
    this.eventCounts.set(uid, count);
    const last = toMs(ev.series?.lastObservedTime) ?? toMs(ev.lastTimestamp) ?? toMs(ev.eventTime) ?? toMs(ev.firstTimestamp);
    if (last !== undefined && last < this.since - 1000) return;
    const source = ev.source?.component || ev.reportingComponent || 'kubernetes';
    const obj = ev.involvedObject;
    const common = { type: ev.type ?? 'Normal', reason: ev.reason ?? '', message: ev.message ?? '', count, ...(last !== undefined ? { at: last } : {}) };
    const t = now();
    if (obj.kind === 'HorizontalPodAutoscaler') {
      const hpa = obj.name ?? '';
      const size = /New size: (\d+)/.exec(ev.message ?? '');
      if (ev.reason === 'SuccessfulRescale' && size) {
        const from = this.fromOf(hpa, Number(size[1]));
        this.sink.event({ kind: 'hpa.rescale', time: t, source, attrs: { hpa, ...common, ...(from !== undefined ? { from } : {}), to: Number(size[1]) } });
      } else {
        this.sink.event({ kind: ev.type === 'Warning' ? 'hpa.warning' : 'hpa.event', time: t, source, attrs: { hpa, ...common } });
      }
      return;
    }
    this.sink.event({ kind: 'k8s.event', time: t, source, attrs: { object: `${obj.kind}/${obj.name}`, ...common } });
  }

  deployment(e: InformerEvent<V1Deployment>): void {
    const dname = e.object.metadata?.name ?? '';
    if (e.type === 'deleted') this.replicas.delete(dname);
    else if (e.type === 'added') this.replicas.set(dname, { now: e.object.spec?.replicas });
    else if (e.old.spec?.replicas !== e.object.spec?.replicas) this.replicas.set(dname, { now: e.object.spec?.replicas, before: e.old.spec?.replicas });
    if (e.type !== 'updated') return;
    const from = e.old.spec?.replicas;
    const to = e.object.spec?.replicas;
    if (from === undefined || to === undefined || from === to) return;
    const service = serviceOf(e.object);
    const by = replicasManager(e.object.metadata?.managedFields) ?? 'kube-apiserver';
    this.sink.event({ kind: 'service.scaled', time: now(), source: by, attrs: { service, from, to, message: `Scaled ${service} from ${from} to ${to} replicas (Deployment ${e.object.metadata?.name}, by ${by})` } });
  }

  replicaSet(e: InformerEvent<V1ReplicaSet>): void {
    const rs = e.object;
    const name = rs.metadata?.name ?? '';
    const service = serviceOf(rs);
    if (e.type === 'updated' && e.old.spec?.replicas === rs.spec?.replicas) return;
    const from = e.type === 'updated' ? e.old.spec?.replicas : e.type === 'added' ? 0 : rs.spec?.replicas;
    const to = e.type === 'deleted' ? 0 : rs.spec?.replicas;
    this.sink.event({ kind: 'replicaset.scaled', time: now(), source: 'deployment-controller', attrs: { service, replicaSet: name, from, to, message: `ReplicaSet ${name} ${e.type === 'added' ? 'created' : e.type === 'deleted' ? 'deleted' : 'scaled'}: ${from} → ${to}` } });
  }

  pod(e: InformerEvent<V1Pod>): void {
    const p = e.object;
    const pod = p.metadata?.name ?? '';
    const service = serviceOf(p);
    const ip = p.status?.podIP ? { ip: p.status.podIP } : {};
    const t = now();
    if (e.type === 'added') {
      this.sink.event({ kind: 'pod.created', time: t, source: 'kube-apiserver', attrs: { service, pod, ...ip, phase: p.status?.phase ?? 'Pending', message: `Created pod ${pod}` } });
    }
    if (e.type === 'deleted') {
      this.sink.event({ kind: 'pod.terminated', time: t, source: 'kube-apiserver', attrs: { service, pod, phase: p.status?.phase ?? '', message: `pod ${pod} deleted` } });
      return;
    }
    const old = e.type === 'updated' ? e.old : undefined;
    if (ready(p) && !(old && ready(old))) {
      const created = toMs(p.metadata?.creationTimestamp);
      const startupMs = created !== undefined ? Math.max(0, Math.round(Date.now() - created)) : undefined;
      this.sink.event({ kind: 'pod.ready', time: t, source: 'kubelet', attrs: { service, pod, ...ip, ...(startupMs !== undefined ? { startupMs } : {}), message: `pod ${pod} ready${ip.ip ? ` at ${ip.ip}` : ''}` } });
    }
    if (old && ready(old) && !ready(p) && !p.metadata?.deletionTimestamp) {
      this.sink.event({ kind: 'pod.unready', time: t, source: 'kubelet', attrs: { service, pod, ...ip, message: `pod ${pod} not ready${ip.ip ? ` at ${ip.ip}` : ''}` } });
    }
    if (p.metadata?.deletionTimestamp && !old?.metadata?.deletionTimestamp && e.type === 'updated') {
      this.sink.event({ kind: 'pod.terminating', time: t, source: 'kube-apiserver', attrs: { service, pod, message: `Deleted pod ${pod}` } });
    }
    if (p.status?.phase === 'Failed' && old?.status?.phase !== 'Failed') {
      this.sink.event({ kind: 'pod.failed', time: t, source: 'kubelet', attrs: { service, pod, reason: p.status.reason ?? '', message: `pod ${pod} failed: ${p.status.message ?? p.status.reason ?? ''}` } });
    }
  }
}
