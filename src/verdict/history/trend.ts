import { LoadscopeError } from '../../core/errors.ts';
import { nearestName } from '../../scenario/schema.ts';
import { eDivisive, type EDivisiveOptions } from '../changepoints.ts';
import { DEFAULT_METRICS } from './metrics.ts';
import type { HistoryStore, SeriesPoint } from './types.ts';

/** A change in one metric of a scenario's history: the run where it began (index into the metric's series). */
export interface MetricChange {
  metric: string;
  runId: string;
  index: number;
  before: number;
  after: number;
  pValue: number;
}

/** One metric's series over a scenario's completed runs and the changes found in it. */
export interface MetricTrend {
  metric: string;
  points: SeriesPoint[];
  changes: MetricChange[];
}

/** The trend of a scenario, for `history changes` and for a report to draw (the last `last` runs). */
export interface ScenarioTrend {
  scenario: string;
  metrics: MetricTrend[];
}

/**
 * Each metric's series over the scenario's completed runs (the newest `last`, default all) with
 * its change points. An unknown scenario or metric is a USAGE error naming the nearest known one.
 */
export async function scenarioTrend(
  store: HistoryStore,
  scenario: string,
  opts: { metrics?: readonly string[]; last?: number } & EDivisiveOptions = {},
): Promise<ScenarioTrend> {
  const known = await store.scenarios();
  if (!known.some((s) => s.scenario === scenario)) {
    const near = nearestName(scenario, known.map((s) => s.scenario));
    throw new LoadscopeError('USAGE', `the history at ${store.location} has no run of scenario "${scenario}"`, {
      hint: near ? `did you mean "${near}"?` : known.length ? `scenarios: ${known.map((s) => s.scenario).join(', ')}` : 'the history is empty: record runs with `loadscope run`, or seed it with `loadscope history import`',
    });
  }
  const metrics = opts.metrics?.length ? [...new Set(opts.metrics)] : [...DEFAULT_METRICS];
  if (opts.metrics?.length) {
    const names = await store.metricNames(scenario);
    for (const m of metrics) {
      if (names.includes(m)) continue;
      const near = nearestName(m, names);
      throw new LoadscopeError('USAGE', `no run of "${scenario}" has the metric "${m}"`, {
        hint: `${near ? `did you mean "${near}"? ` : ''}metrics are results.json paths, e.g. ${DEFAULT_METRICS.join(', ')}; stages by name (stages.<stage>.latencyMs.p99)`,
      });
    }
  }
  const out: MetricTrend[] = [];
  for (const metric of metrics) {
    const points = await store.series(scenario, metric, opts.last);
    const cps = eDivisive(
      points.map((p) => p.value),
      opts,
    );
    out.push({ metric, points, changes: cps.map((c) => ({ metric, runId: points[c.index].runId, index: c.index, before: c.before, after: c.after, pValue: c.pValue })) });
  }
  return { scenario, metrics: out };
}
