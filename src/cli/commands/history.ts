import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LoadscopeError } from '../../core/errors.ts';
import { runResultSchema } from '../../core/result.ts';
import { EDIVISIVE_DEFAULTS } from '../../verdict/changepoints.ts';
import { DEFAULT_METRICS } from '../../verdict/history/metrics.ts';
import { openHistory } from '../../verdict/history/open.ts';
import { journalScenarioText, recordOf } from '../../verdict/history/record.ts';
import { scenarioTrend } from '../../verdict/history/trend.ts';
import type { HistoryStore, RunRecord } from '../../verdict/history/types.ts';
import type { Command } from '../command.ts';

const USAGE = 'loadscope history list [scenario] | import <results.json|rundir>… | changes <scenario> [--metric PATH]… [--json]';

/** `loadscope history …`: the run history and the change points in it (docs/history.md). */
export const history: Command = {
  name: 'history',
  usage: USAGE,
  help: `loadscope history <list|import|changes> …

Every \`loadscope run\` records its run at its end (unless --no-history): scenario name and hash, git
revision and branch of the scenario's checkout, machine, engine, outcome and the summary figures of
results.json. The history is the SQLite file reports/history.db, or $LOADSCOPE_HISTORY; with
LOADSCOPE_HISTORY_URL=postgres://… it is that PostgreSQL database (same schema).

  loadscope history list [scenario] [--limit N] [--json]
      runs, oldest first (all scenarios, or one), with ${DEFAULT_METRICS.join(', ')}
  loadscope history import <results.json|rundir>…
      records existing runs (a run id already there is left as it is: importing twice adds nothing)
  loadscope history changes <scenario> [--metric PATH]… [--last N] [--max-p P] [--json]
      change points in each metric over the scenario's completed runs: E-divisive means with a
      permutation test (${EDIVISIVE_DEFAULTS.permutations} shuffles, fixed seed), at least ${EDIVISIVE_DEFAULTS.minSize} runs on either side
  --metric PATH    a results.json path (repeatable; default ${DEFAULT_METRICS.join(', ')});
                   stages by name: stages.<stage>.latencyMs.p99, services.<name>.cpuSeconds, …
  --last N         only the newest N runs (changes) / N runs (list)
  --limit N        the same as --last for list
  --max-p P        a change needs a p-value of at most P (default ${EDIVISIVE_DEFAULTS.maxPValue})
  --json           changes: { "changes": [ { "metric", "runId", "index", "before", "after", "pValue" } ] };
                   list: { "runs": [ … ] }
Exit codes: 0 ok (changes found or not), 2 invalid input, 3 the history cannot be opened.`,
  options: {
    metric: { type: 'string', multiple: true },
    last: { type: 'string' },
    limit: { type: 'string' },
    'max-p': { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(positionals, values) {
    const [sub, ...args] = positionals;
    const only = (allowed: string[]) => {
      for (const k of ['metric', 'last', 'limit', 'max-p', 'json']) {
        if (values[k] !== undefined && !allowed.includes(k)) throw new LoadscopeError('USAGE', `--${k} does not go with \`history ${sub}\``, { hint: 'run `loadscope history --help`' });
      }
    };
    switch (sub) {
      case 'list':
        only(['limit', 'last', 'json']);
        if (args.length > 1) throw usage('history list takes at most one scenario');
        return withStore((s) => list(s, args[0], count(values.limit ?? values.last, '--limit'), Boolean(values.json)));
      case 'import': {
        only([]);
        if (args.length === 0) throw usage('history import needs at least one results.json or run directory');
        const records = args.map(readRun);
        return withStore(async (s) => {
          const added = await s.record(records);
          console.log(`imported ${added} run(s)${added < records.length ? `, ${records.length - added} already in the history` : ''} (${s.location})`);
          return 0;
        });
      }
      case 'changes': {
        only(['metric', 'last', 'max-p', 'json']);
        if (args.length !== 1) throw usage('history changes takes exactly one scenario name');
        const maxP = values['max-p'] === undefined ? undefined : Number(values['max-p']);
        if (maxP !== undefined && !(maxP > 0 && maxP < 1)) throw new LoadscopeError('USAGE', `--max-p ${String(values['max-p'])} is not a number in (0, 1)`, { hint: 'e.g. --max-p 0.05' });
        const metrics = (values.metric as string[] | undefined) ?? [];
        return withStore((s) => changes(s, args[0], { metrics, last: count(values.last, '--last'), maxPValue: maxP }, Boolean(values.json)));
      }
      default:
        throw usage(sub === undefined ? 'history needs a subcommand' : `unknown history subcommand "${sub}"`);
    }
  },
};

function usage(message: string): LoadscopeError {
  return new LoadscopeError('USAGE', message, { hint: `${USAGE}; run \`loadscope history --help\`` });
}

function count(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new LoadscopeError('USAGE', `${flag} ${String(v)} is not a whole number of runs`, { hint: `e.g. ${flag} 30` });
  return n;
}

async function withStore(fn: (s: HistoryStore) => Promise<number>): Promise<number> {
  const store = await openHistory();
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** A results.json (or a run directory holding one), validated, as a history record. */
function readRun(arg: string): RunRecord {
  let file = resolve(arg);
  if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'results.json');
  if (!existsSync(file)) throw new LoadscopeError('FILE_NOT_FOUND', `${file} does not exist`, { hint: 'pass results.json files or run directories made by `loadscope run`' });
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new LoadscopeError('JOURNAL', `${file} is not JSON: ${(e as Error).message}`, { hint: 'rebuild it from the journal with `loadscope report <rundir>`' });
  }
  const parsed = runResultSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LoadscopeError('JOURNAL', `${file} is not a loadscope results.json: ${issue.path.join('.') || '(top)'}: ${issue.message}`, {
      hint: 'an older results.json can be rebuilt with `loadscope report <rundir>`; nothing was imported',
    });
  }
  return recordOf(parsed.data, { source: 'import', scenarioText: journalScenarioText(file) });
}

