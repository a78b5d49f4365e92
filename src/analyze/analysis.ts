import type { Analysis, RunResult } from '../core/result.ts';
import type { JournalRecord, RunEvent, Sample } from '../core/types.ts';
import { THRESHOLD_RE } from '../scenario/schema.ts';
import { decodeSparse, type SparseHist } from '../core/histogram.ts';
import { bucketize, HistAcc, mergeSparse, percentiles, summarizeSparse } from './hist.ts';
import { bump, inWindows, MAX_WINDOWS, NETWORK_METRICS, NetworkWindows, num, pushHist, str } from './network.ts';

/** What analyze() needs of the result buildResult made from the same journal. */
export type AnalysisBase = Pick<RunResult, 'windows' | 'stages' | 'services' | 'probes' | 'http'> & { routing?: RunResult['routing'] };

/** A violation episode, a load step's effect: how many calm windows end it. */
const CALM_WINDOWS = 2;
/** A stage is a load step when it raises the offered load by more than this factor. */
const STEP_FACTOR = 1.25;
const byName = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

const r3 = (x: number) => Math.round(x * 1000) / 1000;
const r1 = (x: number) => Math.round(x * 10) / 10;

/** Log-spaced upper edges, `perDecade` per power of ten, from `lo` to `hi`. */
function logEdges(lo: number, hi: number, perDecade: number): number[] {
  const out: number[] = [];
  for (let e = Math.round(Math.log10(lo) * perDecade); ; e++) {
    const v = Number((10 ** (e / perDecade)).toPrecision(3));
    out.push(v);
    if (v >= hi) return out;
  }
}

/** Keeps the edges from the first to the last bucket that holds anything (plus one either side). */
function trimRows(edges: number[], rows: number[][]): { edges: number[]; rows: number[][] } {
  let lo = edges.length;
  let hi = -1;
  for (const r of rows)
    for (let b = 0; b < r.length; b++)
      if (r[b] > 0) {
        lo = Math.min(lo, b);
        hi = Math.max(hi, b);
      }
  if (hi < 0) return { edges: [], rows: rows.map(() => []) };
  lo = Math.max(0, lo - 1);
  hi = Math.min(edges.length - 1, hi + 1);
  return { edges: edges.slice(lo, hi + 1), rows: rows.map((r) => (r.length ? r.slice(lo, hi + 1) : [])) };
}

