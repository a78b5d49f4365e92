// History queries on 1,000 recorded runs: `loadscope history list <scenario>` and `loadscope history
// changes <scenario> --json` (four metrics, E-divisive with 999 shuffles per test), wall time of the real
// CLI (node + tsx start-up included: `loadscope --help` is timed beside them) and of the same query in
// process (open the store, query, E-divisive, close). SQLite always; PostgreSQL when its server binaries
// are installed (a throw-away server from test/helpers/postgres.ts on 127.0.0.1).
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DEFAULT_METRICS } from '../../src/verdict/history/metrics.ts';
import { openHistory } from '../../src/verdict/history/open.ts';
import { scenarioTrend } from '../../src/verdict/history/trend.ts';
import { postgresMissing, startPostgres, type TestPostgres } from '../../test/helpers/postgres.ts';
import { syntheticHistory, writeResults } from '../../test/helpers/synthetic-results.ts';
import { collect, spawnTracked, waitExit } from '../lib/proc.ts';
import { spread } from '../lib/stats.ts';
import type { BenchContext, Suite } from '../lib/types.ts';

const RUNS = 1000;
const SCENARIO = 'bench-history';

const suite: Suite = {
  name: 'history',
  description: '`history list` and `history changes` over 1,000 recorded runs (SQLite, PostgreSQL)',
  quick: true,
  async run(ctx: BenchContext) {
    const reps = ctx.quick ? 3 : 7;
    const runs = syntheticHistory({ scenario: SCENARIO, runs: RUNS, seed: 1000, stepAt: 700, stepFactor: 1.15, noise: 0.05 });
    const files = writeResults(join(ctx.tmp, 'runs'), runs);
    ctx.conditions(`${RUNS} synthetic runs of one scenario (test/helpers/synthetic-results.ts: full results.json, a 15% latency step at run 700), imported with \`loadscope history import\`; wall times of ${reps} repetitions`);

    const cli = async (args: string[], env: Record<string, string>): Promise<number> => {
      const t0 = performance.now();
      const child = spawnTracked(process.execPath, [join(ctx.root, 'bin', 'loadscope.js'), ...args], { cwd: ctx.root, env: { ...process.env, ...env } });
      const io = collect(child);
      const code = await waitExit(child, 300_000);
      if (code !== 0) throw new Error(`loadscope ${args.slice(0, 2).join(' ')} exited ${code}: ${io.stderr().trim().split('\n').slice(-2).join(' ')}`);
      return (performance.now() - t0) / 1000;
    };
    const startup: number[] = [];
    for (let r = 0; r < reps; r++) startup.push(await cli(['--help'], {}));
    ctx.line({ name: 'CLI start-up (`loadscope --help`)', compared: 'node + tsx start-up, the floor of every command below', unit: 's', spread: spread(startup) });

    let server: TestPostgres | undefined;
    const stores: { name: string; env: Record<string, string> }[] = [{ name: 'SQLite', env: { LOADSCOPE_HISTORY: join(ctx.tmp, 'history.db'), LOADSCOPE_HISTORY_URL: '' } }];
    const missing = postgresMissing();
    if (missing) ctx.skip('PostgreSQL', missing);
    else {
      server = await startPostgres();
      stores.push({ name: 'PostgreSQL', env: { LOADSCOPE_HISTORY_URL: await server.createDatabase('bench'), LOADSCOPE_HISTORY: '' } });
    }
    try {
      for (const s of stores) {
        if (ctx.signal.aborted) return;
        const imp = await cli(['history', 'import', ...files], s.env);
        ctx.log(`${s.name}: imported ${RUNS} runs in ${imp.toFixed(1)} s`);
        ctx.line({ name: `${s.name}: history import of ${RUNS} results.json`, compared: 'one CLI call: read, validate (zod), record in one transaction', unit: 's', spread: spread([imp]) });
        const timings: Record<string, number[]> = { list: [], changes: [], listIn: [], changesIn: [] };
        const env = { ...process.env, ...s.env };
        for (let r = 0; r < reps; r++) {
          timings.list.push(await cli(['history', 'list', SCENARIO], s.env));
          timings.changes.push(await cli(['history', 'changes', SCENARIO, '--json'], s.env));
          let t0 = performance.now();
          const store = await openHistory(env);
          const listed = await store.list({ scenario: SCENARIO, metrics: DEFAULT_METRICS });
          timings.listIn.push((performance.now() - t0) / 1000);
          t0 = performance.now();
          const trend = await scenarioTrend(store, SCENARIO);
          timings.changesIn.push((performance.now() - t0) / 1000);
          await store.close();
          if (listed.length !== RUNS || !trend.metrics.every((m) => m.points.length === RUNS)) throw new Error(`${s.name}: expected ${RUNS} runs, listed ${listed.length}`);
          if (r === 0) ctx.log(`${s.name}: changes at ${trend.metrics.map((m) => `${m.metric} ${m.changes.map((c) => c.index).join(',') || '-'}`).join('; ')}`);
        }
        const goal = { op: '<=' as const, value: 1 };
        ctx.line({ name: `${s.name}: history list (${RUNS} runs)`, compared: 'the CLI, wall time, start-up included', unit: 's', spread: spread(timings.list), goal });
        ctx.line({ name: `${s.name}: history changes --json (${RUNS} runs, ${DEFAULT_METRICS.length} metrics)`, compared: 'the CLI, wall time, start-up included', unit: 's', spread: spread(timings.changes), goal });
        ctx.line({ name: `${s.name}: list query in process`, compared: 'open + migrate check + list with 4 metrics + close', unit: 's', spread: spread(timings.listIn) });
        ctx.line({ name: `${s.name}: changes in process`, compared: `${DEFAULT_METRICS.length} series of ${RUNS} runs + E-divisive (999 shuffles per test)`, unit: 's', spread: spread(timings.changesIn) });
      }
    } finally {
      server?.stop();
    }
  },
};

export default suite;

