import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { now } from '../core/clock.ts';
import { LoadscopeError } from '../core/errors.ts';
import { JOIN_CGROUPS, type Balancer, type BalancerAck, type BalancerOptions, type BalancerProvider, type BalancerRecord } from '../core/balancer.ts';

// Client of bpf/lb (the eBPF socket load balancer's loader): starts it, sends routing-table
// commands on its stdin and waits for their acks, hands every other NDJSON record to the caller
// with kernel time already mapped to the run's time base. The protocol is in docs/cluster.md.

/** Default location of the built loader (make -C bpf/lb). */
export const LB_BINARY = fileURLToPath(new URL('../../bpf/.output/lb/lb', import.meta.url));

/** The loader binary to use: $LOADSCOPE_LB_BINARY, else the build output. */
export function lbBinary(): string {
  return process.env.LOADSCOPE_LB_BINARY ?? LB_BINARY;
}

/** Why the loader cannot run, or undefined when its binary is there and executable. */
export function lbUnavailable(binary = lbBinary()): string | undefined {
  try {
    accessSync(binary, constants.X_OK);
    return undefined;
  } catch {
    return `the eBPF load balancer is not built (${binary} is missing; run make -C bpf/lb or npm run setup)`;
  }
}

/** The running loader. Commands are serialized by the loader itself; acks come back in order. */
export class LbLoader implements Balancer {
  /** Epoch ms of CLOCK_MONOTONIC 0 on the run's time base (both clocks are read back to back). */
  private readonly offsetMs: number;
  private seq = 0;
  private pending = new Map<number, { resolve: (a: BalancerAck) => void; reject: (e: Error) => void; line: string }>();
  private exitedWith?: { code: number | null; signal: NodeJS.Signals | null };
  private readonly exited: Promise<void>;
  private stderr: string[] = [];
  /** The loader's last record ("end"): totals for its life. */
  end?: BalancerRecord;
  /** The loader's ready record: program names and link ids. */
  ready?: BalancerRecord;

  private constructor(private readonly child: ChildProcess, private readonly opts: BalancerOptions) {
    const mono = Number(process.hrtime.bigint()) / 1e6;
    this.offsetMs = now() - mono;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitedWith = { code, signal };
        for (const p of this.pending.values()) p.reject(new LoadscopeError('INTERNAL', `lb loader exited (${signal ?? `code ${code}`}) before it acknowledged: ${p.line}`));
        this.pending.clear();
        opts.onExit?.(code, signal);
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Maps a CLOCK_MONOTONIC ns timestamp of the loader to the run's epoch-ms time base. */
  epochMs(monoNs: number): number {
    return this.offsetMs + monoNs / 1e6;
  }

  /** Starts the loader and resolves once its programs are attached (the "ready" record). */
  static async start(opts: BalancerOptions): Promise<LbLoader> {
    const binary = lbBinary();
    const why = lbUnavailable(binary);
    if (why) throw new LoadscopeError('ENVIRONMENT', why, { hint: 'make -C bpf/lb builds it (clang, bpftool, libbpf-dev)' });
    const args = [binary, '--host-pid', String(process.pid), '--cgroup', opts.cgroupRoot, '--sample-every', String(opts.sampleEvery ?? 1)];
    const argv = opts.procsFiles?.length ? ['sh', '-c', JOIN_CGROUPS, 'lb', ...args] : args;
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LS_CGROUP_PROCS: (opts.procsFiles ?? []).join(' ') },
    });
    child.stdin!.on('error', () => {});
    const lb = new LbLoader(child, opts);
    createInterface({ input: child.stderr! }).on('line', (l) => {
      lb.stderr.push(l);
      if (lb.stderr.length > 40) lb.stderr.shift();
    });
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      readyResolve = resolve;
      readyReject = reject;
    });
    createInterface({ input: child.stdout! }).on('line', (line) => lb.onLine(line, readyResolve, readyReject));
    const failed = (why: string) =>
      new LoadscopeError('ENVIRONMENT', `the eBPF load balancer did not start: ${why}${lb.stderr.length ? `\n  ${lb.stderr.slice(-8).join('\n  ')}` : ''}`, {
        hint: 'it needs root, a kernel with BTF and cgroup sock_addr hooks, and a cgroup v2 hierarchy',
      });
    const timeout = opts.readyTimeoutMs ?? 15_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready,
        lb.exited.then(() => Promise.reject(new Error(`exited (${lb.exitedWith?.signal ?? `code ${lb.exitedWith?.code}`}) before it was ready`))),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`not ready within ${timeout} ms`)), timeout))),
      ]);
    } catch (err) {
      child.kill('SIGKILL');
      await lb.exited;
      await sleep(20); // let the last stderr lines arrive
      throw failed((err as Error).message);
    } finally {
      clearTimeout(timer);
    }
    return lb;
  }

  private onLine(line: string, readyResolve: () => void, readyReject: (e: Error) => void): void {
    let r: BalancerRecord;
    try {
      r = JSON.parse(line) as BalancerRecord;
    } catch {
      return;
    }
    if (typeof r !== 'object' || r === null || typeof r.t !== 'string') return;
    switch (r.t) {
      case 'clock':
        return;
      case 'ready':
        this.ready = r;
        readyResolve();
        return;
      case 'error':
        if (!this.ready) readyReject(new Error(String(r.msg)));
        break;
      case 'ack': {
        const a = r as unknown as BalancerAck;
        const p = this.pending.get(a.seq);
        if (!p) return;
        this.pending.delete(a.seq);
        if (a.ok) p.resolve(a);
        else p.reject(new LoadscopeError('INTERNAL', `lb loader refused "${p.line}": ${a.msg ?? 'no reason'}`));
        return;
      }
      case 'end':
        this.end = r;
        break;
    }
    const mono = typeof r.ts === 'number' ? r.ts : typeof r.w === 'number' ? r.w : undefined;
    this.opts.onRecord(r, mono === undefined ? now() : this.epochMs(mono));
  }

  /** Sends one command (without its sequence number) and resolves with its ack; rejects on a refusal. */
  send(command: string): Promise<BalancerAck> {
    if (this.exitedWith) return Promise.reject(new LoadscopeError('INTERNAL', `lb loader is gone; cannot send: ${command}`));
    const seq = ++this.seq;
    return new Promise<BalancerAck>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject, line: command });
      this.child.stdin!.write(`${seq} ${command}\n`);
    });
  }

  /** Closes its stdin (the loader detaches, prints "end" and exits); SIGTERM then SIGKILL if it lingers. */
  async stop(): Promise<void> {
    if (!this.exitedWith) {
      this.child.stdin!.end();
      const term = setTimeout(() => this.child.kill('SIGTERM'), 2000);
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 4000);
      await this.exited;
      clearTimeout(term);
      clearTimeout(kill);
    }
  }
}

/** The balancer of bpf/lb, as run hands it to the local cluster. */
export const balancer: BalancerProvider = {
  unavailable: () => lbUnavailable(),
  start: (opts) => LbLoader.start(opts),
};
