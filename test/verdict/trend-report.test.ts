// The report of a run shows its scenario's trend (issue 18): `loadscope run` records the run, writes
// trend.json from the history (this run included) and draws it in report.html; `loadscope report`
// draws it again from the run directory. A run with --no-history gets none.
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../../src/core/result.ts';
import type { ReportTrend } from '../../src/render/trend.ts';
import { runCli } from '../helpers/cli.ts';
import { syntheticHistory, writeResults } from '../helpers/synthetic-results.ts';

const STEP_AT = 8;

test('a run draws its scenario\'s trend: this run\'s point, the change point of the history, again after `report`', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-trend-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { LOADSCOPE_HISTORY: join(dir, 'history.db') };
  const past = syntheticHistory({ scenario: 'trendy', runs: 16, seed: 23, stepAt: STEP_AT, stepFactor: 1.6, noise: 0.03 });
  const imported = await runCli(['history', 'import', ...writeResults(join(dir, 'past'), past)], { env });
  t.is(imported.code, 0, imported.stderr);

  const scenario = join(dir, 'trendy.yaml');
  writeFileSync(scenario, 'name: trendy\ncluster: { mode: loopback }\nprobes: off\nstages:\n  - { duration: 1s, connections: 2 }\n');
  const out = join(dir, 'run');
  const run = await runCli(['run', scenario, '--out', out], { env });
  t.is(run.code, 0, run.stderr + run.stdout);
  const result = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as RunResult;
  const trend = JSON.parse(readFileSync(join(out, 'trend.json'), 'utf8')) as ReportTrend;
  t.is(trend.runId, result.runId);
  const p50 = trend.metrics.find((m) => m.metric === 'http.latencyMs.p50')!;
  t.is(p50.points.length, past.length + 1, 'the history\'s runs and this one');
  t.is(p50.points.at(-1)!.runId, result.runId, 'this run is the newest point');
  t.true(p50.changes.some((c) => c.runId === past[STEP_AT].runId), `a change at the planted step: ${JSON.stringify(p50.changes)}`);

  for (const phase of ['run', 'report']) {
    if (phase === 'report') t.is((await runCli(['report', out], { env })).code, 0);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    t.regex(html, /<section id="trend"><h2>Trend of trendy<\/h2>/, phase);
    t.regex(html, /<circle [^>]*class="here"><title>this run: /, phase);
    t.true(html.includes(`<title>change at run ${past[STEP_AT].runId}: `), `${phase}: the change point ringed and named`);
  }
});

test('a run with --no-history writes no trend and draws none', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-trend-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const scenario = join(dir, 'quiet.yaml');
  writeFileSync(scenario, 'name: quiet\ncluster: { mode: loopback }\nprobes: off\nstages:\n  - { duration: 1s, connections: 2 }\n');
  const out = join(dir, 'run');
  const run = await runCli(['run', scenario, '--out', out, '--no-history'], { env: { LOADSCOPE_HISTORY: join(dir, 'history.db') } });
  t.is(run.code, 0, run.stderr);
  t.false(existsSync(join(out, 'trend.json')));
  t.false(readFileSync(join(out, 'report.html'), 'utf8').includes('id="trend"'));
});
