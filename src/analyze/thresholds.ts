import { THRESHOLD_RE } from '../scenario/schema.ts';
import type { SparseHist } from '../core/histogram.ts';
import type { RunResult } from '../core/result.ts';
import { percentiles, summarizeSparse } from './hist.ts';

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
}

export type ThresholdResult = RunResult['thresholds'][number];

/**
 * Evaluates k6-style threshold expressions on the run's merged data (never per window or per instance).
 * An aggregate with nothing to aggregate is "no data", and not ok: it never passes a run.
 */
export function evaluateThresholds(thresholds: Record<string, string[]>, x: ThresholdInputs): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  for (const [metric, exprs] of Object.entries(thresholds)) {
    for (const expression of exprs) {
      const m = THRESHOLD_RE.exec(expression);
      const observed = m ? observe(metric, m[1], m[2], x) : null;
      const status = !m ? 'unknown' : observed === null ? 'no data' : compare(observed, m[3], Number(m[4])) ? 'pass' : 'fail';
      out.push({ metric, expression, observed, ok: status === 'pass', status, source: 'loadscope' });
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

function observe(metric: string, agg: string, pct: string | undefined, x: ThresholdInputs): number | null {
  const h = x.latencyMs;
  const total = x.attempts;
  switch (metric) {
    case 'http_req_duration': {
      if (h.total === 0) return null;
      if (pct !== undefined) return percentiles(h, [Number(pct)], 1000)[0];
      const s = summarizeSparse(h, 1000);
      return { avg: s.mean, min: s.min, max: s.max, med: s.p50, count: s.count }[agg] ?? null;
    }
    case 'http_req_failed':
      if (total === 0) return null;
      return agg === 'rate' ? x.failed / total : agg === 'count' ? x.failed : null;
    case 'http_reqs':
      return perSecond(agg, total, x.durationS);
    case 'dropped_iterations':
      return x.dropped === null ? null : perSecond(agg, x.dropped, x.durationS);
  }
  return null;
}

/** A k6 counter: its count, or its count per second of the load (null when no time passed). */
function perSecond(agg: string, count: number, durationS: number): number | null {
  if (agg === 'count') return count;
  if (agg === 'rate') return durationS > 0 ? count / durationS : null;
  return null;
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
