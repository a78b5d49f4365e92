// The page and the printed table of `loadscope compare`: compare.json's shape, how its figures are
// written, and compare.html (both runs' timelines overlaid, uPlot inlined as in the report).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { embedJson } from './render.ts';

/** The comparison's verdict. */
export type Verdict = 'regressed' | 'improved' | 'unchanged';
/** A metric's verdict; `reported`: shown with its change, interval and MDC but not judged (no threshold: the metric's default is none and no --threshold named it). */
export type MetricVerdict = Verdict | 'reported';

/** One metric of compare.json. `change` is relative (0.1 = +10 %) or absolute in the unit (`changeKind`); `interval` bounds it; `mdc` is the minimum detectable change in the same terms. */
export interface CompareMetric {
  name: string;
  unit: string;
  better: 'lower' | 'higher';
  baseline: number;
  candidate: number;
  change: number | null;
  changeKind: 'relative' | 'absolute';
  interval: [number, number] | null;
  mdc: number | null;
  /** null: not judged (verdict `reported`). */
  threshold: number | null;
  verdict: MetricVerdict;
  method: 'block bootstrap' | 'one value per run';
  /** Requests (or packets, or requests served) behind each figure. */
  samples?: { baseline: number; candidate: number };
  note?: string;
}

/** One of the two runs. */
export interface CompareRun {
  dir: string;
  runId: string;
  scenario: string;
  engine: string;
  outcome: string;
  startedAt: string;
  durationS: number;
  stages: { name: string; startS: number; durationS: number | null }[];
}

/** The content of compare.json. */
export interface CompareDoc {
  schemaVersion: 1;
  /** regressed when any metric regressed; improved when none regressed and some improved. */
  verdict: Verdict;
  counts: Record<MetricVerdict, number>;
  method: { name: 'block bootstrap'; detail: string; resamples: number; confidence: number; power: number; seed: number };
  baseline: CompareRun;
  candidate: CompareRun;
  /**
   * The machine's CPU per wake-up in each run (median of machine.wake_cpu_us over the stages' windows, µs) and its
   * relative change: a service's CPU per request is called only beyond its threshold plus |change|. null: a run has no gauge.
   */
  machine: { metric: 'machine.wake_cpu_us'; baseline: number; candidate: number; change: number } | null;
  /** Differences between the runs worth knowing (scenarios, outcome, metrics only one run has). */
  notes: string[];
  metrics: CompareMetric[];
}

/** One run's per-window series for the page (index = seconds since its start). */
export interface CompareTimeline {
  t: number[];
  rps: number[];
  errors: number[];
  p50Ms: (number | null)[];
  p99Ms: (number | null)[];
  cpuMsPerRequest: { service: string; values: (number | null)[] }[];
  stages: { name: string; start: number; end: number }[];
}

const sig = (x: number, digits = 3): string => {
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1000) return String(Math.round(x));
  return String(Number(x.toPrecision(digits)));
};

/** A figure in its unit (ratios as percentages). */
export function formatValue(v: number, unit: string): string {
  if (unit === 'ratio') return `${sig(v * 100)}%`;
  return `${sig(v)} ${unit}`;
}

const signed = (s: string, x: number) => (x > 0 ? `+${s}` : s);

/** A change: relative as a signed percentage, a ratio's absolute change in percentage points, others in the unit. */
export function formatChange(x: number, m: Pick<CompareMetric, 'changeKind' | 'unit'>): string {
  if (m.changeKind === 'relative') return signed(`${sig(x * 100, 2)}%`, x);
  if (m.unit === 'ratio') return signed(`${sig(x * 100, 2)} pp`, x);
  return signed(`${sig(x, 2)} ${m.unit}`, x);
}

