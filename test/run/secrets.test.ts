import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { startServer } from '../helpers/with-server.ts';

// Secret header values (`{ value, secret: true }` and `${env:NAME}`) reach the target, and nowhere else: a real
// short run against a loopback server that records what it received, then every file of the run directory
// (journal, results, report, anything else), the history and the CLI's output are searched for them.

const LITERAL = 'Bearer planted-literal-4f1c9a';
const FROM_ENV = 'planted-env-value-8d2e7b';

/** Every file under `dir` whose bytes contain `needle`. */
function filesHolding(dir: string, needle: string): string[] {
  const hits: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  walk(dir);
  return hits;
}

for (const engine of ['autocannon', 'lean'] as const) {
  test(`engine ${engine}: planted secrets reach the target and appear in no output of run or report`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ls-secrets-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const seen = new Map<string, number>();
    const server = await startServer((req, res) => {
      const key = `${req.headers.authorization} | ${req.headers['x-api-key']} | ${req.headers['x-plain']}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      res.end('ok');
    });
    t.teardown(() => server.close());
    const scenario = join(dir, 'secrets.yaml');
    writeFileSync(
      scenario,
      [
        'name: secrets',
        `engine: ${engine}`,
        `target: { url: "${server.url}" }`,
        'probes: off',
        'requests:',
        '  - path: /',
        '    headers:',
        `      authorization: { value: "${LITERAL}", secret: true }`,
        '      x-api-key: "${env:LS_TEST_PLANTED}"',
        '      x-plain: visible',
        'stages:',
        '  - { duration: 1s, rate: 20 }',
        '',
      ].join('\n'),
    );
    // everything loadscope writes goes under outputs/ (the run directory, the history)
    const outputs = join(dir, 'outputs');
    const env = { LS_TEST_PLANTED: FROM_ENV, LOADSCOPE_HISTORY: join(outputs, 'history.db') };
    const out = join(outputs, 'run');
    const r = await runCli(['run', scenario, '--out', out], { env });
    t.is(r.code, 0, r.stderr + r.stdout);
    // the engine sent the real values
    t.deepEqual([...seen.keys()], [`${LITERAL} | ${FROM_ENV} | visible`]);
    t.true(seen.get(`${LITERAL} | ${FROM_ENV} | visible`)! >= 15);
    const rep = await runCli(['report', out], { env });
    t.is(rep.code, 0, rep.stderr + rep.stdout);
    const val = await runCli(['validate', scenario], { env });
    t.is(val.code, 0, val.stderr);
    for (const secret of [LITERAL, 'planted-literal-4f1c9a', FROM_ENV]) {
      t.deepEqual(filesHolding(outputs, secret), [], secret);
      for (const [what, text] of [['run', r.stdout + r.stderr], ['report', rep.stdout + rep.stderr], ['validate', val.stdout + val.stderr]]) t.false(text.includes(secret), `${what} printed ${secret}`);
    }
    // the journal keeps the scenario as written, the secrets blanked; what is not secret stays
    const journal = readFileSync(join(out, 'events.ndjson'), 'utf8');
    t.true(journal.includes('authorization: { value: \\"<secret>\\", secret: true }'));
    t.true(journal.includes('x-api-key: \\"${env:LS_TEST_PLANTED}\\"'));
    t.true(journal.includes('x-plain: visible'));
    t.true(readFileSync(join(out, 'report.html'), 'utf8').includes('&lt;secret&gt;'));
  });
}

test('a secret header with engine k6, or an unset ${env:NAME}, is refused where it is written (exit 2)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-secrets-k6-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'k6.yaml');
  writeFileSync(file, 'name: s\nengine: k6\nrequests:\n  - path: /\n    headers: { authorization: { value: x-secret-x, secret: true }, x-key: "${env:LS_TEST_UNSET_9}" }\nstages: [{ duration: 1s, rate: 1 }]\n');
  const r = await runCli(['validate', file], { env: { LS_TEST_UNSET_9: '' } });
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, new RegExp(`${file}:5:40: engine k6 does not take secret header values yet`));
  t.regex(r.stderr, new RegExp(`${file}:5:75: engine k6 does not take secret header values yet`));
  t.false(r.stderr.includes('x-secret-x'));
  const unset = join(dir, 'unset.yaml');
  writeFileSync(unset, 'name: s\nrequests:\n  - path: /\n    headers: { x-key: "Bearer ${env:LS_TEST_UNSET_9}" }\nstages: [{ duration: 1s, rate: 1 }]\n');
  const u = await runCli(['validate', unset]);
  t.is(u.code, 2, u.stderr);
  t.regex(u.stderr, new RegExp(`${unset}:4:23: requests\\.0\\.headers\\.x-key: header value: the environment variable LS_TEST_UNSET_9 is not set`));
});
