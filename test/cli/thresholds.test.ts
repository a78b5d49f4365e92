import test, { type ExecutionContext } from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../../src/core/result.ts';
import { runCli } from '../helpers/cli.ts';
import { needs } from '../helpers/needs.ts';
import { kernelTestsUnavailable } from '../kernel/helpers/netns.ts';

// The acceptance through the real CLI: an impossible threshold exits 99 and junit.xml holds a
// failed testcase with the measured value; a misspelt metric exits 2 naming it and the nearest real
// one; abortOnFail stops a run early (exit 99, results and report written); summary.md reaches
// GITHUB_STEP_SUMMARY; `report` rewrites junit.xml and summary.md.

function tmp(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ls-thr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function scenario(dir: string, stages: string, thresholds: string, probes = 'off'): string {
  const file = join(dir, 'thr.yaml');
  writeFileSync(file, `name: thr\ncluster: { mode: loopback }\nprobes: ${probes}\nstages:\n${stages}thresholds:\n${thresholds}`);
  return file;
}

const results = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResult;

test.serial('an impossible threshold exits 99; junit.xml has the failed testcase with the measured value; summary.md reaches GITHUB_STEP_SUMMARY', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'out');
  const step = join(dir, 'step-summary.md');
  writeFileSync(step, '# earlier step\n');
  const file = scenario(
    dir,
    '  - { name: calm, duration: 1s, connections: 1 }\n  - { name: busy, duration: 1s, connections: 4 }\n',
    '  http_req_duration: ["p(99) < 0.001", "p(50) < 10000"]\n  http_reqs{stage:calm}: ["count > 0"]\n  http_reqs{stage:busy}: ["count > 0"]\n  service_served{service:backend}: ["count > 0"]\n',
  );
  const r = await runCli(['run', file, '--out', out], { env: { GITHUB_STEP_SUMMARY: step } });
  t.is(r.code, 99, r.stderr + r.stdout);
  const res = results(out);
  const impossible = res.thresholds[0];
  t.is(impossible.status, 'fail');
  t.true(impossible.observed! > 0.001);

  const junit = readFileSync(join(out, 'junit.xml'), 'utf8');
  t.regex(junit, /<testsuite name="loadscope\.thr" tests="5" failures="1" errors="0"/);
  const failed = /<testcase classname="loadscope\.thr" name="http_req_duration p\(99\) &lt; 0\.001" time="0">\s*<failure type="threshold" message="observed ([\d.]+), which does not meet p\(99\) &lt; 0\.001"/.exec(junit);
  t.truthy(failed, junit);
  t.is(Number(failed![1]), impossible.observed ?? Number.NaN);
  t.is((junit.match(/<failure /g) ?? []).length, 1, 'the passing thresholds are not failures');

  // tag filters: each stage's own requests (no request of this run failed, so attempts = responses)
  for (const stage of ['calm', 'busy']) {
    const th = res.thresholds.find((x) => x.metric === `http_reqs{stage:${stage}}`)!;
    t.is(th.observed, res.stages.find((s) => s.name === stage)!.requests + res.stages.find((s) => s.name === stage)!.errors, stage);
  }
  t.not(res.thresholds[2].observed, res.thresholds[3].observed);
  t.is(res.thresholds[4].observed, res.services.backend.requestsServed);

  const summary = readFileSync(join(out, 'summary.md'), 'utf8');
  t.regex(summary, /^## loadscope thr: FAIL: 1 of 5 thresholds did not pass/);
  t.regex(summary, /### Failed thresholds\n\n- http\\_req\\_duration p\(99\) &lt; 0\.001: observed [\d.]+/);
  t.regex(summary, /\| \*\*FAIL\*\* \| http\\_req\\_duration \| p\(99\) &lt; 0\.001 \| [\d.]+ \|/);
  t.notRegex(summary, /\]\(|https?:\/\//, 'no links');
  t.is(readFileSync(step, 'utf8'), `# earlier step\n${summary}\n`, 'appended, what was there kept');

  // `report` rebuilds both from the journal
  unlinkSync(join(out, 'junit.xml'));
  unlinkSync(join(out, 'summary.md'));
  const rep = await runCli(['report', out], { env: { GITHUB_STEP_SUMMARY: '' } });
  t.is(rep.code, 99, rep.stderr);
  t.is(readFileSync(join(out, 'junit.xml'), 'utf8'), junit);
  t.is(readFileSync(join(out, 'summary.md'), 'utf8'), summary);
});

test.serial('a misspelt metric exits 2 naming it and the nearest real one, at file:line:col, before anything runs', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'out');
  const file = scenario(dir, '  - { name: peak, duration: 1s, connections: 1 }\n', '  http_req_duraton: ["p(99) < 300"]\n  http_req_failed{stage:peek}: ["rate < 0.01"]\n');
  for (const args of [['validate', file], ['run', file, '--out', out]]) {
    const r = await runCli(args);
    t.is(r.code, 2, r.stderr + r.stdout);
    t.true(r.stderr.includes(`${file}:7:`), r.stderr);
    t.regex(r.stderr, /unknown threshold metric "http_req_duraton"; did you mean "http_req_duration"\?/);
    t.regex(r.stderr, /:8:\d+: .*no stage is named "peek"; did you mean "peak"\? \(stages: peak\)/);
    t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
  }
  t.false(existsSync(out), 'no run directory');
});

