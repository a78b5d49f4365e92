// `loadscope whatif <rundir> --hpa other.yaml`: replays a run's recorded load through the HPA computation
// (autoscale/hpa, the same pure `reconcile` the local controller runs) with another spec, and estimates how
// long the run would have spent over its SLO with the replicas that spec gives. docs/capacity.md states the
// approximations; `approximations` in whatif.json repeats them for each replay.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { newHpaState, reconcile } from '../autoscale/hpa/horizontal.ts';
import type { HpaObservation, ObservedPod } from '../autoscale/types.ts';
import { LoadscopeError, type Problem } from '../core/errors.ts';
import type { RunResult } from '../core/result.ts';
import type { RunHeader } from '../core/types.ts';
import { scanJournal } from '../journal/journal.ts';
import type { WhatifDoc, WhatifSpecSummary, WhatifSync } from '../render/whatif.ts';
import { buildResultFromJournal } from '../run/rebuild.ts';
import { autoscalerSchema, hpaSpecOf, REQUESTS_PER_SECOND } from '../scenario/autoscaler.ts';
import { defaultHpaSpec, type HpaSpec, type MetricSpec } from '../scenario/hpa.ts';
import { parseScenario } from '../scenario/load.ts';

export type { WhatifDoc, WhatifSync };

/** The controller's lag of a sync behind the scrape due with it (autoscale/controller.ts SYNC_LAG_MS). */
const SYNC_LAG_MS = 250;

/** An HPA spec with the loadscope timings, ms. */
export interface TimedSpec {
  spec: HpaSpec;
  syncPeriodMs: number;
  metricResolutionMs: number;
}

/** One counter or gauge of a pod over time, in time order. */
interface Series {
  t: number[];
  v: number[];
}

/** One pod's cumulative counters as the journal has them (pod.* samples, about once a second). */
interface PodSeries {
  service: string;
  cpuS: Series;
  served: Series;
  mem: Series;
  created?: number;
  ready?: number;
  gone?: number;
}

/** What a run recorded of the autoscaler and the load its pods carried. */
export interface Recording {
  header: RunHeader;
  result: RunResult;
  start: number;
  end: number;
  hpaStart: number;
  recordedSpec: TimedSpec;
  syncs: { time: number; current: number; desired: number }[];
  pods: Map<string, PodSeries>;
  /** Pod requests of each service (cpu millicores, memory bytes), from the scenario. */
  requests: Record<string, { cpu?: number; memory?: number }>;
}

/** Reads the other spec: an `autoscaler:` section as a scenario writes it, or a HorizontalPodAutoscaler manifest (its spec:). */
export function readSpecFile(file: string, fallback: { syncPeriodMs: number; metricResolutionMs: number }): TimedSpec {
  let text: string;
  try {
    if (statSync(file).size > 1_000_000) throw new Error('larger than 1 MB');
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new LoadscopeError('FILE_NOT_FOUND', `cannot read HPA spec ${file}`, { cause, hint: 'pass an autoscaler: section as in a scenario, or a HorizontalPodAutoscaler manifest (kubectl get hpa NAME -o yaml)' });
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const p = lc.linePos(e.pos[0]);
    throw new LoadscopeError('SCENARIO_INVALID', `${file}: not YAML`, { problems: [{ file, line: p.line, col: p.col, message: `YAML: ${e.message.split('\n')[0]}`, hint: 'fix the YAML syntax first' }], hint: 'fix the YAML syntax first' });
  }
  let raw = doc.toJS() as Record<string, unknown> | null;
  let base: (string | number)[] = [];
  if (raw && typeof raw === 'object' && raw.kind === 'HorizontalPodAutoscaler' && raw.spec && typeof raw.spec === 'object') {
    raw = raw.spec as Record<string, unknown>;
    base = ['spec'];
  } else if (raw && typeof raw === 'object' && raw.autoscaler && typeof raw.autoscaler === 'object' && !('scaleTargetRef' in raw)) {
    raw = raw.autoscaler as Record<string, unknown>;
    base = ['autoscaler'];
  }
  const parsed = autoscalerSchema.safeParse(raw);
  if (!parsed.success) {
    const problems: Problem[] = parsed.error.issues.map((i) => {
      const path = [...base, ...i.path.map((k) => (typeof k === 'symbol' ? String(k) : k))];
      let node: unknown;
      for (let n = path.length; n >= 0 && !node; n--) node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
      const range = (node as { range?: [number, number] } | undefined)?.range;
      const p = range ? lc.linePos(range[0]) : { line: 1, col: 1 };
      return { file, line: p.line, col: p.col, message: `${path.join('.') || '(top)'}: ${i.message}`, hint: 'see the autoscaler: section in scenarios/quickstart.yaml' };
    });
    throw new LoadscopeError('SCENARIO_INVALID', `${file}: not a valid HPA spec (${problems.length} problem${problems.length === 1 ? '' : 's'})`, { problems, hint: 'the file holds an autoscaler: section as a scenario writes it, or a HorizontalPodAutoscaler manifest' });
  }
  const written = (k: string) => raw !== null && typeof raw === 'object' && k in raw;
  return {
    spec: hpaSpecOf(parsed.data),
    syncPeriodMs: written('syncPeriod') ? parsed.data.syncPeriod : fallback.syncPeriodMs,
    metricResolutionMs: written('metricResolution') ? parsed.data.metricResolution : fallback.metricResolutionMs,
  };
}

