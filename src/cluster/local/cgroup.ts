import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LoadscopeError } from '../../core/errors.ts';

// Cgroups of the local cluster's pods. Two layouts are supported: pure cgroup v2 (one hierarchy, the
// cpu and memory controllers enabled down to the pods), and the hybrid layout (cgroup v2 mounted
// beside v1 controllers, e.g. /sys/fs/cgroup/unified + /sys/fs/cgroup/{cpu,memory}). Either way the
// cgroup v2 hierarchy gives the pod's identity (its cgroup id, what the eBPF policy keys on), its
// CPU usage (cpu.stat usage_usec, kept by every v2 cgroup) and cgroup.kill; the limits go where the
// cpu and memory controllers are.

/** The cgroup hierarchies of this machine, as far as the local cluster needs them. */
export interface CgroupLayout {
  kind: 'v2' | 'hybrid';
  /** Mount point of the cgroup v2 hierarchy (where the eBPF program attaches). */
  unified: string;
  /** Mount point of the hierarchy holding the cpu controller (the v2 one in a pure v2 layout). */
  cpu: string;
  /** Mount point of the hierarchy holding the memory controller. */
  memory: string;
}

/** Name of the directory under each hierarchy's root that holds every run's cgroups. */
export const CGROUP_DIR = 'loadscope';

/** CFS period written with every CPU limit, µs (Kubernetes uses the same). */
export const CFS_PERIOD_US = 100_000;

/** Finds the hierarchies from /proc/self/mountinfo; a string says why the layout cannot be used. */
export function detectCgroups(mountinfo = '/proc/self/mountinfo'): CgroupLayout | string {
  let text: string;
  try {
    text = readFileSync(mountinfo, 'utf8');
  } catch (err) {
    return `cannot read ${mountinfo}: ${(err as Error).message}`;
  }
  let unified: string | undefined;
  let cpu: string | undefined;
  let memory: string | undefined;
  for (const line of text.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!post) continue;
    const mountPoint = pre.split(' ')[4];
    const [fstype, , superOpts = ''] = post.split(' ');
    const opts = superOpts.split(',');
    if (fstype === 'cgroup2') unified ??= mountPoint;
    if (fstype === 'cgroup' && opts.includes('cpu')) cpu ??= mountPoint;
    if (fstype === 'cgroup' && opts.includes('memory')) memory ??= mountPoint;
  }
  if (!unified) return 'no cgroup v2 hierarchy is mounted (the eBPF socket hooks attach to cgroup v2)';
  if (!cpu && !memory) {
    const controllers = readText(join(unified, 'cgroup.controllers'))?.split(/\s+/) ?? [];
    const missing = ['cpu', 'memory'].filter((c) => !controllers.includes(c));
    if (missing.length) return `cgroup v2 at ${unified} lacks the ${missing.join(' and ')} controller(s)`;
    return { kind: 'v2', unified, cpu: unified, memory: unified };
  }
  if (!cpu || !memory) return `cgroup v1 ${cpu ? 'memory' : 'cpu'} controller is not mounted (hybrid layout needs cpu and memory)`;
  return { kind: 'hybrid', unified, cpu, memory };
}

/** CPU and memory settings of one pod, as a pod spec gives them; absent means unlimited / none. */
export interface PodResources {
  requests: { cpu?: number; memory?: number };
  limits: { cpu?: number; memory?: number };
}

/** cpu.shares from a CPU request in millicores, as the kubelet computes it (2 when none). */
export function cpuShares(millicores: number | undefined): number {
  if (!millicores) return 2;
  return Math.min(262_144, Math.max(2, Math.floor((millicores * 1024) / 1000)));
}

/** cpu.weight (cgroup v2) from cpu.shares, as the kubelet and runc convert it. */
export function cpuWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262_142);
}