async function list(store: HistoryStore, scenario: string | undefined, limit: number | undefined, json: boolean): Promise<number> {
  const runs = await store.list({ scenario, limit, metrics: DEFAULT_METRICS });
  if (json) {
    console.log(JSON.stringify({ runs }, null, 2));
    return 0;
  }
  if (runs.length === 0) {
    console.log(scenario === undefined ? `the history at ${store.location} is empty` : `no run of "${scenario}" in ${store.location}`);
    return 0;
  }
  const fmt = (v: number | undefined, digits = 3) => (v === undefined ? '—' : String(Number(v.toPrecision(digits))));
  const head = ['started (UTC)', 'run', ...(scenario === undefined ? ['scenario'] : []), 'git', 'machine', 'engine', 'outcome', 'p50 ms', 'p99 ms', 'req/s', 'errors'];
  const rows = runs.map((r) => [
    r.startedAt.slice(0, 19).replace('T', ' '),
    r.runId,
    ...(scenario === undefined ? [r.scenario] : []),
    r.gitRevision ? `${r.gitRevision.slice(0, 8)}${r.gitBranch ? ` ${r.gitBranch}` : ''}` : '—',
    r.machine,
    r.engine,
    r.outcome,
    fmt(r.metrics['http.latencyMs.p50']),
    fmt(r.metrics['http.latencyMs.p99']),
    fmt(r.metrics['http.rps'], 4),
    r.metrics['http.errorRate'] === undefined ? '—' : `${fmt(r.metrics['http.errorRate'] * 100)}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  console.log(line(head));
  for (const row of rows) console.log(line(row));
  console.log(`${runs.length} run(s) in ${store.location}`);
  return 0;
}

async function changes(store: HistoryStore, scenario: string, opts: { metrics: string[]; last?: number; maxPValue?: number }, json: boolean): Promise<number> {
  const trend = await scenarioTrend(store, scenario, opts);
  const all = trend.metrics.flatMap((m) => m.changes);
  if (json) {
    console.log(JSON.stringify({ scenario, series: trend.metrics.map((m) => ({ metric: m.metric, runs: m.points.length })), changes: all }, null, 2));
    return 0;
  }
  console.log(`history: ${store.location}; scenario ${scenario}; completed runs, oldest first`);
  console.log(`method: E-divisive means, permutation test (${EDIVISIVE_DEFAULTS.permutations} shuffles, fixed seed), p ≤ ${opts.maxPValue ?? EDIVISIVE_DEFAULTS.maxPValue}, ≥ ${EDIVISIVE_DEFAULTS.minSize} runs per segment`);
  const g = (v: number) => String(Number(v.toPrecision(4)));
  for (const m of trend.metrics) {
    const n = m.points.length;
    const why = n < 2 * EDIVISIVE_DEFAULTS.minSize ? ` (too few runs to look for a change: ${2 * EDIVISIVE_DEFAULTS.minSize} needed)` : '';
    console.log(`\n${m.metric}: ${n} run(s), ${m.changes.length ? `${m.changes.length} change(s)` : `no change${why}`}`);
    for (const c of m.changes) {
      const rel = c.before !== 0 ? ` (${c.after >= c.before ? '+' : ''}${((c.after / c.before - 1) * 100).toFixed(1)}%)` : '';
      console.log(`  from run #${c.index} ${c.runId} (${m.points[c.index].startedAt}): ${g(c.before)} → ${g(c.after)}${rel}, p = ${g(c.pValue)}`);
    }
  }
  console.log(`\n${all.length} change(s)`);
  return 0;
}
