import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import type { RunResult } from '../core/result.ts';
import type { ReportTrend } from './trend.ts';
import { buildView, type ReportView } from './view.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const templates = join(root, 'reports', 'templates');
const require = createRequire(import.meta.url);

interface Assets {
  template: Handlebars.TemplateDelegate;
  css: string;
  js: string;
}

let assets: Assets | undefined;

function load(): Assets {
  if (assets) return assets;
  const hb = Handlebars.create();
  const partials = join(templates, 'partials');
  for (const f of readdirSync(partials).filter((f) => f.endsWith('.hbs'))) {
    hb.registerPartial(basename(f, '.hbs'), readFileSync(join(partials, f), 'utf8'));
  }
  const template = hb.compile(readFileSync(join(templates, 'report.hbs'), 'utf8'), { strict: false, preventIndent: true });
  const uplotJs = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const uplotCss = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  const css = `${uplotCss}\n${readFileSync(join(templates, 'report.css'), 'utf8')}`;
  // Inline scripts end at the first "</script"; the library and our code never contain one, but make sure.
  const js = `${uplotJs}\n${readFileSync(join(templates, 'report.js'), 'utf8')}`.replace(/<\/(script)/gi, '<\\/$1');
  assets = { template, css: css.replace(/<\/(style)/gi, '<\\/$1'), js };
  return assets;
}

/**
 * JSON for a script element: `<`, `>`, `&` and the two line separators are escaped, so no string in
 * the data can close the element or open a comment.
 */
export function embedJson(x: unknown): string {
  return JSON.stringify(x)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Renders a prepared view into the self-contained page. */
export function renderView(v: ReportView): string {
  const a = load();
  return a.template({ v, css: new Handlebars.SafeString(a.css), js: new Handlebars.SafeString(a.js), data: new Handlebars.SafeString(embedJson(v.data)) });
}

/** Renders the self-contained HTML report of a finished run (pure apart from reading the templates). */
export function renderReport(result: RunResult, scenarioText: string, opts: { live?: boolean; trend?: ReportTrend } = {}): string {
  return renderView(buildView(result, String(scenarioText ?? ''), opts));
}
