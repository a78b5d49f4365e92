import type { RunResult } from '../../core/result.ts';

/** The metrics `history changes` and `history list` look at when none is named. */
export const DEFAULT_METRICS = ['http.latencyMs.p50', 'http.latencyMs.p99', 'http.rps', 'http.errorRate'] as const;

/** Top-level parts of results.json that hold no summary figure (or no figure of the run's performance). */
const SKIP = new Set(['schemaVersion', 'windows', 'events', 'environment', 'engineNative', 'probes', 'notices', 'thresholds', 'stress', 'checks']);

/**
 * The summary figures of a run, by results.json path: every finite number reachable through objects
 * (arrays are per-window or per-event data and are left out), except that `stages` is keyed by stage
 * name (`stages.peak.latencyMs.p99`) and `analysis.scaleUp` by its stage (`analysis.scaleUp.peak.reactionS`).
 * Nulls are left out: a run without a figure has no value for it.
 */
export function summaryMetrics(r: RunResult): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (v: unknown, path: string): void => {
    if (typeof v === 'number') {
      if (Number.isFinite(v)) out[path] = v;
    } else if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
    }
  };
  for (const [k, v] of Object.entries(r)) {
    if (!SKIP.has(k) && k !== 'stages') walk(v, k);
  }
  for (const s of r.stages) walk({ ...s, name: undefined, model: undefined }, `stages.${s.name}`);
  for (const s of r.analysis?.scaleUp ?? []) walk(s, `analysis.scaleUp.${s.stage}`);
  return out;
}
