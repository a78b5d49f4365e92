import test, { type ExecutionContext } from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../../src/core/result.ts';
import { runCli } from '../helpers/cli.ts';

// The real CLI against real scenarios: each exit code of README "Exit codes" that a run can end with.

function tmp(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ls-exit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A scenario file in `dir`: one short closed stage against the bundled services on loopback, plus `extra` YAML. */
function scenario(dir: string, extra: string, stages = '  - { name: s, duration: 1s, connections: 2 }\n', probes = 'off'): string {
  const file = join(dir, 'exit.yaml');
  writeFileSync(file, `name: exit\ncluster: { mode: loopback }\nprobes: ${probes}\nstages:\n${stages}${extra}`);
  return file;
}

const results = (dir: string) => JSON.parse(readFileSync(join(dir, 'out', 'results.json'), 'utf8')) as RunResult;

test('exit 99: a threshold no run can meet', async (t) => {
  const dir = tmp(t);
  const r = await runCli(['run', scenario(dir, 'thresholds:\n  http_req_duration: ["p(99) < 0.001"]\n'), '--out', join(dir, 'out')]);
  t.is(r.code, 99, r.stderr + r.stdout);
  t.regex(r.stdout, /threshold\s+FAIL http_req_duration p\(99\) < 0.001/);
  t.is(results(dir).thresholds[0].status, 'fail');
});

test('exit 99: a threshold over no data (nothing was attempted) is not a pass, also in a rebuilt report', async (t) => {
  // a run directory whose journal holds a stage in which nothing was sent (the load never got going)
  const dir = tmp(t);
  const T0 = 1_800_000_000_000;
  const plan = [{ name: 'idle', startMs: 0, durationMs: 1000, model: 'open', rate: { from: 10, to: 10 } }];
  const scenarioText = 'name: idle\nstages:\n  - { name: idle, duration: 1s, rate: 10 }\nthresholds:\n  http_req_failed: ["rate < 0.01"]\n';
  const lines = [
    { type: 'run', runId: 'idle', schemaVersion: 1, scenarioName: 'idle', scenarioFile: 'idle.yaml', scenarioText, engine: 'autocannon', startedAt: T0, durationScale: 1, plan, thresholds: { http_req_failed: ['rate < 0.01'] }, environment: {}, notices: [] },
    { type: 'event', kind: 'stage.start', time: T0, source: 'load', attrs: { stage: 'idle' } },
    { type: 'event', kind: 'stage.end', time: T0 + 1000, source: 'load', attrs: { stage: 'idle' } },
    { type: 'end', endedAt: T0 + 1100, outcome: 'completed' },
  ];
  mkdirSync(join(dir, 'out'));
  writeFileSync(join(dir, 'out', 'events.ndjson'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const r = await runCli(['report', join(dir, 'out')], { cwd: dir });
  t.is(r.code, 99, r.stderr + r.stdout);
  t.regex(r.stdout, /threshold\s+NO DATA http_req_failed rate < 0.01 \(observed n\/a\)/);
  const th = results(dir).thresholds[0];
  t.deepEqual([th.observed, th.ok, th.status], [null, false, 'no data']);
  // the stage got no responses: its latency is null and says why, in results.json and the summary
  const stage = results(dir).stages[0];
  t.is(stage.latencyMs, null);
  t.regex(stage.note ?? '', /no responses/);
  t.regex(r.stdout, /idle\s+open 0 req, 0\.0 req\/s, p99 n\/a, 0 errors \(no responses: no latency\)/);
});

test('exit 1: a bundled service that cannot start fails the run', async (t) => {
  const dir = tmp(t);
  // every service process (they carry LOADSCOPE_SERVICE) exits before it is ready; loadscope itself runs on
  const preload = join(dir, 'no-service.mjs');
  writeFileSync(preload, "if (process.env.LOADSCOPE_SERVICE) { console.error('this machine refuses to start services'); process.exit(1); }\n");
  const r = await runCli(['run', scenario(dir, ''), '--out', join(dir, 'out')], { env: { NODE_OPTIONS: `--import ${preload}` } });
  t.is(r.code, 1, r.stderr + r.stdout);
  t.regex(r.stderr, /did not start: exit code 1 before it was ready/);
  t.regex(r.stderr, /this machine refuses to start services/);
});

test('exit 3: engine k6 with LOADSCOPE_K6 at a binary that is not k6', async (t) => {
  const dir = tmp(t);
  const r = await runCli(['run', scenario(dir, 'engine: k6\n'), '--out', join(dir, 'out')], { env: { LOADSCOPE_K6: '/bin/false' } });
  t.is(r.code, 3, r.stderr + r.stdout);
  t.regex(r.stderr, /LOADSCOPE_K6=\/bin\/false does not run as k6/);
});

test('exit 3: probes: required without its loaders (LOADSCOPE_BPF_DIR at an empty directory)', async (t) => {
  const dir = tmp(t);
  const empty = mkdtempSync(join(dir, 'bpf-'));
  const r = await runCli(['run', scenario(dir, '', undefined, 'required'), '--out', join(dir, 'out')], { env: { LOADSCOPE_BPF_DIR: empty } });
  t.is(r.code, 3, r.stderr + r.stdout);
  t.regex(r.stderr, /probe|eBPF|root/i);
  t.false(existsSync(join(dir, 'out', 'results.json')) && results(dir).outcome === 'completed', 'not a completed run');
});
