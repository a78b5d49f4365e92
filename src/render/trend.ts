// The scenario's trend in a run's report: each summary metric over the scenario's recorded runs
// (the history, src/verdict/history), this run marked, change points named. Pure: fed finished data.

/** What the report draws of a scenario's history (written as trend.json into the run directory). */
export interface ReportTrend {
  scenario: string;
  /** The run the report is of; its point is marked. */
  runId: string;
  /** Where the history lives (a path, or a PostgreSQL URL without credentials). */
  location: string;
  metrics: {
    metric: string;
    points: { runId: string; startedAt: string; value: number }[];
    changes: { runId: string; index: number; before: number; after: number; pValue: number }[];
  }[];
}

/** One row of the trend table: the metric, its last values, a sparkline and the change points in words. */
export interface TrendRow {
  metric: string;
  runs: string;
  thisRun: string;
  range: string;
  /** SVG polyline points in a 160 × 32 box (numbers only). */
  line: string;
  marks: { x: string; y: string; cls: string; title: string }[];
  changes: string;
}

const W = 160;
const H = 32;

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));

/** The trend table's rows; empty when the history holds fewer than two runs of the scenario. */
export function trendRows(t: ReportTrend | undefined): TrendRow[] {
  if (!t) return [];
  return t.metrics
    .filter((m) => m.points.length >= 2)
    .map((m) => {
      const vals = m.points.map((p) => p.value);
      const lo = Math.min(...vals);
      const hi = Math.max(...vals);
      const x = (i: number) => ((i / (vals.length - 1)) * (W - 4) + 2).toFixed(1);
      const y = (v: number) => (hi === lo ? H / 2 : H - 2 - ((v - lo) / (hi - lo)) * (H - 4)).toFixed(1);
      const here = m.points.findIndex((p) => p.runId === t.runId);
      const marks = m.changes.map((c) => ({ x: x(c.index), y: y(vals[c.index]), cls: 'change', title: `change at run ${c.runId}: ${fmt(c.before)} → ${fmt(c.after)} (p = ${c.pValue.toFixed(3)})` }));
      if (here >= 0) marks.push({ x: x(here), y: y(vals[here]), cls: 'here', title: `this run: ${fmt(vals[here])}` });
      return {
        metric: m.metric,
        runs: String(vals.length),
        thisRun: here >= 0 ? fmt(vals[here]) : 'not recorded',
        range: `${fmt(lo)} – ${fmt(hi)}`,
        line: vals.map((v, i) => `${x(i)},${y(v)}`).join(' '),
        marks,
        changes: m.changes.length ? m.changes.map((c) => `at run ${c.index + 1} (${c.runId}): ${fmt(c.before)} → ${fmt(c.after)}, p = ${c.pValue.toFixed(3)}`).join('; ') : 'none',
      };
    });
}
