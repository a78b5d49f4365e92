import { readFileSync } from 'node:fs';

// k6's end-of-test summary as written by `--summary-export` (works beside a user's handleSummary).
// Shape: { root_group: { checks: {name: {name, path, passes, fails}}, groups: {…} },
//          metrics: { name: { count|rate|avg|p(95)|…: number, thresholds?: { expr: failed } } } }
// Note the inversion: in this format a threshold's boolean is true when it FAILED.

/** One k6 threshold as k6 judged it in one process. */
export interface K6Threshold {
  metric: string;
  expression: string;
  ok: boolean;
}

/** One k6 check (k6/check) with its counts; `path` is "::group::name". */
export interface K6Check {
  name: string;
  path: string;
  passes: number;
  fails: number;
}

/** What loadscope keeps from one k6 summary. */
export interface K6Summary {
  thresholds: K6Threshold[];
  checks: K6Check[];
  /** Every metric's summary values (ms for timings), thresholds removed. */
  metrics: Record<string, Record<string, number>>;
}

/** Reads a --summary-export file; undefined when k6 did not write one (it failed before the end). */
export function readSummaryExport(path: string): K6Summary | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  return parseSummary(raw);
}

export function parseSummary(raw: unknown): K6Summary {
  const doc = (raw ?? {}) as { metrics?: Record<string, Record<string, unknown>>; root_group?: unknown };
  const thresholds: K6Threshold[] = [];
  const metrics: K6Summary['metrics'] = {};
  for (const [metric, m] of Object.entries(doc.metrics ?? {})) {
    const values: Record<string, number> = {};
    for (const [k, v] of Object.entries(m ?? {})) {
      if (k === 'thresholds' && v && typeof v === 'object') {
        for (const [expression, failed] of Object.entries(v as Record<string, unknown>)) thresholds.push({ metric, expression, ok: failed === false });
      } else if (typeof v === 'number') {
        values[k] = v;
      }
    }
    metrics[metric] = values;
  }
  const checks: K6Check[] = [];
  collectChecks(doc.root_group, checks);
  return { thresholds, checks, metrics };
}

function collectChecks(group: unknown, out: K6Check[]): void {
  if (!group || typeof group !== 'object') return;
  const g = group as { checks?: unknown; groups?: unknown };
  for (const c of listOf(g.checks)) {
    const x = c as Partial<K6Check>;
    if (typeof x.name === 'string') out.push({ name: x.name, path: String(x.path ?? x.name), passes: Number(x.passes ?? 0), fails: Number(x.fails ?? 0) });
  }
  for (const sub of listOf(g.groups)) collectChecks(sub, out);
}

/** Older k6 versions write checks and groups as arrays, newer ones as objects keyed by name. */
function listOf(x: unknown): unknown[] {
  if (Array.isArray(x)) return x;
  if (x && typeof x === 'object') return Object.values(x);
  return [];
}

/** Sums checks of several k6 processes by path (counts add exactly). */
export function mergeChecks(lists: K6Check[][]): K6Check[] {
  const byPath = new Map<string, K6Check>();
  for (const list of lists) {
    for (const c of list) {
      const m = byPath.get(c.path);
      if (m) {
        m.passes += c.passes;
        m.fails += c.fails;
      } else {
        byPath.set(c.path, { ...c });
      }
    }
  }
  return [...byPath.values()];
}
