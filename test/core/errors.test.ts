// A problem echoes its input (a key, a path, a YAML error): whoever makes the list, every problem is
// one printable line — no control, bidi or line-separator character reaches a terminal or a report.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoadscopeError, printable } from '../../src/core/errors.ts';
import { readSpecFile } from '../../src/verdict/whatif.ts';

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
