import { type ReportTrend, type TrendRow, trendRows } from './trend.ts';
import type { Analysis, RunResult } from '../core/result.ts';
import type { ProbesSummary } from '../analyze/probes.ts';

// The report's view model: everything the templates print and the charts draw, already decided and
// formatted. Templates and reports/templates/report.js hold no logic beyond looping and drawing.
// Strings that come from the run (scenario, cluster, responses) are passed through as data; the
// templates escape them ({{ }}) and the charts set them as text, never as markup.

/** One line or bar series of a chart. */
export interface SeriesSpec {
  label: string;
  values: (number | null)[];
  color: string;
  scale?: 'y' | 'y2';
  width?: number;
  step?: boolean;
  dash?: number[];
  fill?: string;
}

/** A chart the page draws. Timeline charts share the x axis `t` of the embedded data and zoom together. */
export interface ChartSpec {
  id: string;
  kind: 'lines' | 'heatmap' | 'bars';
  timeline: boolean;
  height: number;
  yLabel: string;
  y2Label?: string;
  yLog?: boolean;
  series: SeriesSpec[];
  /** Fixed y range (otherwise the data's). */
  yRange?: [number, number];
  /** Horizontal line on the y scale (the SLO). */
  hline?: { value: number; label: string };
  /** Shade the windows where the SLO was broken. */
  shadeViolation?: boolean;
  /** x values when the chart is not on the timeline. */
  x?: number[];
  xLabels?: string[];
  heat?: { rows: number[][]; edgeLabels: string[]; max: number; unit: string };
}

/** Data embedded in the page for the charts (JSON in a script element). */
export interface ChartData {
  t: number[];
  stages: { name: string; start: number; end: number }[];
  markers: { t: number; category: string; label: string }[];
  violation: number[];
  charts: ChartSpec[];
}

export interface Figure {
  key: string;
  label: string;
  value: string;
  cls?: string;
}

export interface Cell {
  text: string;
  cls?: string;
}

/** A plain table: header texts and rows of cells. */
export interface Table {
  head: string[];
  rows: Cell[][];
}

export interface ReportView {
  live: boolean;
  title: string;
  scenarioName: string;
  subtitle: string;
  verdict: { text: string; cls: string };
  figures: Figure[];
  findings: string[];
  notices: string[];
  absent: { signal: string; detail: string }[];
  servedCheck?: { text: string; cls: string };
  /** One line on what the probes themselves cost (results.json probes.cost), under the verdict. */
  observer?: string;
  /** One line on the machine's own cost of a wake-up during the run (results.json machine), under the verdict. */
  machine?: string;
  /** Which 1 in N packet latency was timed, per run of windows (sampled fidelity). */
  samplingNote: string;
  thresholds: Table;
  slo: string;
  scaleUp: Table;
  episodes: Table;
  latencyNote: string;
  stages: Table;
  byReplicas: Table;
  services: Table;
  stress: string[];
  charts: Record<string, boolean>;
  absentText: Record<string, string>;
  heatmaps: { id: string; iface: string }[];
  balance: { title: string; rows: { backend: string; count: string; share: string; width: string }[] }[];
  routing: { via: string; updates: Table; routes: Table; services: Table };
  hpa: { autoscalers: Table; rescales: Table; conditions: Table; shadow?: { note: string; disagreements: Table } };
  tcp: { rtt: Table; figures: Figure[] };
  packets: Table;
  drops: Table;
  /** Scheduled faults beside the cluster's, autoscaler's and kernel's reaction (results.json faults[]). */
  faults: Table;
  events: Table;
  eventsTotal: number;
  environment: { key: string; value: string }[];
  scenarioFile: string;
  scenarioText: string;
  /** The scenario's trend over its recorded runs (trend.json beside the report), when there is one. */
  trend: { note: string; rows: TrendRow[] };
  data: ChartData;
}

const PALETTE = ['#1565c0', '#c62828', '#2e7d32', '#6a1b9a', '#ef6c00', '#00838f', '#ad1457', '#4e342e', '#558b2f', '#283593', '#f9a825', '#37474f'];
const color = (i: number) => PALETTE[i % PALETTE.length];

const s = (x: unknown): string => (typeof x === 'string' ? x : x === undefined || x === null ? '' : typeof x === 'object' ? JSON.stringify(x) : String(x));

