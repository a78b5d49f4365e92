// The statements and row mapping both stores share; `ph(i)` writes the i-th placeholder (? or $i).
import type { RunRecord } from './types.ts';

export const RUN_COLUMNS = [
  'run_id',
  'scenario',
  'scenario_hash',
  'scenario_file',
  'git_revision',
  'git_branch',
  'machine',
  'engine',
  'outcome',
  'started_at',
  'started_ms',
  'ended_at',
  'duration_s',
  'source',
  'recorded_at',
] as const;

export type RunRow = Record<(typeof RUN_COLUMNS)[number], string | number | null>;

export function runValues(r: RunRecord, recordedAt: string): (string | number | null)[] {
  const startedMs = Date.parse(r.startedAt);
  return [r.runId, r.scenario, r.scenarioHash, r.scenarioFile, r.gitRevision, r.gitBranch, r.machine, r.engine, r.outcome, r.startedAt, Number.isFinite(startedMs) ? startedMs : 0, r.endedAt, r.durationS, r.source, recordedAt];
}

export function fromRow(row: RunRow): RunRecord {
  const s = (v: string | number | null) => (v === null ? null : String(v));
  return {
    runId: String(row.run_id),
    scenario: String(row.scenario),
    scenarioHash: s(row.scenario_hash),
    scenarioFile: String(row.scenario_file),
    gitRevision: s(row.git_revision),
    gitBranch: s(row.git_branch),
    machine: String(row.machine),
    engine: String(row.engine),
    outcome: String(row.outcome),
    startedAt: String(row.started_at),
    endedAt: String(row.ended_at),
    durationS: Number(row.duration_s),
    source: row.source === 'run' ? 'run' : 'import',
    metrics: {},
  };
}

/** The newest `limit` runs (newest first) and the asked metrics of those runs. */
export function listSql(opts: { scenario?: string; limit?: number; metrics: readonly string[] }, ph: (i: number) => string) {
  const params: (string | number)[] = [];
  let where = '';
  if (opts.scenario !== undefined) {
    params.push(opts.scenario);
    where = `WHERE scenario = ${ph(params.length)}`;
  }
  const limit = opts.limit ? ` LIMIT ${Math.floor(opts.limit)}` : '';
  const chosen = `SELECT run_id FROM runs ${where} ORDER BY started_ms DESC, run_id DESC${limit}`;
  const runs = { sql: `SELECT ${RUN_COLUMNS.join(', ')} FROM runs ${where} ORDER BY started_ms DESC, run_id DESC${limit}`, params: [...params] };
  const mParams = [...params, ...opts.metrics];
  const inList = opts.metrics.map((_, i) => ph(params.length + i + 1)).join(', ');
  const metrics = { sql: `SELECT run_id, path, value FROM metrics WHERE run_id IN (${chosen}) AND path IN (${inList || 'NULL'})`, params: mParams };
  return { runs, metrics };
}

/** One metric over the newest `limit` completed runs of a scenario (newest first); parameters: metric, scenario. */
export function seriesSql(limit: number | undefined, ph: (i: number) => string): string {
  return `SELECT r.run_id AS "runId", r.started_at AS "startedAt", m.value AS value FROM runs r JOIN metrics m ON m.run_id = r.run_id AND m.path = ${ph(1)}
    WHERE r.scenario = ${ph(2)} AND r.outcome = 'completed' ORDER BY r.started_ms DESC, r.run_id DESC${limit ? ` LIMIT ${Math.floor(limit)}` : ''}`;
}

/** Every metric path of a scenario's runs; parameter: scenario. */
export const metricNamesSql = (ph: (i: number) => string) =>
  `SELECT DISTINCT m.path AS path FROM metrics m JOIN runs r ON r.run_id = m.run_id WHERE r.scenario = ${ph(1)} ORDER BY m.path`;

export const SCENARIOS_SQL = 'SELECT scenario, count(*) AS runs, max(started_ms) AS last FROM runs GROUP BY scenario ORDER BY scenario';

export function scenarioCount(row: { scenario: string; runs: number | string; last: number | string }) {
  return { scenario: row.scenario, runs: Number(row.runs), lastStartedAt: new Date(Number(row.last)).toISOString() };
}