/** Reads a run directory's journal: the header, results, the autoscaler's spec and syncs, the pods' counters and lives. */
export function readRecording(dirArg: string): Recording {
  const dir = resolve(dirArg);
  const journal = join(dir, 'events.ndjson');
  if (!existsSync(journal)) throw new LoadscopeError('JOURNAL', `${dir} holds no events.ndjson`, { hint: 'pass a run directory made by `loadscope run`' });
  const { result, header } = buildResultFromJournal(journal);
  let hpaStart: { time: number; attrs: Record<string, unknown> } | undefined;
  const syncs: Recording['syncs'] = [];
  const pods = new Map<string, PodSeries>();
  let end = header.startedAt;
  const pod = (service: string, name: string) => {
    let p = pods.get(name);
    if (!p) pods.set(name, (p = { service, cpuS: { t: [], v: [] }, served: { t: [], v: [] }, mem: { t: [], v: [] } }));
    return p;
  };
  scanJournal(journal, (r) => {
    if (r.type === 'end') end = Math.max(end, r.endedAt);
    if (r.type === 'sample' || r.type === 'event') end = Math.max(end, r.time);
    if (r.type === 'event') {
      const a = r.attrs as Record<string, unknown>;
      if (r.kind === 'hpa.start' && !hpaStart) hpaStart = { time: r.time, attrs: a };
      else if (r.kind === 'hpa.status') syncs.push({ time: r.time, current: Number(a.currentReplicas), desired: Number(a.desiredReplicas) });
      else if (typeof a.pod === 'string' && typeof a.service === 'string') {
        const p = pod(a.service, a.pod);
        if (r.kind === 'pod.created') p.created = r.time;
        else if (r.kind === 'pod.ready') p.ready ??= r.time;
        else if (r.kind === 'pod.terminating' || r.kind === 'pod.terminated' || r.kind === 'pod.failed') p.gone = Math.min(p.gone ?? Infinity, r.time);
      }
    } else if (r.type === 'sample' && r.metric.startsWith('pod.') && r.tags.pod && r.tags.service) {
      const p = pod(r.tags.service, r.tags.pod);
      const series = r.metric === 'pod.cpu_seconds' ? p.cpuS : r.metric === 'pod.requests_served' ? p.served : r.metric === 'pod.memory_bytes' ? p.mem : undefined;
      if (series && Number.isFinite(r.value)) {
        series.t.push(r.time);
        series.v.push(r.value);
      }
    }
  });
  // samples of one pod come from more than one sampler, so not always in time order
  for (const p of pods.values()) for (const x of [p.cpuS, p.served, p.mem]) sortSeries(x);
  if (!hpaStart) {
    throw new LoadscopeError('JOURNAL', `${dir}: the run had no autoscaler (no hpa.start in its journal)`, { hint: 'whatif replays a run whose scenario has an autoscaler: section, run on a cluster loadscope starts' });
  }
  const a = hpaStart.attrs;
  const target = String(a.target ?? '').split('/').pop() ?? '';
  const recordedSpec: TimedSpec = {
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target },
      minReplicas: Number(a.minReplicas),
      maxReplicas: Number(a.maxReplicas),
      metrics: a.metrics as MetricSpec[],
      ...(a.behavior ? { behavior: a.behavior as HpaSpec['behavior'] } : {}),
    },
    syncPeriodMs: Number(a.syncPeriodMs),
    metricResolutionMs: Number(a.metricResolutionMs),
  };
  let requests: Recording['requests'] = {};
  try {
    const s = parseScenario(header.scenarioText, header.scenarioFile, { allowRemote: true });
    requests = { backend: s.spec.services.backend.resources.requests, frontend: s.spec.services.frontend.resources.requests };
  } catch {
    // a scenario this version cannot read: pods without requests (Utilization metrics then report it)
  }
  return { header, result, start: header.startedAt, end, hpaStart: hpaStart.time, recordedSpec, syncs, pods, requests };
}

