import test from 'ava';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseScenario } from '../../src/scenario/load.ts';
import { cliProblem, judge, runFuzz } from '../helpers/scenario-fuzz.ts';
import { runCli } from '../helpers/cli.ts';

// The scenario fuzzer (test/helpers/scenario-fuzz.ts, `npm run fuzz`): a fixed seed that always runs, and a
// random one printed so a failure can be repeated with `npm run fuzz -- --seed S --cases 500`.

const FIXED_SEED = 20;

for (const [what, seed] of [['fixed', FIXED_SEED], ['random', Math.floor(Math.random() * 2 ** 31)]] as const) {
  test(`fuzz: 500 generated and mutated scenarios (${what} seed ${seed}) end as a valid plan or located problems`, async (t) => {
    t.timeout(170_000);
    const outDir = mkdtempSync(join(tmpdir(), 'ls-fuzz-out-'));
    t.teardown(() => rmSync(outDir, { recursive: true, force: true }));
    t.log(`seed ${seed}: repeat with npm run fuzz -- --seed ${seed} --cases 500`);
    const r = await runFuzz({ cases: 500, seed, cliEvery: 125, outDir });
    for (const f of r.failures) t.log(`case ${f.index} (${f.how}): ${f.failure}`);
    t.log(`${r.valid} valid, ${r.invalid} refused, ${r.cli} through the CLI, slowest ${r.maxMs.toFixed(0)} ms`);
    t.is(r.cases, 500);
    t.deepEqual(r.failures.map((f) => `${f.index}: ${f.failure}`), []);
    // Both outcomes are exercised, or the generator has drifted from the schema.
    t.true(r.valid >= 100, `${r.valid} valid`);
    t.true(r.invalid >= 150, `${r.invalid} refused`);
    t.is(r.cli, 4);
  });
}

test('the oracle fails a crash, an unlocated or multi-line problem, an accepted limit breach and a refused valid case', async (t) => {
  // judge() is what every case goes through; these texts break each rule it enforces on the validator's answers.
  t.regex(judge('name: a\nstages: [{ duration: 1s, rate: 10 }]\n', 'x.yaml', false).failure ?? 'none', /^none$/);
  t.regex(judge('name: a\nstages: [{ duration: 1s, rate: 10 }]\n', 'x.yaml', false).outcome, /^valid$/);
  t.regex(judge('name: a\nstages: [{ duration: 1s, rate: 0 }]\n', 'x.yaml', true).failure ?? '', /a valid scenario was refused: 2:\d+ stages\.0\.rate/);
  t.is(judge('name: a\nstages: [{ duration: 1s, rate: 0 }]\n', 'x.yaml', false).failure, undefined);
  const outDir = mkdtempSync(join(tmpdir(), 'ls-fuzz-cli-'));
  t.teardown(() => rmSync(outDir, { recursive: true, force: true }));
  const file = join(outDir, 'bad.yaml');
  writeFileSync(file, 'name: a\nstages: [{ duration: 1s, rate: 0 }]\n');
  t.is(await cliProblem(file, 'invalid'), undefined);
  t.regex((await cliProblem(file, 'valid')) ?? '', /CLI exit 2, expected 0/);
});

test('a failing case is saved to a file that reproduces it, with why and how to replay it', async (t) => {
  // A case the fuzzer cannot pass: the slow limit at 0 ms fails the first one.
  const outDir = mkdtempSync(join(tmpdir(), 'ls-fuzz-save-'));
  t.teardown(() => rmSync(outDir, { recursive: true, force: true }));
  const r = await runFuzz({ cases: 2, seed: FIXED_SEED, cliEvery: 0, outDir, slowMs: -1 });
  t.is(r.failures.length, 2);
  t.deepEqual(readdirSync(outDir).sort(), [`seed-${FIXED_SEED}-case-0.txt`, `seed-${FIXED_SEED}-case-0.yaml`, `seed-${FIXED_SEED}-case-1.txt`, `seed-${FIXED_SEED}-case-1.yaml`]);
  t.regex(r.failures[0].failure, /^slow: /);
});

