// The run history: one record per finished run, in SQLite (default) or PostgreSQL (shared), behind
// one interface. Both stores hold the same schema, built by the same numbered migrations (schema.ts).

/** One recorded run: who ran what where, how it ended, and its summary figures. */
export interface RunRecord {
  runId: string;
  scenario: string;
  /** sha256 (hex, 16 digits) of the scenario file's text; null when it is not known (import without a journal). */
  scenarioHash: string | null;
  scenarioFile: string;
  /** The commit and branch of the git checkout the scenario file sits in (null outside one, or unknown). */
  gitRevision: string | null;
  gitBranch: string | null;
  /** Host name of the machine that ran it. */
  machine: string;
  engine: string;
  outcome: string;
  /** ISO 8601, UTC, as in results.json. */
  startedAt: string;
  endedAt: string;
  durationS: number;
  /** How it got here: recorded by `run`, or by `history import`. */
  source: 'run' | 'import';
  /** results.json paths → numbers (summary figures only: see metrics.ts). */
  metrics: Record<string, number>;
}

/** One value of a metric in one run, in run order. */
export interface SeriesPoint {
  runId: string;
  startedAt: string;
  value: number;
}

/** A scenario of the history with how many runs it has. */
export interface ScenarioCount {
  scenario: string;
  runs: number;
  lastStartedAt: string;
}

/**
 * A history store. Runs are keyed by run id: recording a run id that is already there changes
 * nothing (import is idempotent). Lists and series are in start-time order, oldest first.
 */
export interface HistoryStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Where it is, for messages (a file path, or the URL without its password). */
  readonly location: string;
  /** Records runs in one transaction; returns how many were new. */
  record(runs: readonly RunRecord[]): Promise<number>;
  /** Runs of a scenario (all scenarios when undefined), the newest `limit` of them; `metrics` holds only the paths asked for. */
  list(opts: { scenario?: string; limit?: number; metrics: readonly string[] }): Promise<RunRecord[]>;
  /** The values of one metric over the completed runs of a scenario, the newest `limit` of them. */
  series(scenario: string, metric: string, limit?: number): Promise<SeriesPoint[]>;
  /** Every metric path recorded for a scenario's runs. */
  metricNames(scenario: string): Promise<string[]>;
  scenarios(): Promise<ScenarioCount[]>;
  close(): Promise<void>;
}
