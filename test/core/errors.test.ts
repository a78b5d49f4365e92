// A problem echoes its input (a key, a path, a YAML error): whoever makes the list, every problem is
// one printable line — no control, bidi or line-separator character reaches a terminal or a report.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoadscopeError, printable } from '../../src/core/errors.ts';
import { readSpecFile } from '../../src/verdict/whatif.ts';
import { runCli } from '../helpers/cli.ts';

const HOSTILE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

test('printable escapes control, bidi and separator characters and keeps the rest', (t) => {
  t.is(printable('a\u202Eb\u2066c\u2069 \u0007d\ne\u2028'), 'a\\u202eb\\u2066c\\u2069 \\u0007d\\u000ae\\u2028');
  t.is(printable('plain ünïcode ✓'), 'plain ünïcode ✓');
});

test('a LoadscopeError keeps its problems printable, message and hint', (t) => {
  const e = new LoadscopeError('SCENARIO_INVALID', 'x.yaml: 1 problem', { problems: [{ file: 'x.yaml', line: 2, col: 3, message: 'unknown key evil\u202Egnp.exe', hint: 'did you mean \u2066name\u2069?' }] });
  t.is(e.problems[0].message, 'unknown key evil\\u202egnp.exe');
  t.is(e.problems[0].hint, 'did you mean \\u2066name\\u2069?');
  t.deepEqual([e.problems[0].line, e.problems[0].col], [2, 3]);
});

test('whatif --hpa: a bidi override in a key of the spec comes back located and escaped (echoed raw before)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-errors-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'hpa.yaml');
  writeFileSync(file, 'autoscaler:\n  scaleTargetRef: { kind: Deployment, name: backend }\n  maxReplicas: 3\n  "evil\u202Egnp": 1\n');
  const err = t.throws(() => readSpecFile(file, { syncPeriodMs: 15_000, metricResolutionMs: 15_000 })) as LoadscopeError;
  t.is(err.code, 'SCENARIO_INVALID');
  t.true(err.problems.length > 0);
  for (const p of err.problems) t.false(HOSTILE.test(p.message + (p.hint ?? '')), p.message);
  t.true(err.problems.some((p) => p.message.includes('evil\\u202egnp')), err.problems.map((p) => p.message).join('\n'));
});

test('a LoadscopeError message and hint are printable too; the message keeps its own line breaks (a stderr tail)', (t) => {
  const e = new LoadscopeError('ENGINE', 'k6 exited 1 in /tmp/run\u202Egnp:\n  \u001b[31mERRO\u001b[0m bad', { hint: 'look at \u2066x\u2069' });
  t.is(e.message, 'k6 exited 1 in /tmp/run\\u202egnp:\n  \\u001b[31mERRO\\u001b[0m bad');
  t.is(e.hint, 'look at \\u2066x\\u2069');
});

test('a path echoed in an error of the command line comes back escaped, one line per line (echoed raw before)', async (t) => {
  const dir = join(tmpdir(), `ls-errors-evil\u202Egnp-${process.pid}`);
  const r = await runCli(['report', dir]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /ls-errors-evil\\u202egnp-\d+\/events\.ndjson does not exist/);
  for (const line of r.stderr.split('\n')) t.false(HOSTILE.test(line), line);
});
