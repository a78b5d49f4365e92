// The local HPA controller: what kube-controller-manager's HPA controller and metrics-server do, against any
// cluster that can report per-pod usage and be scaled. A scraper reads every pod of the services involved once
// per metric resolution and turns cumulative counters into rates, as metrics-server does; every sync period
// the controller builds an HpaObservation from the latest rates and pod states, runs the pure `reconcile`
// (hpa/horizontal.ts), sets the target's size through Scalable.scale and journals Kubernetes-shaped events.

import { now } from '../core/clock.ts';
import type { MetricsOutageTarget } from '../core/faults.ts';
import type { Lifecycle, Sink } from '../core/types.ts';
import type { PodMetricsSource, PodSnapshot, Scalable } from '../core/workload.ts';
import { hpaSpecOf, REQUESTS_PER_SECOND, type AutoscalerSpec } from '../scenario/autoscaler.ts';
import { defaultHpaSpec, type HpaSpec, type MetricSpec } from '../scenario/hpa.ts';
import { newHpaState, reconcile } from './hpa/horizontal.ts';
import type { HpaCondition, HpaControllerConfig, HpaEvent, HpaObservation, HpaState, MetricStatus, ObservedPod, ReconcileResult } from './types.ts';

const SYNC_LAG_MS = 250;

/** What the controller drives: a cluster that reports per-pod usage and can be scaled. */
export type AutoscaledCluster = Scalable & PodMetricsSource;

/**
 * The controller's settings. `spec` is the autoscaling/v2 HPA spec (scaleTargetRef.name names the service);
 * `syncPeriodMs` is --horizontal-pod-autoscaler-sync-period; `metricResolutionMs` is metrics-server's
 * --metric-resolution: usage rates are computed between consecutive scrapes that far apart.
 */
export interface ControllerOptions {
  spec: HpaSpec;
  syncPeriodMs: number;
  metricResolutionMs: number;
  config?: Partial<HpaControllerConfig>;
  /** The HPA's name in events (default: the target's name, as `kubectl autoscale` names it). */
  name?: string;
}

/** One pod's usage over the last resolution window: cpu millicores, memory bytes, requests per second. */
export interface PodRates {
  pod: string;
  cpuMillis: number;
  memoryBytes: number;
  requestsPerSecond: number;
  timestamp: number;
  windowMs: number;
}

/** Per-pod usage rates from cumulative counters, the way metrics-server computes cpu between two scrapes. */
export class RateTracker {
  private prev = new Map<string, PodSnapshot>();
  private rates = new Map<string, PodRates>();

  /** Feeds one scrape of a service's pods; pods absent from it are forgotten. */
  update(snaps: readonly PodSnapshot[]): void {
    const seen = new Set<string>();
    for (const s of snaps) {
      if (s.phase !== 'Running') continue;
      seen.add(s.pod);
      const p = this.prev.get(s.pod);
      if (p && s.time > p.time) {
        const dt = s.time - p.time;
        this.rates.set(s.pod, {
          pod: s.pod,
          cpuMillis: Math.round((Math.max(0, s.cpuSeconds - p.cpuSeconds) * 1e6) / dt),
          memoryBytes: s.memoryBytes,
          requestsPerSecond: (Math.max(0, s.requestsServed - p.requestsServed) * 1000) / dt,
          timestamp: s.time,
          windowMs: dt,
        });
      }
      if (!p || s.time > p.time) this.prev.set(s.pod, s);
    }
    for (const pod of [...this.prev.keys()]) if (!seen.has(pod)) this.prev.delete(pod);
    for (const pod of [...this.rates.keys()]) if (!seen.has(pod)) this.rates.delete(pod);
  }

  /** The latest rates not older than `maxAgeMs` at `nowMs`. */
  current(nowMs: number, maxAgeMs: number): PodRates[] {
    return [...this.rates.values()].filter((r) => nowMs - r.timestamp <= maxAgeMs);
  }
}

/**
 * Maps a cluster's pod snapshot to what the HPA sees of a pod. The pod runs one container, named after its
 * service, whose requests are the pod's.
 */
export function observedPod(s: PodSnapshot): ObservedPod {
  const requests: ObservedPod['requests'] = {};
  if (s.requests.cpuMillis !== undefined) requests.cpu = s.requests.cpuMillis;
  if (s.requests.memoryBytes !== undefined) requests.memory = s.requests.memoryBytes;
  return {
    name: s.pod,
    phase: s.phase,
    ready: s.ready,
    startTime: s.startTime,
    ...(s.readyTransitionTime !== undefined ? { readyTransitionTime: s.readyTransitionTime } : {}),
    ...(s.terminating ? { deleted: true } : {}),
    requests,
    containers: [{ name: s.service, requests: { ...requests } }],
  };
}

