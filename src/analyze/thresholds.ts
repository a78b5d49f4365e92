import { parseThresholdKey, THRESHOLD_RE } from '../scenario/schema.ts';
import { decodeSparse, type SparseHist } from '../core/histogram.ts';
import type { RunResult } from '../core/result.ts';
import type { JournalRecord } from '../core/types.ts';
import { HistAcc, percentiles, summarizeSparse } from './hist.ts';

/** What a stage-filtered http_* threshold reads: the stage's latencies (µs), attempts and failures. */
export interface StageTotals {
  latencyUs: SparseHist;
  attempts: number;
  failed: number;
}

/** A threshold that stopped the run (abortOnFail), from the run's threshold.abort event. */
export interface ThresholdAbortRecord {
  metric: string;
  expression: string;
  /** Seconds since the run started. */
  t: number;
  observed: number | null;
}

/** The aggregates a threshold can be checked against. */
export interface ThresholdInputs {
  /** Every request that got a response or failed, with the time it took (µs; divided by 1000 here). */
  latencyMs: SparseHist;
  /** Requests that got a response or failed (timeouts, connection errors). */
  attempts: number;
  /** Of those, failed: status >= 400, timeouts, connection errors. */
  failed: number;
  /** Open-model arrivals never sent; null when the engine reported no totals (the run crashed). */
  dropped: number | null;
  durationS: number;
  /** Per stage (http_*{stage:…}); absent: no stage data. */
  stages?: ReadonlyMap<string, StageTotals>;
  /** Probe packet latency per interface (ns); absent: no packet data. */
  packetLatencyNs?: ReadonlyMap<string, SparseHist>;
  /** The finished result, for the signals it already holds (probes, analysis, services, stages). */
  result?: Pick<RunResult, 'probes' | 'analysis' | 'services' | 'stages' | 'routing'>;
  /** Thresholds that stopped the run. */
  aborted?: readonly ThresholdAbortRecord[];
}

export type ThresholdResult = RunResult['thresholds'][number];

/**
 * Evaluates k6-style threshold expressions on the run's merged data (never per window or per instance).
 * Keys are canonical threshold keys (`metric` or `metric{tag:value}`, scenario/schema.ts).
 * An aggregate with nothing to aggregate is "no data", and not ok: it never passes a run.
 */
export function evaluateThresholds(thresholds: Record<string, string[]>, x: ThresholdInputs): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  for (const [metric, exprs] of Object.entries(thresholds)) {
    const key = parseThresholdKey(metric);
    for (const expression of exprs) {
      const m = THRESHOLD_RE.exec(expression);
      const obs: Observation = m && key ? observe(key.metric, key.tags, m[1], m[2], x) : { value: null };
      const observed = obs.value === null ? null : round(obs.value);
      const status = !m || !key ? 'unknown' : observed === null ? 'no data' : compare(obs.value!, m[3], Number(m[4])) ? 'pass' : 'fail';
      const abort = x.aborted?.find((a) => a.metric === metric && a.expression === expression);
      out.push({
        metric,
        expression,
        observed,
        ok: status === 'pass',
        status,
        source: 'loadscope',
        ...(status === 'no data' && obs.note ? { note: obs.note } : {}),
        ...(abort ? { aborted: { t: abort.t, observed: abort.observed } } : {}),
      });
    }
  }
  return out;
}

/** A user script's own k6 thresholds, one row per metric and expression: crossed in any k6 process is crossed. */
export function k6Thresholds(perProcess: { metric: string; expression: string; ok: boolean }[][]): ThresholdResult[] {
  const byKey = new Map<string, ThresholdResult>();
  for (const t of perProcess.flat()) {
    const key = `${t.metric}\u0000${t.expression}`;
    const ok = t.ok && (byKey.get(key)?.ok ?? true);
    byKey.set(key, { metric: t.metric, expression: t.expression, observed: null, ok, status: ok ? 'pass' : 'fail', source: 'k6' });
  }
  return [...byKey.values()];
}

/**
 * Collects, as journal records stream past, what thresholds read beyond the run's totals: per stage
 * latencies, attempts and failures, and probe packet latency per interface — each window's packet
 * histogram weighted by its 1-in-N timing (probe.pkt_timed), as results.json's probes are. Memory
 * grows with stages and interfaces, not with records.
 */
export class ThresholdData {
  private readonly stageAcc = new Map<string, { hist: HistAcc; responses: number; failed: number; unanswered: number }>();
  private readonly pkt = new Map<string, HistAcc>();
  /** Packet histograms of a window, held until its pkt_timed record says its N. */
  private readonly pending = new Map<number, { iface: string; hist: SparseHist }[]>();
  private lastEvery = 1;

