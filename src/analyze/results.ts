import { parse as parseYaml } from 'yaml';
import { scenarioSchema } from '../scenario/schema.ts';
import type { RawHandlers, RawLine } from '../journal/journal.ts';
import { Analyzer } from './analysis.ts';
import { faultsBlock } from './faults.ts';
import { decodeSparse, DEFAULT_LAYOUT, type SparseHist } from '../core/histogram.ts';
import { HistAcc, mergeSparse, summarizeSparse } from './hist.ts';
import { RESULT_SCHEMA_VERSION, type LatencySummary, type RunResult } from '../core/result.ts';
import type { JournalRecord, RunEvent, RunFooter, RunHeader, Sample } from '../core/types.ts';
import { evaluateThresholds, k6Thresholds, ThresholdData, type ThresholdAbortRecord, type ThresholdResult } from './thresholds.ts';
import { ProbeAccumulator, probeNotices, takeConn } from './probes.ts';

/** Metrics whose encoded histogram is decoded once per record and shared by every accumulator. */
const HIST_METRICS = new Set(['http.latency_us', 'http.service_time_us', 'probe.pkt_latency_ns', 'probe.tcp_srtt_us']);

type Window = { stage: string; reqs: number; errors: number; hists: SparseHist[] };
type StageAgg = { reqs: number; late: number; errors: number; hist: HistAcc };

/**
 * Builds results.json from a journal alone, as its records stream past (`add`, or `raw()` fast paths
 * for scanJournal): memory grows with windows and distinct keys, not with records. The same records
 * always give the same result, so `loadscope report <rundir>` reproduces what the run wrote.
 * `finish` leaves the state as it was: a live view adds records and finishes again every second.
 */
export class ResultBuilder {
  private header: (RunHeader & { type: 'run' }) | undefined;
  private footer: (RunFooter & { type: 'end' }) | undefined;
  private lastTime = -Infinity;
  private readonly events: RunEvent[] = [];
  private readonly all = new HistAcc();
  private readonly service = new HistAcc();
  private readonly byWindow = new Map<number, Window>();
  private readonly early: (Sample & { type: 'sample' })[] = [];
  private readonly byStage = new Map<string, StageAgg>();
  private readonly errorsByKind: Record<string, number> = {};
  private responses = 0;
  private bytes = 0;
  private readonly services: RunResult['services'] = {};
  private readonly routing = new RoutingAccumulator();
  private readonly probes = new ProbeAccumulator();
  private readonly analyzer = new Analyzer();
  private readonly thresholdData = new ThresholdData();
  private readonly faultDrops: { time: number; dropped: number }[] = [];
  /** machine.wake_cpu_us readings (one a second: src/run/wake-gauge.ts). */
  private readonly wake: number[] = [];

  private seen(time: number): void {
    if (time > this.lastTime) this.lastTime = time;
  }

  /** Fast paths for scanJournal: records this builder only counts, or reads a few fields of. */
  raw(): RawHandlers {
    return new Map<string, (l: RawLine) => boolean>([
      // sampled fib lookups: the report counts decisions from probe.route_lookups, not from these
      ['probe.route', (l) => this.skim(l, 'event')],
      ['routing.decision', (l) => this.skim(l, 'sample') && (this.routing.decisions++, true)],
      ['probe.conn', (l) => takeConn(l, this.probes) && (this.took(l), true)],
    ]);
  }

  private skim(l: RawLine, type: RawLine['type']): boolean {
    if (l.type !== type) return false;
    this.took(l);
    return true;
  }

  /** A record a fast path took: its time counts when it may be the latest yet (exact time costs a string). */
  private took(l: RawLine): void {
    if (l.timeFloor + 1 <= Math.min(this.lastTime, this.analyzer.latest)) return;
    this.seen(l.time);
    this.analyzer.addTime(l.time);
  }

