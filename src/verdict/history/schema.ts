// The history's schema as numbered migrations, the same SQL for SQLite and PostgreSQL. A database
// records the versions applied in schema_version; pending migrations run in one transaction that
// excludes other migrators (SQLite BEGIN IMMEDIATE, PostgreSQL an advisory lock), so two runs ending
// at once on a fresh database do not both create it. Append new migrations; never edit a shipped one.
import { LoadscopeError } from '../../core/errors.ts';

/** One schema change: its number and its statements (portable SQL). */
export interface Migration {
  version: number;
  statements: readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    statements: [
      `CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        scenario TEXT NOT NULL,
        scenario_hash TEXT,
        scenario_file TEXT NOT NULL,
        git_revision TEXT,
        git_branch TEXT,
        machine TEXT NOT NULL,
        engine TEXT NOT NULL,
        outcome TEXT NOT NULL,
        started_at TEXT NOT NULL,
        started_ms DOUBLE PRECISION NOT NULL,
        ended_at TEXT NOT NULL,
        duration_s DOUBLE PRECISION NOT NULL,
        source TEXT NOT NULL,
        recorded_at TEXT NOT NULL
      )`,
      'CREATE INDEX runs_by_scenario ON runs (scenario, started_ms)',
      `CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (path, run_id)
      )`,
      'CREATE INDEX metrics_by_run ON metrics (run_id)',
    ],
  },
];

export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

/** What migrate needs of a connection: statements inside one exclusive transaction. */
export interface MigrationTarget {
  exclusive<T>(fn: (q: { exec(sql: string): Promise<void>; version(): Promise<number> }) => Promise<T>): Promise<T>;
}

/** Brings the database to SCHEMA_VERSION; returns the migrations applied. A newer database is refused. */
export async function migrate(db: MigrationTarget, location: string): Promise<number[]> {
  return db.exclusive(async (q) => {
    await q.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    const current = await q.version();
    if (current > SCHEMA_VERSION) {
      throw new LoadscopeError('ENVIRONMENT', `the history at ${location} has schema version ${current}; this loadscope knows versions up to ${SCHEMA_VERSION}`, {
        hint: 'update loadscope, or point LOADSCOPE_HISTORY / LOADSCOPE_HISTORY_URL at another history',
      });
    }
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      for (const s of m.statements) await q.exec(s);
      await q.exec(`INSERT INTO schema_version (version, applied_at) VALUES (${m.version}, '${new Date().toISOString()}')`);
      applied.push(m.version);
    }
    return applied;
  });
}