  private stage(name: string) {
    let s = this.stageAcc.get(name);
    if (!s) this.stageAcc.set(name, (s = { hist: new HistAcc(), responses: 0, failed: 0, unanswered: 0 }));
    return s;
  }

  /** `hist`: the record's histogram if already decoded. */
  add(r: JournalRecord, hist?: SparseHist): void {
    if (r.type !== 'sample') return;
    switch (r.metric) {
      case 'http.reqs':
        this.stage(r.tags.stage ?? '').responses += r.value;
        break;
      case 'http.errors': {
        const s = this.stage(r.tags.stage ?? '');
        s.failed += r.value;
        if (r.tags.kind === 'timeout' || r.tags.kind === 'conn') s.unanswered += r.value;
        break;
      }
      case 'http.latency_us':
        if (r.hist) this.stage(r.tags.stage ?? '').hist.add(hist ?? decodeSparse(r.hist));
        break;
      case 'probe.pkt_latency_ns': {
        if (!r.hist) break;
        const list = this.pending.get(r.time);
        const entry = { iface: r.tags.iface ?? '', hist: hist ?? decodeSparse(r.hist) };
        if (list) list.push(entry);
        else this.pending.set(r.time, [entry]);
        if (this.pending.size > 32) this.settle(Math.min(...this.pending.keys()), this.lastEvery);
        break;
      }
      case 'probe.pkt_timed':
        this.lastEvery = Number((r.meta as { every?: unknown } | undefined)?.every ?? 1) || 1;
        this.settle(r.time, this.lastEvery);
        break;
    }
  }

  private settle(time: number, every: number): void {
    for (const p of this.pending.get(time) ?? []) add(this.pkt, p.iface, p.hist, every);
    this.pending.delete(time);
  }

  stages(): Map<string, StageTotals> {
    return new Map([...this.stageAcc].map(([k, s]) => [k, { latencyUs: s.hist.sparse(), attempts: s.responses + s.unanswered, failed: s.failed }]));
  }

  /** Per interface; windows still waiting for their N are taken at the last N seen (the state is left as it was). */
  packetLatencyNs(): Map<string, SparseHist> {
    const out = new Map<string, HistAcc>();
    for (const [iface, acc] of this.pkt) add(out, iface, acc.sparse(), 1);
    for (const list of this.pending.values()) for (const p of list) add(out, p.iface, p.hist, this.lastEvery);
    return new Map([...out].map(([k, acc]) => [k, acc.sparse()]));
  }
}

function add(m: Map<string, HistAcc>, key: string, h: SparseHist, every: number): void {
  let acc = m.get(key);
  if (!acc) m.set(key, (acc = new HistAcc()));
  acc.add(every === 1 ? h : { ...h, cnt: h.cnt.map((c) => c * every), total: h.total * every });
}

type Observation = { value: number | null; note?: string };

const none = (note: string): Observation => ({ value: null, note });

