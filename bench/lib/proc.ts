// Process accounting from /proc and child-process hygiene: every process the bench starts is
// registered here and killed (its whole process group) on exit, Ctrl-C or a crash.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { withDeathSignal } from '../../src/core/pdeathsig.ts';

/** Clock ticks per second of /proc/<pid>/stat utime and stime (USER_HZ: 100 on every Linux build we run on). */
export const CLK_TCK = 100;

/** utime + stime of one process in seconds (all its threads, live and exited); undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds the whole machine has spent busy, all CPUs summed: user, nice, system, irq and softirq
 * of /proc/stat (not idle, iowait or steal, the host running something else on our vCPUs).
 */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).map(Number);
  return (f[1] + f[2] + f[3] + f[6] + f[7]) / CLK_TCK;
}

/** The live descendants of `pid` (children of every thread, recursively). */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let kids = '';
      try {
        kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const k of kids.split(' ')) {
        if (k.trim() === '') continue;
        out.push(Number(k));
        walk(Number(k));
      }
    }
  };
  walk(pid);
  return out;
}

/** CPU seconds of a process and its live descendants. */
export function treeCpuSeconds(pid: number, withChildren: boolean): number | undefined {
  const own = cpuSeconds(pid);
  if (own === undefined || !withChildren) return own;
  let total = own;
  for (const d of descendants(pid)) total += cpuSeconds(d) ?? 0;
  return total;
}

/** Resident set (VmRSS) and its peak (VmHWM) in bytes. */
export function memory(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

const live = new Set<ChildProcess>();

/** Kills every registered child's process group (SIGKILL): used on exit paths. */
export function killAll(): void {
  for (const c of live) killGroup(c, 'SIGKILL');
  live.clear();
}

export function killGroup(c: ChildProcess, sig: NodeJS.Signals = 'SIGTERM'): void {
  if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
  try {
    process.kill(-c.pid, sig);
  } catch {
    try {
      c.kill(sig);
    } catch {
      // already gone
    }
  }
}

let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping children\n`);
      killAll();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(`bench: crashed: ${err.stack ?? err.message}\n`);
    killAll();
    process.exit(1);
  });
}

/**
 * Spawns a child in its own process group, registered for cleanup. `setpriv --pdeathsig` makes the
 * kernel send it SIGTERM if the bench itself is SIGKILLed (when setpriv is there).
 */
export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions & { pdeathsig?: boolean } = {}): ChildProcess {
  hookExit();
  const [c, a] = opts.pdeathsig !== false ? withDeathSignal(cmd, args, 'TERM') : [cmd, args];
  const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'], ...opts, detached: true });
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}

/** Resolves with the exit code once the child exits; kills its group after `timeoutMs`. */
export function waitExit(c: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve(c.exitCode);
    const t = setTimeout(() => killGroup(c, 'SIGKILL'), timeoutMs);
    c.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

/** Collects a child's stdout and stderr as text. */
export function collect(c: ChildProcess): { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  c.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  c.stderr?.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-20_000)));
  return { stdout: () => out, stderr: () => err };
}
