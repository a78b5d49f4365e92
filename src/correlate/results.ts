import { parseScenario } from '../scenario/load.ts';
import { createHistogram, type Histogram } from '../model/histogram.ts';
import { analyze } from './analysis.ts';
// The library's decode and summarize give the same figures, ~10× slower (hist.ts); an hour of windows needs these.
import { decodeHistogram as decode, summarizeFast as summarize } from './hist.ts';
import { RESULT_SCHEMA_VERSION, type LatencySummary, type RunResult } from '../model/result.ts';
import type { JournalRecord, RunEvent, RunFooter, RunHeader, Sample } from '../model/types.ts';
import { evaluateThresholds } from './thresholds.ts';
import { summarizeProbes } from './probes.ts';

/**
 * Builds results.json from a journal alone (pure): the same records always give the same result,
 * so `loadscope report <rundir>` reproduces what the run wrote.
 */
export function buildResult(records: JournalRecord[]): RunResult {
  const header = records.find((r) => r.type === 'run') as (RunHeader & { type: 'run' }) | undefined;
  if (!header) throw new Error('journal has no run header');
  const footer = records.find((r) => r.type === 'end') as (RunFooter & { type: 'end' }) | undefined;
  const samples = records.filter((r): r is Sample & { type: 'sample' } => r.type === 'sample');
  const events = records.filter((r): r is RunEvent & { type: 'event' } => r.type === 'event');
  const t0 = header.startedAt;
  // a loop, not Math.max(...): a long run's journal has more records than the call stack has room for arguments
  let lastTime = t0;
  for (const r of records) if ('time' in r && r.time > lastTime) lastTime = r.time;
  const endedAt = footer?.endedAt ?? lastTime;

  const all = createHistogram();
  const service = createHistogram();
  const byWindow = new Map<number, { stage: string; reqs: number; errors: number; hist: Histogram }>();
  const byStage = new Map<string, { reqs: number; errors: number; hist: Histogram }>();
  const errorsByKind: Record<string, number> = {};
  let responses = 0;
  let bytes = 0;
  const win = (time: number, stage: string) => {
    const idx = Math.floor((time - t0) / 1000);
    let w = byWindow.get(idx);
    if (!w) byWindow.set(idx, (w = { stage, reqs: 0, errors: 0, hist: createHistogram() }));
    return w;
  };
  const stageAgg = (stage: string) => {
    let s = byStage.get(stage);
    if (!s) byStage.set(stage, (s = { reqs: 0, errors: 0, hist: createHistogram() }));
    return s;
  };
  const services: RunResult['services'] = {};
  const svc = (name: string, role = 'service') => (services[name] ??= { role, requestsServed: 0, requestsAborted: 0, cpuSeconds: 0, rssBytes: 0 });

  for (const s of samples) {
    const stage = s.tags.stage ?? '';
    switch (s.metric) {
      case 'http.reqs':
        responses += s.value;
        win(s.time, stage).reqs += s.value;
        stageAgg(stage).reqs += s.value;
        break;
      case 'http.bytes':
        bytes += s.value;
        break;
      case 'http.errors':
        errorsByKind[s.tags.kind ?? 'other'] = (errorsByKind[s.tags.kind ?? 'other'] ?? 0) + s.value;
        win(s.time, stage).errors += s.value;
        stageAgg(stage).errors += s.value;
        break;
      case 'http.latency_us': {
        const h = decode(s.hist!);
        all.add(h);
        win(s.time, stage).hist.add(h);
        stageAgg(stage).hist.add(h);
        break;
      }
      case 'http.service_time_us':
        service.add(decode(s.hist!));
        break;
      case 'service.requests_served':
      case 'service.requests_aborted':
      case 'service.cpu_seconds':
      case 'service.rss_bytes': {
        const field = SERVICE_FIELDS[s.metric];
        const entry = svc(s.tags.service, s.tags.role);
        entry[field] += s.value;
        const pod = s.tags.pod ?? s.tags.service;
        const pods = (entry.pods ??= {});
        const p = (pods[pod] ??= { requestsServed: 0, requestsAborted: 0, cpuSeconds: 0, rssBytes: 0 });
        p[field] += s.value;
        break;
      }
    }
  }

  const engineSummary = events.find((e) => e.kind === 'engine.summary')?.attrs ?? {};
  const num = (k: string) => (typeof engineSummary[k] === 'number' ? (engineSummary[k] as number) : 0);
  const errors = Object.values(errorsByKind).reduce((a, b) => a + b, 0);
  const unanswered = (errorsByKind.timeout ?? 0) + (errorsByKind.conn ?? 0);

  const stageStarts = events.filter((e) => e.kind === 'stage.start');
  const stageEnds = events.filter((e) => e.kind === 'stage.end');
  const loadStart = stageStarts[0]?.time ?? t0;
  const loadEnd = stageEnds.at(-1)?.time ?? endedAt;
  const loadS = Math.max(0.001, (loadEnd - loadStart) / 1000);

  const stages: RunResult['stages'] = header.plan.map((p) => {
    const started = stageStarts.find((e) => e.attrs.stage === p.name);
    const ended = stageEnds.find((e) => e.attrs.stage === p.name);
    const agg = byStage.get(p.name) ?? { reqs: 0, errors: 0, hist: createHistogram() };
    const dur = started && ended ? (ended.time - started.time) / 1000 : 0;
    return {
      name: p.name,
      model: p.model,
      startS: started ? round((started.time - t0) / 1000, 3) : p.startMs / 1000,
      durationS: round(dur, 3),
      ...(p.connections !== undefined ? { connections: p.connections } : {}),
      ...(p.rate !== undefined ? { rate: p.rate } : {}),
      requests: agg.reqs,
      errors: agg.errors,
      rps: dur > 0 ? round(agg.reqs / dur, 2) : 0,
      latencyMs: ms(agg.hist),
    };
  });

  const stressOn = stressTimeline(events, t0);
  const lastIdx = Math.max(-1, ...byWindow.keys());
  const windows: RunResult['windows'] = [];
  for (let i = 0; i <= lastIdx; i++) {
    const w = byWindow.get(i);
    const time = t0 + i * 1000;
    const s = w ? summarize(w.hist, 1000) : undefined;
    windows.push({
      time,
      t: i,
      stage: w?.stage ?? stageAt(events, time),
      rps: w?.reqs ?? 0,
      errors: w?.errors ?? 0,
      latencyMs: { p50: round(s?.p50 ?? 0, 3), p90: round(s?.p90 ?? 0, 3), p99: round(s?.p99 ?? 0, 3), max: round(s?.max ?? 0, 3) },
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

  let scenarioThresholds: Record<string, string[]> = {};
  let description: string | undefined;
  try {
    const sc = parseScenario(header.scenarioText, header.scenarioFile, { allowRemote: true });
    scenarioThresholds = sc.spec.thresholds as Record<string, string[]>;
    description = sc.spec.description;
  } catch {
    // the journal keeps the scenario text; a scenario that no longer parses only loses thresholds
  }
  const thresholds = evaluateThresholds(scenarioThresholds, { latencyMs: all, attempts: responses + unanswered, failed: errors, durationS: loadS });

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

  const result: RunResult = {
    schemaVersion: RESULT_SCHEMA_VERSION,
    runId: header.runId,
    scenario: { name: header.scenarioName, file: header.scenarioFile, ...(description ? { description } : {}) },
    engine: header.engine,
    startedAt: new Date(t0).toISOString(),
    endedAt: new Date(endedAt).toISOString(),
    durationS: round((endedAt - t0) / 1000, 3),
    outcome: footer?.outcome ?? 'crashed',
    notices: header.notices,
    http: {
      requests: responses,
      requestsSent: num('requestsSent'),
      errors,
      errorsByKind,
      errorRate: responses + unanswered > 0 ? round(errors / (responses + unanswered), 6) : 0,
      rps: round(responses / loadS, 2),
      bytes,
      inFlightAtCutoff,
      dropped: num('dropped'),
      latencyBasis: String(engineSummary.latencyBasis ?? 'unknown'),
      latencyMs: ms(all),
      ...(service.totalCount ? { serviceTimeMs: ms(service) } : {}),
    },
    stages,
    windows,
    services,
    checks,
    stress: stressList,
    thresholds,
    probes: { status: probeStatus, ...summarizeProbes(records) },
    events: events
      .filter((e) => !e.kind.startsWith('probe.') || e.kind === 'probe.lost')
      .slice(0, 5000)
      .map((e) => ({ t: round((e.time - t0) / 1000, 3), kind: e.kind, source: e.source, text: describe(e) })),
    environment: header.environment,
    engineNative: (engineSummary.extra as Record<string, unknown> | undefined) ?? {},
    ...routingBlock(records, t0),
    ...autoscalingBlock(events, t0, endedAt),
  };
  result.analysis = analyze(records, result, scenarioThresholds);
  return result;
}

const SERVICE_FIELDS: Record<string, 'requestsServed' | 'requestsAborted' | 'cpuSeconds' | 'rssBytes'> = {
  'service.requests_served': 'requestsServed',
  'service.requests_aborted': 'requestsAborted',
  'service.cpu_seconds': 'cpuSeconds',
  'service.rss_bytes': 'rssBytes',
};

function ms(h: Histogram): LatencySummary {
  const s = summarize(h, 1000);
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
function routingBlock(records: JournalRecord[], t0: number): { routing?: NonNullable<RunResult['routing']> } {
  type Svc = NonNullable<RunResult['routing']>['services'][string];
  const services: Record<string, Svc> = {};
  const svc = (name: string) => (services[name] ??= { connections: 0, pods: {}, updates: 0, policyDrops: 0, noBackend: 0, rateLimited: 0 });
  const pod = (s: Svc, name: string) => (s.pods[name] ??= { connections: 0, rateLimited: 0 });
  const updates: NonNullable<RunResult['routing']>['updates'] = [];
  const userland = new Map<string, number>();
  let via: string | undefined;
  let decisions = 0;
  for (const r of records) {
    if (r.type === 'sample') {
      const service = r.tags.service ?? '';
      switch (r.metric) {
        case 'routing.connections':
          via ??= 'ebpf';
          svc(service).connections += r.value;
          pod(svc(service), r.tags.pod ?? '').connections += r.value;
          break;
        case 'routing.policy_drops':
          svc(service).policyDrops += r.value;
          break;
        case 'routing.no_backend':
          svc(service).noBackend += r.value;
          break;
        case 'routing.ratelimited':
          svc(service).rateLimited += r.value;
          pod(svc(service), r.tags.pod ?? '').rateLimited += r.value;
          break;
        case 'routing.decision':
          decisions++;
          break;
        case 'frontend.upstream_connections':
          userland.set(`${service}\u0000${r.tags.pod ?? ''}`, r.value);
          break;
      }
    } else if (r.type === 'event' && r.kind === 'routing.update') {
      const a = r.attrs;
      const service = String(a.service ?? '');
      via ??= typeof a.via === 'string' ? a.via : undefined;
      const s = svc(service);
      s.updates++;
      if (typeof a.vip === 'string') s.vip = a.vip;
      updates.push({
        t: round((r.time - t0) / 1000, 3),
        service,
        generation: Number(a.generation ?? 0),
        pods: Array.isArray(a.pods) ? a.pods.map(String) : [],
        reason: String(a.reason ?? ''),
      });
    }
  }
  if (via !== 'ebpf') {
    for (const [key, n] of userland) {
      const [service, name] = key.split('\u0000');
      pod(svc(service), name).connections = n;
    }
  }
  if (via === 'frontend') for (const s of Object.values(services)) s.connections = Object.values(s.pods).reduce((a, p) => a + p.connections, 0);
  if (via === undefined && updates.length === 0 && Object.keys(services).length === 0) return {};
  const all = Object.values(services);
  return {
    routing: {
      via: via ?? 'unknown',
      services,
      updates: updates.slice(0, 1000),
      policyDrops: all.reduce((a, s) => a + s.policyDrops, 0),
      rateLimited: all.reduce((a, s) => a + s.rateLimited, 0),
      decisionsRecorded: decisions,
    },
  };
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
    else if (e.kind === 'pod.terminating' || e.kind === 'pod.failed' || e.kind === 'pod.terminated') pods.delete(pod);
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
      })),
      warnings,
      replicas,
      conditions: conditions.map((x) => ({ type: x.type, status: x.status, reason: x.reason, message: x.message })),
    },
  };
}
