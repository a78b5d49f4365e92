// util-linux `setpriv --pdeathsig`: a child started through it gets a signal from the kernel when the
// process that started it dies (SIGKILL, OOM), so nothing it spawned keeps running after it. setpriv
// execs the command: the child's pid is the command's own.
import { existsSync } from 'node:fs';

let known: string | null | undefined;

/** The path of setpriv, or null when util-linux's setpriv is not installed. */
export function setprivPath(): string | null {
  if (known === undefined) known = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;
  return known;
}

/**
 * The file and arguments that start `cmd args` with PR_SET_PDEATHSIG = `signal`, through setpriv
 * when it is installed; `cmd args` unchanged when it is not.
 */
export function withDeathSignal(cmd: string, args: readonly string[], signal: 'KILL' | 'TERM' = 'KILL'): [string, string[]] {
  const setpriv = setprivPath();
  return setpriv ? [setpriv, ['--pdeathsig', signal, '--', cmd, ...args]] : [cmd, [...args]];
}