  add(r: JournalRecord): void {
    const hist = r.type === 'sample' && r.hist && HIST_METRICS.has(r.metric) ? decodeSparse(r.hist) : undefined;
    this.analyzer.add(r, hist);
    this.probes.add(r, hist);
    this.routing.add(r);
    this.thresholdData.add(r, hist);
    switch (r.type) {
      case 'run':
        this.header ??= r;
        for (const s of this.early.splice(0)) this.sample(s, undefined);
        return;
      case 'end':
        this.footer ??= r;
        return;
      case 'event':
        this.seen(r.time);
        if (!r.kind.startsWith('probe.') || r.kind === 'probe.lost') this.events.push(r);
        return;
      case 'sample':
        this.seen(r.time);
        if (!this.header) this.early.push(r);
        else this.sample(r, hist);
    }
  }

  private win(s: Sample): Window {
    const idx = Math.floor((s.time - this.header!.startedAt) / 1000);
    let w = this.byWindow.get(idx);
    if (!w) this.byWindow.set(idx, (w = { stage: s.tags.stage ?? '', reqs: 0, errors: 0, hists: [] }));
    return w;
  }

  private stageAgg(s: Sample): StageAgg {
    const stage = s.tags.stage ?? '';
    let a = this.byStage.get(stage);
    if (!a) this.byStage.set(stage, (a = { reqs: 0, late: 0, errors: 0, hist: new HistAcc() }));
    return a;
  }

  private sample(s: Sample, hist: SparseHist | undefined): void {
    switch (s.metric) {
      case 'http.reqs':
        this.responses += s.value;
        this.win(s).reqs += s.value;
        this.stageAgg(s).reqs += s.value;
        break;
      case 'http.reqs_late':
        this.stageAgg(s).late += s.value;
        break;
      case 'http.bytes':
        this.bytes += s.value;
        break;
      case 'http.errors': {
        const kind = s.tags.kind ?? 'other';
        this.errorsByKind[kind] = (this.errorsByKind[kind] ?? 0) + s.value;
        this.win(s).errors += s.value;
        this.stageAgg(s).errors += s.value;
        break;
      }
      case 'http.latency_us': {
        const h = hist ?? decodeSparse(s.hist!);
        this.all.add(h);
        const w = this.win(s);
        w.hists.push(h);
        if (w.hists.length > 8) w.hists = [mergeSparse(w.hists)];
        this.stageAgg(s).hist.add(h);
        break;
      }
      case 'machine.wake_cpu_us':
        if (Number.isFinite(s.value)) this.wake.push(s.value);
        break;
      case 'fault.packets':
        this.faultDrops.push({ time: s.time, dropped: Number(s.meta?.dropped ?? 0) });
        break;
      case 'http.service_time_us':
        this.service.add(hist ?? decodeSparse(s.hist!));
        break;
      case 'service.requests_served':
      case 'service.requests_aborted':
      case 'service.cpu_seconds':
      case 'service.rss_bytes': {
        const field = SERVICE_FIELDS[s.metric];
        const entry = (this.services[s.tags.service] ??= { role: s.tags.role ?? 'service', requestsServed: 0, requestsAborted: 0, cpuSeconds: 0, rssBytes: 0 });
        entry[field] += s.value;
        const pod = s.tags.pod ?? s.tags.service;
        const pods = (entry.pods ??= {});
        const p = (pods[pod] ??= { requestsServed: 0, requestsAborted: 0, cpuSeconds: 0, rssBytes: 0 });
        p[field] += s.value;
        break;
      }
    }
  }

