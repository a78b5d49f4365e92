// The page of `loadscope capacity` and the shape of capacity.json (the search's steps, the knee, the USL fit,
// replicas needed), plus the chart page shell that capacity.html and whatif.html share (uPlot inlined as in
// the report; each chart has its own x axis). Pure functions of finished data; every text is escaped.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { embedJson } from './render.ts';

/** The USL fit as capacity.json keeps it (verdict/usl.ts computes it); `peak` null when κ ≈ 0. */
export type UslSummary =
  | { ok: true; lambda: number; sigma: number; kappa: number; peak: { concurrency: number; throughput: number } | null; r2: number; rmse: number; points: number; note?: string }
  | { ok: false; reason: string; points: number };

/** One step of the search: the rate offered, what the run measured, and its verdict. */
export interface CapacityStep {
  index: number;
  phase: 'step-up' | 'bisection';
  rate: number;
  /** true: every threshold passed; false: one failed (see `failed`); null: interrupted, not judged. */
  pass: boolean | null;
  outcome: 'completed' | 'interrupted' | 'failed' | 'crashed';
  /** Responses per second within the step. */
  throughput: number;
  latencyMs: { mean: number; p50: number; p99: number } | null;
  /** Little's law: throughput × mean latency (requests in flight on average). */
  concurrency: number | null;
  errorRate: number;
  dropped: number;
  /** CPU of the scaled service per request served, ms (bundled services only). */
  cpuMsPerRequest: number | null;
  failed: string[];
  runDir: string;
  /** This step repeats step `retryOf`, which failed. */
  retryOf?: number;
  /** Failed, but a repeat at the same rate passed: not counted, nor used for the knee and the fit. */
  overruled?: boolean;
}

/** Replicas the HPA spec asks for at `rate`, metric by metric, and replicas the measured capacity needs. */
export interface ReplicasNeeded {
  rate: number;
  service: string;
  /** maxRate / replicas tested. */
  perReplicaCapacity: number;
  /** ceil(rate / perReplicaCapacity): replicas for the thresholds to pass. */
  forThresholds: number;
  hpa: {
    desired: number | null;
    metrics: { metric: string; desired: number | null; note: string }[];
  } | null;
  assumption: string;
}

/** The content of capacity.json. */
export interface CapacityDoc {
  schemaVersion: 1;
  scenario: string;
  scenarioFile: string;
  outDir: string;
  /** Highest passing rate, req/s; null when no step passed. */
  maxRate: number | null;
  /** The lowest rate tried that failed (the bracket's upper end); null when none failed. */
  firstFailingRate: number | null;
  /** Where latency starts rising faster than throughput (docs/capacity.md); null when no step shows it. */
  knee: { rate: number; throughput: number; latencyMs: number; concurrency: number | null } | null;
  steps: CapacityStep[];
  usl: UslSummary;
  replicas: { service: string; count: number; fixed: boolean };
  replicasNeeded: ReplicasNeeded | null;
  thresholds: Record<string, string[]>;
  settings: { stepS: number; startRate: number; maxRate: number; precision: number; maxSteps: number };
  /** interrupted: Ctrl-C stopped the search; limit: maxSteps or maxRate ended it before the bracket closed. */
  stopped: 'done' | 'interrupted' | 'limit';
  notes: string[];
}


/** A figure with at most four significant digits. */
export const fig = (x: number | null | undefined, unit = ''): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : `${Number(x.toPrecision(4))}${unit}`);

