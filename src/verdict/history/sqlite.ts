import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { LoadscopeError } from '../../core/errors.ts';
import { migrate } from './schema.ts';
import type { HistoryStore, RunRecord, ScenarioCount, SeriesPoint } from './types.ts';
import { fromRow, listSql, metricNamesSql, RUN_COLUMNS, runValues, scenarioCount, SCENARIOS_SQL, seriesSql, type RunRow } from './sql.ts';

const BUSY_TIMEOUT_MS = 10_000;

/**
 * Puts the file in WAL mode. On a fresh file that other processes open at the same moment, SQLite
 * answers SQLITE_BUSY at once, without waiting out the busy timeout (the switch upgrades a shared lock,
 * and waiting there could deadlock): 2 of 120 opens in groups of four failed so. Retried with a short,
 * growing pause up to the busy timeout.
 */
function enableWal(db: Database.Database): void {
  const end = Date.now() + BUSY_TIMEOUT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let ms = 2; ; ms = Math.min(ms * 2, 100)) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() + ms > end) throw e;
      Atomics.wait(pause, 0, 0, ms);
    }
  }
}

/** The history in one SQLite file (WAL, so a run can record while another reads). */
export async function openSqliteHistory(file: string): Promise<HistoryStore> {
  let db: Database.Database;
  try {
    mkdirSync(dirname(file), { recursive: true });
    db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    enableWal(db);
    db.pragma('foreign_keys = ON');
  } catch (e) {
    throw new LoadscopeError('ENVIRONMENT', `cannot open the history database ${file}: ${(e as Error).message}`, {
      cause: e,
      hint: 'set LOADSCOPE_HISTORY to a writable file, or pass --no-history to `loadscope run`',
    });
  }
  try {
    await migrate(
      {
        async exclusive(fn) {
          db.exec('BEGIN IMMEDIATE');
          try {
            const out = await fn({
              exec: async (sql) => void db.exec(sql),
              version: async () => (db.prepare('SELECT max(version) AS v FROM schema_version').get() as { v: number | null }).v ?? 0,
            });
            db.exec('COMMIT');
            return out;
          } catch (e) {
            db.exec('ROLLBACK');
            throw e;
          }
        },
      },
      file,
    );
  } catch (e) {
    db.close();
    if (e instanceof LoadscopeError) throw e;
    throw new LoadscopeError('ENVIRONMENT', `the history database ${file} cannot be used: ${(e as Error).message}`, { cause: e, hint: 'is it a loadscope history (SQLite) file? set LOADSCOPE_HISTORY to another file' });
  }
  return new SqliteHistory(db, file);
}

class SqliteHistory implements HistoryStore {
  readonly kind = 'sqlite' as const;
  private readonly insertRun: Database.Statement;
  private readonly insertMetric: Database.Statement;

  constructor(
    private readonly db: Database.Database,
    readonly location: string,
  ) {
    this.insertRun = db.prepare(`INSERT INTO runs (${RUN_COLUMNS.join(', ')}) VALUES (${RUN_COLUMNS.map(() => '?').join(', ')}) ON CONFLICT (run_id) DO NOTHING`);
    this.insertMetric = db.prepare('INSERT INTO metrics (run_id, path, value) VALUES (?, ?, ?)');
  }

  async record(runs: readonly RunRecord[]): Promise<number> {
    const recordedAt = new Date().toISOString();
    const tx = this.db.transaction(() => {
      let added = 0;
      for (const r of runs) {
        if (this.insertRun.run(...runValues(r, recordedAt)).changes === 0) continue;
        added++;
        for (const [path, value] of Object.entries(r.metrics)) this.insertMetric.run(r.runId, path, value);
      }
      return added;
    });
    return tx.immediate();
  }

  async list(opts: { scenario?: string; limit?: number; metrics: readonly string[] }): Promise<RunRecord[]> {
    const { runs, metrics } = listSql(opts, () => '?');
    const rows = this.db.prepare(runs.sql).all(...runs.params) as RunRow[];
    const out = rows.map(fromRow).reverse();
    if (out.length && opts.metrics.length) {
      const byId = new Map(out.map((r) => [r.runId, r]));
      const values = this.db.prepare(metrics.sql).all(...metrics.params) as { run_id: string; path: string; value: number }[];
      for (const v of values) {
        const r = byId.get(v.run_id);
        if (r) r.metrics[v.path] = v.value;
      }
    }
    return out;
  }

  async series(scenario: string, metric: string, limit?: number): Promise<SeriesPoint[]> {
    return (this.db.prepare(seriesSql(limit, () => '?')).all(metric, scenario) as SeriesPoint[]).reverse();
  }

  async metricNames(scenario: string): Promise<string[]> {
    return (this.db.prepare(metricNamesSql(() => '?')).all(scenario) as { path: string }[]).map((r) => r.path);
  }

  async scenarios(): Promise<ScenarioCount[]> {
    return (this.db.prepare(SCENARIOS_SQL).all() as Parameters<typeof scenarioCount>[0][]).map(scenarioCount);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
