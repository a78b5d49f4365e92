// Runs the real loadscope CLI as a child process (bin/loadscope.js), as a user would.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withDeathSignal } from '../../src/core/pdeathsig.ts';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const bin = join(repoRoot, 'bin', 'loadscope.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs record themselves in a history database at their end: the tests' runs go to one of this test
 * process's own (removed when it exits), never to the repository's reports/history.db. A test that
 * sets LOADSCOPE_HISTORY or LOADSCOPE_HISTORY_URL itself gets its own. Likewise a CI job's
 * GITHUB_STEP_SUMMARY is not handed down: only a test that sets it gets summaries appended.
 */
const TEST_HISTORY = join(tmpdir(), `loadscope-test-history-${process.pid}.db`);
process.on('exit', () => {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(TEST_HISTORY + suffix, { force: true });
});

/**
 * Starts the CLI; `done` settles with its exit and output. The child gets SIGTERM from the kernel if
 * this test process dies first (an ava timeout, a crash): a run does not go on loading the machine
 * under the next tests, and it cleans up as on Ctrl-C. Its pid is the CLI's own (setpriv execs it).
 */
export function startCli(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const [cmd, argv] = withDeathSignal(process.execPath, [bin, ...args], 'TERM');
  const child = spawn(cmd, argv, { cwd: opts.cwd ?? repoRoot, env: { ...process.env, LOADSCOPE_HISTORY: TEST_HISTORY, LOADSCOPE_HISTORY_URL: '', GITHUB_STEP_SUMMARY: '', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

export function runCli(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  return startCli(args, opts).done;
}