export function fmtNum(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms >= 10_000) return `${fmtNum(ms / 1000, 1)} s`;
  if (ms >= 100) return `${fmtNum(ms, 0)} ms`;
  if (ms >= 1) return `${fmtNum(ms, 2)} ms`;
  return `${fmtNum(ms * 1000, 1)} µs`;
}

function fmtUs(us: number): string {
  return us >= 1000 ? fmtMs(us / 1000) : `${fmtNum(us, us < 10 ? 2 : 0)} µs`;
}

function fmtS(x: number | null | undefined): string {
  return x === null || x === undefined ? '—' : `${fmtNum(x, x < 10 ? 2 : 1)} s`;
}

const pct = (x: number) => (x > 0 && x < 0.0001 ? '< 0.01%' : `${fmtNum(x * 100, 2)}%`);
const c = (text: unknown, cls?: string): Cell => (cls ? { text: s(text), cls } : { text: s(text) });

/** Lays out the run for the templates. `live` marks a page served while the run goes. */
export function buildView(r: RunResult, scenarioText: string, opts: { live?: boolean; trend?: ReportTrend } = {}): ReportView {
  const a: Analysis | undefined = r.analysis;
  const failed = r.thresholds.filter((t) => !t.ok).length;
  const live = opts.live === true;
  const verdict = live
    ? { text: r.outcome === 'crashed' ? 'running' : r.outcome, cls: 'live' }
    : r.outcome !== 'completed'
      ? { text: r.outcome, cls: 'bad' }
      : failed > 0
        ? { text: `failed: ${failed} threshold${failed > 1 ? 's' : ''}`, cls: 'bad' }
        : { text: 'passed', cls: 'good' };
  const probes = r.probes as Partial<ProbesSummary> & { status?: { enabled?: boolean; reason?: string; probes?: string[] } };

  const figures: Figure[] = [
    { key: 'requests', label: 'requests', value: fmtNum(r.http.requests, 0) },
    { key: 'rps', label: 'throughput', value: `${fmtNum(r.http.rps, 1)} req/s` },
    { key: 'errors', label: 'errors', value: `${fmtNum(r.http.errors, 0)} (${pct(r.http.errorRate)})`, cls: r.http.errors > 0 ? 'bad' : undefined },
    { key: 'p50', label: 'latency p50', value: fmtMs(r.http.latencyMs?.p50) },
    { key: 'p99', label: 'latency p99', value: fmtMs(r.http.latencyMs?.p99) },
    { key: 'max', label: 'p99.9 / max', value: `${fmtMs(r.http.latencyMs?.p999)} / ${fmtMs(r.http.latencyMs?.max)}` },
  ];
  if (a?.slo && a.violation) {
    figures.push({ key: 'violation', label: `over the SLO (p${a.slo.percentile} ${a.slo.strict ? '<' : '≤'} ${fmtMs(a.slo.limitMs)})`, value: fmtS(a.violation.seconds), cls: a.violation.seconds > 0 ? 'bad' : 'good' });
    figures.push({ key: 'recover', label: 'time to recover', value: a.violation.endedInViolation ? 'not recovered' : fmtS(a.violation.timeToRecoverS), cls: a.violation.endedInViolation ? 'bad' : undefined });
  }
  const firstUp = a?.scaleUp.find((x) => x.reactionS !== null);
  if (a && (a.autoscalers.length || a.rescales.length)) {
    figures.push({ key: 'reaction', label: 'first scale-up after a load step', value: firstUp ? fmtS(firstUp.reactionS) : 'none' });
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of a.series.replicas) for (const v of x.ready) if (v !== null) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    if (hi >= lo) figures.push({ key: 'replicas', label: 'ready replicas (min → max)', value: `${lo} → ${hi}` });
  }
  if (a?.packetShare) figures.push({ key: 'packetShare', label: 'packet transit / request latency', value: pct(a.packetShare.share) });
  const probesRan = probes.status?.enabled === true;
  if (probesRan && probes.drops) figures.push({ key: 'drops', label: 'packets dropped', value: fmtNum(probes.drops.total ?? 0, 0), cls: (probes.drops.total ?? 0) > 0 ? 'bad' : undefined });
  if (probesRan && probes.retransmits) figures.push({ key: 'retrans', label: 'TCP retransmits', value: fmtNum(probes.retransmits.segments ?? 0, 0) });
  figures.push({ key: 'duration', label: 'duration', value: fmtS(r.durationS) });

  const sv = r.checks.servedVsClient;
  const t = a?.series.t ?? r.windows.map((w) => w.t);
  const charts: ChartSpec[] = [];
  const has: Record<string, boolean> = {};
  const absentText: Record<string, string> = {};
  const signal = (name: string) => a?.signals.find((x) => x.signal === name);
  const absentWhy = (name: string, fallback: string) => {
    const sg = signal(name);
    return sg && !sg.present ? sg.detail : fallback;
  };
  const add = (spec: ChartSpec) => {
    charts.push(spec);
    has[spec.id] = true;
  };

  // ---- timeline ----
  const rps = a?.series.rps ?? r.windows.map((w) => w.rps);
  const errs = a?.series.errors ?? r.windows.map((w) => w.errors);
  const loadSeries: SeriesSpec[] = [
    { label: 'responses/s', values: rps, color: '#1565c0', width: 2 },
    { label: 'errors/s', values: errs, color: '#c62828', width: 1 },
  ];
  let ri = 0;
  for (const rep of a?.series.replicas ?? []) {
    loadSeries.push({ label: `${rep.service} ready`, values: rep.ready, color: color(2 + ri), scale: 'y2', width: 2, step: true });
    if (rep.desired.some((v) => v !== null)) loadSeries.push({ label: `${rep.service} desired`, values: rep.desired, color: color(2 + ri), scale: 'y2', width: 1, step: true, dash: [5, 4] });
    ri++;
  }
  add({ id: 'rps', kind: 'lines', timeline: true, height: 260, yLabel: 'per second', y2Label: ri ? 'replicas' : undefined, series: loadSeries });
  const lat: SeriesSpec[] = [
    { label: 'p50 ms', values: a?.series.p50Ms ?? r.windows.map((w) => w.latencyMs.p50 || null), color: '#2e7d32', width: 2 },
    { label: 'p90 ms', values: a?.series.p90Ms ?? r.windows.map((w) => w.latencyMs.p90 || null), color: '#f9a825', width: 1 },
    { label: 'p99 ms', values: a?.series.p99Ms ?? r.windows.map((w) => w.latencyMs.p99 || null), color: '#c62828', width: 2 },
  ];
  if (a?.slo && a.slo.percentile !== 99 && a.slo.percentile !== 50 && a.slo.percentile !== 90) lat.push({ label: `p${a.slo.percentile} ms`, values: a.series.sloMs, color: '#6a1b9a', width: 2 });
  add({
    id: 'latency',
    kind: 'lines',
    timeline: true,
    height: 260,
    yLabel: 'ms (log)',
    yLog: true,
    series: lat,
    ...(a?.slo ? { hline: { value: a.slo.limitMs, label: `SLO ${a.slo.expression}` }, shadeViolation: true } : {}),
  });
  if (a?.series.stressCores.some((v) => v > 0)) add({ id: 'stress', kind: 'lines', timeline: true, height: 120, yLabel: 'cores', yRange: [0, Math.max(1, Math.ceil(Math.max(...a.series.stressCores.slice(0, 100_000))))], series: [{ label: 'CPU stress cores', values: a.series.stressCores, color: '#ef6c00', width: 2, step: true, fill: 'rgba(239,108,0,0.12)' }] });
  if (a?.series.pods.length) {
    const pods = a.series.pods;
    add({ id: 'cpu', kind: 'lines', timeline: true, height: 220, yLabel: 'CPU cores', series: pods.map((p, i) => ({ label: `${p.service}/${p.pod}`, values: p.cpuCores, color: color(i), width: 1 })) });
    add({ id: 'memory', kind: 'lines', timeline: true, height: 200, yLabel: 'MiB', series: pods.map((p, i) => ({ label: `${p.service}/${p.pod}`, values: p.memoryMiB, color: color(i), width: 1 })) });
  } else absentText.pods = absentWhy('pod CPU and memory', 'no per-pod usage');

  // ---- latency distribution ----
  if (a && a.latencyDistribution.counts.length) {
    const d = a.latencyDistribution;
    add({
      id: 'distribution',
      kind: 'bars',
      timeline: false,
      height: 240,
      yLabel: 'responses',
      x: d.counts.map((_, i) => i),
      xLabels: d.edgesMs.map((e) => `≤ ${fmtMs(e)}`),
      series: [{ label: 'responses', values: d.counts, color: '#1565c0', fill: 'rgba(21,101,192,0.35)' }],
    });
  } else absentText.distribution = 'no responses';

  // ---- network ----
  const heatmaps: ReportView['heatmaps'] = [];
  for (const [i, h] of (a?.heatmaps ?? []).entries()) {
    let max = 0;
    for (const row of h.counts) for (const v of row) if (v > max) max = v;
    const id = `heat-${i}`;
    heatmaps.push({ id, iface: h.iface });
    add({ id, kind: 'heatmap', timeline: true, height: 200, yLabel: 'latency', series: [], heat: { rows: h.counts, edgeLabels: h.edgesUs.map((e) => `≤ ${fmtUs(e)}`), max, unit: 'packets' } });
  }
  if (!heatmaps.length) absentText.heatmap = absentWhy('packet latency', 'no packet-latency samples');
  if (a?.series.packetLatency.some((p) => p.p50Us.some((v) => v !== null))) {
    add({
      id: 'pktlat',
      kind: 'lines',
      timeline: true,
      height: 200,
      yLabel: 'µs (log)',
      yLog: true,
      series: a.series.packetLatency.flatMap((p, i) => [
        { label: `${p.iface} p50 µs`, values: p.p50Us, color: color(i), width: 1 },
        { label: `${p.iface} p99 µs`, values: p.p99Us, color: color(i), width: 2, dash: [4, 3] },
      ]),
    });
  }
  if (a?.series.backends.length) {
    add({
      id: 'backends',
      kind: 'lines',
      timeline: true,
      height: 220,
      yLabel: 'per second',
      series: a.series.backends.map((b, i) => ({ label: `${b.service} → ${b.backend}`, values: b.counts, color: color(i), width: 1, step: true })),
    });
  } else absentText.backends = absentWhy('per-backend load', 'no per-backend counts');
  if (a?.series.routingUpdates.some((v) => v > 0)) {
    add({ id: 'routingUpdates', kind: 'lines', timeline: true, height: 140, yLabel: 'updates', series: [{ label: 'routing-table updates', values: a.series.routingUpdates, color: '#6a1b9a', width: 2, step: true }] });
  }
  const tcpSeries: SeriesSpec[] = [];
  if (a?.series.rttMs) tcpSeries.push({ label: 'RTT p50 ms', values: a.series.rttMs.p50, color: '#2e7d32', width: 1 }, { label: 'RTT p99 ms', values: a.series.rttMs.p99, color: '#c62828', width: 2 });
  if (signal('retransmits')?.present && a) tcpSeries.push({ label: 'retransmits/s', values: a.series.retransmits, color: '#ef6c00', scale: 'y2', width: 1, step: true });
  if (tcpSeries.length) add({ id: 'tcp', kind: 'lines', timeline: true, height: 220, yLabel: 'RTT ms', y2Label: 'segments/s', series: tcpSeries });
  else absentText.tcp = absentWhy('TCP RTT', 'no TCP samples');
  if (a?.series.drops.length) add({ id: 'drops', kind: 'lines', timeline: true, height: 200, yLabel: 'drops/s', series: a.series.drops.map((d, i) => ({ label: d.reason, values: d.counts, color: color(i + 1), width: 1, step: true })) });
  else absentText.drops = absentWhy('drops', 'no drop samples');

  // ---- tables ----
  const thresholds: Table = {
    head: ['metric', 'expression', 'observed', 'result'],
    rows: r.thresholds.map((x) => [
      c(x.source === 'k6' ? `${x.metric} (k6 script)` : x.metric),
      c(x.expression, 'code'),
      c(x.observed !== null ? fmtNum(x.observed, 4) : x.source === 'k6' ? 'judged by k6' : 'n/a'),
      c(x.ok ? 'pass' : x.status === 'fail' ? 'FAIL' : x.status.toUpperCase(), x.ok ? 'good' : 'bad'),
    ]),
  };
  const scaleUp: Table = {
    head: ['load step', 'at', 'load', 'first scale-up', 'replicas', 'first new pod ready', 'back under the SLO', 'note'],
    rows: (a?.scaleUp ?? []).map((x) => [
      c(x.stage),
      c(`${fmtNum(x.stepT, 1)} s`),
      c(x.load),
      c(x.reactionS === null ? '—' : `+${fmtS(x.reactionS)}`),
      c(x.from === null && x.to === null ? '—' : `${x.from ?? '?'} → ${x.to ?? '?'}`),
      c(x.readyS === null ? '—' : `+${fmtS(x.readyS)}`),
      c(x.recoveryS === null ? '—' : `+${fmtS(x.recoveryS)}`),
      c(x.note),
    ]),
  };
  const episodes: Table = {
    head: ['from', 'to', 'lasted', 'peak', 'recovered'],
    rows: (a?.violation?.episodes ?? []).slice(0, 200).map((e) => [c(`${e.startT} s`), c(`${e.endT} s`), c(fmtS(e.durationS)), c(fmtMs(e.peakMs)), c(e.recovered ? 'yes' : 'no', e.recovered ? undefined : 'bad')]),
  };
  const stages: Table = {
    head: ['stage', 'model', 'load', 'start', 'duration', 'requests', 'errors', 'req/s', 'p50', 'p99'],
    rows: r.stages.map((x) => [
      c(x.name),
      c(x.model),
      c(x.connections !== undefined && x.model === 'closed' ? `${x.connections} connections` : x.rate ? `${x.rate.from}→${x.rate.to} req/s` : '—'),
      c(`${fmtNum(x.startS, 1)} s`),
      c(x.durationS === null ? `n/a (${x.note ?? 'no data'})` : `${fmtNum(x.durationS, 1)} s`),
      c(fmtNum(x.requests, 0)),
      c(fmtNum(x.errors, 0), x.errors > 0 ? 'bad' : undefined),
      c(x.rps === null ? 'n/a' : fmtNum(x.rps, 1)),
      c(x.latencyMs ? fmtMs(x.latencyMs.p50) : 'n/a (no responses)'),
      c(x.latencyMs ? fmtMs(x.latencyMs.p99) : 'n/a'),
    ]),
  };
  const byReplicas: Table = {
    head: ['service', 'ready replicas', 'windows', 'responses', 'p50', 'p90', 'p99'],
    rows: (a?.latencyByReplicas ?? []).map((x) => [c(x.service), c(x.replicas), c(x.windows), c(fmtNum(x.requests, 0)), c(fmtMs(x.p50Ms)), c(fmtMs(x.p90Ms)), c(fmtMs(x.p99Ms))]),
  };
  const services: Table = {
    head: ['service', 'role', 'pod', 'requests served', 'aborted', 'CPU s', 'RSS MiB'],
    rows: Object.entries(r.services).flatMap(([name, x]) => {
      const pods = Object.entries(x.pods ?? {});
      const first = [c(name), c(x.role), c(pods.length > 1 ? `${pods.length} pods` : ''), c(fmtNum(x.requestsServed, 0)), c(fmtNum(x.requestsAborted, 0)), c(fmtNum(x.cpuSeconds, 2)), c(fmtNum(x.rssBytes / 1048576, 1))];
      const rest = pods.length > 1 ? pods.map(([p, v]) => [c(''), c(''), c(p), c(fmtNum(v.requestsServed, 0)), c(fmtNum(v.requestsAborted, 0)), c(fmtNum(v.cpuSeconds, 2)), c(fmtNum(v.rssBytes / 1048576, 1))]) : [];
      return [first, ...rest];
    }),
  };
  const balance = (a?.balance ?? []).filter((b) => b.backends.length > 1).map((b) => {
    const top = Math.max(...b.backends.map((x) => x.share), 0);
    return {
      title: `${b.service}: ${b.basis} — busiest ${fmtNum(b.skew, 2)}× the mean, CV ${fmtNum(b.cv, 2)}`,
      rows: b.backends.map((x) => ({ backend: x.backend, count: fmtNum(x.count, 0), share: pct(x.share), width: `${top > 0 ? Math.round((x.share / top) * 100) : 0}%` })),
    };
  });
  const routing = r.routing;
  const routingView = {
    via: routing ? `Routing via ${routing.via}; ${fmtNum(routing.decisionsRecorded, 0)} per-connection decisions recorded, ${fmtNum(routing.policyDrops, 0)} policy drops, ${fmtNum(routing.rateLimited, 0)} rate-limited.` : '',
    updates: {
      head: ['t', 'service', 'generation', 'backends', 'reason'],
      rows: (routing?.updates ?? []).slice(0, 300).map((u) => [c(`${fmtNum(u.t, 3)} s`), c(u.service), c(u.generation), c(u.pods.join(', ')), c(u.reason)]),
    },
    routes: {
      head: ['table', 'src', 'dst', 'gateway', 'out iface', 'error', 'lookups'],
      rows: (probes.routes ?? []).slice(0, 100).map((x) => [c(x.table), c(x.src), c(x.dst), c(x.gw), c(x.oif), c(x.err, x.err ? 'bad' : undefined), c(fmtNum(x.lookups, 0))]),
    },
    services: {
      head: ['service', 'VIP', 'connections', 'updates', 'policy drops', 'no backend', 'rate-limited'],
      rows: Object.entries(routing?.services ?? {}).map(([name, x]) => [c(name), c(x.vip ?? '—'), c(fmtNum(x.connections, 0)), c(x.updates), c(x.policyDrops), c(x.noBackend), c(x.rateLimited)]),
    },
  };
  const hpa = {
    autoscalers: { head: ['HPA', 'scales', 'min', 'max'], rows: (a?.autoscalers ?? []).map((x) => [c(x.hpa), c(x.service), c(x.minReplicas ?? '—'), c(x.maxReplicas ?? '—')]) },
    rescales: { head: ['t', 'HPA', 'from', 'to', 'reason', 'message'], rows: (a?.rescales ?? []).slice(0, 300).map((x) => [c(`${fmtNum(x.t, 1)} s`), c(x.hpa), c(x.from ?? '?'), c(x.to ?? '?'), c(x.reason), c(x.message)]) },
    conditions: {
      head: ['t', 'HPA', 'condition', 'status', 'reason', 'message'],
      rows: (a?.conditions ?? []).slice(0, 300).map((x) => [c(`${fmtNum(x.t, 1)} s`), c(x.hpa), c(x.type), c(x.status, x.status === 'False' ? 'warn' : undefined), c(x.reason), c(x.message)]),
    },
    ...shadowView(r),
  };
  const rtt: Table = {
    head: ['peer', 'port', 'side', 'samples', 'p50', 'p99', 'max'],
    rows: (probes.rtt ?? []).slice(0, 50).map((x) => [c(x.peer), c(x.port), c(x.side), c(fmtNum(x.count, 0)), c(fmtUs(x.p50)), c(fmtUs(x.p99)), c(fmtUs(x.max))]),
  };
  const conn = probes.connections;
  const tcpFigures: Figure[] = [];
  if (probesRan && probes.retransmits) {
    tcpFigures.push({ key: 'rs', label: 'retransmitted segments', value: fmtNum(probes.retransmits.segments, 0), cls: probes.retransmits.segments ? 'warn' : undefined });
    tcpFigures.push({ key: 'sa', label: 'SYN-ACK retransmits', value: fmtNum(probes.retransmits.synack, 0) });
  }
  if (probesRan && conn) {
    tcpFigures.push({ key: 'co', label: 'connections opened / closed / failed', value: `${fmtNum(conn.opened, 0)} / ${fmtNum(conn.closed, 0)} / ${fmtNum(conn.failed, 0)}`, cls: conn.failed ? 'warn' : undefined });
    if (conn.connectMs) tcpFigures.push({ key: 'cm', label: 'connect time p50 / p99', value: `${fmtMs(conn.connectMs.p50)} / ${fmtMs(conn.connectMs.p99)}` });
  }
  const range = (r: [number, number | null] | undefined) => (!r ? '—' : r[1] === null ? `≥ ${fmtUs(r[0] / 1000)}` : `${fmtUs(r[0] / 1000)}–${fmtUs(r[1] / 1000)}`);
  const packets: Table = {
    head: ['interface', 'peer', 'direction', 'packets', 'timed', 'p50', 'p50 95% interval', 'p99', 'p99 95% interval', 'max'],
    rows: (probes.packetLatency ?? []).slice(0, 50).map((x) => [
      c(x.iface),
      c(x.peer),
      c(x.dir),
      c(fmtNum(x.count, 0)),
      c(fmtNum(x.timed ?? x.count, 0)),
      c(fmtUs(x.p50 / 1000)),
      c(range(x.error?.p50)),
      c(fmtUs(x.p99 / 1000)),
      c(range(x.error?.p99)),
      c(fmtUs(x.max / 1000)),
    ]),
  };
  const smp = probes.sampling;
  const t0ms = Date.parse(r.startedAt);
  const samplingNote = !smp?.windows?.length
    ? ''
    : smp.everyMax <= 1
      ? `Every packet timed (${smp.fidelity} fidelity).`
      : `Sampled fidelity: every packet counted, 1 in N timed (${fmtNum(smp.timed, 0)} of ${fmtNum(smp.packets, 0)} queued packets). N per window: ${smp.windows
          .slice(0, 20)
          .map((w) => `${fmtS((w.startMs - t0ms) / 1000)}–${fmtS((w.endMs - t0ms) / 1000)}: 1 in ${w.every}`)
          .join('; ')}${smp.windows.length > 20 ? `; … (${smp.windows.length} runs of windows in results.json probes.sampling)` : ''}. Counts are each window's timed pairs × its N; the intervals are the sampling error (95%, order statistics), besides the histogram's 6.25%.`;
  const cost = probes.cost;
  const observer =
    probesRan && cost
      ? `Observer cost: the probes took ${fmtNum(cost.cpuSeconds, 2)} CPU-s (BPF programs ${fmtNum(cost.bpfSeconds, 2)} s${cost.bpfStats ? '' : ', run time partly not counted'}${cost.statsEvery > 1 ? ` (the kernel's run-time statistics on for 1/${cost.statsEvery} of every window, ${pct(cost.statsShare)} of the time, scaled up)` : ''}, their dispatch ~${fmtNum(cost.dispatchSeconds ?? 0, 2)} s, loaders ${fmtNum(cost.loaderSeconds, 2)} s), ${pct(cost.share)} of the machine, ${fmtNum(cost.nsPerEvent, 0)} ns per program run${smp && smp.everyMax > 1 ? `; packet latency timed 1 in ${smp.everyMin === smp.everyMax ? smp.everyMin : `${smp.everyMin}–${smp.everyMax}`}` : smp?.windows?.length ? '; every packet timed' : ''}.`
      : undefined;
  const wake = r.machine?.wakeCpuUs;
  const machine = wake
    ? `Machine: one wake-up of the run's gauge thread by a loopback message cost ${fmtNum(wake.median, 0)} µs of CPU (median of ${fmtNum(wake.readings, 0)} seconds; p10–p90 ${fmtNum(wake.p10, 0)}–${fmtNum(wake.p90, 0)} µs). On a virtual machine this moves from run to run, and a lightly loaded service's CPU per request with it; compare takes its change into account (docs/compare.md).`
    : undefined;
  const drops: Table = {
    head: ['reason', 'interface', 'count'],
    rows: (probes.drops?.byReason ?? []).slice(0, 100).map((x) => [c(x.reason), c(x.iface), c(fmtNum(x.count, 0))]),
  };
  const sec = (x: number | null, by: string | null) => (x === null ? 'not seen' : `${fmtNum(x, 3)} s${by ? ` (${by})` : ''}`);
  const faults: Table = {
    head: ['fault', 'kind', 'target', 'from – to', 'time to detect', 'time to recover', 'failed by it', 'p99 (baseline)', 'packets dropped', 'retransmits (baseline/s)', 'reaction'],
    rows: (r.faults ?? []).map((f) => [
      c(f.name),
      c(f.kind),
      c(`${f.target}${f.pods.length ? ` (${f.pods.join(', ')})` : ''}`),
      c(`${fmtNum(f.startS, 1)} – ${f.endS === null ? 'never undone' : `${fmtNum(f.endS, 1)} s`}`),
      c(sec(f.detectS, f.detectedBy)),
      c(sec(f.recoverS, f.recoveredBy)),
      c(`${fmtNum(f.failedByFault, 0)} of ${fmtNum(f.requests, 0)} (${fmtNum(f.errors, 0)} errors)`, f.failedByFault > 0 ? 'bad' : undefined),
      c(`${f.p99Ms === null ? '–' : fmtMs(f.p99Ms)} (${f.baseline.p99Ms === null ? '–' : fmtMs(f.baseline.p99Ms)})`),
      c(f.packetsDropped === null ? '–' : fmtNum(f.packetsDropped, 0)),
      c(f.retransmits === null || f.retransmits === undefined ? '–' : `${fmtNum(f.retransmits, 0)} (${fmtNum(f.baseline.retransmitsPerS ?? 0, 1)})`),
      c(f.reactions.slice(0, 6).map((x) => `${fmtNum(x.t, 1)} s ${x.text}`).join('; ') || 'nothing journalled'),
    ]),
  };
  const events: Table = {
    head: ['t', 'source', 'kind', 'what'],
    rows: r.events.slice(0, 2000).map((e) => [c(fmtNum(e.t, 3)), c(e.source), c(e.kind), c(e.text)]),
  };
  const environment = Object.entries(r.environment).map(([key, value]) => ({ key, value: s(value) }));

  const slo = a?.slo
    ? `Per 1 s window: p${a.slo.percentile} ${a.slo.strict ? '<' : '≤'} ${fmtMs(a.slo.limitMs)} (from the threshold “${a.slo.expression}”). Shaded windows broke it.`
    : (a?.sloAbsent ?? 'No analysis in this result.');

  return {
    live,
    title: `loadscope — ${s(r.scenario.name)} — ${r.startedAt}`,
    scenarioName: s(r.scenario.name),
    subtitle: `${r.startedAt} → ${r.endedAt} · engine ${s(r.engine)} · run ${s(r.runId)}${r.scenario.description ? ` · ${s(r.scenario.description)}` : ''}`,
    verdict,
    ...(observer ? { observer } : {}),
    ...(machine ? { machine } : {}),
    samplingNote,
    figures,
    findings: a?.findings ?? [],
    notices: r.notices.map(s),
    absent: (a?.signals ?? []).filter((x) => !x.present).map((x) => ({ signal: x.signal, detail: x.detail })),
    ...(sv
      ? {
          servedCheck: {
            text: `Client saw ${fmtNum(sv.clientResponses, 0)} responses; ${s(sv.service)} served ${fmtNum(sv.served, 0)} (difference ${sv.difference}, allowed ${sv.allowed}: requests in flight at cut-off).`,
            cls: sv.ok ? 'good' : 'bad',
          },
        }
      : {}),
    thresholds,
    slo,
    scaleUp,
    episodes,
    latencyNote: `Latency measured from: ${s(r.http.latencyBasis)}.`,
    stages,
    byReplicas,
    services,
    stress: r.stress.map((x) => `${s(x.name)}: ${x.cores} core(s) at ${pct(x.utilization)} from ${fmtNum(x.startS, 1)} s to ${x.endS === undefined ? 'the end' : `${fmtNum(x.endS, 1)} s`}`),
    charts: has,
    absentText,
    heatmaps,
    balance,
    routing: routingView,
    hpa,
    tcp: { rtt, figures: tcpFigures },
    packets,
    drops,
    faults,
    events,
    eventsTotal: r.events.length,
    environment,
    scenarioFile: s(r.scenario.file),
    scenarioText,
    trend: {
      note: opts.trend ? `The history at ${opts.trend.location}: each summary metric over the scenario's completed runs, this run's point filled, change points (E-divisive means, permutation test) ringed.` : '',
      rows: trendRows(opts.trend),
    },
    data: {
      t,
      stages: r.stages.map((x) => ({ name: s(x.name), start: x.startS, end: x.startS + (x.durationS ?? Math.max(0, r.durationS - x.startS)) })),
      markers: (a?.markers ?? []).filter((m) => m.category !== 'stage').map((m) => ({ t: m.t, category: m.category, label: m.label })),
      violation: a?.series.violation ?? [],
      charts,
    },
  };
}

/** The shadow HPA's cross-check of a real controller (results.json autoscaling.shadow, run/kube-shadow.ts). */
function shadowView(r: RunResult): { shadow?: { note: string; disagreements: Table } } {
  type Shadow = { syncs: number; compared: number; agreements: number; disagreements: { time: number; real: number; shadow: number; metrics: unknown }[] };
  const sh = (r.autoscaling as { shadow?: Shadow } | undefined)?.shadow;
  if (!sh) return {};
  const note = `The local HPA port ran in shadow of the cluster's HPA controller on the metric values loadscope's metrics APIs served it: ${sh.syncs} syncs seen, ${sh.compared} with every metric served (compared), ${sh.agreements} agreed on the desired replicas, ${sh.disagreements.length} disagreed.`;
  return {
    shadow: {
      note,
      disagreements: {
        head: ['t', 'real desired', 'port desired', 'metrics (port)'],
        rows: sh.disagreements.slice(0, 300).map((d) => [c(`${fmtNum(d.time, 1)} s`), c(d.real), c(d.shadow, 'bad'), c(JSON.stringify(d.metrics).slice(0, 400))]),
      },
    },
  };
}