  finish(): RunResult {
    const header = this.header;
    if (!header) throw new Error('journal has no run header');
    const footer = this.footer;
    const events = this.events;
    const t0 = header.startedAt;
    const endedAt = footer?.endedAt ?? Math.max(t0, this.lastTime);
    const { errorsByKind, responses, byWindow, byStage } = this;
    // a copy: finish() must leave the builder able to take more records
    const services = structuredClone(this.services);

    const engineSummary = events.find((e) => e.kind === 'engine.summary')?.attrs ?? {};
    const num = (k: string) => (typeof engineSummary[k] === 'number' ? (engineSummary[k] as number) : 0);
    const errors = Object.values(errorsByKind).reduce((a, b) => a + b, 0);
    const unanswered = (errorsByKind.timeout ?? 0) + (errorsByKind.conn ?? 0);

    const stageStarts = events.filter((e) => e.kind === 'stage.start');
    const stageEnds = events.filter((e) => e.kind === 'stage.end');
    const loadStart = stageStarts[0]?.time ?? t0;
    const loadEnd = stageEnds.at(-1)?.time ?? endedAt;
    const loadS = Math.max(0.001, (loadEnd - loadStart) / 1000);
    // responses to the last stage's requests that came after it ended came in the drain, outside loadS
    const drained = byStage.get(String(stageEnds.at(-1)?.attrs.stage ?? ''))?.late ?? 0;

    const stages: RunResult['stages'] = header.plan.map((p) => {
      const started = stageStarts.find((e) => e.attrs.stage === p.name);
      const ended = stageEnds.find((e) => e.attrs.stage === p.name);
      const agg = byStage.get(p.name) ?? { reqs: 0, late: 0, errors: 0, hist: new HistAcc() };
      const dur = started && ended ? (ended.time - started.time) / 1000 : null;
      const hist = agg.hist.sparse();
      const why = [
        !started ? 'never started' : !ended ? `did not end: the run ${footer?.outcome ?? 'crashed'} first` : '',
        hist.total === 0 ? 'no responses: no latency' : '',
      ].filter(Boolean);
      return {
        name: p.name,
        model: p.model,
        startS: started ? round((started.time - t0) / 1000, 3) : p.startMs / 1000,
        durationS: dur === null ? null : round(dur, 3),
        ...(p.connections !== undefined ? { connections: p.connections } : {}),
        ...(p.rate !== undefined ? { rate: p.rate } : {}),
        requests: agg.reqs,
        errors: agg.errors,
        rps: dur === null ? null : dur > 0 ? round((agg.reqs - agg.late) / dur, 2) : 0,
        latencyMs: hist.total ? ms(hist) : null,
        ...(why.length ? { note: why.join('; ') } : {}),
      };
    });

    const stressOn = stressTimeline(events, t0);
    let lastIdx = -1;
    for (const k of byWindow.keys()) if (k > lastIdx) lastIdx = k;
    const windows: RunResult['windows'] = [];
    for (let i = 0; i <= lastIdx; i++) {
      const w = byWindow.get(i);
      const time = t0 + i * 1000;
      const h = w?.hists.length ? mergeSparse(w.hists) : EMPTY;
      const s = h.total ? summarizeSparse(h, 1000) : undefined;
      const q = (v: number | undefined) => (v === undefined ? null : round(v, 3));
      windows.push({
        time,
        t: i,
        stage: w?.stage ?? stageAt(events, time),
        rps: w?.reqs ?? 0,
        errors: w?.errors ?? 0,
        latencyMs: { p50: q(s?.p50), p90: q(s?.p90), p99: q(s?.p99), max: q(s?.max) },
        ...(s ? {} : { noData: 'no request finished in this window' }),
        stressCores: stressOn(time + 500),
      });
    }

    const frontend = Object.entries(services).find(([, v]) => v.role === 'frontend') ?? Object.entries(services)[0];
    const inFlightAtCutoff = num('inFlightAtCutoff');
    const checks: RunResult['checks'] = {};
    if (frontend) {
      const clientResponses = responses;
      const difference = frontend[1].requestsServed - clientResponses;
      checks.servedVsClient = {
        service: frontend[0],
        clientResponses,
        served: frontend[1].requestsServed,
        difference,
        allowed: inFlightAtCutoff + unanswered,
        ok: difference >= 0 && difference <= inFlightAtCutoff + unanswered,
      };
    }

    const judged = judgedBy(header);
    const scenarioThresholds = judged.thresholds ?? {};
    const description = judged.description;
    const notices = judged.problem ? [...header.notices, `thresholds unknown: ${judged.problem}`] : header.notices;
    const allSparse = this.all.sparse();
    const dropped = 'dropped' in engineSummary ? num('dropped') : null;
    const thresholds: ThresholdResult[] = judged.thresholds
      ? []
      : [{ metric: 'thresholds', expression: 'the scenario\'s thresholds', observed: null, ok: false, status: 'unknown', source: 'loadscope' }];
    if (judged.script) thresholds.push(...k6Thresholds(events.filter((e) => e.kind === 'k6.summary').map((e) => (Array.isArray(e.attrs.thresholds) ? e.attrs.thresholds : []))));

    const stressList: RunResult['stress'] = events
      .filter((e) => e.kind === 'stress.start')
      .map((e) => {
        const stop = events.find((x) => x.kind === 'stress.stop' && x.attrs.name === e.attrs.name && x.time >= e.time);
        return {
          name: String(e.attrs.name),
          startS: round((e.time - t0) / 1000, 3),
          ...(stop ? { endS: round((stop.time - t0) / 1000, 3) } : {}),
          cores: Number(e.attrs.cores),
          utilization: Number(e.attrs.utilization),
        };
      });

    const probeStatus = events.find((e) => e.kind === 'probes.status')?.attrs ?? { enabled: false, reason: 'probes were not started' };

    const probesSummary = this.probes.finish();

    const result: RunResult = {
      schemaVersion: RESULT_SCHEMA_VERSION,
      runId: header.runId,
      scenario: { name: header.scenarioName, file: header.scenarioFile, ...(description ? { description } : {}) },
      engine: header.engine,
      startedAt: new Date(t0).toISOString(),
      endedAt: new Date(endedAt).toISOString(),
      durationS: round((endedAt - t0) / 1000, 3),
      outcome: footer?.outcome ?? 'crashed',
      // the notices the parts wrote while the run went (load.notice, probes.notice: what failed, when), after the run's own
      notices: [...notices, ...events.filter((e) => e.kind.endsWith('.notice') && typeof e.attrs.message === 'string').map((e) => e.attrs.message as string), ...probeNotices(probeStatus, probesSummary)],
      http: {
        requests: responses,
        requestsSent: num('requestsSent'),
        errors,
        errorsByKind: { ...errorsByKind },
        errorRate: responses + unanswered > 0 ? round(errors / (responses + unanswered), 6) : 0,
        rps: round((responses - drained) / loadS, 2),
        bytes: this.bytes,
        inFlightAtCutoff,
        dropped: num('dropped'),
        latencyBasis: String(engineSummary.latencyBasis ?? 'unknown'),
        latencyMs: allSparse.total ? ms(allSparse) : null,
        ...(this.service.total ? { serviceTimeMs: ms(this.service.sparse()) } : {}),
      },
      stages,
      windows,
      services,
      checks,
      stress: stressList,
      thresholds,
      probes: { status: probeStatus, ...probesSummary },
      events: events
        .slice(0, 5000)
        .map((e) => ({ t: round((e.time - t0) / 1000, 3), kind: e.kind, source: e.source, text: describe(e) })),
      environment: header.environment,
      engineNative: (engineSummary.extra as Record<string, unknown> | undefined) ?? {},
      ...this.routing.finish(t0),
      ...autoscalingBlock(events, t0, endedAt),
      ...machineBlock(this.wake),
    };

    result.analysis = this.analyzer.finish(result, scenarioThresholds);
    if (events.some((e) => e.kind.startsWith('fault.'))) {
      const probesOn = (probeStatus as { enabled?: unknown }).enabled === true;
      result.faults = faultsBlock(events, windows, t0, endedAt, this.faultDrops, probesOn ? result.analysis.series.retransmits : undefined);
      for (const e of events.filter((x) => x.kind === 'fault.skipped')) result.notices.push(String(e.attrs.message));
    }
    if (judged.thresholds) {
      const aborted: ThresholdAbortRecord[] = events
        .filter((e) => e.kind === 'threshold.abort')
        .map((e) => ({ metric: String(e.attrs.metric), expression: String(e.attrs.expression), t: round((e.time - t0) / 1000, 3), observed: typeof e.attrs.observed === 'number' ? e.attrs.observed : null }));
      const stagesData = this.thresholdData.stages();
      const packetLatencyNs = this.thresholdData.packetLatencyNs();
      const inputs = { latencyMs: allSparse, attempts: responses + unanswered, failed: errors, dropped, durationS: loadS, stages: stagesData, packetLatencyNs, result, aborted };
      thresholds.unshift(...evaluateThresholds(scenarioThresholds, inputs));
    }
    return result;
  }
}

