// A run as an unprivileged user (issue 20, Safety): `loadscope run` as uid/gid 65534 (nobody, no
// supplementary groups, no capabilities) still works, and says what is off and why: the local cluster
// (loopback instead), the probes, the load thread's priority. README.md "Root and capabilities".
import test from 'ava';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../../src/core/result.ts';
import { setprivPath } from '../../src/core/pdeathsig.ts';
import { bin, repoRoot, type CliResult } from '../helpers/cli.ts';
import { needs } from '../helpers/needs.ts';

const NOBODY = 65534;
const smoke = join(repoRoot, 'fixtures', 'scenarios', 'smoke.yaml');

/** Why the test cannot run here: it drops root, so it needs root and setpriv. */
function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'the test drops from root to uid 65534: run it as root';
  if (!setprivPath()) return 'setpriv (util-linux) is not installed';
  return undefined;
}

const rtest = needs('a run as an unprivileged user', missing());

/** A directory the unprivileged user owns (run directory, HOME, history, ledger), removed after. */
function ownedDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ls-nonroot-'));
  chownSync(dir, NOBODY, NOBODY);
  chmodSync(dir, 0o755);
  return dir;
}

/** `loadscope <args>` as uid/gid 65534 with no supplementary groups and no capabilities. */
function runAsNobody(args: string[], home: string): Promise<CliResult> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    TMPDIR: home,
    LOADSCOPE_HISTORY: join(home, 'history.db'),
    CI: process.env.CI ?? '',
  };
  const child = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=-all', process.execPath, bin, ...args], { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

rtest('loadscope run as an unprivileged user: exit 0, results written, and a clear list of what is off (cluster → loopback, probes, priority)', async (t) => {
  const home = ownedDir();
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const out = join(home, 'run');
  const r = await runAsNobody(['run', smoke, '--out', out], home);
  t.is(r.code, 0, r.stderr + r.stdout);
  const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as RunResult;
  t.is(res.outcome, 'completed');
  t.false(res.environment.root as boolean);
  t.true(res.http.requests > 500 && res.checks.servedVsClient!.ok, `${res.http.requests} responses; ${JSON.stringify(res.checks.servedVsClient)}`);
  // what is off, with why, in results.json and in what the CLI prints
  const cluster = res.notices.find((n) => n.startsWith('cluster mode auto chose loopback'));
  t.regex(cluster ?? '', /not root/, res.notices.join('\n'));
  const probes = res.notices.find((n) => n.startsWith('probes off'));
  t.regex(probes ?? '', /not root \(uid 65534\) and no CAP_BPF\+CAP_PERFMON/, res.notices.join('\n'));
  for (const n of [cluster!, probes!]) t.true(r.stdout.includes(`notice  ${n}`) || r.stdout.includes(n), `printed: ${n}`);
  t.regex(r.stdout, /probes\s+off: not root/);
  const priority = res.events.find((e) => e.kind === 'load.notice' && /nice/.test(e.text));
  t.regex(priority?.text ?? '', /run at nice 0, not -10: raising their priority needs root or CAP_SYS_NICE/);
  // the run recorded itself in the history the user can write, and left nothing of root's behind
  t.regex(r.stdout, /history: /);
  t.true(existsSync(join(home, 'history.db')));
});

rtest('an unprivileged run of a scenario with probes: required, or cluster.mode: local, stops before any load with an environment error (exit 3) naming what is missing', async (t) => {
  const home = ownedDir();
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const file = join(home, 'required.yaml');
  writeFileSync(file, readFileSync(smoke, 'utf8') + 'probes: required\n');
  const r = await runAsNobody(['run', file, '--out', join(home, 'run')], home);
  t.is(r.code, 3, r.stderr + r.stdout);
  t.regex(r.stderr, /probes are required but cannot run: not root \(uid 65534\) and no CAP_BPF\+CAP_PERFMON/);
  t.regex(r.stderr, /hint: .*root/);
  t.false(existsSync(join(home, 'run', 'results.json')), 'no run took place');
  const local = join(home, 'local.yaml');
  writeFileSync(local, readFileSync(smoke, 'utf8') + 'cluster: { mode: local }\n');
  const l = await runAsNobody(['run', local, '--out', join(home, 'run-local')], home);
  t.is(l.code, 3, l.stderr + l.stdout);
  t.regex(l.stderr, /the local cluster cannot run here: not root/);
});

rtest('an unprivileged run without --out, where it cannot write reports/out/, is a usage error naming the directory and the fix (exit 2, no stack)', async (t) => {
  const home = ownedDir();
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const r = await runAsNobody(['run', smoke], home);
  t.is(r.code, 2, r.stderr + r.stdout);
  t.regex(r.stderr, /cannot create the run directory .*reports\/out\/.*: EACCES/);
  t.regex(r.stderr, /hint: pass --out DIR/);
  t.notRegex(r.stderr, /internal error|\n\s+at /);
});
