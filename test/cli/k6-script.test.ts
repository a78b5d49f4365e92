import test, { type ExecutionContext } from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../../src/core/result.ts';
import { runCli } from '../helpers/cli.ts';

// engine: k6 with a user's script, through the real CLI and the real k6 (.tools/bin/k6): what decides
// the exit code, and what `loadscope report` still knows once the script and the scenario are gone.

function tmp(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ls-k6cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A scenario and a k6 script beside it (script: ./scripts/user.js), the script with `k6Thresholds` as its own. */
function setup(dir: string, k6Thresholds: string, yamlThresholds: string): string {
  mkdirSync(join(dir, 'scripts'));
  writeFileSync(join(dir, 'scripts', 'user.js'), `import http from 'k6/http';
export const options = {
  scenarios: { s: { executor: 'constant-vus', vus: 1, duration: '1s' } },
  thresholds: ${k6Thresholds},
};
export default function () { http.get(__ENV.BASE_URL + '/api/items'); }
`);
  writeFileSync(join(dir, 'user.yaml'), `name: k6-user
engine: k6
script: ./scripts/user.js
cluster: { mode: loopback }
probes: off
stages:
  - { name: s, duration: 1s, connections: 1 }
${yamlThresholds}`);
  return join(dir, 'user.yaml');
}

const results = (out: string) => JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as RunResult;

test.serial('a user script\'s own k6 threshold that k6 judged crossed fails the run (99), marked as k6\'s; the YAML has none', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'out');
  const r = await runCli(['run', setup(dir, "{ http_req_duration: ['p(99)<0.001'], http_req_failed: ['rate<0.5'] }", ''), '--out', out]);
  t.is(r.code, 99, r.stderr + r.stdout);
  t.deepEqual(results(out).thresholds.map((x) => [x.metric, x.expression, x.ok, x.source]).sort(), [
    ['http_req_duration', 'p(99)<0.001', false, 'k6'],
    ['http_req_failed', 'rate<0.5', true, 'k6'],
  ]);
  t.regex(r.stdout, /threshold\s+FAIL http_req_duration p\(99\)<0.001 \(judged by k6\)/);
});

test.serial('`report` depends only on the run directory: the scenario\'s thresholds survive a moved script and another working directory', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'out');
  const r = await runCli(['run', setup(dir, '{}', 'thresholds:\n  http_reqs: ["count < 1"]\n'), '--out', out], { cwd: dir });
  t.is(r.code, 99, r.stderr + r.stdout);
  const before = results(out).thresholds;
  t.deepEqual(before.map((x) => [x.metric, x.expression, x.ok]), [['http_reqs', 'count < 1', false]]);
  rmSync(join(dir, 'scripts'), { recursive: true });
  rmSync(join(dir, 'user.yaml'));
  rmSync(join(out, 'results.json'));
  const again = await runCli(['report', out], { cwd: tmpdir() });
  t.deepEqual(results(out).thresholds, before);
  t.is(again.code, 99, again.stderr + again.stdout);
  t.notRegex(again.stdout, /thresholds unknown/);
});