/** A pod's counter rate over [from, to] from its samples: the last sample at or before each end (the first one after `from` when none precedes it). */
function sortSeries(x: Series): void {
  const order = x.t.map((_, i) => i).sort((a, b) => x.t[a] - x.t[b]);
  x.t = order.map((i) => x.t[i]);
  x.v = order.map((i) => x.v[i]);
}

/**
 * A counter's rate per second over [from, to], its value at each end interpolated linearly between the
 * samples around it (metrics-server reads the counters at the ends; the journal has samples near them).
 * An end outside the samples is moved to the nearest sample.
 */
function rate(x: Series, from: number, to: number): number | undefined {
  const n = x.t.length;
  if (n < 2 || to <= x.t[0]) return undefined;
  const lo = Math.max(from, x.t[0]);
  const hi = Math.min(to, x.t[n - 1]);
  if (hi <= lo) return undefined;
  return Math.max(0, valueAt(x, hi) - valueAt(x, lo)) / ((hi - lo) / 1000);
}

/** The series at time `at` (within its samples), interpolated linearly. */
function valueAt(x: Series, at: number): number {
  const i = atOrBefore(x.t, at);
  if (i < 0) return x.v[0];
  if (i >= x.t.length - 1 || x.t[i] === at) return x.v[i];
  const f = (at - x.t[i]) / (x.t[i + 1] - x.t[i]);
  return x.v[i] + f * (x.v[i + 1] - x.v[i]);
}