/** One chart of a page: series over its own x values (null: no point). `points` draws dots without lines. */
export interface PageChart {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  x: number[];
  series: { label: string; color: string; dash?: number[]; points?: boolean; stepped?: boolean; values: (number | null)[] }[];
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const templates = join(root, 'reports', 'templates');
const require = createRequire(import.meta.url);
const cache = new Map<string, { template: Handlebars.TemplateDelegate; css: string; js: string }>();

/** The compiled template `name`.hbs with the inlined styles and the chart script (capacity-charts.hbs, plain JS). */
export function pageAssets(name: string): { template: Handlebars.TemplateDelegate; css: string; js: string } {
  const hit = cache.get(name);
  if (hit) return hit;
  const hb = Handlebars.create();
  const template = hb.compile(readFileSync(join(templates, `${name}.hbs`), 'utf8'), { strict: false, preventIndent: true });
  const css = `${readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8')}\n${readFileSync(join(templates, 'report.css'), 'utf8')}`.replace(/<\/(style)/gi, '<\\/$1');
  const js = `${readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8')}\n${readFileSync(join(templates, 'capacity-charts.hbs'), 'utf8')}`.replace(/<\/(script)/gi, '<\\/$1');
  const a = { template, css, js };
  cache.set(name, a);
  return a;
}

/** Fills a page template: `v` is escaped by Handlebars, the charts go in as JSON (escaped for a script element). */
export function renderPage(name: string, v: object, charts: PageChart[]): string {
  const a = pageAssets(name);
  return a.template({ v, css: new Handlebars.SafeString(a.css), js: new Handlebars.SafeString(a.js), data: new Handlebars.SafeString(embedJson({ charts })) });
}

const OFFERED = '#8a94a3';
const SERVED = '#1565c0';
const P99 = '#c62828';
const FIT = '#2e7d32';

function capacityCharts(doc: CapacityDoc): PageChart[] {
  const steps = [...doc.steps].sort((a, b) => a.rate - b.rate);
  const x = steps.map((s) => s.rate);
  const charts: PageChart[] = [
    {
      id: 'throughput', title: 'Throughput against the offered rate', xLabel: 'offered rate (req/s)', yLabel: 'req/s', x,
      series: [
        { label: 'offered', color: OFFERED, dash: [5, 4], values: x },
        { label: 'served', color: SERVED, points: true, values: steps.map((s) => s.throughput) },
      ],
    },
    {
      id: 'latency', title: 'Latency against the offered rate', xLabel: 'offered rate (req/s)', yLabel: 'ms', x,
      series: [
        { label: 'mean', color: SERVED, points: true, values: steps.map((s) => s.latencyMs?.mean ?? null) },
        { label: 'p99', color: P99, points: true, values: steps.map((s) => s.latencyMs?.p99 ?? null) },
      ],
    },
  ];
  const pts = doc.steps.filter((s) => s.concurrency !== null).sort((a, b) => a.concurrency! - b.concurrency!);
  if (pts.length) {
    const maxN = Math.max(...pts.map((p) => p.concurrency!), doc.usl.ok && doc.usl.peak ? Math.min(doc.usl.peak.concurrency * 1.5, 4 * Math.max(...pts.map((p) => p.concurrency!))) : 0);
    const grid = Array.from({ length: 61 }, (_, i) => (maxN * i) / 60).filter((n) => n > 0);
    const xs = [...new Set([...pts.map((p) => p.concurrency!), ...grid])].sort((a, b) => a - b);
    const measured = new Map(pts.map((p) => [p.concurrency!, p.throughput]));
    const u = doc.usl;
    charts.push({
      id: 'usl', title: 'Universal Scalability Law: throughput against concurrency', xLabel: 'concurrency (Little: rate × mean latency)', yLabel: 'req/s', x: xs,
      series: [
        { label: 'measured', color: SERVED, points: true, values: xs.map((n) => measured.get(n) ?? null) },
        ...(u.ok ? [{ label: 'USL fit', color: FIT, values: xs.map((n) => (u.lambda * n) / (1 + u.sigma * (n - 1) + u.kappa * n * (n - 1))) }] : []),
      ],
    });
  }
  return charts;
}

/** The self-contained capacity.html: the answer, the steps, the knee, the USL fit and replicas needed. */
export function renderCapacity(doc: CapacityDoc): string {
  const u = doc.usl;
  const view = {
    title: `loadscope capacity: ${doc.scenario}`,
    doc,
    answer: doc.maxRate === null ? { text: 'no step passed', cls: 'bad' } : { text: `max ${fig(doc.maxRate)} req/s`, cls: 'good' },
    figures: [
      { k: 'highest passing rate', v: doc.maxRate === null ? '—' : `${fig(doc.maxRate)}/s` },
      { k: 'lowest failing rate', v: doc.firstFailingRate === null ? '—' : `${fig(doc.firstFailingRate)}/s` },
      { k: 'knee', v: doc.knee ? `${fig(doc.knee.rate)}/s (mean ${fig(doc.knee.latencyMs)} ms)` : 'not reached' },
      { k: `${doc.replicas.service} replicas`, v: `${doc.replicas.count}${doc.replicas.fixed ? ' (fixed)' : ' (autoscaled)'}` },
      { k: 'USL σ / κ', v: u.ok ? `${fig(u.sigma)} / ${fig(u.kappa)}` : 'no fit' },
      { k: 'USL peak', v: u.ok ? (u.peak ? `${fig(u.peak.throughput)}/s at N=${fig(u.peak.concurrency)}` : 'none (κ ≈ 0)') : '—' },
    ],
    rows: doc.steps.map((s) => ({
      index: s.index, phase: s.retryOf ? `${s.phase} (repeat of ${s.retryOf})` : s.phase, rate: fig(s.rate), throughput: fig(s.throughput), mean: fig(s.latencyMs?.mean), p99: fig(s.latencyMs?.p99),
      concurrency: fig(s.concurrency), errors: `${fig(s.errorRate * 100)}%`, cpu: fig(s.cpuMsPerRequest),
      verdict: s.pass === null ? 'not judged' : s.pass ? 'pass' : s.overruled ? 'fail, overruled by a repeat' : 'fail', cls: s.pass === null || s.overruled ? 'warn' : s.pass ? 'good' : 'bad', failed: s.failed.join('; '), runDir: s.runDir,
    })),
    usl: u.ok
      ? { ok: true, lambda: fig(u.lambda), sigma: fig(u.sigma), kappa: fig(u.kappa), peak: u.peak ? `${fig(u.peak.throughput)} req/s at concurrency ${fig(u.peak.concurrency)}` : 'none predicted (κ ≈ 0)', r2: fig(u.r2), rmse: fig(u.rmse), points: u.points, note: u.note ?? '' }
      : { ok: false, reason: u.reason },
    thresholds: Object.entries(doc.thresholds).map(([k, e]) => ({ key: k, exprs: e.join(', ') })),
    needed: doc.replicasNeeded
      ? {
          ...doc.replicasNeeded,
          perReplica: fig(doc.replicasNeeded.perReplicaCapacity),
          hpaMetrics: doc.replicasNeeded.hpa?.metrics.map((m) => ({ ...m, desired: m.desired ?? '—' })) ?? [],
          hpaDesired: doc.replicasNeeded.hpa ? (doc.replicasNeeded.hpa.desired ?? '—') : 'no autoscaler in the scenario',
        }
      : null,
  };
  return renderPage('capacity', view, capacityCharts(doc));
}