const EMPTY: SparseHist = { layout: DEFAULT_LAYOUT, idx: [], cnt: [], total: 0 };

/**
 * What the run is judged by: the thresholds, description and user script its header recorded as
 * resolved; for journals older than that, the kept scenario text read again (never a file: a moved
 * script or another working directory changes nothing). `problem` when neither can be read.
 */
function judgedBy(h: RunHeader): { thresholds?: Record<string, string[]>; description?: string; script?: string; problem?: string } {
  if (h.thresholds) return { thresholds: h.thresholds, description: h.description, script: h.script };
  let raw: unknown;
  try {
    raw = parseYaml(h.scenarioText);
  } catch (e) {
    return { problem: `the journal has no resolved thresholds and its scenario text is not YAML (${(e as Error).message.split('\n')[0]})` };
  }
  const sc = scenarioSchema.safeParse(raw);
  if (!sc.success) return { problem: `the journal has no resolved thresholds and its scenario text does not validate (${sc.error.issues[0]?.message ?? 'invalid'})` };
  return { thresholds: sc.data.thresholds as Record<string, string[]>, description: sc.data.description, script: sc.data.script };
}

/** Builds results.json from a whole journal held in memory (ResultBuilder over every record). */
export function buildResult(records: Iterable<JournalRecord>): RunResult {
  const b = new ResultBuilder();
  for (const r of records) b.add(r);
  return b.finish();
}

