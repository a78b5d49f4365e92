import { THRESHOLD_RE } from '../scenario/schema.ts';
import type { SparseHist } from '../core/histogram.ts';
import { percentiles, summarizeSparse } from './hist.ts';

/** The aggregates a threshold can be checked against. */
export interface ThresholdInputs {
  latencyMs: SparseHist; // µs values; divided by 1000 here
  /** Requests that got a response or failed (timeouts, connection errors). */
  attempts: number;
  /** Of those, failed: status >= 400, timeouts, connection errors. */
  failed: number;
  durationS: number;
}

export interface ThresholdResult {
  metric: string;
  expression: string;
  observed: number | null;
  ok: boolean;
}

/** Evaluates k6-style threshold expressions on the run's merged data (never per window or per instance). */
export function evaluateThresholds(thresholds: Record<string, string[]>, x: ThresholdInputs): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  for (const [metric, exprs] of Object.entries(thresholds)) {
    for (const expression of exprs) {
      const m = THRESHOLD_RE.exec(expression);
      if (!m) {
        out.push({ metric, expression, observed: null, ok: false });
        continue;
      }
      const observed = observe(metric, m[1], m[2], x);
      out.push({ metric, expression, observed, ok: observed !== null && compare(observed, m[3], Number(m[4])) });
    }
  }
  return out;
}

function observe(metric: string, agg: string, pct: string | undefined, x: ThresholdInputs): number | null {
  const h = x.latencyMs;
  const total = x.attempts;
  if (metric === 'http_req_duration') {
    if (h.total === 0) return null;
    if (pct !== undefined) return percentiles(h, [Number(pct)], 1000)[0];
    const s = summarizeSparse(h, 1000);
    switch (agg) {
      case 'avg': return s.mean;
      case 'min': return s.min;
      case 'max': return s.max;
      case 'med': return s.p50;
      case 'count': return s.count;
      default: return null;
    }
  }
  if (metric === 'http_req_failed') {
    if (agg === 'rate') return total ? x.failed / total : 0;
    if (agg === 'count') return x.failed;
    return null;
  }
  if (metric === 'http_reqs') {
    if (agg === 'count') return total;
    if (agg === 'rate') return x.durationS > 0 ? total / x.durationS : 0;
    return null;
  }
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