/** A metric's cells as the table prints them. */
export function formatMetric(m: CompareMetric): { name: string; baseline: string; candidate: string; change: string; interval: string; mdc: string; threshold: string; verdict: string; note: string } {
  const plain = (x: number) => formatChange(x, m).replace(/^\+/, '');
  return {
    name: m.name,
    baseline: formatValue(m.baseline, m.unit),
    candidate: formatValue(m.candidate, m.unit),
    change: m.change === null ? 'n/a' : formatChange(m.change, m),
    interval: m.interval ? `[${formatChange(m.interval[0], m)}, ${formatChange(m.interval[1], m)}]` : '—',
    mdc: m.mdc === null ? '—' : plain(m.mdc),
    threshold: m.threshold === null ? 'none' : plain(m.threshold),
    verdict: m.verdict === 'reported' ? 'reported, not judged' : m.verdict,
    note: m.note ?? '',
  };
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const templates = join(root, 'reports', 'templates');
const require = createRequire(import.meta.url);

let page: { template: Handlebars.TemplateDelegate; css: string; js: string } | undefined;

function assets() {
  if (page) return page;
  const hb = Handlebars.create();
  const template = hb.compile(readFileSync(join(templates, 'compare.hbs'), 'utf8'), { strict: false, preventIndent: true });
  const css = `${readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8')}\n${readFileSync(join(templates, 'report.css'), 'utf8')}`.replace(/<\/(style)/gi, '<\\/$1');
  const js = `${readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8')}\n${readFileSync(join(templates, 'compare.js'), 'utf8')}`.replace(/<\/(script)/gi, '<\\/$1');
  page = { template, css, js };
  return page;
}

/** A chart of the page: series over the common x (seconds since each run's start). */
interface ChartSpec {
  id: string;
  title: string;
  yLabel: string;
  series: { label: string; color: string; dash?: number[]; width?: number; values: (number | null)[] }[];
}

const BASE = '#8a94a3';
const CAND = '#1565c0';

function charts(tl: { baseline: CompareTimeline; candidate: CompareTimeline }): { t: number[]; charts: ChartSpec[] } {
  const n = Math.max(tl.baseline.t.length, tl.candidate.t.length);
  const t = Array.from({ length: n }, (_, i) => i);
  const pad = <T>(xs: T[]): (T | null)[] => t.map((i) => (i < xs.length ? xs[i] : null));
  const pair = (label: string, b: (number | null)[], c: (number | null)[], dashB = false) => [
    { label: `baseline ${label}`, color: BASE, width: 1.5, ...(dashB ? { dash: [5, 4] } : {}), values: pad(b) },
    { label: `candidate ${label}`, color: CAND, width: 1.5, ...(dashB ? { dash: [5, 4] } : {}), values: pad(c) },
  ];
  const out: ChartSpec[] = [
    { id: 'latency', title: 'Latency per 1 s window', yLabel: 'ms', series: [...pair('p50', tl.baseline.p50Ms, tl.candidate.p50Ms), ...pair('p99', tl.baseline.p99Ms, tl.candidate.p99Ms, true)] },
    { id: 'rps', title: 'Throughput', yLabel: 'responses/s', series: pair('', tl.baseline.rps, tl.candidate.rps) },
    { id: 'errors', title: 'Errors', yLabel: 'errors/s', series: pair('', tl.baseline.errors, tl.candidate.errors) },
  ];
  const services = [...new Set([...tl.baseline.cpuMsPerRequest, ...tl.candidate.cpuMsPerRequest].map((c) => c.service))].sort();
  for (const svc of services) {
    const b = tl.baseline.cpuMsPerRequest.find((c) => c.service === svc)?.values ?? [];
    const c = tl.candidate.cpuMsPerRequest.find((x) => x.service === svc)?.values ?? [];
    out.push({ id: `cpu-${out.length}`, title: `CPU per request: ${svc}`, yLabel: 'ms CPU/request', series: pair('', b, c) });
  }
  for (const s of out) for (const x of s.series) x.label = x.label.trim();
  return { t, charts: out };
}

/** The self-contained compare.html: verdict, the table, notes, both runs' timelines overlaid. */
export function renderCompare(doc: CompareDoc, timelines: { baseline: CompareTimeline; candidate: CompareTimeline }): string {
  const a = assets();
  const rows = doc.metrics.map((m) => ({ ...formatMetric(m), cls: m.verdict === 'regressed' ? 'bad' : m.verdict === 'improved' ? 'good' : '' }));
  const data = { ...charts(timelines), stages: timelines.baseline.stages };
  const view = {
    title: `loadscope compare: ${doc.candidate.scenario}`,
    verdict: { text: doc.verdict === 'regressed' ? `regressed (${doc.counts.regressed})` : doc.verdict === 'improved' ? `improved (${doc.counts.improved}), nothing regressed` : 'unchanged', cls: doc.verdict === 'regressed' ? 'bad' : 'good' },
    doc,
    sameScenario: doc.baseline.scenario === doc.candidate.scenario,
    rows,
    charts: data.charts.map((c) => ({ id: c.id, title: c.title })),
  };
  return a.template({ v: view, css: new Handlebars.SafeString(a.css), js: new Handlebars.SafeString(a.js), data: new Handlebars.SafeString(embedJson(data)) });
}