/** Services whose pods the spec's metrics need: the target, plus every Service an Object metric describes. */
export function servicesOf(spec: HpaSpec): string[] {
  const out = new Set([spec.scaleTargetRef.name]);
  for (const m of spec.metrics ?? []) if (m.type === 'Object' && m.object.describedObject.kind === 'Service') out.add(m.object.describedObject.name);
  return [...out];
}

/**
 * Builds the HPA's observation: pods of the target with their states and requests; resource usage (also as
 * the usage of the pod's one container, named after the target) and the per-pod request rate from
 * `rates[target]`; for each Object metric on a Service, the sum of that service's per-pod request rates; for
 * an External http_requests_per_second, the sum of the target's. `currentReplicas` is the target's spec
 * size; statusReplicas counts pods not terminating.
 */
export function buildObservation(
  spec: HpaSpec,
  currentReplicas: number,
  pods: readonly PodSnapshot[],
  rates: ReadonlyMap<string, readonly PodRates[]>,
): HpaObservation {
  const target = spec.scaleTargetRef.name;
  const own = rates.get(target) ?? [];
  const objectMetrics: NonNullable<HpaObservation['objectMetrics']> = [];
  for (const m of spec.metrics ?? []) {
    if (m.type !== 'Object' || m.object.metric.name !== REQUESTS_PER_SECOND || m.object.describedObject.kind !== 'Service') continue;
    const of = rates.get(m.object.describedObject.name) ?? [];
    if (of.length === 0) continue;
    objectMetrics.push({
      describedObject: { ...m.object.describedObject },
      name: REQUESTS_PER_SECOND,
      value: round3(of.reduce((a, r) => a + r.requestsPerSecond, 0)),
      timestamp: Math.max(...of.map((r) => r.timestamp)),
    });
  }
  const external = (spec.metrics ?? []).some((m) => m.type === 'External' && m.external.metric.name === REQUESTS_PER_SECOND);
  return {
    currentReplicas,
    statusReplicas: pods.filter((p) => !p.terminating && p.phase !== 'Failed').length,
    pods: pods.map(observedPod),
    resourceMetrics: own.map((r) => ({
      pod: r.pod,
      cpu: r.cpuMillis,
      memory: r.memoryBytes,
      containers: [{ name: target, cpu: r.cpuMillis, memory: r.memoryBytes }],
      timestamp: r.timestamp,
      windowMs: r.windowMs,
    })),
    podMetrics: own.map((r) => ({ pod: r.pod, name: REQUESTS_PER_SECOND, value: round3(r.requestsPerSecond), timestamp: r.timestamp, windowMs: r.windowMs })),
    objectMetrics,
    ...(external && own.length > 0
      ? { externalMetrics: [{ name: REQUESTS_PER_SECOND, value: round3(own.reduce((a, r) => a + r.requestsPerSecond, 0)), timestamp: Math.max(...own.map((r) => r.timestamp)) }] }
      : {}),
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** "150%/60%", "38.2Mi/200Mi", "120/100": one metric's current value over its target, as `kubectl get hpa` shows. */
export function formatTarget(spec: MetricSpec, status: MetricStatus | null): string {
  const unknown = '<unknown>';
  switch (spec.type) {
    case 'Resource': {
      const { name, target } = spec.resource;
      const cur = status?.type === 'Resource' ? status.resource.current : undefined;
      if (target.type === 'Utilization') return `${name} ${cur?.averageUtilization !== undefined ? `${cur.averageUtilization}%` : unknown}/${target.averageUtilization}%`;
      const fmt = (v: number) => (name === 'cpu' ? `${Math.round(v)}m` : `${(v / 2 ** 20).toFixed(1)}Mi`);
      return `${name} ${cur ? fmt(cur.averageValue) : unknown}/${target.averageValue}`;
    }
    case 'Pods': {
      const cur = status?.type === 'Pods' ? status.pods.current.averageValue : undefined;
      return `${spec.pods.metric.name} ${cur !== undefined ? +cur.toFixed(2) : unknown}/${spec.pods.target.averageValue}`;
    }
    case 'ContainerResource': {
      const { name, container, target } = spec.containerResource;
      const cur = status?.type === 'ContainerResource' ? status.containerResource.current : undefined;
      if (target.type === 'Utilization') return `${name} (${container}) ${cur?.averageUtilization !== undefined ? `${cur.averageUtilization}%` : unknown}/${target.averageUtilization}%`;
      const fmt = (v: number) => (name === 'cpu' ? `${Math.round(v)}m` : `${(v / 2 ** 20).toFixed(1)}Mi`);
      return `${name} (${container}) ${cur ? fmt(cur.averageValue) : unknown}/${target.averageValue}`;
    }
    case 'External': {
      const cur = status?.type === 'External' ? status.external.current : undefined;
      const t = spec.external.target;
      const v = t.averageValue !== undefined ? cur?.averageValue : cur?.value;
      return `${spec.external.metric.name}(external) ${v !== undefined ? +v.toFixed(2) : unknown}/${t.averageValue !== undefined ? `${t.averageValue} (avg)` : t.value}`;
    }
    case 'Object': {
      const cur = status?.type === 'Object' ? status.object.current : undefined;
      const ref = `${spec.object.describedObject.kind.toLowerCase()}/${spec.object.describedObject.name}`;
      const t = spec.object.target;
      const v = t.type === 'Value' ? cur?.value : cur?.averageValue;
      return `${ref} ${spec.object.metric.name} ${v !== undefined ? +v.toFixed(2) : unknown}/${t.type === 'Value' ? t.value : `${t.averageValue} (avg)`}`;
    }
  }
}

/** A condition without its transition time, as results and status lines show it. */
export type ConditionSummary = Pick<HpaCondition, 'type' | 'status' | 'reason' | 'message'>;

/**
 * The local HPA controller for one HPA. start() scrapes at once and then every metric resolution, and syncs
 * every sync period (the first one a period after start); stop() ends both loops after the sync in progress.
 * Events (journal kind → attrs): hpa.start; hpa.rescale {type, reason: SuccessfulRescale, message
 * "New size: N; reason: …", from, to, metrics}; hpa.warning {type: Warning, reason, message} (failed metrics,
 * FailedRescale); hpa.status per sync {currentReplicas, desiredReplicas, currentMetrics, conditions, message};
 * hpa.stop {syncs, conditions}. Samples: hpa.replicas {hpa, kind: current|desired}.
 */
export class HpaController implements Lifecycle, MetricsOutageTarget {
  readonly name: string;
  readonly target: string;
  readonly syncPeriodMs: number;
  readonly metricResolutionMs: number;
  private readonly spec: ReturnType<typeof defaultHpaSpec>;
  private readonly services: string[];
  private state: HpaState = newHpaState();
  private trackers = new Map<string, RateTracker>();
  private loops: Promise<void>[] = [];
  private halt = new AbortController();
  private syncing: Promise<unknown> = Promise.resolve();
  private scraping: Promise<void> = Promise.resolve();
  private syncCount = 0;
  private started = false;
  private outage = false;

  constructor(
    private readonly cluster: AutoscaledCluster,
    private readonly sink: Sink,
    private readonly opts: ControllerOptions,
    private readonly onStatus: (line: string) => void = () => {},
  ) {
    this.spec = defaultHpaSpec(opts.spec);
    this.target = opts.spec.scaleTargetRef.name;
    this.name = opts.name ?? this.target;
    this.syncPeriodMs = opts.syncPeriodMs;
    this.metricResolutionMs = opts.metricResolutionMs;
    this.services = servicesOf(opts.spec);
    for (const s of this.services) this.trackers.set(s, new RateTracker());
  }

  /** Syncs done so far. */
  get syncs(): number {
    return this.syncCount;
  }

  /** The HPA's status conditions after the last sync. */
  conditions(): HpaCondition[] {
    return this.state.conditions.map((c) => ({ ...c }));
  }

  async start(signal: AbortSignal): Promise<void> {
    this.started = true;
    signal.addEventListener('abort', () => this.halt.abort(), { once: true });
    const t = now();
    const s = this.spec;
    this.sink.event({
      kind: 'hpa.start',
      time: t,
      source: 'autoscaler',
      attrs: {
        hpa: this.name,
        target: `${s.scaleTargetRef.kind}/${this.target}`,
        minReplicas: s.minReplicas,
        maxReplicas: s.maxReplicas,
        metrics: s.metrics,
        ...(s.behavior ? { behavior: s.behavior } : {}),
        syncPeriodMs: this.syncPeriodMs,
        metricResolutionMs: this.metricResolutionMs,
        message: `HorizontalPodAutoscaler ${this.name} watches ${s.scaleTargetRef.kind}/${this.target} (${s.minReplicas}..${s.maxReplicas} replicas, sync every ${this.syncPeriodMs / 1000}s, metrics every ${this.metricResolutionMs / 1000}s)`,
      },
    });
    this.onStatus(`autoscaler: HPA ${this.name} on ${this.target}, ${s.minReplicas}..${s.maxReplicas} replicas, sync every ${this.syncPeriodMs / 1000}s`);
    await this.scrape();
    this.loops = [
      this.every(this.metricResolutionMs, t, () => this.scrape()),
      // Syncs lag scrapes by a moment so that a sync due with a scrape sees that scrape's rates.
      this.every(this.syncPeriodMs, t + SYNC_LAG_MS, () => (this.syncing = this.sync())),
    ];
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.halt.abort();
    await Promise.all(this.loops);
    await this.syncing.catch(() => undefined);
    this.loops = [];
    this.sink.event({
      kind: 'hpa.stop',
      time: now(),
      source: 'autoscaler',
      attrs: { hpa: this.name, syncs: this.syncCount, conditions: this.state.conditions.map(summary), message: `HPA ${this.name} stopped after ${this.syncCount} syncs` },
    });
  }

  /**
   * A metrics-outage fault: while on, scrapes read nothing and every sync sees no metrics at all, as an
   * HPA does when the metrics APIs fail (ScalingActive False with FailedGet…Metric, the size kept).
   */
  setMetricsOutage(on: boolean): void {
    this.outage = on;
    this.sink.event({
      kind: on ? 'hpa.metrics_down' : 'hpa.metrics_up',
      time: now(),
      source: 'autoscaler',
      attrs: { hpa: this.name, message: on ? `the metric source of HPA ${this.name} fails (metrics-outage)` : `the metric source of HPA ${this.name} answers again` },
    });
  }

  /** One metrics scrape of every involved service (exposed for tests). */
  scrape(): Promise<void> {
    return (this.scraping = this.scrapeAll());
  }

  private async scrapeAll(): Promise<void> {
    if (this.outage) return;
    await Promise.all(
      this.services.map(async (svc) => {
        try {
          this.trackers.get(svc)!.update(await this.cluster.podMetrics(svc));
        } catch {
          // a pod that cannot be read now has no fresh rate; the sync treats it as missing, like metrics-server
        }
      }),
    );
  }

  /** One sync of the HPA now (exposed for tests): observe, reconcile, rescale, journal. */
  async sync(): Promise<ReconcileResult> {
    await this.scraping;
    const t = now();
    const maxAge = 2 * this.metricResolutionMs + 1000;
    const rates = new Map<string, PodRates[]>();
    for (const [svc, tracker] of this.trackers) rates.set(svc, this.outage ? [] : tracker.current(t, maxAge));
    let pods: PodSnapshot[] = [];
    try {
      pods = await this.cluster.podMetrics(this.target);
    } catch {
      // no pod list: reconcile reports the metrics as unavailable
    }
    const currentReplicas = this.cluster.replicas(this.target);
    const obs = buildObservation(this.spec, currentReplicas, pods, rates);
    const result = reconcile(this.spec, this.state, obs, t, this.opts.config);
    let { state, events, conditions } = result;
    let desired = result.desiredReplicas;
    if (result.rescale) {
      try {
        await this.cluster.scale(this.target, desired);
      } catch (err) {
        // upstream: FailedRescale event, AbleToScale False; the scale event and last scale time are not recorded
        const message = (err as Error).message;
        events = events.map((e) =>
          e.reason === 'SuccessfulRescale' ? { type: 'Warning', reason: 'FailedRescale', message: `${e.message}; error: ${message}`, time: e.time } : e,
        );
        conditions = conditions.map((c) =>
          c.type === 'AbleToScale'
            ? { ...c, status: 'False', reason: 'FailedUpdateScale', message: `the HPA controller was unable to update the target scale: ${message}`, lastTransitionTime: c.status === 'False' ? c.lastTransitionTime : t }
            : c,
        );
        state = { ...state, conditions, scaleUpEvents: this.state.scaleUpEvents, scaleDownEvents: this.state.scaleDownEvents };
        if (this.state.lastScaleTime !== undefined) state.lastScaleTime = this.state.lastScaleTime;
        else delete state.lastScaleTime;
        desired = currentReplicas;
      }
    }
    this.state = state;
    this.syncCount++;
    this.journal(t, currentReplicas, desired, events, conditions, result.metricStatuses, obs);
    return { ...result, state, events, conditions, desiredReplicas: desired };
  }

  private journal(t: number, current: number, desired: number, events: HpaEvent[], conditions: HpaCondition[], statuses: (MetricStatus | null)[], observation: HpaObservation): void {
    const metrics = [...statuses];
    for (const e of events) {
      if (e.reason === 'SuccessfulRescale') {
        this.sink.event({
          kind: 'hpa.rescale',
          time: t,
          source: 'autoscaler',
          attrs: { hpa: this.name, type: e.type, reason: e.reason, message: e.message, from: current, to: desired, metrics },
        });
        this.onStatus(`autoscaler: ${this.target} ${current} → ${desired} (${e.message})`);
      } else {
        this.sink.event({ kind: 'hpa.warning', time: t, source: 'autoscaler', attrs: { hpa: this.name, type: e.type, reason: e.reason, message: e.message } });
      }
    }
    const targets = this.spec.metrics.map((m, i) => formatTarget(m, statuses[i] ?? null));
    this.sink.event({
      kind: 'hpa.status',
      time: t,
      source: 'autoscaler',
      attrs: {
        hpa: this.name,
        currentReplicas: current,
        desiredReplicas: desired,
        currentMetrics: metrics,
        conditions: conditions.map(summary),
        // what this sync computed on, so a replay (whatif, a shadow) can repeat it exactly
        observation,
        ...(this.state.lastScaleTime !== undefined ? { lastScaleTime: this.state.lastScaleTime } : {}),
        message: `replicas ${current}, desired ${desired}; ${targets.join(', ')}`,
      },
    });
    this.sink.sample({ metric: 'hpa.replicas', time: t, value: current, tags: { hpa: this.name, kind: 'current' } });
    this.sink.sample({ metric: 'hpa.replicas', time: t, value: desired, tags: { hpa: this.name, kind: 'desired' } });
  }

  /** Runs `fn` at origin + k × period (k ≥ 1) until stopped; a slow run delays the next without drift. */
  private async every(periodMs: number, origin: number, fn: () => Promise<unknown>): Promise<void> {
    const signal = this.halt.signal;
    for (let k = 1; !signal.aborted; k++) {
      const wait = origin + k * periodMs - now();
      if (wait > 0) await sleep(wait, signal);
      if (signal.aborted) return;
      try {
        await fn();
      } catch (err) {
        this.sink.event({ kind: 'hpa.warning', time: now(), source: 'autoscaler', attrs: { hpa: this.name, type: 'Warning', reason: 'InternalError', message: String((err as Error).message ?? err) } });
      }
      const behind = Math.floor((now() - origin) / periodMs);
      if (behind > k) k = behind;
    }
  }
}

function summary(c: HpaCondition): ConditionSummary {
  return { type: c.type, status: c.status, reason: c.reason, message: c.message };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * The run's controller for the scenario's `autoscaler:` section, or undefined (with a notice saying why) when
 * there is no section or nothing to scale: a target loadscope did not start, or a cluster that cannot scale or
 * report pod usage. Construct before the run header is written (notices), start() once it is.
 */
export function autoscalerFor(
  section: AutoscalerSpec | undefined,
  cluster: (Partial<AutoscaledCluster> & { mode?: string }) | undefined,
  sink: Sink,
  notices: string[],
  onStatus: (line: string) => void = () => {},
): HpaController | undefined {
  if (!section) return undefined;
  if (!cluster || typeof cluster.scale !== 'function' || typeof cluster.podMetrics !== 'function' || typeof cluster.replicas !== 'function') {
    notices.push(`autoscaler not run: ${cluster ? `the ${cluster.mode ?? ''} cluster cannot scale services or report pod usage` : 'the target was not started by loadscope'}`);
    return undefined;
  }
  const { syncPeriod, metricResolution } = section;
  const spec = hpaSpecOf(section);
  notices.push(
    `autoscaler: the local HPA controller (Kubernetes autoscaling/v2 algorithm) scales ${spec.scaleTargetRef.kind}/${spec.scaleTargetRef.name}, sync every ${syncPeriod / 1000}s, metrics over ${metricResolution / 1000}s windows`,
  );
  return new HpaController(cluster as AutoscaledCluster, sink, { spec, syncPeriodMs: syncPeriod, metricResolutionMs: metricResolution }, onStatus);
}