/** CFS quota in µs per CFS_PERIOD_US for a CPU limit in millicores (kubelet minimum 1 ms). */
export function cfsQuota(millicores: number): number {
  return Math.max(1000, Math.floor((millicores * CFS_PERIOD_US) / 1000));
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function statField(text: string | undefined, field: string): number | undefined {
  const m = text === undefined ? null : new RegExp(`^${field} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

function write(path: string, value: string): void {
  try {
    writeFileSync(path, value);
  } catch (cause) {
    throw new LoadscopeError('ENVIRONMENT', `cannot write "${value}" to ${path}: ${(cause as Error).message}`, {
      cause,
      hint: 'the local cluster needs root and writable cgroup hierarchies',
    });
  }
}

/** Every distinct directory `rel` names in the layout's hierarchies, the v2 one first. */
export function cgroupDirs(layout: CgroupLayout, rel: string): string[] {
  return [...new Set([layout.unified, layout.cpu, layout.memory])].map((root) => join(root, rel));
}

/** Creates a run's parent cgroups (loadscope/ and loadscope/<tag>/) with the controllers enabled below them. */
export function createRunCgroups(layout: CgroupLayout, tag: string, onCreate: (dir: string) => void): void {
  for (const rel of [CGROUP_DIR, join(CGROUP_DIR, tag)]) {
    for (const dir of cgroupDirs(layout, rel)) {
      if (existsSync(dir)) continue;
      onCreate(dir);
      try {
        mkdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  }
  // Like the kubelet's kubepods cgroup: the run's pods together weigh as much as one task per CPU,
  // so BestEffort pods (cpu.shares 2 among themselves) are not starved by busy processes outside.
  const shares = 1024 * Math.max(1, availableParallelism());
  if (layout.kind === 'hybrid') {
    for (const rel of [CGROUP_DIR, join(CGROUP_DIR, tag)]) write(join(layout.cpu, rel, 'cpu.shares'), String(shares));
  }
  if (layout.kind === 'v2') {
    for (const dir of [layout.unified, join(layout.unified, CGROUP_DIR), join(layout.unified, CGROUP_DIR, tag)]) {
      const enabled = readText(join(dir, 'cgroup.subtree_control'))?.split(/\s+/) ?? [];
      const want = ['cpu', 'memory'].filter((c) => !enabled.includes(c));
      if (want.length) write(join(dir, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
    }
    for (const rel of [CGROUP_DIR, join(CGROUP_DIR, tag)]) write(join(layout.cpu, rel, 'cpu.weight'), String(Math.max(100, cpuWeight(shares))));
  }
}

/** A pod's cgroup: created with its limits, joined by the pod's process, read every second, removed at the end. */
export class PodCgroup {
  /** Directories in every hierarchy, the v2 one first. */
  readonly dirs: string[];
  /** cgroup.procs files the pod's process writes its pid to before it execs the service. */
  readonly procsFiles: string[];
  private readonly unifiedDir: string;
  private readonly cpuDir: string;
  private readonly memoryDir: string;

  constructor(private readonly layout: CgroupLayout, rel: string) {
    this.dirs = cgroupDirs(layout, rel);
    this.procsFiles = this.dirs.map((d) => join(d, 'cgroup.procs'));
    this.unifiedDir = join(layout.unified, rel);
    this.cpuDir = join(layout.cpu, rel);
    this.memoryDir = join(layout.memory, rel);
  }

  /** Creates the directories (each announced to `onCreate` first) and writes the limits. */
  create(resources: PodResources, onCreate: (dir: string) => void): void {
    for (const dir of this.dirs) {
      onCreate(dir);
      mkdirSync(dir);
    }
    const shares = cpuShares(resources.requests.cpu);
    const limitCpu = resources.limits.cpu;
    const limitMem = resources.limits.memory;
    if (this.layout.kind === 'v2') {
      write(join(this.cpuDir, 'cpu.weight'), String(cpuWeight(shares)));
      write(join(this.cpuDir, 'cpu.max'), limitCpu ? `${cfsQuota(limitCpu)} ${CFS_PERIOD_US}` : `max ${CFS_PERIOD_US}`);
      if (limitMem) write(join(this.memoryDir, 'memory.max'), String(limitMem));
      if (limitMem && existsSync(join(this.memoryDir, 'memory.swap.max'))) write(join(this.memoryDir, 'memory.swap.max'), '0');
    } else {
      write(join(this.cpuDir, 'cpu.shares'), String(shares));
      write(join(this.cpuDir, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
      write(join(this.cpuDir, 'cpu.cfs_quota_us'), limitCpu ? String(cfsQuota(limitCpu)) : '-1');
      if (limitMem) write(join(this.memoryDir, 'memory.limit_in_bytes'), String(limitMem));
    }
  }

  /** The cgroup v2 id (the inode number of its directory): what bpf_get_current_cgroup_id() returns. */
  id(): bigint {
    return statSync(this.unifiedDir, { bigint: true }).ino;
  }

  /** Cumulative CPU time of everything in the cgroup, seconds (cpu.stat usage_usec). */
  cpuSeconds(): number | undefined {
    const usec = statField(readText(join(this.unifiedDir, 'cpu.stat')), 'usage_usec');
    if (usec !== undefined) return usec / 1e6;
    const ns = readText(join(this.cpuDir, 'cpuacct.usage'));
    return ns === undefined ? undefined : Number(ns) / 1e9;
  }

  /** Memory charged to the cgroup now, bytes (memory.current; memory.usage_in_bytes under v1). */
  memoryBytes(): number | undefined {
    const v = readText(join(this.memoryDir, this.layout.kind === 'v2' ? 'memory.current' : 'memory.usage_in_bytes'));
    return v === undefined ? undefined : Number(v);
  }

  /** Working set as the kubelet reports it: memory usage minus inactive file pages, bytes. */
  workingSetBytes(): number | undefined {
    const usage = this.memoryBytes();
    if (usage === undefined) return undefined;
    const stat = readText(join(this.memoryDir, 'memory.stat'));
    const inactive = statField(stat, this.layout.kind === 'v2' ? 'inactive_file' : 'total_inactive_file') ?? 0;
    return Math.max(0, usage - inactive);
  }

  /** OOM kills inside the cgroup so far. */
  oomKills(): number {
    if (this.layout.kind === 'v2') return statField(readText(join(this.memoryDir, 'memory.events')), 'oom_kill') ?? 0;
    return statField(readText(join(this.memoryDir, 'memory.oom_control')), 'oom_kill') ?? 0;
  }

  /** Pids still in the cgroup. */
  pids(): number[] {
    return (readText(join(this.unifiedDir, 'cgroup.procs')) ?? '')
      .split('\n')
      .filter((l) => l !== '')
      .map(Number);
  }

  /** Kills everything in the cgroup, waits until it is empty, removes every directory; true when all are gone. */
  async remove(timeoutMs = 5000): Promise<boolean> {
    return removeCgroupDirs(this.dirs, timeoutMs);
  }
}

/**
 * Kills what is left in the cgroups (cgroup.kill of the v2 one, SIGKILL per pid elsewhere), then
 * removes the directories deepest first, retrying while the kernel still holds exiting tasks.
 */
export async function removeCgroupDirs(dirs: string[], timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const all: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
    all.push(dir);
  };
  for (const d of dirs) walk(d);
  for (const dir of all) {
    if (existsSync(join(dir, 'cgroup.kill'))) {
      try {
        writeFileSync(join(dir, 'cgroup.kill'), '1');
      } catch {
        // gone already
      }
    } else {
      for (const pid of (readText(join(dir, 'cgroup.procs')) ?? '').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // exited
        }
      }
    }
  }
  let left = all.filter((d) => existsSync(d));
  while (left.length > 0) {
    for (const dir of left) {
      try {
        rmdirSync(dir);
      } catch {
        // busy while killed tasks exit, or a child not removed yet: next round
      }
    }
    left = left.filter((d) => existsSync(d));
    if (left.length === 0 || Date.now() > deadline) break;
    await sleep(25);
  }
  return left.length === 0;
}