// Regressions: what the fuzzer found in the validator, each now a located problem (exit 2) instead of a crash
// (exit 1), a warning, or an unreadable message.
const regressions: [string, string, RegExp][] = [
  ['an alias bomb (billion laughs)', 'a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\nname: a\nstages: [{ duration: 1s, rate: 1 }]\n', /^1:1 YAML: aliases expand to more than 100 copies$/],
  ['a mapping as a key (a process warning before)', 'name: a\nstages: [{ duration: 1s, rate: 1 }]\n? [a, b]\n: 1\n', /^3:3 a key must be plain text, not a list or a mapping$/],
  ['a !!binary key (a process warning before)', 'name: a\nstages:\n  - duration: 1s\n    !!binary rate: 1\n', /^4:14 a key must be plain text, not a tagged value$/],
  ['autoscaler metrics that are not a list (TypeError: metrics.some)', 'name: a\nstages: [{ duration: 1s, rate: 1 }]\nautoscaler:\n  scaleTargetRef: { kind: Deployment, name: backend }\n  maxReplicas: 3\n  metrics: nope\n', /^6:12 autoscaler\.metrics: /],
  ['scaling policies of null (TypeError reading length)', 'name: a\nstages: [{ duration: 1s, rate: 1 }]\nautoscaler:\n  scaleTargetRef: { kind: Deployment, name: backend }\n  maxReplicas: 3\n  behavior: { scaleUp: { policies: null } }\n', /^6:36 autoscaler\.behavior\.scaleUp\.policies: /],
  ['a bidi override echoed in a message', 'name: a\nstages: [{ duration: 1s, rate: 1 }]\nservices: { backend: { resources: { requests: { cpu: "\u202Aleft" } } } }\n', /^3:54 services\.backend\.resources\.requests\.cpu: "\\u202aleft" is not a Kubernetes quantity/],
  ['a bidi isolate in a k6 script path that does not exist (echoed raw before)', 'name: a\nengine: k6\nscript: a\u2066b\u2069c\nstages: [{ duration: 1s, rate: 1 }]\n', /^3:9 k6 script ".*\/a\\u2066b\\u2069c" does not exist$/],
  ['a newline in an unknown key', 'name: a\nstages: [{ duration: 1s, rate: 1 }]\n"block\\n": 1\n', /^3:1 unknown key "block\\n" in \(top level\)$/],
  ['a number as an unknown key (located at 1:1 before)', 'name: a\nstages: [{ duration: 1s, rate: 1 }]\n1: 2\n', /^3:1 unknown key "1" in \(top level\)$/],
  ['nesting thousands deep (a "Maximum call stack" message before)', `name: a\nstages: [{ duration: 1s, rate: 1 }]\ndescription: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, /YAML: nested (too deeply to read|more than 32 levels deep)/],
  ['nesting 40 deep', `name: a\nstages: [{ duration: 1s, rate: 1 }]\ndescription: ${'['.repeat(40)}${']'.repeat(40)}\n`, /^3:45 YAML: nested more than 32 levels deep$/],
];
for (const [what, text, want] of regressions) {
  test(`fuzz regression: ${what}`, (t) => {
    const v = judge(text, 'x.yaml', false);
    t.is(v.failure, undefined);
    t.is(v.outcome, 'invalid');
    let problems: string[] = [];
    try {
      parseScenario(text, 'x.yaml');
    } catch (e) {
      problems = (e as { problems: { line: number; col: number; message: string }[] }).problems.map((p) => `${p.line}:${p.col} ${p.message}`);
    }
    t.true(problems.some((p) => want.test(p)), problems.join('\n'));
  });
}

test('fuzz regression through the CLI: an alias bomb and a !!binary key exit 2 with file:line:col, no warning', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-fuzz-reg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const i of [0, 2]) {
    const file = join(dir, `r${i}.yaml`);
    writeFileSync(file, regressions[i][1]);
    t.is(await cliProblem(file, 'invalid'), undefined, regressions[i][0]);
  }
});

test('a file mangled into thousands of YAML errors lists the first 50 and says how many there are (80,006 lines printed before)', async (t) => {
  // a flow mapping, then more keys, then 10,000 nested flow mappings: a few YAML errors per level (the fuzzer's case)
  const text = `{ name: a, stages: [{ duration: 1s, rate: 1 }] }\nname: again\ndescription: ${'{a: '.repeat(10_000)}1${'}'.repeat(10_000)}\n`;
  const err = t.throws(() => parseScenario(text, 'x.yaml')) as unknown as { message: string; problems: { line: number; col: number }[] };
  t.regex(err.message, /^x\.yaml: (\d{5,}) problems \(the first 50 shown\)$/);
  t.is(err.problems.length, 50);
  t.deepEqual(err.problems.map((p) => [p.line, p.col]), [...err.problems].sort((a, b) => a.line - b.line || a.col - b.col).map((p) => [p.line, p.col]), 'in file order');
  const dir = mkdtempSync(join(tmpdir(), 'ls-fuzz-many-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'many.yaml');
  writeFileSync(file, text);
  t.is(await cliProblem(file, 'invalid'), undefined);
  const r = await runCli(['validate', file]);
  t.is(r.stderr.trim().split('\n').length, 51, 'the first 50 problems and the count');
});
