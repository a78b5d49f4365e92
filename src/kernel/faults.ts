import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { now } from '../core/clock.ts';
import { LoadscopeError } from '../core/errors.ts';
import type { Link, NetFaults, Undo } from '../core/faults.ts';
import { processStartTime, type Ledger, type Resource } from '../core/ledger.ts';
import type { Sink } from '../core/types.ts';
import { LoaderClient } from './client.ts';

// Faults on the wire, for src/faults: packet loss and partitions by bpf/tcfault (an eBPF program attached
// by tcx to pod veths; one loader per fault, its links gone with it), bandwidth caps by a tbf root qdisc
// (iproute2's tc). Each is listed in the run's ledger while it is on: a dead run's sweep kills the loader
// and deletes the qdisc. docs/faults.md.

/** Default location of the built loader (make -C bpf). */
export const TCFAULT_BINARY = fileURLToPath(new URL('../../bpf/.output/tcfault/tcfault', import.meta.url));

/** Why the tcfault loader cannot run, or undefined. */
export function tcfaultUnavailable(binary = process.env.LOADSCOPE_TCFAULT_BINARY ?? TCFAULT_BINARY): string | undefined {
  try {
    accessSync(binary, constants.X_OK);
    return undefined;
  } catch {
    return `the eBPF fault program is not built (${binary} is missing; run make -C bpf or npm run setup)`;
  }
}

/** A tcfault record: clock, ready, count {w, d, v: packets seen, dropped}, error, end. */
interface TcfRecord {
  t: string;
  [k: string]: unknown;
}

function tc(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('tc', args, { timeout: 10_000 }, (err, _out, stderr) =>
      err ? reject(new LoadscopeError('ENVIRONMENT', `tc ${args.join(' ')} failed: ${String(stderr).trim() || err.message}`, { hint: 'bandwidth faults need root and iproute2 tc with sch_tbf' })) : resolve(),
    );
  });
}

/** The kernel's NetFaults. `sink` gets fault.packets samples (seen, dropped per 1 s window) tagged with `label`. */
export class KernelNetFaults implements NetFaults {
  constructor(private readonly ledger: Ledger, private readonly sink?: Sink) {}

  async drop(ifaces: string[], probability: number, peers?: string[]): Promise<Undo> {
    const binary = process.env.LOADSCOPE_TCFAULT_BINARY ?? TCFAULT_BINARY;
    const why = tcfaultUnavailable(binary);
    if (why) throw new LoadscopeError('ENVIRONMENT', why, { hint: 'make -C bpf builds it (clang, bpftool, libbpf-dev)' });
    const argv = [binary, ...ifaces.flatMap((i) => ['--dev', i]), ...(peers?.length ? peers.flatMap((p) => ['--peer', p]) : ['--probability', String(probability)])];
    const sink = this.sink;
    const client: LoaderClient<TcfRecord> = new LoaderClient<TcfRecord>({
      argv,
      env: process.env,
      commands: true,
      parse: (line) => {
        try {
          const r = JSON.parse(line) as TcfRecord;
          return typeof r?.t === 'string' ? r : undefined;
        } catch {
          return undefined;
        }
      },
      onRecord: (r) => {
        if (r.t !== 'count' || !sink) return;
        const time = typeof r.w === 'number' ? client.time(r.w) : now();
        const tags = { iface: ifaces.length === 1 ? ifaces[0] : `${ifaces[0]}+${ifaces.length - 1}` };
        sink.sample({ metric: 'fault.packets', time, value: Number(r.v), tags, meta: { dropped: Number(r.dropped), windowMs: Number(r.d) / 1e6 } });
      },
    });
    const o = await client.ready(10_000);
    if (!o.ok) {
      client.child.kill('SIGKILL');
      await client.closed;
      throw new LoadscopeError('ENVIRONMENT', `the eBPF fault program did not attach: ${o.reason}`, { hint: 'it needs root and a kernel with tcx (6.6 or later)' });
    }
    const entry: Resource = { kind: 'process', pid: client.pid, startTime: processStartTime(client.pid) ?? '' };
    this.ledger.add(entry);
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      await client.stop(2000, 4000);
      this.ledger.remove((r) => r.kind === 'process' && r.pid === client.pid);
    };
  }

  async bandwidth(links: Link[], bitsPerSecond: number): Promise<Undo> {
    // a bucket of 20 ms at the rate (at least a few full frames), queueing at most 100 ms beyond it
    const burst = Math.max(4500, Math.ceil(bitsPerSecond / 8 / 50));
    const set: Link[] = [];
    const ns = (l: Link) => (l.netns ? ['-n', l.netns] : []);
    const undo: Undo = async () => {
      for (const l of set.splice(0)) {
        if (l.netns ? existsSync(`/run/netns/${l.netns}`) : existsSync(`/sys/class/net/${l.dev}`)) await tc([...ns(l), 'qdisc', 'del', 'dev', l.dev, 'root']).catch(() => undefined);
        this.ledger.remove((r) => r.kind === 'qdisc' && r.dev === l.dev && r.netns === l.netns);
      }
    };
    try {
      for (const l of links) {
        this.ledger.add({ kind: 'qdisc', dev: l.dev, ...(l.netns ? { netns: l.netns } : {}) });
        set.push(l);
        await tc([...ns(l), 'qdisc', 'replace', 'dev', l.dev, 'root', 'tbf', 'rate', `${bitsPerSecond}bit`, 'burst', String(burst), 'latency', '100ms']);
      }
    } catch (err) {
      await undo();
      throw err;
    }
    return undo;
  }
}
