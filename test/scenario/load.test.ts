import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoadscopeError } from '../../src/core/errors.ts';
import { isSafeHost, loadScenario, parseScenario } from '../../src/scenario/load.ts';
import { runCli, repoRoot } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const dir = tempDir('ls-scenario-');
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

function problemsOf(text: string) {
  try {
    parseScenario(text, 'x.yaml');
  } catch (e) {
    if (e instanceof LoadscopeError) return e.problems;
    throw e;
  }
  return [];
}

test('quickstart.yaml validates, with defaults applied and durations in ms', (t) => {
  const s = loadScenario(join(repoRoot, 'scenarios', 'quickstart.yaml'));
  t.is(s.spec.name, 'quickstart');
  t.is(s.spec.stages[0].duration, 15_000);
  t.is(s.spec.requestTimeout, 10_000);
  t.true(s.spec.stages.every((st) => st.rate !== undefined), 'open model throughout, so the HPA sees the offered load');
  t.is(s.spec.autoscaler?.syncPeriod, 5000);
  t.deepEqual(s.spec.requests.map((r) => r.weight), [4, 1, 1]);
});

test('three mistakes give three file:line:col errors and exit code 2', async (t) => {
  const file = write('three.yaml', ['name: three', 'stages:', '  - duration: 10x', '    connections: 5', '  - duration: 5s', '    rate: 100', '    conections: 3', 'probes: sometimes', ''].join('\n'));
  const r = await runCli(['validate', file]);
  t.is(r.code, 2);
  const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith(`${file}:`) && /:\d+:\d+: /.test(l));
  t.is(lines.length, 3, r.stderr);
  t.regex(lines[0], new RegExp(`^${file}:3:15: .*"10x" is not a duration`));
  t.regex(lines[1], new RegExp(`^${file}:7:5: unknown key "conections"`));
  t.regex(lines[2], new RegExp(`^${file}:8:9: .*probes`));
  t.true(lines.every((l) => l.includes('hint:')));
  t.notRegex(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
});

test('a stage needs exactly one of connections or rate', (t) => {
  const p = problemsOf('name: a\nstages:\n  - duration: 1s\n  - duration: 1s\n    rate: 5\n    connections: 2\n');
  t.is(p.length, 2);
  t.deepEqual(p.map((x) => x.line), [3, 4]);
  t.true(p.every((x) => /exactly one of/.test(x.message)));
});

test('missing required keys point at the parent and say what is missing', (t) => {
  const p = problemsOf('name: a\n');
  t.is(p.length, 1);
  t.regex(p[0].message, /required key "stages" is missing/);
});

test('YAML syntax errors are located', (t) => {
  const p = problemsOf('name: a\nstages: [\n');
  t.true(p.length >= 1);
  t.true(p[0].line >= 2);
  t.regex(p[0].message, /^YAML:/);
});

test('thresholds are parsed with k6 syntax and bad ones are located', (t) => {
  const p = problemsOf('name: a\nstages:\n  - { duration: 1s, connections: 1 }\nthresholds:\n  http_req_duration: ["p(99) < 200", "p99 < 200"]\n  bogus_metric: ["avg < 1"]\n');
  t.is(p.length, 2);
  t.regex(p.find((x) => x.line === 5)!.message, /not a threshold expression/);
  t.truthy(p.find((x) => x.line === 6));
});

test('a threshold whose aggregation does not fit its metric can never pass: refused where it is written', (t) => {
  const p = problemsOf(
    'name: a\nstages:\n  - { duration: 1s, connections: 1 }\nthresholds:\n' +
      '  http_req_failed: ["p(99) < 1", "rate < 0.01"]\n' +
      '  http_req_duration: ["rate < 1", "p(150) < 200", "p(99.9) < 300", "count > 1"]\n' +
      '  http_reqs: ["avg > 3", "count > 10", "rate > 5"]\n',
  );
  t.deepEqual(p.map((x) => [x.line, x.col]).sort(), [[5, 21], [6, 23], [6, 35], [7, 15]], JSON.stringify(p));
  t.regex(p.find((x) => x.line === 5)!.message, /"p\(99\)" does not apply to http_req_failed; use rate, count/);
  t.regex(p.find((x) => x.line === 6 && x.col === 23)!.message, /"rate" does not apply to http_req_duration; use avg, min, max, med, count, p\(N\)/);
  t.regex(p.find((x) => x.line === 6 && x.col === 35)!.message, /p\(150\): a percentile is between 0 and 100/);
  t.regex(p.find((x) => x.line === 7)!.message, /"avg" does not apply to http_reqs/);
});

test('two stress phases of one name are refused (each phase ends by its name), also against a default name', (t) => {
  const base = 'name: a\nstages:\n  - { duration: 10s, connections: 1 }\nstress:\n';
  const p = problemsOf(base + '  - { name: burn, start: 1s, duration: 2s, cores: 1 }\n  - { name: burn, start: 2s, duration: 2s, cores: 1 }\n');
  t.is(p.length, 1);
  t.is(p[0].line, 6);
  t.regex(p[0].message, /stress phase name "burn" is already used by stress phase 1/);
  const q = problemsOf(base + '  - { start: 1s, duration: 2s, cores: 1 }\n  - { name: stress-1, start: 2s, duration: 2s, cores: 1 }\n');
  t.is(q.length, 1);
  t.regex(q[0].message, /"stress-1" is already used/);
});

test('a remote target is refused unless allowed, with the reason and the flag', (t) => {
  const text = 'name: a\ntarget: { url: "http://203.0.113.7:8080" }\nstages:\n  - { duration: 1s, connections: 1 }\n';
  const p = problemsOf(text);
  t.is(p.length, 1);
  t.is(p[0].line, 2);
  t.regex(p[0].hint ?? '', /--allow-remote/);
  t.notThrows(() => parseScenario(text, 'x.yaml', { allowRemote: true }));
  t.notThrows(() => parseScenario(text.replace('203.0.113.7', '198.19.4.5'), 'x.yaml'));
});

test('safe hosts are loopback and 198.18.0.0/15 only', (t) => {
  for (const h of ['127.0.0.1', '127.9.9.9', 'localhost', '::1', '198.18.0.1', '198.19.255.254']) t.true(isSafeHost(h), h);
  for (const h of ['10.0.0.1', '192.168.1.1', '198.20.0.1', '8.8.8.8', 'example.com', '172.16.0.1']) t.false(isSafeHost(h), h);
});

test('a missing file is a clear error with exit code 2', async (t) => {
  const r = await runCli(['validate', join(dir, 'nope.yaml')]);
  t.is(r.code, 2);
  t.regex(r.stderr, /cannot read scenario .*nope\.yaml/);
  t.regex(r.stderr, /hint:/);
});

test('the published JSON Schema is current and accepts quickstart keys', async (t) => {
  const out = tempDir('ls-schemas-');
  const r = await runCli(['schemas', '--out', out]);
  t.is(r.code, 0);
  const { readFileSync } = await import('node:fs');
  const fresh = readFileSync(join(out, 'scenario.schema.json'), 'utf8');
  const committed = readFileSync(join(repoRoot, 'schemas', 'scenario.schema.json'), 'utf8');
  t.is(fresh, committed, 'schemas/scenario.schema.json is stale: run `node bin/loadscope.js schemas`');
  const schema = JSON.parse(fresh);
  t.false(schema.additionalProperties);
  for (const k of ['name', 'stages', 'requests', 'stress', 'thresholds', 'engine', 'target']) t.truthy(schema.properties[k], k);
});
