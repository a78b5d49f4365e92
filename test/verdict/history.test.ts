import test, { type ExecutionContext } from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { runResultSchema } from '../../src/core/result.ts';
import { openSqliteHistory } from '../../src/verdict/history/sqlite.ts';
import { openPostgresHistory } from '../../src/verdict/history/postgres.ts';
import { SCHEMA_VERSION } from '../../src/verdict/history/schema.ts';
import { summaryMetrics } from '../../src/verdict/history/metrics.ts';
import { recordOf } from '../../src/verdict/history/record.ts';
import { scenarioTrend } from '../../src/verdict/history/trend.ts';
import type { HistoryStore } from '../../src/verdict/history/types.ts';
import { runCli } from '../helpers/cli.ts';
import { needs } from '../helpers/needs.ts';
import { postgresMissing, startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startServer } from '../helpers/with-server.ts';
import { syntheticHistory, writeResults } from '../helpers/synthetic-results.ts';

// The history through the real CLI, the same tests against SQLite and a throw-away PostgreSQL.

const work = mkdtempSync(join(tmpdir(), 'ls-history-'));
const STEP_AT = 40;
const stepped = syntheticHistory({ scenario: 'stepped', runs: 60, seed: 18, stepAt: STEP_AT, stepFactor: 1.3, noise: 0.04 });
const flat = syntheticHistory({ scenario: 'flat', runs: 60, seed: 81, noise: 0.08 });
const steppedFiles = writeResults(join(work, 'stepped'), stepped);
const flatFiles = writeResults(join(work, 'flat'), flat);

let server: TestPostgres | undefined;
let dbCount = 0;
const pgMissing = postgresMissing();
const pgTest = needs('the PostgreSQL history', pgMissing);
test.before(async () => {
  if (!pgMissing) server = await startPostgres();
});
test.after.always(() => {
  server?.stop();
  rmSync(work, { recursive: true, force: true });
});

interface Backend {
  name: string;
  test: typeof test.serial | typeof test.serial.skip;
  /** The environment naming a fresh, empty history. */
  fresh(t: ExecutionContext): Promise<Record<string, string>>;
  open(env: Record<string, string>): Promise<HistoryStore>;
}