test.serial('abortOnFail stops the run once delayAbortEval has passed: exit 99, results, report, junit and summary written, the threshold marked', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'out');
  const file = scenario(
    dir,
    '  - { name: long, duration: 60s, connections: 2 }\n',
    '  http_req_duration:\n    - { threshold: "p(99) < 0.001", abortOnFail: true, delayAbortEval: 2s }\n    - "p(50) < 10000"\n',
  );
  const started = Date.now();
  const r = await runCli(['run', file, '--out', out]);
  const wallS = (Date.now() - started) / 1000;
  t.is(r.code, 99, r.stderr + r.stdout);
  t.regex(r.stderr, /stopping: threshold http_req_duration p\(99\) < 0\.001 failed \(observed [\d.]+\) \(abortOnFail\)/);
  const res = results(out);
  t.true(res.durationS >= 2 && res.durationS < 10, `run lasted ${res.durationS} s of the planned 60 s`);
  t.true(wallS < 40, `the CLI took ${wallS} s`);
  t.is(res.outcome, 'interrupted');
  const th = res.thresholds[0];
  t.is(th.status, 'fail');
  t.truthy(th.aborted);
  t.true(th.aborted!.t >= 2, `judged at ${th.aborted!.t} s, not before the delay`);
  t.true(th.aborted!.observed! > 0.001);
  t.is(res.thresholds[1].aborted, undefined);
  t.is(res.thresholds[1].status, 'pass');
  t.true(existsSync(join(out, 'report.html')));
  t.regex(readFileSync(join(out, 'junit.xml'), 'utf8'), /<failure type="threshold" message="observed [\d.]+, which does not meet p\(99\) &lt; 0\.001; stopped the run at [\d.]+ s/);
  t.notRegex(readFileSync(join(out, 'junit.xml'), 'utf8'), /name="run outcome"/, 'stopped by its threshold, not an interrupted run');
  t.regex(readFileSync(join(out, 'summary.md'), 'utf8'), /FAIL: stopped early by http\\_req\\_duration p\(99\) &lt; 0\.001 at [\d.]+ s/);
});

test.serial('abortOnFail on a threshold that holds lets the run finish (exit 0)', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'out');
  const file = scenario(dir, '  - { name: s, duration: 3s, connections: 1 }\n', '  http_req_failed: [{ threshold: "rate < 0.5", abortOnFail: true }]\n');
  const r = await runCli(['run', file, '--out', out]);
  t.is(r.code, 0, r.stderr + r.stdout);
  const res = results(out);
  t.is(res.outcome, 'completed');
  t.true(res.durationS >= 3);
  t.is(res.thresholds[0].aborted, undefined);
});

needs('thresholds on probe signals', kernelTestsUnavailable())('packet latency per interface from the probes of a real run: the lo filter counts what the probes saw on lo; an interface that saw nothing is no data naming lo', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'out');
  const file = scenario(dir, '  - { name: s, duration: 2s, connections: 2 }\n', '  packet_latency{iface:lo}: ["count > 0", "p(99) < 1000"]\n  packet_latency{iface:nope0}: ["p(99) < 1000"]\n  tcp_retransmits: ["count >= 0"]\n', 'required');
  const r = await runCli(['run', file, '--out', out]);
  t.is(r.code, 99, r.stderr + r.stdout);
  const res = results(out);
  const lat = (res.probes as { packetLatency: { iface: string; count: number }[] }).packetLatency;
  const onLo = lat.filter((p) => p.iface === 'lo').reduce((n, p) => n + p.count, 0);
  t.true(onLo > 0);
  t.is(res.thresholds[0].observed, onLo);
  t.true(res.thresholds[1].ok && res.thresholds[1].observed! > 0, JSON.stringify(res.thresholds[1]));
  t.deepEqual([res.thresholds[2].status, res.thresholds[2].note], ['no data', 'no packet latency on interface nope0 (interfaces: lo)']);
  t.is(res.thresholds[3].status, 'pass');
  t.regex(readFileSync(join(out, 'junit.xml'), 'utf8'), /<error type="no data" message="no data \(no packet latency on interface nope0 \(interfaces: lo\)\): nothing to judge, which fails the run"/);
});
