// npm run fuzz [-- --cases N] [--seed S] [--cli-every K] [--out DIR] | [-- --file case.yaml]
// Generates scenario files (valid ones and mutations of them), feeds each to the validator and every K-th to
// `loadscope validate`, and prints `N cases, M failures` last. Each failing case is saved as DIR/seed-S-case-I.yaml
// (it reproduces the failure: `npm run fuzz -- --file <it>` or `node bin/loadscope.js validate <it>`) beside a
// .txt saying why. Exit 0 without failures, 1 with.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cliProblem, judge, runFuzz } from '../test/helpers/scenario-fuzz.ts';
import { repoRoot } from '../test/helpers/cli.ts';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '2000' },
    seed: { type: 'string' },
    'cli-every': { type: 'string', default: '50' },
    out: { type: 'string', default: join(repoRoot, 'reports', 'out', 'fuzz') },
    file: { type: 'string' },
  },
  strict: true,
});

const int = (name: string, text: string, min: number) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} ${text}: give an integer >= ${min}`);
    process.exit(2);
  }
  return n;
};

if (values.file) {
  const text = readFileSync(values.file, 'utf8');
  const v = judge(text, values.file, false);
  const cli = await cliProblem(values.file, v.outcome === 'valid' ? 'valid' : 'invalid');
  console.log(`${values.file}: ${v.outcome} in ${v.ms.toFixed(1)} ms${v.problems ? `, ${v.problems} problems` : ''}`);
  const failures = [v.failure, cli].filter((x): x is string => x !== undefined);
  for (const f of failures) console.log(`  ${f}`);
  console.log(`1 cases, ${failures.length ? 1 : 0} failures`);
  process.exit(failures.length ? 1 : 0);
}

const cases = int('cases', values.cases!, 1);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : int('seed', values.seed, 0);
const cliEvery = int('cli-every', values['cli-every']!, 0);
console.log(`fuzz: ${cases} cases, seed ${seed} (repeat with --seed ${seed}), every ${cliEvery || 'no'}th through the CLI; failing cases go to ${values.out}`);
const t0 = performance.now();
const r = await runFuzz({ cases, seed, cliEvery, outDir: values.out!, log: (l) => console.log(l) });
console.log(`${r.valid} valid, ${r.invalid} refused with located problems, ${r.cli} through the CLI; slowest case ${r.maxMs.toFixed(0)} ms; ${((performance.now() - t0) / 1000).toFixed(1)} s`);
console.log(`${r.cases} cases, ${r.failures.length} failures`);
process.exit(r.failures.length ? 1 : 0);
