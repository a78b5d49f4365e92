import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JournalRecord, RunEvent, Sample, Sink } from '../../../src/core/types.ts';

export const TRAFFIC = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'traffic.mjs');
export const BPF_OUT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bpf', '.output');

/** Why the kernel tests cannot run here, or undefined. */
export function kernelTestsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (!existsSync(join(BPF_OUT, 'pktlat'))) return `loaders not built (${BPF_OUT}); run make -C bpf`;
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return 'no `ip netns`';
  }
  return undefined;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Two network namespaces joined by a veth pair, 198.18.0.1/30 (A) and 198.18.0.2/30 (B), IPv6 off
 * so no router solicitations add packets. Interface names are unique per test (the probes match
 * interfaces by name across namespaces). destroy() removes everything; it also runs at exit.
 */
export class NetPair {
  readonly id = `${(process.pid % 46656).toString(36)}${randomBytes(2).toString('hex').slice(0, 3)}`;
  readonly nsA = `lspx-${this.id}-a`;
  readonly nsB = `lspx-${this.id}-b`;
  readonly ifA = `lspx${this.id}a`;
  readonly ifB = `lspx${this.id}b`;
  readonly addrA = '198.18.0.1';
  readonly addrB = '198.18.0.2';
  private procs: ChildProcess[] = [];
  private readonly onExit = () => this.destroy();

  constructor() {
    process.on('exit', this.onExit);
    try {
      for (const ns of [this.nsA, this.nsB]) {
        ip('netns', 'add', ns);
        ip('netns', 'exec', ns, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6');
        ip('-n', ns, 'link', 'set', 'lo', 'up');
      }
      ip('link', 'add', this.ifA, 'netns', this.nsA, 'type', 'veth', 'peer', 'name', this.ifB, 'netns', this.nsB);
      ip('-n', this.nsA, 'addr', 'add', `${this.addrA}/30`, 'dev', this.ifA);
      ip('-n', this.nsB, 'addr', 'add', `${this.addrB}/30`, 'dev', this.ifB);
      ip('-n', this.nsA, 'link', 'set', this.ifA, 'up');
      ip('-n', this.nsB, 'link', 'set', this.ifB, 'up');
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  ip(...args: string[]): string {
    return ip(...args);
  }

  /** Runs the traffic fixture in a namespace and resolves with its JSON line. */
  traffic(ns: string, ...args: (string | number)[]): Promise<Record<string, unknown>> {
    const run = this.trafficUntilStopped(ns, ...args);
    run.stop(); // no mode but `bulk ... until-stdin-closes` reads its stdin
    return run.done;
  }

  /**
   * Runs the traffic fixture with its stdin open: `stop()` closes it (a `bulk ... until-stdin-closes`
   * then stops writing and ends its connection), `done` resolves with its JSON line.
   */
  trafficUntilStopped(ns: string, ...args: (string | number)[]): { done: Promise<Record<string, unknown>>; stop(): void } {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, TRAFFIC, ...args.map(String)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.procs.push(p);
    let out = '';
    let err = '';
    p.stdout!.on('data', (b) => (out += b));
    p.stderr!.on('data', (b) => (err += b));
    const done = new Promise<Record<string, unknown>>((resolve, reject) => {
      p.on('close', (code) => {
        if (code !== 0) reject(new Error(`traffic ${args.join(' ')} exited ${code}: ${err}`));
        else resolve(JSON.parse(out.trim().split('\n')[0]) as Record<string, unknown>);
      });
    });
    return { done, stop: () => p.stdin!.end() };
  }

  /** Starts a long-running server in a namespace; resolves once it listens. Killed by destroy(). */
  server(ns: string, host: string, ...ports: number[]): Promise<ChildProcess> {
    return new Promise((resolve, reject) => {
      const p = spawn('ip', ['netns', 'exec', ns, process.execPath, TRAFFIC, 'server', host, ...ports.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
      this.procs.push(p);
      let err = '';
      p.stderr.on('data', (b) => (err += b));
      p.stdout.once('data', () => resolve(p));
      p.on('close', (code) => reject(new Error(`server exited ${code}: ${err}`)));
    });
  }

  /** The kernel's own counters for an interface (ip -s link, i.e. /sys/class/net/<if>/statistics). */
  counters(ns: string, ifname: string): { rxPackets: number; txPackets: number; rxBytes: number; txBytes: number } {
    const j = JSON.parse(ip('-n', ns, '-s', '-j', 'link', 'show', 'dev', ifname)) as { stats64: { rx: { packets: number; bytes: number }; tx: { packets: number; bytes: number } } }[];
    const s = j[0].stats64;
    return { rxPackets: s.rx.packets, txPackets: s.tx.packets, rxBytes: s.rx.bytes, txBytes: s.tx.bytes };
  }

  /** A field of the Tcp: line of /proc/net/snmp inside a namespace. */
  snmpTcp(ns: string, field: string): number {
    const text = ip('netns', 'exec', ns, 'cat', '/proc/net/snmp');
    const lines = text.split('\n').filter((l) => l.startsWith('Tcp:'));
    const names = lines[0].split(/\s+/);
    const values = lines[1].split(/\s+/);
    return Number(values[names.indexOf(field)]);
  }

  destroy(): void {
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const ns of [this.nsA, this.nsB]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    process.off('exit', this.onExit);
  }
}

/** A Sink that keeps everything as journal records, for summarizeProbes and assertions. */
export class MemorySink implements Sink {
  readonly records: JournalRecord[] = [];
  sample(s: Sample): void {
    this.records.push({ type: 'sample', ...s });
  }
  event(e: RunEvent): void {
    this.records.push({ type: 'event', ...e });
  }
  samples(metric: string): Sample[] {
    return this.records.filter((r): r is { type: 'sample' } & Sample => r.type === 'sample' && r.metric === metric);
  }
  events(kind: string): RunEvent[] {
    return this.records.filter((r): r is { type: 'event' } & RunEvent => r.type === 'event' && r.kind === kind);
  }
}

/** Kernel ids of BPF programs and the programs referenced by links, from bpftool. */
export function bpfState(): { progIds: Set<number>; progNames: Map<number, string>; linkProgIds: Set<number>; mapIds: Set<number> } {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' }) || '[]') as { id: number; name?: string }[];
  const links = JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' }) || '[]') as { prog_id?: number }[];
  const maps = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' }) || '[]') as { id: number }[];
  return {
    progIds: new Set(progs.map((p) => p.id)),
    progNames: new Map(progs.map((p) => [p.id, p.name ?? ''])),
    linkProgIds: new Set(links.map((l) => l.prog_id ?? -1)),
    mapIds: new Set(maps.map((m) => m.id)),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