function observe(metric: string, tags: Record<string, string>, agg: string, pct: string | undefined, x: ThresholdInputs): Observation {
  const r = x.result;
  const a = r?.analysis;
  switch (metric) {
    case 'http_req_duration':
    case 'http_req_failed':
    case 'http_reqs': {
      let h = x.latencyMs;
      let attempts = x.attempts;
      let failed = x.failed;
      let seconds: number | null = x.durationS;
      if (tags.stage !== undefined) {
        const s = x.stages?.get(tags.stage);
        if (!s) return none(`stage ${tags.stage} recorded no request`);
        [h, attempts, failed] = [s.latencyUs, s.attempts, s.failed];
        seconds = r?.stages.find((st) => st.name === tags.stage)?.durationS ?? null;
      }
      if (metric === 'http_req_duration') return { value: trendOfHist(h, agg, pct, 1000) };
      if (metric === 'http_reqs') return { value: counter(agg, attempts, seconds) };
      if (attempts === 0) return { value: null };
      return { value: agg === 'rate' ? failed / attempts : agg === 'count' ? failed : null };
    }
    case 'dropped_iterations':
      return { value: x.dropped === null ? null : counter(agg, x.dropped, x.durationS) };
    case 'packet_latency': {
      const all = x.packetLatencyNs;
      if (!all?.size) return none(probesWhy(r) ?? 'the probes recorded no packet latency');
      let hists = [...all.values()];
      if (tags.iface !== undefined) {
        const h = all.get(tags.iface);
        if (!h) return none(`no packet latency on interface ${tags.iface} (interfaces: ${[...all.keys()].join(', ')})`);
        hists = [h];
      }
      const acc = new HistAcc();
      for (const h of hists) acc.add(h);
      return { value: trendOfHist(acc.sparse(), agg, pct, 1e6) };
    }
    case 'tcp_retransmits': {
      const why = probesWhy(r);
      if (why || !r) return none(why ?? 'no probe data');
      const rt = (r.probes as { retransmits?: { segments?: number; synack?: number } }).retransmits;
      return { value: counter(agg, (rt?.segments ?? 0) + (rt?.synack ?? 0), x.durationS) };
    }
    case 'packet_drops': {
      if (!a || (probesWhy(r) && r?.routing?.via !== 'ebpf')) return none(probesWhy(r) ?? 'no drop data');
      const drops = a.series.drops.filter((d) => tags.reason === undefined || d.reason === tags.reason);
      return { value: counter(agg, drops.reduce((n, d) => n + d.counts.reduce((p, c) => p + c, 0), 0), x.durationS) };
    }
    case 'route_skew': {
      const b = (a?.balance ?? []).filter((e) => tags.service === undefined || e.service === tags.service);
      if (!b.length) return none(`no balance of work over ${tags.service === undefined ? 'any service' : `service ${tags.service}`}: it needs two or more pods`);
      return { value: agg === 'value' ? Math.max(...b.map((e) => e.skew)) : null };
    }
    case 'hpa_reaction_time': {
      const steps = (a?.scaleUp ?? []).filter((s) => tags.stage === undefined || s.stage === tags.stage);
      const xs = steps.map((s) => s.reactionS).filter((v): v is number => v !== null);
      if (!xs.length) return none(steps.length ? 'no load step was followed by a scale-up' : 'no load step (a stage that raises the load)');
      return { value: trendOfList(xs, agg, pct) };
    }
    case 'slo_violation_seconds': {
      if (!a?.slo) return none(a?.sloAbsent ?? 'no SLO');
      const idx = tags.stage === undefined ? undefined : r!.stages.findIndex((s) => s.name === tags.stage);
      let windows = 0;
      let bad = 0;
      a.series.violation.forEach((v, i) => {
        if (idx !== undefined && a.series.stage[i] !== idx) return;
        windows++;
        bad += v;
      });
      if (!windows) return none(tags.stage === undefined ? 'no window' : `no window in stage ${tags.stage}`);
      return { value: agg === 'value' ? bad * a.windowS : agg === 'rate' ? bad / windows : null };
    }
    case 'service_served': {
      const services = Object.entries(r?.services ?? {}).filter(([name]) => tags.service === undefined || name === tags.service);
      if (!services.length) return none(tags.service === undefined ? 'no service counters' : `no counters of service ${tags.service}`);
      return { value: counter(agg, services.reduce((n, [, s]) => n + s.requestsServed, 0), x.durationS) };
    }
  }
  return { value: null };
}

function probesWhy(r: ThresholdInputs['result']): string | undefined {
  const status = r?.probes.status as { enabled?: boolean; reason?: string } | undefined;
  if (!status) return 'no probe data';
  return status.enabled === true ? undefined : `probes off: ${status.reason ?? 'not started'}`;
}

/** A k6 trend's aggregate of a histogram (`divisor` turns its unit into the threshold's); null when empty. */
function trendOfHist(h: SparseHist, agg: string, pct: string | undefined, divisor: number): number | null {
  if (h.total === 0) return null;
  if (pct !== undefined) return percentiles(h, [Number(pct)], divisor)[0];
  const s = summarizeSparse(h, divisor);
  return { avg: s.mean, min: s.min, max: s.max, med: s.p50, count: s.count }[agg] ?? null;
}

/** A k6 trend's aggregate of a few exact values (nearest rank for percentiles). */
function trendOfList(xs: number[], agg: string, pct: string | undefined): number | null {
  const s = [...xs].sort((p, q) => p - q);
  const rank = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  if (pct !== undefined) return rank(Number(pct));
  return { avg: s.reduce((p, q) => p + q, 0) / s.length, min: s[0], max: s[s.length - 1], med: rank(50), count: s.length }[agg] ?? null;
}

/** A k6 counter: its count, or its count per second (null when no time passed). */
function counter(agg: string, count: number, seconds: number | null): number | null {
  if (agg === 'count') return count;
  if (agg === 'rate') return seconds !== null && seconds > 0 ? count / seconds : null;
  return null;
}

function round(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}

function compare(a: number, op: string, b: number): boolean {
  switch (op) {
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
    case '==': return a === b;
    case '!=': return a !== b;
    default: return false;
  }
}
