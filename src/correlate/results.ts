import { parseScenario } from '../scenario/load.ts';
import { createHistogram, decode, summarize, type Histogram } from '../model/histogram.ts';
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
  const lastTime = Math.max(t0, ...records.map((r) => ('time' in r ? r.time : 0)));
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

  return {
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
  };
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
