import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import type { RunResult } from '../model/result.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const templates = join(root, 'reports', 'templates');
const require = createRequire(import.meta.url);

let compiled: Handlebars.TemplateDelegate | undefined;

function template(): Handlebars.TemplateDelegate {
  if (compiled) return compiled;
  const hb = Handlebars.create();
  const partials = join(templates, 'partials');
  for (const f of readdirSync(partials).filter((f) => f.endsWith('.hbs'))) {
    hb.registerPartial(basename(f, '.hbs'), readFileSync(join(partials, f), 'utf8'));
  }
  hb.registerHelper('fixed', (x: unknown, d: unknown) => (typeof x === 'number' ? x.toFixed(typeof d === 'number' ? d : 2) : '—'));
  hb.registerHelper('int', (x: unknown) => (typeof x === 'number' ? Math.round(x).toLocaleString('en-US') : '—'));
  hb.registerHelper('pct', (x: unknown) => (typeof x === 'number' ? `${(x * 100).toFixed(2)}%` : '—'));
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('json', (x: unknown) => JSON.stringify(x, null, 2));
  compiled = hb.compile(readFileSync(join(templates, 'report.hbs'), 'utf8'), { strict: false });
  return compiled;
}

/** Data for the charts, embedded as JSON: `<` is escaped so no string can close the script element. */
export function embedJson(x: unknown): string {
  return JSON.stringify(x).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Renders the self-contained HTML report of a finished run (pure apart from reading the templates). */
export function renderReport(result: RunResult, scenarioText: string): string {
  const uplotJs = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const uplotCss = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  const reportJs = readFileSync(join(templates, 'report.js'), 'utf8');
  const reportCss = readFileSync(join(templates, 'report.css'), 'utf8');
  const failed = result.thresholds.filter((t) => !t.ok).length;
  const series = {
    t: result.windows.map((w) => w.t),
    rps: result.windows.map((w) => w.rps),
    errors: result.windows.map((w) => w.errors),
    p50: result.windows.map((w) => w.latencyMs.p50),
    p90: result.windows.map((w) => w.latencyMs.p90),
    p99: result.windows.map((w) => w.latencyMs.p99),
    stress: result.windows.map((w) => w.stressCores),
    stages: result.stages.map((s) => ({ name: s.name, start: s.startS, end: s.startS + s.durationS })),
  };
  return template()({
    r: result,
    verdict: result.outcome !== 'completed' ? result.outcome : failed > 0 ? 'thresholds failed' : 'passed',
    verdictClass: result.outcome !== 'completed' || failed > 0 ? 'bad' : 'good',
    failedThresholds: failed,
    scenarioText,
    services: Object.entries(result.services).map(([name, s]) => ({ name, ...s, rssMiB: s.rssBytes / 1048576 })),
    errorKinds: Object.entries(result.http.errorsByKind).map(([kind, n]) => ({ kind, n })),
    css: new Handlebars.SafeString(`${uplotCss}\n${reportCss}`),
    js: new Handlebars.SafeString(`${uplotJs}\n${reportJs}`),
    data: new Handlebars.SafeString(embedJson(series)),
  });
}