const SERVICE_FIELDS: Record<string, 'requestsServed' | 'requestsAborted' | 'cpuSeconds' | 'rssBytes'> = {
  'service.requests_served': 'requestsServed',
  'service.requests_aborted': 'requestsAborted',
  'service.cpu_seconds': 'cpuSeconds',
  'service.rss_bytes': 'rssBytes',
};

function ms(h: SparseHist): LatencySummary {
  const s = summarizeSparse(h, 1000);
  return { min: round(s.min, 3), mean: round(s.mean, 3), p50: round(s.p50, 3), p90: round(s.p90, 3), p95: round(s.p95, 3), p99: round(s.p99, 3), p999: round(s.p999, 3), max: round(s.max, 3) };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function stageAt(events: RunEvent[], time: number): string {
  let name = '';
  for (const e of events) if (e.kind === 'stage.start' && e.time <= time) name = String(e.attrs.stage);
  return name;
}

function stressTimeline(events: RunEvent[], _t0: number): (time: number) => number {
  const changes = events
    .filter((e) => e.kind === 'stress.start' || e.kind === 'stress.stop')
    .map((e) => ({ time: e.time, name: String(e.attrs.name), cores: e.kind === 'stress.start' ? Number(e.attrs.cores) * Number(e.attrs.utilization ?? 1) : 0 }))
    .sort((a, b) => a.time - b.time);
  return (time) => {
    const on = new Map<string, number>();
    for (const c of changes) if (c.time <= time) on.set(c.name, c.cores);
    let total = 0;
    for (const v of on.values()) total += v;
    return total;
  };
}

function describe(e: RunEvent): string {
  const a = e.attrs;
  switch (e.kind) {
    case 'stage.start':
      return `stage ${a.stage} started (${a.model === 'open' ? `rate ${JSON.stringify(a.rate)}` : `${a.connections} connections`})`;
    case 'stage.end':
      return `stage ${a.stage} ended`;
    case 'stress.start':
      return `CPU stress ${a.name}: ${a.cores} core(s) at ${Math.round(Number(a.utilization) * 100)}%`;
    case 'stress.stop':
      return `CPU stress ${a.name} stopped (${a.reason})`;
    default:
      return typeof a.message === 'string' ? a.message : JSON.stringify(a).slice(0, 300);
  }
}

/** The `routing` block from routing.* records (local cluster) or frontend.upstream_* samples (loopback); none when neither is there. */
class RoutingAccumulator {
  private readonly services: Record<string, NonNullable<RunResult['routing']>['services'][string]> = {};
  private readonly updates: (NonNullable<RunResult['routing']>['updates'][number] & { time: number })[] = [];
  private readonly userland = new Map<string, number>();
  private via: string | undefined;
  decisions = 0;

  private svc(name: string) {
    return (this.services[name] ??= { connections: 0, pods: {}, updates: 0, policyDrops: 0, noBackend: 0, rateLimited: 0 });
  }

  private pod(service: string, name: string) {
    return (this.svc(service).pods[name] ??= { connections: 0, rateLimited: 0 });
  }

  add(r: JournalRecord): void {
    if (r.type === 'sample') {
      const service = r.tags.service ?? '';
      switch (r.metric) {
        case 'routing.connections':
          this.via ??= 'ebpf';
          this.svc(service).connections += r.value;
          this.pod(service, r.tags.pod ?? '').connections += r.value;
          break;
        case 'routing.policy_drops':
          this.svc(service).policyDrops += r.value;
          break;
        case 'routing.no_backend':
          this.svc(service).noBackend += r.value;
          break;
        case 'routing.ratelimited':
          this.svc(service).rateLimited += r.value;
          this.pod(service, r.tags.pod ?? '').rateLimited += r.value;
          break;
        case 'routing.decision':
          this.decisions++;
          break;
        case 'frontend.upstream_connections':
          this.userland.set(`${service}\u0000${r.tags.pod ?? ''}`, r.value);
          break;
      }
    } else if (r.type === 'event' && r.kind === 'routing.update') {
      const a = r.attrs;
      const service = String(a.service ?? '');
      this.via ??= typeof a.via === 'string' ? a.via : undefined;
      const s = this.svc(service);
      s.updates++;
      if (typeof a.vip === 'string') s.vip = a.vip;
      if (this.updates.length < 1000)
        this.updates.push({ time: r.time, t: 0, service, generation: Number(a.generation ?? 0), pods: Array.isArray(a.pods) ? a.pods.map(String) : [], reason: String(a.reason ?? '') });
    }
  }

  finish(t0: number): { routing?: NonNullable<RunResult['routing']> } {
    const services = structuredClone(this.services);
    const via = this.via;
    const pod = (service: string, name: string) => {
      const s = (services[service] ??= { connections: 0, pods: {}, updates: 0, policyDrops: 0, noBackend: 0, rateLimited: 0 });
      return (s.pods[name] ??= { connections: 0, rateLimited: 0 });
    };
    if (via !== 'ebpf') {
      for (const [key, n] of this.userland) {
        const [service, name] = key.split('\u0000');
        pod(service, name).connections = n;
      }
    }
    if (via === 'frontend') for (const s of Object.values(services)) s.connections = Object.values(s.pods).reduce((a, p) => a + p.connections, 0);
    if (via === undefined && this.updates.length === 0 && Object.keys(services).length === 0) return {};
    const all = Object.values(services);
    return {
      routing: {
        via: via ?? 'unknown',
        services,
        updates: this.updates.map(({ time, ...u }) => ({ ...u, t: round((time - t0) / 1000, 3) })),
        policyDrops: all.reduce((a, s) => a + s.policyDrops, 0),
        rateLimited: all.reduce((a, s) => a + s.rateLimited, 0),
        decisionsRecorded: this.decisions,
      },
    };
  }
}

/**
 * The `autoscaling` block from the local HPA controller's events (hpa.start, hpa.rescale, hpa.warning, hpa.status,
 * hpa.stop) and the cluster's pod and scale events of the target service; none without hpa.start.
 */
function autoscalingBlock(events: RunEvent[], t0: number, endedAt: number): { autoscaling?: NonNullable<RunResult['autoscaling']> } {
  const start = events.find((e) => e.kind === 'hpa.start');
  if (!start) return {};
  const hpa = String(start.attrs.hpa ?? '');
  const targetRef = String(start.attrs.target ?? '');
  const service = targetRef.split('/').pop() ?? '';
  const mine = events.filter((e) => e.attrs.hpa === hpa || (e.attrs.service === service && /^(pod\.|service\.scaled$)/.test(e.kind)));
  const rescales = mine.filter((e) => e.kind === 'hpa.rescale' || (e.kind === 'hpa.warning' && e.attrs.reason === 'FailedRescale'));
  const statuses = mine.filter((e) => e.kind === 'hpa.status');
  const warnings: Record<string, number> = {};
  for (const e of mine) if (e.kind === 'hpa.warning') warnings[String(e.attrs.reason)] = (warnings[String(e.attrs.reason)] ?? 0) + 1;
  const stop = mine.find((e) => e.kind === 'hpa.stop');
  const conditions = (stop?.attrs.conditions ?? statuses.at(-1)?.attrs.conditions ?? []) as NonNullable<RunResult['autoscaling']>['conditions'];

  // Replicas per window: desired from the target's scale (service.scaled, else the controller's view at each sync),
  // ready from pod events (ready joins, terminating/failed leaves).
  const changes: { time: number; desired?: number; ready?: number }[] = [];
  const scaledEvents = mine.some((x) => x.kind === 'service.scaled');
  let ready = 0;
  const pods = new Set<string>();
  for (const e of mine) {
    const pod = String(e.attrs.pod ?? '');
    if (e.kind === 'pod.ready') pods.add(pod);
    else if (e.kind === 'pod.terminating' || e.kind === 'pod.failed' || e.kind === 'pod.terminated' || e.kind === 'pod.unready') pods.delete(pod);
    else if (e.kind === 'service.scaled') {
      changes.push({ time: e.time, desired: Number(e.attrs.to) });
      continue;
    } else if (e.kind === 'hpa.status' && !scaledEvents) {
      changes.push({ time: e.time, desired: Number(e.attrs.desiredReplicas) });
      continue;
    } else continue;
    if (pods.size !== ready) changes.push({ time: e.time, ready: (ready = pods.size) });
  }
  const hasPods = mine.some((e) => e.kind.startsWith('pod.'));
  const firstStatus = statuses[0];
  let desired: number | null = firstStatus ? Number(firstStatus.attrs.currentReplicas) : null;
  let readyNow: number | null = hasPods ? 0 : null;
  const replicas: NonNullable<RunResult['autoscaling']>['replicas'] = [];
  const windows = Math.max(0, Math.ceil((endedAt - t0) / 1000));
  let c = 0;
  for (let i = 0; i < windows; i++) {
    const end = t0 + (i + 1) * 1000;
    while (c < changes.length && changes[c].time < end) {
      if (changes[c].desired !== undefined) desired = changes[c].desired!;
      if (changes[c].ready !== undefined) readyNow = changes[c].ready!;
      c++;
    }
    replicas.push({ t: i, desired, ready: readyNow });
  }
  return {
    autoscaling: {
      hpa,
      target: targetRef,
      minReplicas: Number(start.attrs.minReplicas ?? 1),
      maxReplicas: Number(start.attrs.maxReplicas ?? 1),
      syncPeriodS: Number(start.attrs.syncPeriodMs ?? 0) / 1000,
      syncs: statuses.length,
      events: rescales.map((e) => ({
        t: round((e.time - t0) / 1000, 3),
        from: Number(e.attrs.from ?? /* FailedRescale */ statuses.find((s) => s.time >= e.time)?.attrs.currentReplicas ?? 0),
        to: Number(e.attrs.to ?? /^New size: (\d+)/.exec(String(e.attrs.message))?.[1] ?? 0),
        reason: String(e.attrs.reason),
        message: String(e.attrs.message),
        source: String(e.source),
      })),
      warnings,
      replicas,
      conditions: conditions.map((x) => ({ type: x.type, status: x.status, reason: x.reason, message: x.message })),
    },
  };
}

/** results.json `machine`: the gauge's per-second readings summarised (nothing without a gauge). */
function machineBlock(wake: readonly number[]): Pick<RunResult, 'machine'> {
  if (!wake.length) return {};
  const v = [...wake].sort((a, b) => a - b);
  // nearest rank, as the run's other percentiles
  const at = (q: number) => v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))];
  const r1 = (x: number) => Math.round(x * 10) / 10;
  return { machine: { wakeCpuUs: { median: r1(at(0.5)), p10: r1(at(0.1)), p90: r1(at(0.9)), readings: v.length } } };
}
