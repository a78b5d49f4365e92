import pg from 'pg';
import { LoadscopeError } from '../../core/errors.ts';
import { migrate } from './schema.ts';
import { fromRow, listSql, metricNamesSql, RUN_COLUMNS, runValues, scenarioCount, SCENARIOS_SQL, seriesSql, type RunRow } from './sql.ts';
import type { HistoryStore, RunRecord, ScenarioCount, SeriesPoint } from './types.ts';

const ph = (i: number) => `$${i}`;
/** Advisory lock key of the history's migrations ("lsh" + 1). */
const MIGRATION_LOCK = 0x6c736801;

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

/** The history in a PostgreSQL database (LOADSCOPE_HISTORY_URL=postgres://…), shared by many machines. */
export async function openPostgresHistory(url: string): Promise<HistoryStore> {
  const location = redact(url);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {}); // a dropped connection fails the next query, which reports it
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw new LoadscopeError('ENVIRONMENT', `cannot connect to the history database ${location}: ${(e as Error).message}`, {
      cause: e,
      hint: 'check LOADSCOPE_HISTORY_URL (postgres://user:password@host:port/database) and that the server is up; unset it to use the SQLite file',
    });
  }
  try {
    await migrate(
      {
        async exclusive(fn) {
          await client.query('BEGIN');
          try {
            await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
            const out = await fn({
              exec: async (sql) => void (await client.query(sql)),
              version: async () => Number((await client.query('SELECT max(version) AS v FROM schema_version')).rows[0].v ?? 0),
            });
            await client.query('COMMIT');
            return out;
          } catch (e) {
            await client.query('ROLLBACK').catch(() => {});
            throw e;
          }
        },
      },
      location,
    );
  } catch (e) {
    await client.end().catch(() => {});
    if (e instanceof LoadscopeError) throw e;
    throw new LoadscopeError('ENVIRONMENT', `the history database ${location} cannot be used: ${(e as Error).message}`, { cause: e, hint: 'the user needs rights to create tables in the database (the first use creates them)' });
  }
  return new PostgresHistory(client, location);
}

class PostgresHistory implements HistoryStore {
  readonly kind = 'postgres' as const;

  constructor(
    private readonly client: pg.Client,
    readonly location: string,
  ) {}

  async record(runs: readonly RunRecord[]): Promise<number> {
    const recordedAt = new Date().toISOString();
    const c = this.client;
    await c.query('BEGIN');
    try {
      let added = 0;
      for (const r of runs) {
        const res = await c.query(`INSERT INTO runs (${RUN_COLUMNS.join(', ')}) VALUES (${RUN_COLUMNS.map((_, i) => ph(i + 1)).join(', ')}) ON CONFLICT (run_id) DO NOTHING`, runValues(r, recordedAt));
        if (res.rowCount === 0) continue;
        added++;
        const entries = Object.entries(r.metrics);
        await c.query('INSERT INTO metrics (run_id, path, value) SELECT $1, p, v FROM unnest($2::text[], $3::float8[]) AS t (p, v)', [r.runId, entries.map(([p]) => p), entries.map(([, v]) => v)]);
      }
      await c.query('COMMIT');
      return added;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      throw e;
    }
  }

  async list(opts: { scenario?: string; limit?: number; metrics: readonly string[] }): Promise<RunRecord[]> {
    const { runs, metrics } = listSql(opts, ph);
    const out = (await this.client.query<RunRow>(runs.sql, runs.params)).rows.map(fromRow).reverse();
    if (out.length && opts.metrics.length) {
      const byId = new Map(out.map((r) => [r.runId, r]));
      for (const v of (await this.client.query<{ run_id: string; path: string; value: number }>(metrics.sql, metrics.params)).rows) {
        const r = byId.get(v.run_id);
        if (r) r.metrics[v.path] = Number(v.value);
      }
    }
    return out;
  }

  async series(scenario: string, metric: string, limit?: number): Promise<SeriesPoint[]> {
    const rows = (await this.client.query<SeriesPoint>(seriesSql(limit, ph), [metric, scenario])).rows;
    return rows.map((r) => ({ ...r, value: Number(r.value) })).reverse();
  }

  async metricNames(scenario: string): Promise<string[]> {
    return (await this.client.query<{ path: string }>(metricNamesSql(ph), [scenario])).rows.map((r) => r.path);
  }

  async scenarios(): Promise<ScenarioCount[]> {
    return (await this.client.query<Parameters<typeof scenarioCount>[0]>(SCENARIOS_SQL)).rows.map(scenarioCount);
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}
