import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { JOIN_CGROUPS, type Balancer, type BalancerAck, type BalancerOptions, type BalancerProvider, type BalancerRecord } from '../core/balancer.ts';
import { now } from '../core/clock.ts';
import { LoadscopeError } from '../core/errors.ts';
import { LoaderClient } from './client.ts';

// Client of bpf/lb (the eBPF socket load balancer's loader), on the loader client every loader of
// bpf/ shares: sends routing-table commands on its stdin and waits for their acks, hands every other
// NDJSON record to the caller with kernel time mapped to the run's time base through the loader's
// clock record. The protocol is in docs/cluster.md.

/** Default location of the built loader (make -C bpf). */
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
    return `the eBPF load balancer is not built (${binary} is missing; run make -C bpf or npm run setup)`;
  }
}

/** The running loader. Commands are serialized by the loader itself; acks come back in order. */
export class LbLoader implements Balancer {
  private readonly client: LoaderClient<BalancerRecord>;
  private seq = 0;
  private pending = new Map<number, { resolve: (a: BalancerAck) => void; reject: (e: Error) => void; line: string }>();
  /** The loader's last record ("end"): totals for its life. */
  end?: BalancerRecord;
  /** The loader's ready record: program names and link ids. */
  ready?: BalancerRecord;

  private constructor(argv: string[], env: NodeJS.ProcessEnv, private readonly opts: BalancerOptions) {
    this.client = new LoaderClient<BalancerRecord>({
      argv,
      env,
      commands: true,
      parse: parseRecord,
      onRecord: (r) => this.onRecord(r),
      onClose: (code, signal) => {
        for (const p of this.pending.values()) p.reject(new LoadscopeError('INTERNAL', `lb loader exited (${signal ?? `code ${code}`}) before it acknowledged: ${p.line}`));
        this.pending.clear();
        opts.onExit?.(code, signal);
      },
    });
  }

  get pid(): number {
    return this.client.pid;
  }

  /** Maps a CLOCK_MONOTONIC ns timestamp of the loader to the run's epoch-ms time base (its clock record). */
  epochMs(monoNs: number): number {
    return this.client.time(monoNs);
  }

  /** Starts the loader and resolves once its programs are attached (the "ready" record). */
  static async start(opts: BalancerOptions): Promise<LbLoader> {
    const binary = lbBinary();
    const why = lbUnavailable(binary);
    if (why) throw new LoadscopeError('ENVIRONMENT', why, { hint: 'make -C bpf builds it (clang, bpftool, libbpf-dev)' });
    const args = [binary, '--host-pid', String(process.pid), '--cgroup', opts.cgroupRoot, '--sample-every', String(opts.sampleEvery ?? 1)];
    const argv = opts.procsFiles?.length ? ['sh', '-c', JOIN_CGROUPS, 'lb', ...args] : args;
    const lb = new LbLoader(argv, { ...process.env, LS_CGROUP_PROCS: (opts.procsFiles ?? []).join(' ') }, opts);
    const o = await lb.client.ready(opts.readyTimeoutMs ?? 15_000);
    if (!o.ok) {
      lb.client.child.kill('SIGKILL');
      await lb.client.closed;
      const stderr = lb.client.stderr(8);
      throw new LoadscopeError('ENVIRONMENT', `the eBPF load balancer did not start: ${o.reason}${stderr.length ? `\n  ${stderr.join('\n  ')}` : ''}`, {
        hint: 'it needs root, a kernel with BTF and cgroup sock_addr hooks, and a cgroup v2 hierarchy',
      });
    }
    return lb;
  }

  private onRecord(r: BalancerRecord): void {
    switch (r.t) {
      case 'clock':
        return;
      case 'ready':
        this.ready = r;
        return;
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
    if (this.client.exit) return Promise.reject(new LoadscopeError('INTERNAL', `lb loader is gone; cannot send: ${command}`));
    const seq = ++this.seq;
    return new Promise<BalancerAck>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject, line: command });
      this.client.write(`${seq} ${command}`);
    });
  }

  /** Closes its stdin (the loader detaches, prints "end" and exits); SIGTERM then SIGKILL if it lingers. */
  stop(): Promise<void> {
    return this.client.stop(2000, 4000);
  }
}

/** A loader line as a record: any JSON object with a string `t`. */
function parseRecord(line: string): BalancerRecord | undefined {
  try {
    const r = JSON.parse(line) as BalancerRecord;
    return typeof r === 'object' && r !== null && typeof r.t === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/** The balancer of bpf/lb, as run hands it to the local cluster. */
export const balancer: BalancerProvider = {
  unavailable: () => lbUnavailable(),
  start: (opts) => LbLoader.start(opts),
};