const backends: Backend[] = [
  {
    name: 'SQLite',
    test: test.serial,
    async fresh(t) {
      const dir = mkdtempSync(join(work, 'sqlite-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      return { LOADSCOPE_HISTORY: join(dir, 'history.db'), LOADSCOPE_HISTORY_URL: '' };
    },
    open: (env) => openSqliteHistory(env.LOADSCOPE_HISTORY),
  },
  {
    name: 'PostgreSQL',
    test: pgTest,
    async fresh() {
      return { LOADSCOPE_HISTORY_URL: await server!.createDatabase(`history_${++dbCount}`), LOADSCOPE_HISTORY: join(work, 'unused.db') };
    },
    open: (env) => openPostgresHistory(env.LOADSCOPE_HISTORY_URL),
  },
];

interface ChangesJson {
  scenario: string;
  series: { metric: string; runs: number }[];
  changes: { metric: string; runId: string; index: number; before: number; after: number; pValue: number }[];
}

const cli = async (t: ExecutionContext, env: Record<string, string>, args: string[], code = 0) => {
  const r = await runCli(['history', ...args], { env });
  t.is(r.code, code, `history ${args.slice(0, 3).join(' ')}…: ${r.stderr}${r.stdout.slice(0, 2000)}`);
  return r;
};

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

for (const b of backends) {
  b.test(`${b.name}: changes finds the planted step of a 60-run history at the right run, and nothing in a flat noisy one`, async (t) => {
    const env = await b.fresh(t);
    const imp = await cli(t, env, ['import', ...steppedFiles, ...flatFiles]);
    t.regex(imp.stdout, /imported 120 run\(s\)/);

    const r = await cli(t, env, ['changes', 'stepped', '--json']);
    const doc = JSON.parse(r.stdout) as ChangesJson;
    t.deepEqual(doc.series, ['http.latencyMs.p50', 'http.latencyMs.p99', 'http.rps', 'http.errorRate'].map((metric) => ({ metric, runs: 60 })));
    t.deepEqual(
      doc.changes.map((c) => [c.metric, c.index, c.runId]),
      ['http.latencyMs.p50', 'http.latencyMs.p99', 'http.rps'].map((m) => [m, STEP_AT, stepped[STEP_AT].runId]),
      JSON.stringify(doc.changes),
    );
    for (const c of doc.changes) {
      t.deepEqual(Object.keys(c).sort(), ['after', 'before', 'index', 'metric', 'pValue', 'runId']);
      const path = c.metric.split('.');
      const values = stepped.map((run) => path.reduce<any>((o, k) => o[k], run) as number);
      t.true(Math.abs(c.before - mean(values.slice(0, STEP_AT))) < 1e-9);
      t.true(Math.abs(c.after - mean(values.slice(STEP_AT))) < 1e-9);
      t.true(c.pValue <= 0.01, `${c.metric} p ${c.pValue}`);
    }
    const p99 = doc.changes.find((c) => c.metric === 'http.latencyMs.p99')!;
    t.true(p99.after / p99.before > 1.2 && p99.after / p99.before < 1.4, `${p99.before} → ${p99.after}`);

    const none = JSON.parse((await cli(t, env, ['changes', 'flat', '--json', '--metric', 'http.latencyMs.p99', '--metric', 'stages.peak.latencyMs.p99', '--metric', 'services.backend.cpuSeconds'])).stdout) as ChangesJson;
    t.deepEqual(none.changes, []);
    t.deepEqual(none.series.map((s) => s.runs), [60, 60, 60]);

    const text = (await cli(t, env, ['changes', 'stepped', '--metric', 'http.latencyMs.p99'])).stdout;
    t.regex(text, new RegExp(`http\\.latencyMs\\.p99: 60 run\\(s\\), 1 change\\(s\\)\\n  from run #${STEP_AT} ${stepped[STEP_AT].runId} \\(${stepped[STEP_AT].startedAt}\\): [\\d.]+ → [\\d.]+ \\(\\+\\d+\\.\\d%\\), p = 0\\.00\\d`));
  });

  b.test(`${b.name}: import is idempotent by run id; list shows the runs oldest first with their figures`, async (t) => {
    const env = await b.fresh(t);
    await cli(t, env, ['import', ...steppedFiles.slice(0, 10)]);
    const again = await cli(t, env, ['import', ...steppedFiles.slice(5, 12), join(steppedFiles[11], '..')]);
    t.regex(again.stdout, /imported 2 run\(s\), 6 already in the history/);
    const { runs } = JSON.parse((await cli(t, env, ['list', 'stepped', '--json'])).stdout) as { runs: { runId: string; machine: string; source: string; scenarioHash: string | null; metrics: Record<string, number> }[] };
    t.deepEqual(runs.map((r) => r.runId), stepped.slice(0, 12).map((r) => r.runId));
    t.is(runs[3].metrics['http.latencyMs.p99'], stepped[3].http.latencyMs!.p99);
    t.deepEqual([runs[0].machine, runs[0].source, runs[0].scenarioHash], ['ci-runner', 'import', null]);
    const last = JSON.parse((await cli(t, env, ['list', '--json', '--limit', '3'])).stdout) as { runs: { runId: string }[] };
    t.deepEqual(last.runs.map((r) => r.runId), stepped.slice(9, 12).map((r) => r.runId));
    const table = (await cli(t, env, ['list'])).stdout;
    t.regex(table, /^started \(UTC\)\s+run\s+scenario\s+git\s+machine\s+engine\s+outcome\s+p50 ms\s+p99 ms\s+req\/s\s+errors$/m);
    t.regex(table, new RegExp(`${stepped[0].runId}\\s+stepped\\s+—\\s+ci-runner\\s+autocannon\\s+completed\\s`));
    t.regex(table, /12 run\(s\) in /);
    const store = await b.open(env);
    try {
      t.deepEqual((await store.scenarios()).map((s) => [s.scenario, s.runs]), [['stepped', 12]]);
    } finally {
      await store.close();
    }
  });

  b.test(`${b.name}: bad input exits 2 with a hint and imports nothing`, async (t) => {
    const env = await b.fresh(t);
    await cli(t, env, ['import', ...steppedFiles.slice(0, 12)]);
    const typo = await cli(t, env, ['changes', 'steped'], 2);
    t.regex(typo.stderr, /no run of scenario "steped"[\s\S]*did you mean "stepped"\?/);
    const metric = await cli(t, env, ['changes', 'stepped', '--metric', 'http.latencyMz.p99'], 2);
    t.regex(metric.stderr, /no run of "stepped" has the metric "http\.latencyMz\.p99"[\s\S]*did you mean "http\.latencyMs\.p99"\?/);
    const bad = join(work, `bad-${b.name}.json`);
    writeFileSync(bad, JSON.stringify({ ...stepped[20], http: { ...stepped[20].http, rps: 'fast' } }));
    const invalid = await cli(t, env, ['import', steppedFiles[20], bad], 2);
    t.regex(invalid.stderr, /is not a loadscope results\.json: http\.rps: /);
    t.notRegex(invalid.stderr, /\n\s+at /, 'no stack trace');
    const missing = await cli(t, env, ['import', join(work, 'nope.json')], 2);
    t.regex(missing.stderr, /does not exist/);
    await cli(t, env, ['frobnicate'], 2);
    await cli(t, env, ['list', '--metric', 'x'], 2);
    await cli(t, env, ['changes', 'stepped', '--max-p', '2'], 2);
    const { runs } = JSON.parse((await cli(t, env, ['list', '--json'])).stdout) as { runs: unknown[] };
    t.is(runs.length, 12, 'the failed imports added nothing');
    const few = await cli(t, env, ['changes', 'stepped', '--last', '8']);
    t.regex(few.stdout, /8 run\(s\), no change \(too few runs/);
  });

  b.test(`${b.name}: the trend of a scenario (for the report): the newest N runs of a few metrics with their change points`, async (t) => {
    const env = await b.fresh(t);
    const store = await b.open(env);
    try {
      t.is(await store.record(stepped.map((r) => recordOf(r, { source: 'import' }))), 60);
      const trend = await scenarioTrend(store, 'stepped', { last: 30, metrics: ['http.latencyMs.p99', 'stages.peak.rps'] });
      t.deepEqual(trend.metrics.map((m) => [m.metric, m.points.length]), [['http.latencyMs.p99', 30], ['stages.peak.rps', 30]]);
      t.deepEqual(trend.metrics[0].points.map((p) => p.runId), stepped.slice(30).map((r) => r.runId));
      t.deepEqual(trend.metrics[0].points.map((p) => p.value), stepped.slice(30).map((r) => r.http.latencyMs!.p99));
      for (const m of trend.metrics) t.deepEqual(m.changes.map((c) => [c.index, c.runId]), [[STEP_AT - 30, stepped[STEP_AT].runId]], m.metric);
    } finally {
      await store.close();
    }
  });

  b.test(`${b.name}: four imports at once into a fresh history: one migration, every run recorded once`, async (t) => {
    const env = await b.fresh(t);
    const parts = [0, 1, 2, 3].map((i) => steppedFiles.slice(i * 12, i * 12 + 15)); // overlapping by 3
    const results = await Promise.all(parts.map((files) => runCli(['history', 'import', ...files], { env })));
    for (const r of results) t.is(r.code, 0, r.stderr);
    const added = results.map((r) => Number(/imported (\d+) run/.exec(r.stdout)?.[1]));
    t.is(added.reduce((a, x) => a + x, 0), 51, added.join(' + '));
    const { runs } = JSON.parse((await cli(t, env, ['list', '--json'])).stdout) as { runs: { runId: string }[] };
    t.deepEqual(runs.map((r) => r.runId), stepped.slice(0, 51).map((r) => r.runId));
    const q = b.name === 'SQLite' ? sqliteRows(env.LOADSCOPE_HISTORY) : pgRows(env.LOADSCOPE_HISTORY_URL);
    t.deepEqual(await q('SELECT version FROM schema_version'), [{ version: SCHEMA_VERSION }]);
  });

  b.test(`${b.name}: migrations run once, are recorded in schema_version, and a newer history is refused (exit 3)`, async (t) => {
    const env = await b.fresh(t);
    for (let i = 0; i < 2; i++) await (await b.open(env)).close();
    const q = b.name === 'SQLite' ? sqliteRows(env.LOADSCOPE_HISTORY) : pgRows(env.LOADSCOPE_HISTORY_URL);
    t.deepEqual(await q('SELECT version FROM schema_version ORDER BY version'), [{ version: SCHEMA_VERSION }]);
    await q(`INSERT INTO schema_version (version, applied_at) VALUES (${SCHEMA_VERSION + 1}, 'later')`);
    const r = await cli(t, env, ['list'], 3);
    t.regex(r.stderr, new RegExp(`has schema version ${SCHEMA_VERSION + 1}; this loadscope knows versions up to ${SCHEMA_VERSION}`));
  });

  b.test(`${b.name}: \`loadscope run\` records its run (scenario hash, git revision, machine); --no-history does not; a history it cannot reach is a notice, not a lost run`, async (t) => {
    const env = await b.fresh(t);
    const target = await startServer((_req, res) => res.end('ok'));
    t.teardown(() => target.close());
    const dir = mkdtempSync(join(work, 'run-'));
    const scenarioText = `name: recorded\ntarget: { url: ${target.url} }\nprobes: off\nstages:\n  - { name: s, duration: 1s, connections: 1 }\n`;
    writeFileSync(join(dir, 'recorded.yaml'), scenarioText);
    const run = (out: string, extra: string[], e = env) => runCli(['run', join(dir, 'recorded.yaml'), '--out', join(dir, out), ...extra], { env: e });
    const a = await run('a', []);
    t.is(a.code, 0, a.stderr);
    t.regex(a.stdout, /^history: /m);
    const b2 = await run('b', ['--no-history']);
    t.is(b2.code, 0, b2.stderr);
    t.notRegex(b2.stdout, /^history: /m);
    const blocked = join(dir, 'not-a-dir');
    writeFileSync(blocked, '');
    const c = await run('c', [], { ...env, LOADSCOPE_HISTORY_URL: b.name === 'SQLite' ? '' : 'postgres://nobody@127.0.0.1:1/none', LOADSCOPE_HISTORY: join(blocked, 'history.db') });
    t.is(c.code, 0, c.stderr);
    t.regex(c.stderr, /notice: the run was not recorded in the history: /);
    t.true(readFileSync(join(dir, 'c', 'results.json'), 'utf8').length > 0);

    const { runs } = JSON.parse((await cli(t, env, ['list', '--json'])).stdout) as { runs: { runId: string; scenario: string; scenarioHash: string; gitRevision: string | null; machine: string; source: string; metrics: Record<string, number> }[] };
    const result = runResultSchema.parse(JSON.parse(readFileSync(join(dir, 'a', 'results.json'), 'utf8')));
    t.deepEqual(runs.map((r) => r.runId), [result.runId]);
    t.is(runs[0].source, 'run');
    t.is(runs[0].machine, String(result.environment.host));
    t.regex(runs[0].scenarioHash, /^[0-9a-f]{16}$/);
    t.is(runs[0].gitRevision, null, 'the scenario sits outside any git checkout');
    t.is(runs[0].metrics['http.rps'], result.http.rps);
    // importing the run directory of the recorded run adds nothing; importing b's gives the same hash (from its journal)
    const imp = await cli(t, env, ['import', join(dir, 'a'), join(dir, 'b')]);
    t.regex(imp.stdout, /imported 1 run\(s\), 1 already/);
    const both = (JSON.parse((await cli(t, env, ['list', '--json'])).stdout) as { runs: { scenarioHash: string }[] }).runs;
    t.is(both[1].scenarioHash, both[0].scenarioHash);
  });
}

pgTest('PostgreSQL through its Unix socket (host = the socket directory) is the same history as through TCP', async (t) => {
  const tcp = await server!.createDatabase(`history_${++dbCount}`);
  const socket = server!.socketUrl(new URL(tcp).pathname.slice(1));
  t.regex(socket, /^postgres:\/\/postgres@%2F/);
  const imp = await runCli(['history', 'import', ...steppedFiles.slice(0, 5)], { env: { LOADSCOPE_HISTORY_URL: socket } });
  t.is(imp.code, 0, imp.stderr);
  const store = await openPostgresHistory(tcp);
  try {
    t.deepEqual((await store.list({ metrics: [] })).map((r) => r.runId), stepped.slice(0, 5).map((r) => r.runId));
  } finally {
    await store.close();
  }
});

test.serial('summary metrics: figures by results.json path, stages by name, no per-window data', (t) => {
  const m = summaryMetrics(stepped[0]);
  t.is(m['http.latencyMs.p99'], stepped[0].http.latencyMs!.p99);
  t.is(m['stages.peak.latencyMs.p99'], stepped[0].stages[1].latencyMs!.p99);
  t.is(m['services.backend.cpuSeconds'], stepped[0].services.backend.cpuSeconds);
  t.false(Object.keys(m).some((k) => k.startsWith('windows') || k.startsWith('environment') || k.startsWith('stages.0')));
});

test.serial('a scenario in a git checkout is recorded with its revision and branch', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const dir = mkdtempSync(join(work, 'git-'));
  const git = (...args: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], { encoding: 'utf8' }).trim();
  git('init', '-q', '-b', 'nightly');
  mkdirSync(join(dir, 'scenarios'));
  writeFileSync(join(dir, 'scenarios', 's.yaml'), 'name: s\n');
  git('add', '.');
  git('commit', '-q', '-m', 'scenario');
  const rec = recordOf(stepped[0], { source: 'run', scenarioText: 'name: s\n', scenarioPath: join(dir, 'scenarios', 's.yaml') });
  t.deepEqual([rec.gitRevision, rec.gitBranch], [git('rev-parse', 'HEAD'), 'nightly']);
});

function sqliteRows(file: string) {
  return async (sql: string) => {
    const db = new Database(file);
    try {
      return /^\s*select/i.test(sql) ? (db.prepare(sql).all() as Record<string, unknown>[]) : (db.exec(sql), []);
    } finally {
      db.close();
    }
  };
}

function pgRows(url: string) {
  return async (sql: string) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query(sql)).rows as Record<string, unknown>[];
    } finally {
      await c.end();
    }
  };
}
