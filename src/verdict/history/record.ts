import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { RunResult } from '../../core/result.ts';
import type { ReportTrend } from '../../render/trend.ts';
import { scenarioTrend } from './trend.ts';
import { summaryMetrics } from './metrics.ts';
import { openHistory } from './open.ts';
import type { RunRecord } from './types.ts';

/** sha256 of a scenario's text, 16 hex digits. */
export function scenarioHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** The commit and branch of the git checkout holding `file`; nulls outside one (or without git). */
export function gitOf(file: string): { revision: string | null; branch: string | null } {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: dirname(file), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim() || null;
    } catch {
      return null;
    }
  };
  const revision = existsSync(file) ? git(['rev-parse', 'HEAD']) : null;
  const branch = revision ? git(['rev-parse', '--abbrev-ref', 'HEAD']) : null;
  return { revision, branch: branch === 'HEAD' ? null : branch };
}

/**
 * The history record of a finished run. `scenarioText` gives the hash; `scenarioPath` (the file as
 * the run read it) gives the git revision and branch; either may be missing for an imported run.
 */
export function recordOf(r: RunResult, opts: { source: RunRecord['source']; scenarioText?: string; scenarioPath?: string }): RunRecord {
  const git = opts.scenarioPath ? gitOf(opts.scenarioPath) : { revision: null, branch: null };
  const host = r.environment.host;
  return {
    runId: r.runId,
    scenario: r.scenario.name,
    scenarioHash: opts.scenarioText === undefined ? null : scenarioHash(opts.scenarioText),
    scenarioFile: r.scenario.file,
    gitRevision: git.revision,
    gitBranch: git.branch,
    machine: typeof host === 'string' ? host : 'unknown',
    engine: r.engine,
    outcome: r.outcome,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    durationS: r.durationS,
    source: opts.source,
    metrics: summaryMetrics(r),
  };
}

/**
 * The scenario text a run directory's journal kept in its header (events.ndjson next to results.json),
 * read from the journal's first megabyte; undefined when there is no journal or no header there.
 */
export function journalScenarioText(resultsFile: string): string | undefined {
  const journal = join(dirname(resultsFile), 'events.ndjson');
  if (!existsSync(journal)) return undefined;
  const fd = openSync(journal, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    const n = readSync(fd, buf, 0, buf.length, 0);
    for (const line of buf.subarray(0, n).toString('utf8').split('\n')) {
      if (!line.startsWith('{"type":"run"')) continue;
      try {
        const text = (JSON.parse(line) as { scenarioText?: unknown }).scenarioText;
        return typeof text === 'string' ? text : undefined;
      } catch {
        return undefined;
      }
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Records a finished run in the history the environment names (see open.ts); returns where, and whether it was new. */
export async function recordRun(r: RunResult, scenario: { text: string; file: string }, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const store = await openHistory(env);
  try {
    const added = await store.record([recordOf(r, { source: 'run', scenarioText: scenario.text, scenarioPath: scenario.file })]);
    return `${store.location}${added ? '' : ' (already recorded)'}`;
  } finally {
    await store.close();
  }
}

/**
 * The scenario's trend as the run's report draws it, over its newest `last` runs (this one included
 * once recorded), written as trend.json into the run directory — `loadscope report` draws it again.
 */
export async function writeRunTrend(r: RunResult, runDir: string, last = 30, env: NodeJS.ProcessEnv = process.env): Promise<ReportTrend> {
  const store = await openHistory(env);
  try {
    const t = await scenarioTrend(store, r.scenario.name, { last });
    const trend: ReportTrend = { scenario: t.scenario, runId: r.runId, location: store.location, metrics: t.metrics.map(({ metric, points, changes }) => ({ metric, points, changes: changes.map(({ runId, index, before, after, pValue }) => ({ runId, index, before, after, pValue })) })) };
    const file = join(runDir, 'trend.json');
    writeFileSync(`${file}.tmp`, JSON.stringify(trend, null, 2) + '\n');
    renameSync(`${file}.tmp`, file);
    return trend;
  } finally {
    await store.close();
  }
}