function fmtMs(ms: number): string {
  if (ms >= 10_000) return `${r1(ms / 1000)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  if (ms >= 1) return `${Number(ms.toPrecision(3))} ms`;
  return `${Number((ms * 1000).toPrecision(3))} µs`;
}

function fmtS(s: number): string {
  return s >= 100 ? `${Math.round(s)} s` : `${Number(s.toPrecision(2))} s`;
}


function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

/** The SLO: the http_req_duration threshold on the highest percentile (med is p50, max is p100). */
export function sloFromThresholds(thresholds: Record<string, string[]>): Analysis['slo'] {
  let best: Analysis['slo'] = null;
  for (const expression of thresholds.http_req_duration ?? []) {
    const m = THRESHOLD_RE.exec(expression);
    if (!m || (m[3] !== '<' && m[3] !== '<=')) continue;
    const p = m[2] !== undefined ? Number(m[2]) : m[1] === 'med' ? 50 : m[1] === 'max' ? 100 : null;
    if (p === null || !(p > 0)) continue;
    if (!best || p > best.percentile) best = { percentile: p, limitMs: Number(m[4]), strict: m[3] === '<', expression: expression.trim() };
  }
  return best;
}

/**
 * Load of a stage at its start and end in requests/s: the planned rate of an open stage, the measured
 * rate of a closed one (connections are not comparable with a rate).
 */
function stageLoad(s: RunResult['stages'][number]): { start: number; end: number; text: string } {
  if (s.model === 'open' && s.rate) return { start: s.rate.from, end: s.rate.to, text: s.rate.from === s.rate.to ? `${s.rate.to} req/s` : `${s.rate.from}→${s.rate.to} req/s` };
  const rps = s.rps ?? 0;
  return { start: rps, end: rps, text: `${s.connections ?? '?'} connections (${s.rps === null ? 'n/a' : Math.round(s.rps)} req/s)` };
}

/** The service an HPA scales: "Deployment/backend" → "backend". */
function hpaService(target: unknown, name: string): string {
  const t = str(target);
  return t ? t.slice(t.lastIndexOf('/') + 1) : name;
}

const MARKER_KINDS: Record<string, string> = {
  'stage.start': 'stage',
  'stress.start': 'stress',
  'stress.stop': 'stress',
  'hpa.rescale': 'hpa',
  'hpa.warning': 'warning',
  'service.scaled': 'hpa',
  'pod.ready': 'pod',
  'pod.terminating': 'pod',
  'pod.failed': 'warning',
  'routing.update': 'routing',
  'routing.failed': 'warning',
  'routing.no_backend': 'warning',
  'probe.lost': 'warning',
  'pod.unready': 'warning',
  'fault.start': 'fault',
  'fault.end': 'fault',
  'fault.skipped': 'warning',
};

function markerLabel(e: RunEvent): string {
  const a = e.attrs;
  switch (e.kind) {
    case 'stage.start':
      return `stage ${str(a.stage)}`;
    case 'stress.start':
      return `stress ${str(a.name)} on (${str(a.cores)} core(s))`;
    case 'stress.stop':
      return `stress ${str(a.name)} off`;
    case 'hpa.rescale':
      return `${str(a.hpa)}: ${a.from ?? '?'} → ${a.to ?? '?'} (${str(a.message, 160)})`;
    case 'pod.ready':
      return `${str(a.pod)} ready`;
    case 'pod.terminating':
      return `${str(a.pod)} terminating`;
    case 'routing.update':
      return `routing ${str(a.service)}: ${Array.isArray(a.pods) ? a.pods.length : '?'} backend(s) (${str(a.reason, 80)})`;
    default:
      return str(a.message ?? a.reason ?? e.kind, 200);
  }
}

type Growable = number[];
type GrowableN = (number | null)[];


function put(xs: GrowableN, w: number, v: number | null): void {
  while (xs.length <= w) xs.push(null);
  xs[w] = v;
}

/** A copy of a grown series cut or padded to `n` windows. */
function fit<T>(xs: T[], n: number, pad: T): T[] {
  const out = new Array<T>(n);
  for (let i = 0; i < n; i++) out[i] = i < xs.length ? xs[i] : pad;
  return out;
}

/**
 * Correlates every signal of a journal on the run's 1 s windows as the records stream past (`add`),
 * keeping per-window aggregates, never the records; `finish` derives the answers the report leads
 * with and leaves the state as it was (a live view calls it every second). The same records and base
 * always give the same analysis.
 */
export class Analyzer {
  private header: { startedAt: number } | undefined;
  private early: JournalRecord[] = [];
  private t0 = 0;
  private endedAt: number | undefined;
  private lastTime = 0;

  private readonly httpHist = new Map<number, SparseHist[]>();
  private readonly cpu = new Map<string, { service: string; pod: string; prev?: { time: number; value: number }; sum: GrowableN; k: Growable }>();
  private readonly mem = new Map<string, GrowableN>();
  private readonly desired = new Map<string, { time: number; value: number }[]>();
  private readonly counters = new Map<string, { service: string; backend: string; basis: string; prev?: number; counts: Growable }>();
  private readonly net = new NetworkWindows();
  private readonly podEvents: RunEvent[] = [];
  private readonly markers: (Analysis['markers'][number] & { w: number })[] = [];
  private readonly rescales: Analysis['rescales'] = [];
  private readonly conditions: Analysis['conditions'] = [];
  private readonly condState = new Map<string, string>();
  private readonly autoscalers = new Map<string, Analysis['autoscalers'][number]>();
  private readonly hpaWarnings: string[] = [];
  private readonly routingUpdates: Growable = [];
  private routingEvents = 0;

  private idx(time: number): number {
    return Math.floor((time - this.t0) / 1000);
  }

  private rel(time: number): number {
    return r3((time - this.t0) / 1000);
  }

  /** The latest record time that counts for the windows so far (records later than MAX_WINDOWS do not). */
  get latest(): number {
    return this.header ? this.lastTime : -Infinity;
  }

  /** A record a fast path took without parsing it: only its time counts here. */
  addTime(time: number): void {
    if (this.header && time > this.lastTime && time - this.t0 < MAX_WINDOWS * 1000) this.lastTime = time;
  }

  private counter(basis: string, service: string, backend: string, cumulative: boolean, time: number, value: number): void {
    const key = `${basis}\u0000${service}\u0000${backend}`;
    let c = this.counters.get(key);
    if (!c) this.counters.set(key, (c = { service, backend, basis, counts: [] }));
    const w = this.idx(time);
    let delta = value;
    if (cumulative) {
      delta = c.prev === undefined || value < c.prev ? value : value - c.prev;
      c.prev = value;
    }
    if (inWindows(w)) bump(c.counts, w, delta);
  }

  /** `hist`: the record's histogram already decoded (so a record's is decoded once for every consumer). */
  add(r: JournalRecord, hist?: SparseHist): void {
    if (!this.header) {
      if (r.type !== 'run') {
        this.early.push(r);
        return;
      }
      this.header = r;
      this.t0 = this.lastTime = r.startedAt;
      const early = this.early;
      this.early = [];
      for (const x of early) this.add(x);
      return;
    }
    if (r.type === 'end') {
      this.endedAt ??= r.endedAt;
      return;
    }
    if (r.type === 'sample') this.sample(r, hist);
    else if (r.type === 'event') this.event(r);
  }

  private sample(s: Sample, hist: SparseHist | undefined): void {
    this.addTime(s.time);
    const w = this.idx(s.time);
    switch (s.metric) {
      case 'http.latency_us': {
        if (!s.hist || !inWindows(w)) break;
        pushHist(this.httpHist, w, hist ?? decodeSparse(s.hist));
        break;
      }
      case 'pod.cpu_seconds': {
        const service = str(s.tags.service);
        const pod = str(s.tags.pod);
        const key = `${service}\u0000${pod}`;
        let c = this.cpu.get(key);
        if (!c) this.cpu.set(key, (c = { service, pod, sum: [], k: [] }));
        if (c.prev && s.time > c.prev.time && s.value >= c.prev.value && inWindows(w)) {
          const cores = (s.value - c.prev.value) / ((s.time - c.prev.time) / 1000);
          put(c.sum, w, (c.sum[w] ?? 0) + cores);
          bump(c.k, w, 1);
        }
        c.prev = { time: s.time, value: s.value };
        break;
      }
      case 'pod.memory_bytes': {
        const key = `${str(s.tags.service)}\u0000${str(s.tags.pod)}`;
        let m = this.mem.get(key);
        if (!m) this.mem.set(key, (m = []));
        if (inWindows(w)) put(m, w, s.value / 1048576);
        if (!this.cpu.has(key)) this.cpu.set(key, { service: str(s.tags.service), pod: str(s.tags.pod), sum: [], k: [] });
        break;
      }
      case 'hpa.replicas':
        if (s.tags.kind === 'desired') {
          const list = this.desired.get(str(s.tags.hpa)) ?? [];
          list.push({ time: s.time, value: s.value });
          this.desired.set(str(s.tags.hpa), list);
        }
        break;
      case 'routing.connections':
        this.counter('new connections (eBPF load balancer)', str(s.tags.service), str(s.tags.pod || s.meta?.backend), false, s.time, s.value);
        break;
      case 'frontend.upstream_requests':
        this.counter('requests forwarded by the frontend', str(s.tags.service), str(s.tags.pod), true, s.time, s.value);
        break;
      case 'pod.requests_served':
        this.counter('requests served', str(s.tags.service), str(s.tags.pod), true, s.time, s.value);
        break;
      default:
        if (NETWORK_METRICS.has(s.metric)) this.net.add(s, w, hist);
    }
  }

  private event(e: RunEvent): void {
    this.addTime(e.time);
    const a = e.attrs ?? {};
    const t0 = this.t0;
    const category = MARKER_KINDS[e.kind];
    if (category && this.markers.length < 5000 && e.time >= t0 && inWindows(this.idx(e.time))) {
      this.markers.push({ t: this.rel(e.time), kind: e.kind, category, source: str(e.source, 60), label: markerLabel(e), w: this.idx(e.time) });
    }
    if (e.kind.startsWith('pod.') || e.kind === 'service.ready') this.podEvents.push(e);
    switch (e.kind) {
      case 'hpa.start': {
        const hpa = str(a.hpa);
        this.autoscalers.set(hpa, { hpa, service: hpaService(a.target, hpa), minReplicas: num(a.minReplicas), maxReplicas: num(a.maxReplicas) });
        break;
      }
      case 'hpa.rescale': {
        const hpa = str(a.hpa);
        const message = str(a.message, 500);
        const size = /New size: (\d+)/.exec(message);
        this.rescales.push({
          t: this.rel(e.time),
          hpa,
          service: this.autoscalers.get(hpa)?.service ?? hpa,
          from: num(a.from),
          to: num(a.to) ?? (size ? Number(size[1]) : null),
          reason: str(a.reason),
          message,
        });
        break;
      }
      case 'hpa.warning':
        this.hpaWarnings.push(str(a.reason) || 'warning');
        break;
      case 'hpa.status':
      case 'hpa.stop': {
        const hpa = str(a.hpa);
        if (!Array.isArray(a.conditions)) break;
        for (const c of a.conditions as Record<string, unknown>[]) {
          if (!c || typeof c !== 'object') continue;
          const key = `${hpa}\u0000${str(c.type)}`;
          const state = `${str(c.status)}\u0000${str(c.reason)}`;
          if (this.condState.get(key) === state) continue;
          this.condState.set(key, state);
          if (this.conditions.length < 2000) this.conditions.push({ t: this.rel(e.time), hpa, type: str(c.type), status: str(c.status), reason: str(c.reason), message: str(c.message, 500) });
        }
        break;
      }
      case 'routing.update':
        this.routingEvents++;
        if (inWindows(this.idx(e.time))) bump(this.routingUpdates, this.idx(e.time), 1);
        break;
    }
  }

  finish(base: AnalysisBase, thresholds: Record<string, string[]>): Analysis {
    if (!this.header) throw new Error('journal has no run header');
    const t0 = this.t0;
    const endedAt = this.endedAt ?? t0;
    const rel = (time: number) => this.rel(time);
    const n = Math.min(MAX_WINDOWS, Math.max(base.windows.length, Math.ceil((Math.max(endedAt, this.lastTime) - t0) / 1000)));
    const zeros = () => new Array<number>(n).fill(0);
    const nulls = () => new Array<number | null>(n).fill(null);
    const inN = (w: number) => w < n;
    const { cpu, desired, rescales, conditions, autoscalers, hpaWarnings, routingEvents } = this;
    const { pktAll, sawRetransSample, sawDropSample } = this.net;
    const mem = new Map([...this.mem].map(([k, v]) => [k, fit(v, n, null)]));
    const counters = [...this.counters.values()].map((c) => ({ ...c, counts: fit(c.counts, n, 0) }));
    const pktHist = this.net.pktHist;
    const pktCount = new Map([...this.net.pktCount].map(([k, v]) => [k, fit(v, n, 0)]));
    const rttHist = new Map([...this.net.rttHist].filter(([w]) => inN(w)));
    const httpHist = new Map([...this.httpHist].filter(([w]) => inN(w)));
    const retransmits = fit(this.net.retransmits, n, 0);
    const drops = new Map([...this.net.drops].map(([k, v]) => [k, fit(v, n, 0)]));
    const routingUpdates = fit(this.routingUpdates, n, 0);
    const podEvents = [...this.podEvents].sort((x, y) => x.time - y.time);
    const markers: Analysis['markers'] = this.markers.filter((m) => inN(m.w)).map(({ w: _w, ...m }) => m);
    markers.sort((x, y) => x.t - y.t);
    const allHttp = new HistAcc();

    // ---- HTTP per window ----
    const slo = sloFromThresholds(thresholds);
    const sloP = slo?.percentile ?? 99;
    const p50Ms = nulls();
    const p90Ms = nulls();
    const p99Ms = nulls();
    const sloMs = nulls();
    const windowHist: (SparseHist | undefined)[] = new Array(n);
    for (const [w, list] of httpHist) {
      const h = mergeSparse(list);
      allHttp.add(h);
      windowHist[w] = h;
      if (h.total === 0) continue;
      const [a, b, c, d] = percentiles(h, [50, 90, 99, sloP], 1000);
      p50Ms[w] = r3(a);
      p90Ms[w] = r3(b);
      p99Ms[w] = r3(c);
      sloMs[w] = r3(d);
    }
    const rps = zeros();
    const errors = zeros();
    const stress = zeros();
    for (let w = 0; w < Math.min(n, base.windows.length); w++) {
      rps[w] = base.windows[w].rps;
      errors[w] = base.windows[w].errors;
      stress[w] = base.windows[w].stressCores;
    }
    const stageIdx = zeros().map((_, w) => base.stages.findIndex((s) => w + 0.5 >= s.startS && w + 0.5 < s.startS + (s.durationS ?? Infinity)));
    const violation = zeros();
    if (slo) {
      for (let w = 0; w < n; w++) {
        const v = sloMs[w];
        const broke = v !== null ? (slo.strict ? !(v < slo.limitMs) : !(v <= slo.limitMs)) : errors[w] > 0 && rps[w] === 0;
        violation[w] = broke ? 1 : 0;
      }
    }

    // ---- pods, replicas ----
    const pods: Analysis['series']['pods'] = [...cpu.entries()]
      .sort(([a], [b]) => byName(a, b))
      .map(([key, c]) => ({
        service: c.service,
        pod: c.pod,
        cpuCores: fit(c.sum, n, null).map((v, w) => (v === null ? null : r3(v / c.k[w]))),
        memoryMiB: (mem.get(key) ?? nulls()).map((v) => (v === null ? null : r1(v))),
      }));

    const readyBy = new Map<string, Set<string>>();
    const readySeries = new Map<string, (number | null)[]>();
    {
      let k = 0;
      const apply = (e: RunEvent) => {
        const service = str(e.attrs.service);
        const pod = str(e.attrs.pod) || service;
        let set = readyBy.get(service);
        if (!set) readyBy.set(service, (set = new Set()));
        // service.ready names its pods (local cluster: `pods`, loopback: `pod`); never count the service itself
        if (e.kind === 'service.ready') for (const p of Array.isArray(e.attrs.pods) ? e.attrs.pods.map(String) : [pod]) set.add(p);
        else if (e.kind === 'pod.ready') set.add(pod);
        else if (e.kind === 'pod.terminating' || e.kind === 'pod.terminated' || e.kind === 'pod.failed' || e.kind === 'pod.unready') set.delete(pod);
      };
      for (let w = 0; w < n; w++) {
        const end = t0 + (w + 1) * 1000;
        while (k < podEvents.length && podEvents[k].time < end) apply(podEvents[k++]);
        for (const [service, set] of readyBy) {
          let s = readySeries.get(service);
          if (!s) readySeries.set(service, (s = nulls()));
          s[w] = set.size;
        }
      }
    }
    const desiredByService = new Map<string, (number | null)[]>();
    for (const [hpa, list] of desired) {
      const service = autoscalers.get(hpa)?.service ?? hpa;
      const out = nulls();
      list.sort((x, y) => x.time - y.time);
      let k = 0;
      let cur: number | null = null;
      for (let w = 0; w < n; w++) {
        const end = t0 + (w + 1) * 1000;
        while (k < list.length && list[k].time < end) cur = list[k++].value;
        out[w] = cur;
      }
      desiredByService.set(service, out);
    }
    if (desired.size === 0) {
      for (const rs of rescales) {
        if (rs.to === null) continue;
        const out = desiredByService.get(rs.service) ?? nulls();
        const from = Math.max(0, Math.ceil(rs.t));
        if (rs.from !== null && !desiredByService.has(rs.service)) for (let w = 0; w < Math.min(n, from); w++) out[w] = rs.from;
        for (let w = from; w < n; w++) out[w] = rs.to;
        desiredByService.set(rs.service, out);
      }
    }
    const replicaServices = [...new Set([...readySeries.keys(), ...desiredByService.keys()])].sort(byName);
    const replicas = replicaServices.map((service) => ({ service, ready: readySeries.get(service) ?? nulls(), desired: desiredByService.get(service) ?? nulls() }));

    // ---- backends ----
    const byService = new Map<string, Map<string, { backend: string; basis: string; counts: number[] }[]>>();
    for (const c of counters.values()) {
      let m = byService.get(c.service);
      if (!m) byService.set(c.service, (m = new Map()));
      const list = m.get(c.basis) ?? [];
      list.push(c);
      m.set(c.basis, list);
    }
    const BASIS_ORDER = ['new connections (eBPF load balancer)', 'new connections (eBPF load-balancer decisions)', 'requests forwarded by the frontend', 'requests served'];
    const backends: Analysis['series']['backends'] = [];
    const balance: Analysis['balance'] = [];
    for (const [service, m] of [...byService].sort(([a], [b]) => byName(a, b))) {
      const basis = BASIS_ORDER.find((b) => (m.get(b) ?? []).some((c) => c.counts.some((v) => v > 0)));
      if (!basis) continue;
      const list = m.get(basis)!.sort((a, b) => byName(a.backend, b.backend));
      for (const c of list) backends.push({ service, backend: c.backend, basis, counts: c.counts.map(r3) });
      const totals = list.map((c) => ({ backend: c.backend, count: c.counts.reduce((a, b) => a + b, 0) }));
      balance.push(balanceOf(service, basis, totals));
    }
    for (const [service, s] of Object.entries(base.services)) {
      if (balance.some((b) => b.service === service) || !s.pods || Object.keys(s.pods).length < 2) continue;
      balance.push(balanceOf(service, 'requests served (end-of-run counters)', Object.entries(s.pods).map(([backend, p]) => ({ backend, count: p.requestsServed }))));
    }

    // ---- network ----
    const heatEdgesUs = logEdges(1, 1_000_000, 5);
    const packetLatency: Analysis['series']['packetLatency'] = [];
    const heatmaps: Analysis['heatmaps'] = [];
    for (const iface of [...new Set([...pktHist.keys(), ...pktCount.keys()])].sort(byName)) {
      const byW = pktHist.get(iface) ?? new Map<number, SparseHist[]>();
      const p50 = nulls();
      const p99 = nulls();
      const rows: number[][] = new Array(n);
      for (let w = 0; w < n; w++) {
        const list = byW.get(w);
        if (!list) {
          rows[w] = [];
          continue;
        }
        const h = mergeSparse(list);
        const [a, b] = percentiles(h, [50, 99], 1000);
        p50[w] = r3(a);
        p99[w] = r3(b);
        rows[w] = bucketize(h, heatEdgesUs, 1000);
      }
      packetLatency.push({ iface, p50Us: p50, p99Us: p99, packets: pktCount.get(iface) ?? zeros() });
      if (byW.size) {
        const trimmed = trimRows(heatEdgesUs, rows);
        heatmaps.push({ iface, edgesUs: trimmed.edges, counts: trimmed.rows });
      }
    }
    let rttMs: Analysis['series']['rttMs'] = null;
    if (rttHist.size) {
      const p50 = nulls();
      const p99 = nulls();
      for (const [w, list] of rttHist) {
        const [a, b] = percentiles(mergeSparse(list), [50, 99], 1000);
        p50[w] = r3(a);
        p99[w] = r3(b);
      }
      rttMs = { p50, p99 };
    }
    // ties by name, so the order does not depend on which reader met a reason first
    const dropSeries = [...drops].map(([reason, counts]) => ({ reason, counts })).sort((a, b) => sum(b.counts) - sum(a.counts) || (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));

    // ---- latency distribution ----
    const distEdges = logEdges(0.01, 3_600_000, 10);
    const allSparse = allHttp.sparse();
    const dist = trimRows(distEdges, [bucketize(allSparse, distEdges, 1000)]);
    const latencyDistribution = { edgesMs: dist.edges, counts: dist.rows[0] ?? [] };

    // ---- violation episodes ----
    let violationInfo: Analysis['violation'] = null;
    const episodes: NonNullable<Analysis['violation']>['episodes'] = [];
    if (slo) {
      for (let w = 0; w < n; w++) {
        if (!violation[w]) continue;
        let end = w;
        let peak: number | null = null;
        while (end < n) {
          if (violation[end]) {
            const v = sloMs[end];
            if (v !== null) peak = Math.max(peak ?? 0, v);
            end++;
            continue;
          }
          let calm = 0;
          while (end + calm < n && !violation[end + calm] && calm < CALM_WINDOWS) calm++;
          if (calm >= CALM_WINDOWS || end + calm >= n) break;
          end += calm;
        }
        episodes.push({ startT: w, endT: end, durationS: end - w, peakMs: peak, recovered: end < n });
        w = end;
      }
      const recovered = episodes.filter((e) => e.recovered);
      violationInfo = {
        seconds: sum(violation),
        episodes: episodes.slice(0, 1000),
        timeToRecoverS: recovered.length ? Math.max(...recovered.map((e) => e.durationS)) : null,
        endedInViolation: episodes.length > 0 && !episodes[episodes.length - 1].recovered,
      };
    }

    // ---- load steps → scale-up chain ----
    const scaledServices = new Set([...autoscalers.values()].map((a) => a.service));
    // a pod back from a failed readiness probe is not a new pod of a scale-up
    const readyEvents = podEvents.filter((e) => e.kind === 'pod.ready' && e.attrs.recovered !== true);
    const scaleUp: Analysis['scaleUp'] = [];
    const stepStarts: number[] = [];
    base.stages.forEach((s, i) => {
      const load = stageLoad(s);
      const prev = i > 0 ? stageLoad(base.stages[i - 1]).end : 0;
      const isStep = i > 0 ? load.start > prev * STEP_FACTOR || (load.end > load.start * STEP_FACTOR && load.end > prev * STEP_FACTOR) : false;
      if (!isStep) return;
      stepStarts.push(s.startS);
    });
    base.stages.forEach((s, i) => {
      if (!stepStarts.includes(s.startS) || i === 0) return;
      const T = s.startS;
      const next = stepStarts.find((x) => x > T) ?? Infinity;
      const up = rescales.find((x) => x.t >= T && x.t < next && x.to !== null && (x.from === null || x.to > x.from));
      const service = up?.service;
      const readyE = up ? readyEvents.find((e) => rel(e.time) >= up.t && (service === undefined || str(e.attrs.service) === service)) : undefined;
      let recoveredT: number | null = null;
      let note = '';
      if (slo) {
        const eps = episodes.filter((x) => x.endT > T && x.startT < next);
        const ep = eps[eps.length - 1];
        if (!ep) note = 'latency stayed under the SLO';
        else if (ep.recovered) recoveredT = ep.endT;
        else note = 'latency was still over the SLO when the run ended';
      } else note = 'no latency SLO in the scenario';
      if (!up) note = [rescales.length || autoscalers.size ? 'no scale-up followed this step' : 'no autoscaler in this run', note].filter(Boolean).join('; ');
      const readyT = readyE ? rel(readyE.time) : null;
      scaleUp.push({
        stage: s.name,
        stepT: T,
        load: `${stageLoad(base.stages[i - 1]).text} → ${stageLoad(s).text}`,
        rescaleT: up?.t ?? null,
        reactionS: up ? r3(up.t - T) : null,
        readyT,
        readyS: readyT !== null ? r3(readyT - T) : null,
        recoveredT,
        recoveryS: recoveredT !== null ? r3(recoveredT - T) : null,
        from: up?.from ?? null,
        to: up?.to ?? null,
        note,
      });
    });

    // ---- latency per replica count ----
    const latencyByReplicas: Analysis['latencyByReplicas'] = [];
    const replicaTargets = scaledServices.size ? [...scaledServices] : replicas.filter((r) => new Set(r.ready.filter((v) => v !== null)).size > 1).map((r) => r.service);
    for (const service of replicaTargets) {
      const ready = readySeries.get(service);
      if (!ready) continue;
      const groups = new Map<number, { acc: HistAcc; windows: number; requests: number }>();
      for (let w = 0; w < n; w++) {
        const k = ready[w];
        const h = windowHist[w];
        if (k === null || !h) continue;
        let g = groups.get(k);
        if (!g) groups.set(k, (g = { acc: new HistAcc(), windows: 0, requests: 0 }));
        g.acc.add(h);
        g.windows++;
        g.requests += rps[w];
      }
      for (const [k, g] of [...groups].sort((a, b) => a[0] - b[0])) {
        const [a, b, c] = percentiles(g.acc.sparse(), [50, 90, 99], 1000);
        latencyByReplicas.push({ service, replicas: k, windows: g.windows, requests: g.requests, p50Ms: r3(a), p90Ms: r3(b), p99Ms: r3(c) });
      }
    }

    // ---- packet share ----
    const status = (base.probes.status ?? {}) as { enabled?: boolean; reason?: string };
    const probesOn = status.enabled === true;
    const probesWhy = `probes did not run: ${str(status.reason) || 'unknown reason'}`;
    let packetShare: Analysis['packetShare'] = null;
    let packetShareAbsent: string | undefined;
    const requestMeanMs = allSparse.total ? summarizeSparse(allSparse, 1000).mean : 0;
    if (!pktAll.size) packetShareAbsent = probesOn ? 'no packet-latency samples (pktlat did not report)' : probesWhy;
    else if (!requestMeanMs) packetShareAbsent = 'no HTTP responses to compare with';
    else {
      let networkMs = 0;
      for (const v of pktAll.values()) {
        const meanNs = v.hasSum && v.count ? v.sum / v.count : summarizeSparse(v.acc.sparse()).mean;
        networkMs += (2 * meanNs) / 1e6;
      }
      packetShare = {
        share: r3(networkMs / requestMeanMs),
        networkMs: r3(networkMs),
        requestMeanMs: r3(requestMeanMs),
        basis: `mean one-way packet latency × 2 (one request and one response packet) summed over ${pktAll.size} interface(s), over the mean request latency`,
      };
    }

    // ---- signals ----
    const hasPods = pods.length > 0;
    const signals: Analysis['signals'] = [
      { signal: 'HTTP', present: base.http.requests > 0, detail: base.http.requests > 0 ? `${base.http.requests} responses` : 'no responses' },
      { signal: 'latency SLO', present: slo !== null, detail: slo ? `p${slo.percentile} ${slo.strict ? '<' : '≤'} ${slo.limitMs} ms per window` : 'no http_req_duration percentile threshold in the scenario' },
      { signal: 'eBPF probes', present: probesOn, detail: probesOn ? 'ran' : probesWhy },
      {
        signal: 'packet latency',
        present: pktHist.size > 0,
        detail: pktHist.size ? `${pktHist.size} interface(s)` : probesOn ? 'no packet-latency samples' : probesWhy,
      },
      { signal: 'TCP RTT', present: rttHist.size > 0, detail: rttHist.size ? 'smoothed RTT per window' : probesOn ? 'no RTT samples' : probesWhy },
      { signal: 'retransmits', present: sawRetransSample, detail: sawRetransSample ? `${sum(retransmits)} segment(s)` : probesOn ? 'no retransmit samples' : probesWhy },
      { signal: 'drops', present: sawDropSample, detail: sawDropSample ? `${dropSeries.reduce((a, d) => a + sum(d.counts), 0)} dropped` : probesOn ? 'no drop samples' : probesWhy },
      { signal: 'pod CPU and memory', present: hasPods, detail: hasPods ? `${pods.length} pod(s)` : 'the cluster reported no per-pod usage' },
      { signal: 'replicas', present: replicas.length > 0, detail: replicas.length ? replicas.map((r) => r.service).join(', ') : 'no pod events' },
      { signal: 'autoscaler', present: autoscalers.size > 0 || rescales.length > 0, detail: autoscalers.size || rescales.length ? `${rescales.length} rescale(s)` : 'no autoscaler in this run' },
      { signal: 'routing updates', present: routingEvents > 0, detail: routingEvents ? `${routingEvents} update(s)` : 'no routing-table updates recorded' },
      { signal: 'per-backend load', present: backends.length > 0, detail: backends.length ? [...new Set(backends.map((b) => b.basis))].join('; ') : 'no per-backend counts' },
    ];

    const analysis: Analysis = {
      windowS: 1,
      windows: n,
      slo,
      ...(slo ? {} : { sloAbsent: 'the scenario has no http_req_duration threshold on a percentile (e.g. "p(99) < 250"): seconds in violation and recovery are not computed' }),
      series: {
        t: zeros().map((_, i) => i),
        stage: stageIdx,
        rps,
        errors,
        p50Ms,
        p90Ms,
        p99Ms,
        sloMs,
        violation,
        stressCores: stress,
        replicas,
        pods,
        routingUpdates,
        backends,
        packetLatency,
        rttMs,
        retransmits,
        drops: dropSeries,
      },
      heatmaps,
      latencyDistribution,
      markers,
      autoscalers: [...autoscalers.values()],
      rescales: rescales.slice(0, 2000),
      conditions: [...conditions],
      scaleUp,
      violation: violationInfo,
      latencyByReplicas,
      balance,
      packetShare,
      ...(packetShareAbsent ? { packetShareAbsent } : {}),
      signals,
      findings: [],
    };
    analysis.findings = findings(analysis, base, hpaWarnings, probesOn ? undefined : probesWhy);
    return analysis;
  }
}

/** Correlates a whole journal at once (Analyzer over every record). */
export function analyze(records: Iterable<JournalRecord>, base: AnalysisBase, thresholds: Record<string, string[]>): Analysis {
  const a = new Analyzer();
  for (const r of records) a.add(r);
  return a.finish(base, thresholds);
}

function sum(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

function balanceOf(service: string, basis: string, totals: { backend: string; count: number }[]): Analysis['balance'][number] {
  const all = sum(totals.map((t) => t.count));
  const mean = totals.length ? all / totals.length : 0;
  const sd = totals.length ? Math.sqrt(sum(totals.map((t) => (t.count - mean) ** 2)) / totals.length) : 0;
  return {
    service,
    basis,
    backends: totals.map((t) => ({ backend: t.backend, count: r3(t.count), share: all ? r3(t.count / all) : 0 })),
    skew: mean ? r3(Math.max(...totals.map((t) => t.count)) / mean) : 0,
    cv: mean ? r3(sd / mean) : 0,
  };
}

/** The findings in words, most important first. */
function findings(a: Analysis, base: AnalysisBase, hpaWarnings: string[], probesAbsent: string | undefined): string[] {
  const out: string[] = [];
  const s = a.series;
  const p = a.slo ? `p${a.slo.percentile}` : 'p99';
  const v = a.violation;
  if (a.slo && v) {
    if (v.seconds === 0) out.push(`${p} stayed under the ${fmtMs(a.slo.limitMs)} SLO in every window.`);
    else {
      const longest = v.episodes.reduce((x, y) => (y.durationS > x.durationS ? y : x), v.episodes[0]);
      out.push(
        `${p} was over the ${fmtMs(a.slo.limitMs)} SLO for ${fmtS(v.seconds)} in ${v.episodes.length} episode(s); the longest lasted ${fmtS(longest.durationS)} from t=${longest.startT} s` +
          (longest.peakMs !== null ? ` (peak ${fmtMs(longest.peakMs)})` : '') +
          (v.endedInViolation ? '; the run ended in violation.' : '.'),
      );
    }
  }
  for (const step of a.scaleUp) {
    const T = Math.floor(step.stepT);
    const before: number[] = [];
    for (let w = Math.max(0, T - 10); w < T; w++) if (s.p99Ms[w] !== null) before.push(s.p99Ms[w]!);
    const baseline = median(before);
    const next = a.scaleUp.find((x) => x.stepT > step.stepT)?.stepT ?? s.t.length;
    let peak = 0;
    let peakW = -1;
    for (let w = T; w < Math.min(next, s.t.length); w++) if ((s.p99Ms[w] ?? 0) > peak) [peak, peakW] = [s.p99Ms[w]!, w];
    const parts: string[] = [];
    if (baseline && peak >= 1.5 * baseline) {
      const stop = Math.min(next, s.t.length);
      let end = peakW;
      while (end < stop && (s.p99Ms[end] === null || s.p99Ms[end]! > 1.5 * baseline)) end++;
      const factor = peak / baseline;
      const rose = `p99 rose ${factor >= 10 ? Math.round(factor) : r1(factor)}× (${fmtMs(baseline)} → ${fmtMs(peak)})`;
      parts.push(end < stop ? `${rose} for ${fmtS(end - T)} after ${step.stage} began` : `${rose} after ${step.stage} began and stayed up until ${next < s.t.length ? 'the next step' : 'the end'}`);
    } else parts.push(`p99 held steady when ${step.stage} began (${step.load})`);
    if (step.reactionS !== null) {
      parts.push(`the first scale-up${step.from !== null && step.to !== null ? ` (${step.from} → ${step.to})` : ''} came ${fmtS(step.reactionS)} after the step`);
      if (step.readyS !== null) parts.push(`a new pod was ready ${fmtS(step.readyS - step.reactionS)} later`);
      if (step.recoveryS !== null) parts.push(`${p} was back under the SLO ${fmtS(step.recoveryS)} after the step`);
    } else if (step.note) parts.push(step.note);
    out.push(parts.join('; ') + '.');
  }
  if (base.http.errors > 0) {
    const kinds = Object.entries(base.http.errorsByKind)
      .sort((x, y) => y[1] - x[1])
      .slice(0, 3)
      .map(([k, c]) => `${k} ${c}`)
      .join(', ');
    out.push(`${r3(base.http.errorRate * 100)}% of requests failed (${kinds}).`);
  }
  for (const b of a.balance) {
    if (b.backends.length < 2) continue;
    const top = b.backends.reduce((x, y) => (y.count > x.count ? y : x), b.backends[0]);
    if (b.skew > 1.25) out.push(`${b.service} load was uneven: ${top.backend} got ${Math.round(top.share * 100)}% of ${b.basis} (${r1(b.skew)}× the mean over ${b.backends.length} backends).`);
    else out.push(`${b.service} load was even across ${b.backends.length} backends (busiest ${r3(b.skew)}× the mean ${b.basis}).`);
  }
  const byReplica = a.latencyByReplicas;
  if (byReplica.length > 1) {
    const lo = byReplica[0];
    const hi = byReplica[byReplica.length - 1];
    out.push(`${lo.service}: p99 was ${fmtMs(lo.p99Ms)} with ${lo.replicas} ready replica(s) and ${fmtMs(hi.p99Ms)} with ${hi.replicas}.`);
  }
  if (base.stages.length && a.series.stressCores.some((c) => c > 0)) {
    const on: number[] = [];
    const off: number[] = [];
    s.stressCores.forEach((c, w) => {
      if (s.p99Ms[w] === null || s.stage[w] < 0) return;
      (c > 0 ? on : off).push(s.p99Ms[w]!);
    });
    const mOn = median(on);
    const mOff = median(off);
    if (mOn !== null && mOff !== null) out.push(`Under CPU stress the median window p99 was ${fmtMs(mOn)}, against ${fmtMs(mOff)} without.`);
  }
  if (hpaWarnings.length) out.push(`The autoscaler reported ${hpaWarnings.length} warning(s) (${[...new Set(hpaWarnings)].slice(0, 3).join(', ')}).`);
  if (probesAbsent) out.push(`Network signals are missing: ${probesAbsent}.`);
  else {
    const dropTotal = s.drops.reduce((x, d) => x + sum(d.counts), 0);
    if (dropTotal > 0) out.push(`${dropTotal} packet(s) dropped, most for “${s.drops[0].reason}”.`);
    const rt = sum(s.retransmits);
    if (rt > 0) out.push(`${rt} TCP segment(s) were retransmitted.`);
    if (a.packetShare) out.push(`Packet transit is about ${Math.round(a.packetShare.share * 1000) / 10}% of mean request latency (${fmtMs(a.packetShare.networkMs)} of ${fmtMs(a.packetShare.requestMeanMs)}).`);
  }
  return out;
}
