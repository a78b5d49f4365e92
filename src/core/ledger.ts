import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Something a run created that must not outlive it. */
export type Resource =
  | { kind: 'process'; pid: number; startTime: string }
  | { kind: 'netns'; name: string }
  | { kind: 'link'; name: string }
  | { kind: 'cgroup'; path: string }
  | { kind: 'file'; path: string }
  /** A process the run stopped (SIGSTOP, a pod-pause fault): continued (SIGCONT) before anything else is released. */
  | { kind: 'paused'; pid: number; startTime: string }
  /** A root qdisc the run put on a link, in a network namespace or the root one (a bandwidth fault): deleted. */
  | { kind: 'qdisc'; dev: string; netns?: string };

interface LedgerFile {
  runId: string;
  ownerPid: number;
  ownerStartTime: string;
  resources: Resource[];
}

/** Where ledgers live: one JSON file per live run, removed when the run has cleaned up. */
export function ledgerDir(): string {
  const dir = process.env.LOADSCOPE_LEDGER_DIR ?? (process.getuid?.() === 0 ? '/run/loadscope' : join(tmpdir(), 'loadscope-ledger'));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Start time of a process (field 22 of /proc/<pid>/stat), to tell a live pid from a reused one. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * The run's record of what it created, kept on disk as it grows, so that a later run can remove
 * what this one left if it dies (SIGKILL, OOM, power cut) before its own cleanup.
 */
export class Ledger {
  private file: string;
  private data: LedgerFile;

  constructor(runId: string, dir = ledgerDir()) {
    this.file = join(dir, `${runId}.json`);
    this.data = { runId, ownerPid: process.pid, ownerStartTime: processStartTime(process.pid) ?? '', resources: [] };
    this.save();
  }

  add(r: Resource): void {
    this.data.resources.push(r);
    this.save();
  }

  addProcess(pid: number): void {
    const startTime = processStartTime(pid);
    if (startTime) this.add({ kind: 'process', pid, startTime });
  }

  remove(match: (r: Resource) => boolean): void {
    this.data.resources = this.data.resources.filter((r) => !match(r));
    this.save();
  }

  /** Releases everything still listed (the run's own last-resort cleanup) and deletes the ledger. */
  close(): string[] {
    const done = release(this.data.resources);
    rmSync(this.file, { force: true });
    return done;
  }

  private save(): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.data));
    renameSync(tmp, this.file);
  }
}

/** Removes what dead runs left behind; returns one line per thing removed. */
export function sweepStale(dir = ledgerDir()): string[] {
  const removed: string[] = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const path = join(dir, f);
    let data: LedgerFile;
    try {
      data = JSON.parse(readFileSync(path, 'utf8')) as LedgerFile;
    } catch {
      rmSync(path, { force: true });
      continue;
    }
    if (processStartTime(data.ownerPid) === data.ownerStartTime) continue; // owner still alive
    removed.push(...release(data.resources).map((s) => `${s} (left by dead run ${data.runId})`));
    rmSync(path, { force: true });
  }
  return removed;
}

function release(resources: Resource[]): string[] {
  const done: string[] = [];
  // stopped processes continued first (never left stopped), then processes (they hold namespaces and
  // cgroups), qdiscs, links, namespaces, cgroups, files
  const order: Resource['kind'][] = ['paused', 'process', 'qdisc', 'link', 'netns', 'cgroup', 'file'];
  for (const kind of order) {
    for (const r of resources.filter((x) => x.kind === kind).reverse()) {
      const what = releaseOne(r);
      if (what) done.push(what);
    }
  }
  return done;
}

function releaseOne(r: Resource): string | undefined {
  try {
    switch (r.kind) {
      case 'process':
        if (processStartTime(r.pid) !== r.startTime) return undefined;
        process.kill(r.pid, 'SIGKILL');
        return `killed process ${r.pid}`;
      case 'paused':
        if (processStartTime(r.pid) !== r.startTime) return undefined;
        process.kill(r.pid, 'SIGCONT');
        return `continued stopped process ${r.pid}`;
      case 'qdisc':
        if (r.netns ? !existsSync(`/run/netns/${r.netns}`) : !existsSync(`/sys/class/net/${r.dev}`)) return undefined;
        execFileSync('tc', [...(r.netns ? ['-n', r.netns] : []), 'qdisc', 'del', 'dev', r.dev, 'root'], { stdio: 'ignore' });
        return `deleted the root qdisc of ${r.dev}${r.netns ? ` in ${r.netns}` : ''}`;
      case 'netns':
        if (!existsSync(`/run/netns/${r.name}`)) return undefined;
        execFileSync('ip', ['netns', 'del', r.name], { stdio: 'ignore' });
        return `deleted network namespace ${r.name}`;
      case 'link':
        if (!existsSync(`/sys/class/net/${r.name}`)) return undefined;
        execFileSync('ip', ['link', 'del', r.name], { stdio: 'ignore' });
        return `deleted link ${r.name}`;
      case 'cgroup':
        if (!existsSync(r.path)) return undefined;
        rmdirSync(r.path);
        return `removed cgroup ${r.path}`;
      case 'file':
        if (!existsSync(r.path)) return undefined;
        rmSync(r.path, { force: true, recursive: true });
        return `removed ${r.path}`;
    }
  } catch {
    return undefined;
  }
}