/** Index of the last time at or before `x` (times ascending), -1 when none. */
function atOrBefore(t: number[], x: number): number {
  let lo = 0;
  let hi = t.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (t[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** The load the recorded ready pods of `service` carried over the metric window ending at `t`. */
export function recordedLoad(rec: Recording, service: string, t: number, windowMs: number): { cpuMillis: number; rps: number; memPerPod: number; pods: number } {
  let cpu = 0;
  let rps = 0;
  let mem = 0;
  let n = 0;
  let nMem = 0;
  for (const p of rec.pods.values()) {
    if (p.service !== service || (p.ready !== undefined && p.ready > t) || (p.gone !== undefined && p.gone <= t - windowMs)) continue;
    const c = rate(p.cpuS, t - windowMs, t);
    const r = rate(p.served, t - windowMs, t);
    if (c === undefined && r === undefined) continue;
    n++;
    cpu += (c ?? 0) * 1000;
    rps += r ?? 0;
    const m = atOrBefore(p.mem.t, t);
    if (m >= 0) {
      mem += p.mem.v[m];
      nMem++;
    }
  }
  return { cpuMillis: cpu, rps, memPerPod: nMem ? mem / nMem : 0, pods: n };
}

/** One replayed pod: when it was created and when it became (or becomes) ready. */
interface SimPod {
  name: string;
  created: number;
  readyAt: number;
}

/** The replay's course: its syncs, and the replayed pods' lives (for ready counts per window). */
export interface ReplayTrace {
  syncs: { time: number; cpuMillis: number; rps: number; current: number; desired: number; ready: number; reason: string }[];
  lives: { created: number; readyAt: number; gone: number }[];
  startupMs: number;
}

/**
 * Replays the recording through `reconcile` with `other`: syncs every other.syncPeriodMs from the recorded
 * controller's start; at each, the recorded load of the target's ready pods (over other.metricResolutionMs
 * before the latest scrape) is spread evenly over the replayed ready pods; a rescale adds pods that become
 * ready after the recorded median startup, or removes the newest at once.
 */
export function replay(rec: Recording, other: TimedSpec): ReplayTrace {
  const spec = defaultHpaSpec(other.spec);
  const target = spec.scaleTargetRef.name;
  const req = rec.requests[target] ?? {};
  const requests = { ...(req.cpu !== undefined ? { cpu: req.cpu } : {}), ...(req.memory !== undefined ? { memory: req.memory } : {}) };
  const recorded = [...rec.pods.entries()].filter(([, p]) => p.service === target);
  const startups = recorded.filter(([, p]) => p.created !== undefined && p.ready !== undefined).map(([, p]) => p.ready! - p.created!).sort((x, y) => x - y);
  const startupMs = startups.length ? startups[Math.floor(startups.length / 2)] : 1000;
  // the pods alive when the controller started, as recorded
  let pods: SimPod[] = recorded
    .filter(([, p]) => (p.created ?? rec.start) <= rec.hpaStart && (p.gone === undefined || p.gone > rec.hpaStart))
    .map(([name, p]) => ({ name, created: p.created ?? rec.start, readyAt: p.ready ?? p.created ?? rec.start }));
  const lives: ReplayTrace['lives'] = [];
  const retire = (p: SimPod, t: number) => lives.push({ created: p.created, readyAt: p.readyAt, gone: t });
  let state = newHpaState();
  let serial = 0;
  const syncs: ReplayTrace['syncs'] = [];
  const res = other.metricResolutionMs;
  for (let t = rec.hpaStart + SYNC_LAG_MS + other.syncPeriodMs; t <= rec.end; t += other.syncPeriodMs) {
    const scrape = rec.hpaStart + Math.floor((t - rec.hpaStart) / res) * res;
    const load = recordedLoad(rec, target, scrape, res);
    const ready = pods.filter((p) => p.readyAt <= scrape);
    const share = ready.length ? 1 / ready.length : 0;
    const obsPods: ObservedPod[] = pods.map((p) => ({
      name: p.name,
      phase: 'Running',
      ready: p.readyAt <= t,
      startTime: p.created,
      readyTransitionTime: p.readyAt <= t ? p.readyAt : p.created,
      requests,
      containers: [{ name: target, requests: { ...requests } }],
    }));
    const usage = load.pods > 0 ? ready : [];
    const obs: HpaObservation = {
      currentReplicas: pods.length,
      statusReplicas: pods.length,
      pods: obsPods,
      resourceMetrics: usage.map((p) => ({ pod: p.name, cpu: Math.round(load.cpuMillis * share), memory: load.memPerPod, containers: [{ name: target, cpu: Math.round(load.cpuMillis * share), memory: load.memPerPod }], timestamp: scrape, windowMs: res })),
      podMetrics: usage.map((p) => ({ pod: p.name, name: REQUESTS_PER_SECOND, value: round3(load.rps * share), timestamp: scrape, windowMs: res })),
      objectMetrics: spec.metrics
        .filter((m): m is Extract<MetricSpec, { type: 'Object' }> => m.type === 'Object' && m.object.describedObject.kind === 'Service')
        .map((m) => {
          const of = m.object.describedObject.name === target ? load : recordedLoad(rec, m.object.describedObject.name, scrape, res);
          return { describedObject: { ...m.object.describedObject }, name: REQUESTS_PER_SECOND, value: round3(of.rps), timestamp: scrape, pods: of.pods };
        })
        .filter((o) => o.pods > 0)
        .map(({ pods: _p, ...o }) => o),
      ...(spec.metrics.some((m) => m.type === 'External') && load.pods > 0 ? { externalMetrics: [{ name: REQUESTS_PER_SECOND, value: round3(load.rps), timestamp: scrape }] } : {}),
    };
    const r = reconcile(spec, state, obs, t);
    state = r.state;
    const current = pods.length;
    const desired = r.rescale ? r.desiredReplicas : current;
    if (desired > current) {
      for (let i = current; i < desired; i++) pods.push({ name: `replay-${++serial}`, created: t, readyAt: t + startupMs });
    } else if (desired < current) {
      const keep = pods.slice(0, desired);
      for (const p of pods.slice(desired)) retire(p, t);
      pods = keep;
    }
    const reason = r.events.find((e) => e.reason === 'SuccessfulRescale')?.message ?? r.error ?? '';
    syncs.push({ time: t, cpuMillis: load.cpuMillis, rps: load.rps, current, desired, ready: ready.length, reason });
  }
  for (const p of pods) retire(p, Infinity);
  return { syncs, lives, startupMs };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function summary(s: TimedSpec, source: string): WhatifSpecSummary {
  const d = defaultHpaSpec(s.spec);
  const metric = (m: MetricSpec): string => {
    const t = (x: { type: string; averageUtilization?: number; averageValue?: unknown; value?: unknown }) => (x.type === 'Utilization' ? `${x.averageUtilization}%` : x.type === 'AverageValue' ? `${String(x.averageValue)} avg` : String(x.value));
    if (m.type === 'Resource') return `${m.resource.name} ${t(m.resource.target)}`;
    if (m.type === 'ContainerResource') return `${m.containerResource.name} (${m.containerResource.container}) ${t(m.containerResource.target)}`;
    if (m.type === 'Pods') return `pods ${m.pods.metric.name} ${t(m.pods.target)}`;
    if (m.type === 'Object') return `service/${m.object.describedObject.name} ${m.object.metric.name} ${t(m.object.target)}`;
    return `external ${m.external.metric.name} ${t(m.external.target)}`;
  };
  return {
    source,
    target: `${d.scaleTargetRef.kind}/${d.scaleTargetRef.name}`,
    minReplicas: d.minReplicas,
    maxReplicas: d.maxReplicas,
    metrics: d.metrics.map(metric),
    behavior: d.behavior ? JSON.stringify(d.behavior) : 'none (legacy: scale-up at most max(2×, 4), the controller\'s 5 min downscale window)',
    syncPeriodS: s.syncPeriodMs / 1000,
    metricResolutionS: s.metricResolutionMs / 1000,
  };
}

/** Options of a what-if: the other spec (absent: the run's own, a fidelity check) and the capacity per replica. */
export interface WhatifOptions {
  hpaFile?: string;
  /** Requests per second one replica serves within the SLO (e.g. capacity.json's maxRate per replica); estimated from the run when absent. */
  capacityPerReplica?: number;
  capacitySource?: string;
}

/** Replays a run directory with another HPA spec and estimates the time over the SLO for both. */
export function whatif(dirArg: string, opts: WhatifOptions = {}): WhatifDoc {
  const rec = readRecording(dirArg);
  const other = opts.hpaFile ? readSpecFile(opts.hpaFile, rec.recordedSpec) : rec.recordedSpec;
  const target = rec.recordedSpec.spec.scaleTargetRef.name;
  if (other.spec.scaleTargetRef.name !== target) {
    throw new LoadscopeError('USAGE', `${opts.hpaFile}: scaleTargetRef.name is ${other.spec.scaleTargetRef.name}, but the run scaled ${target}`, { hint: `replay the same target: set scaleTargetRef.name: ${target}` });
  }
  for (const m of other.spec.metrics ?? []) {
    const r = m.type === 'Resource' ? m.resource : m.type === 'ContainerResource' ? m.containerResource : undefined;
    if (r?.target.type === 'Utilization' && rec.requests[target]?.[r.name] === undefined) {
      throw new LoadscopeError('USAGE', `${opts.hpaFile}: ${r.name} Utilization is a percentage of the pods' requests, and the run's ${target} pods had no ${r.name} request`, { hint: 'use type AverageValue for this run' });
    }
  }
  const trace = replay(rec, other);
  const own = JSON.stringify(defaultHpaSpec(other.spec)) === JSON.stringify(defaultHpaSpec(rec.recordedSpec.spec)) && other.syncPeriodMs === rec.recordedSpec.syncPeriodMs && other.metricResolutionMs === rec.recordedSpec.metricResolutionMs;
  const nearest = (t: number) => {
    let best: Recording['syncs'][number] | undefined;
    for (const s of rec.syncs) if (Math.abs(s.time - t) <= other.syncPeriodMs / 2 && (!best || Math.abs(s.time - t) < Math.abs(best.time - t))) best = s;
    return best;
  };
  const syncs: WhatifSync[] = trace.syncs.map((s) => {
    const r = nearest(s.time);
    return { t: round3((s.time - rec.start) / 1000), cpuMillis: Math.round(s.cpuMillis), rps: round3(s.rps), recorded: r ? { current: r.current, desired: r.desired } : null, replayed: { current: s.current, desired: s.desired, ready: s.ready, reason: s.reason } };
  });
  const matched = syncs.filter((s) => s.recorded);
  const fidelity = own && matched.length
    ? { syncs: matched.length, sameDesired: matched.filter((s) => s.recorded!.desired === s.replayed.desired).length, maxDifference: Math.max(...matched.map((s) => Math.abs(s.recorded!.desired - s.replayed.desired))) }
    : null;

  // per 1 s window: offered load (the plan's rate for open stages, responses for closed ones), ready replicas
  const an = rec.result.analysis;
  const n = an?.windows ?? Math.ceil((rec.end - rec.start) / 1000);
  const t = Array.from({ length: n }, (_, i) => i);
  const served = an?.series.rps ?? [];
  const offeredRps = t.map((w) => {
    const at = (w + 0.5) * 1000;
    const st = rec.header.plan.find((p) => at >= p.startMs && at < p.startMs + p.durationMs);
    if (st?.rate) return round3(st.rate.from + ((st.rate.to - st.rate.from) * (at - st.startMs)) / st.durationMs);
    return served[w] ?? 0;
  });
  const recReady = an?.series.replicas.find((r) => r.service === target)?.ready ?? t.map(() => null);
  const replayedReady = t.map((w) => {
    const end = rec.start + (w + 1) * 1000;
    // before the controller started, the replayed pods are the recorded ones
    if (end < rec.hpaStart) return recReady[w] ?? 0;
    return trace.lives.filter((l) => l.readyAt <= end && l.gone > end).length;
  });
  const measured = an?.slo ? an.series.violation : null;
  let capacity = opts.capacityPerReplica ?? null;
  let source = opts.capacitySource ?? (capacity !== null ? '--capacity' : '');
  if (capacity === null) {
    const per = t.filter((w) => (recReady[w] ?? 0) > 0 && served[w] > 0).map((w) => served[w] / recReady[w]!);
    if (per.length) {
      capacity = round3(Math.max(...per));
      source = 'estimated from the run: the most any 1 s window served per ready replica (the capacity where the run saturated its replicas, a lower bound where it did not)';
    } else source = 'unknown: no window served anything; pass --capacity';
  }
  // a fluid queue per timeline: the backlog grows by what the ready replicas cannot serve; a window is over
  // the SLO when draining the backlog would take longer than the SLO's latency limit
  const limitS = an?.slo ? an.slo.limitMs / 1000 : 0;
  const over = (ready: (number | null)[]) => {
    let backlog = 0;
    return t.map((w) => {
      if (capacity === null || ready[w] === null) return 0;
      const can = ready[w]! * capacity;
      backlog = Math.max(0, backlog + offeredRps[w] - can);
      return offeredRps[w] > 0 && (can === 0 || backlog / can > limitS) ? 1 : 0;
    });
  };
  const recordedOver = over(recReady);
  const replayedOver = over(replayedReady);
  const sum = (xs: number[]) => xs.reduce((a, x) => a + x, 0);

  const approximations = [
    'the journal records each sync\'s outcome (hpa.status: replicas, metric averages) but not its inputs (the per-pod usage samples with their timestamps and windows, and the pod states the controller read): the replay rebuilds them from the pods\' cumulative counters the cluster journals about once a second (pod.cpu_seconds, pod.requests_served, pod.memory_bytes) over the metric-resolution window before each scrape, and from pod events',
    'the load of the recorded ready pods (what they served, not what was offered: a saturated pod shows its capacity, not the demand) is spread evenly over the replayed ready pods; memory per pod is the recorded mean',
    `replayed pods become ready ${Math.round(trace.startupMs)} ms after they are created (the recorded median); scaled-down pods leave at once`,
    'time over the SLO for replicas that did not run is an estimate: load the ready replicas cannot serve at their capacity queues up, and a 1 s window counts as over when that backlog takes longer than the SLO\'s latency limit to serve; it assumes the load spreads evenly over the ready replicas',
  ];
  return {
    schemaVersion: 1,
    runDir: resolve(dirArg),
    runId: rec.header.runId,
    scenario: rec.header.scenarioName,
    recordedSpec: summary(rec.recordedSpec, 'recorded (the run\'s hpa.start)'),
    otherSpec: summary(other, opts.hpaFile ? resolve(opts.hpaFile) : 'the run\'s own spec (fidelity check)'),
    syncs,
    windows: { t, offeredRps, recordedReady: recReady, replayedReady, recordedOver, replayedOver, measuredViolation: measured ? [...measured] : t.map(() => null) },
    overSlo: {
      measuredS: measured ? sum(measured) : null,
      estimatedRecordedS: sum(recordedOver),
      estimatedReplayedS: sum(replayedOver),
      capacityPerReplica: capacity,
      capacitySource: source,
      method: `a fluid queue per 1 s window: backlog += offered − ready replicas × capacity per replica (never below 0); the window is over when backlog / (ready × capacity) exceeds the SLO limit (${limitS} s${an?.slo ? '' : ': the run has no SLO, so any backlog'}) or no replica is ready; the same estimate is applied to the recorded replicas, beside the measured violation, to show its error`,
    },
    fidelity,
    approximations,
  };
}
