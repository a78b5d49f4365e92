import { execFile } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { now } from '../core/clock.ts';
import { LoadscopeError } from '../core/errors.ts';
import type { Sink } from '../core/types.ts';
import { LoaderClient } from './client.ts';
import { ProbeRecordMapper } from './mapper.ts';
import { ProbeLineParser } from './ndjson.ts';
import type { EndRecord, LoaderReport, ProbeFidelity, ProbeFilter, ProbeHandle, ProbeMode, ProbeName, ProbeOptions, ProbeRecord, ProbeSetting, ProbeStatus, ProbeStopReport } from './types.ts';

export type * from './types.ts';
export { ProbeLineParser, LineSplitter } from './ndjson.ts';
export { monoToEpochMs, ProbeRecordMapper } from './mapper.ts';

const execFileP = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ALL_PROBES: readonly ProbeName[] = ['pktlat', 'fibroute', 'tcpwatch'];

/** Where the built loaders are looked up: $LOADSCOPE_BPF_DIR, else <repo>/bpf/.output. */
export function defaultLoaderDir(): string {
  return process.env.LOADSCOPE_BPF_DIR ? resolve(process.env.LOADSCOPE_BPF_DIR) : join(ROOT, 'bpf', '.output');
}

/**
 * The filter urlTargetFilter gives a target on 127.0.0.1 (besides its port): the loopback interface
 * and 127.0.0.0/8. The bench measures the probes' cost with this filter.
 */
export const URL_TARGET_FILTER: Readonly<{ ifaces: readonly string[]; cidrs: readonly string[] }> = { ifaces: ['lo'], cidrs: ['127.0.0.0/8'] };

/**
 * The probe filter for a URL target loadscope did not start: its port, every address its host
 * resolves to (as /32 or /128), and the interface `ip route get` picks to reach each one. A target
 * the routes cannot reach keeps its addresses and port, without interfaces.
 */
export async function urlTargetFilter(url: string): Promise<Required<ProbeFilter>> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  const addrs = isIP(host) ? [host] : [...new Set((await lookup(host, { all: true }).catch(() => [])).map((a) => a.address))];
  const ifaces: string[] = [];
  for (const a of addrs) {
    try {
      const { stdout } = await execFileP('ip', ['-j', 'route', 'get', a], { timeout: 5000 });
      const dev = (JSON.parse(stdout) as { dev?: string }[])[0]?.dev;
      if (dev) ifaces.push(dev);
    } catch {
      // no route: the address and port still filter
    }
  }
  return probeTrafficFilterForPorts([port], { ifaces, cidrs: addrs.map((a) => `${a}/${isIP(a) === 6 ? 128 : 32}`) }) as Required<ProbeFilter>;
}

/** A probe filter for the run's own ports, optionally narrowed to interfaces and address ranges. */
export function probeTrafficFilterForPorts(ports: number[], extra: { ifaces?: string[]; cidrs?: string[] } = {}): ProbeFilter {
  const uniq = <T>(xs: T[] | undefined): T[] => [...new Set(xs ?? [])];
  return { ports: uniq(ports).sort((a, b) => a - b), ifaces: uniq(extra.ifaces), cidrs: uniq(extra.cidrs) };
}

/** Problems with a filter, one message each (empty when it is usable). */
export function filterProblems(f: ProbeFilter): string[] {
  const out: string[] = [];
  for (const p of f.ports ?? []) if (!Number.isInteger(p) || p < 1 || p > 65535) out.push(`port ${p} is not 1..65535`);
  for (const i of f.ifaces ?? []) if (!/^[^\s/:*]{1,15}$|^[^\s/:*]{1,14}\*$/.test(i)) out.push(`interface name "${i}" is not a Linux interface name (or a prefix of one, ending in *)`);
  for (const c of f.cidrs ?? []) {
    const [addr, len, more] = c.split('/');
    const fam = isIP(addr ?? '');
    const max = fam === 6 ? 128 : 32;
    const n = len === undefined ? max : Number(len);
    if (!fam || more !== undefined || !Number.isInteger(n) || n < 0 || n > max) out.push(`"${c}" is not an address or CIDR`);
  }
  if ((f.ifaces ?? []).filter((i) => i.endsWith('*')).length > 8) out.push('more than 8 interface name prefixes (NAME*)');
  if (!f.ports?.length && !f.ifaces?.length && !f.cidrs?.length)
    out.push('empty filter: give ports, interfaces or address ranges (the probes never trace the whole machine)');
  return out;
}

/** Why this machine cannot run the probes, or undefined when it can (the loaders still may refuse). */
export function environmentProblem(loaderDir: string, names: readonly string[]): { reason: string; hint: string } | undefined {
  if (process.platform !== 'linux') return { reason: `eBPF probes need Linux (this is ${process.platform})`, hint: 'run on Linux or set probes: off' };
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0 && !hasBpfCaps())
    return {
      reason: `not root (uid ${uid}) and no CAP_BPF+CAP_PERFMON: loading eBPF programs is not allowed`,
      hint: 'run loadscope as root (or grant CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN), or set probes: off',
    };
  if (!existsSync('/sys/kernel/btf/vmlinux'))
    return { reason: 'kernel has no BTF (/sys/kernel/btf/vmlinux missing): CO-RE probes cannot load', hint: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y' };
  for (const n of names) {
    const path = join(loaderDir, n);
    try {
      accessSync(path, constants.X_OK);
    } catch {
      return {
        reason: `probe loaders not built: ${path} is missing`,
        hint: 'run `make -C bpf` (needs clang, llvm, libbpf-dev, bpftool, libelf-dev, zlib1g-dev) or point LOADSCOPE_BPF_DIR at a build',
      };
    }
  }
  return undefined;
}

function hasBpfCaps(): boolean {
  try {
    const m = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (!m) return false;
    const caps = BigInt(`0x${m[1]}`);
    const has = (bit: number) => ((caps >> BigInt(bit)) & 1n) === 1n;
    return has(21) /* SYS_ADMIN */ || (has(39) /* BPF */ && has(38) /* PERFMON */);
  } catch {
    return false;
  }
}

/** The mode of a probes setting. */
export function modeOf(s: ProbeSetting): ProbeMode {
  return typeof s === 'string' ? s : s.mode;
}

/**
 * 1/N of every window with the kernel's run-time statistics on: they cost two clock reads around every
 * program run (~40% of what the probes cost at saturation on loopback: bench/HISTORY.md 2026-12-07),
 * so at sampled fidelity they are on for a tenth of every window and the cost is scaled up from those
 * spells; at full fidelity, whose cost is measured exactly, for the whole run.
 */
export const SAMPLED_STATS_EVERY = 10;

export function statsEveryOf(o: Pick<ProbeOptions, 'mode' | 'fidelity' | 'statsEvery'>): number {
  return o.statsEvery ?? (fidelityOf(o) === 'sampled' ? SAMPLED_STATS_EVERY : 1);
}

/** The fidelity the loaders run at: the option, else the setting's, else sampled. */
export function fidelityOf(o: Pick<ProbeOptions, 'mode' | 'fidelity'>): ProbeFidelity {
  return o.fidelity ?? (typeof o.mode === 'string' ? 'sampled' : o.mode.fidelity);
}

/**
 * The loaders' --align-ms for a window grid from `origin` (the run's start, a float on now()): the first
 * µs not before it. A loader's window starts come back on the µs it was given (kernel/mapper.ts rounds
 * to the µs), so a grid rounded down to the nearest µs put window k's start a fraction of a µs before
 * origin + k·1000: in window k − 1 of the run, window 0 before the run (4 runs in 10).
 */
export function alignArg(origin: number): string {
  let arg = origin.toFixed(3);
  while (Number(arg) < origin) arg = (Number(arg) + 0.001).toFixed(3);
  return arg;
}

function loaderArgs(name: ProbeName, f: ProbeFilter, o: ProbeOptions, origin: number): string[] | undefined {
  const args: string[] = ['--window-ms', String(o.windowMs ?? 1000), '--align-ms', alignArg(origin)];
  // sockets have no interface: tcpwatch filters on ports and addresses only
  if (name !== 'tcpwatch') for (const i of f.ifaces ?? []) args.push('--iface', i);
  for (const p of f.ports ?? []) args.push('--port', String(p));
  for (const c of f.cidrs ?? []) args.push('--cidr', c);
  if (name === 'fibroute') args.push('--sample', String(o.sampleEvery ?? 64));
  if (name === 'pktlat' || name === 'tcpwatch') args.push('--fidelity', fidelityOf(o));
  args.push('--stats-every', String(statsEveryOf(o)));
  if (name === 'pktlat' && fidelityOf(o) === 'sampled') {
    if (o.every !== undefined) args.push('--every', String(o.every));
    if (o.budgetUs !== undefined) args.push('--budget-us', String(o.budgetUs));
  }
  if (name === 'tcpwatch' && !f.ports?.length && !f.cidrs?.length) return undefined;
  return args;
}

/** One probe loader: the loader client, its records mapped onto the sink, its lost events and end record kept for the report. */
class ProbeLoader {
  readonly client: LoaderClient<ProbeRecord>;
  private end?: EndRecord;
  private lostSeen = 0;

  constructor(readonly name: string, path: string, args: string[], sink: Sink, onUnexpectedExit: (name: string, why: string) => void) {
    const mapper = new ProbeRecordMapper(sink, name);
    const parser = new ProbeLineParser();
    this.client = new LoaderClient<ProbeRecord>({
      argv: [path, ...args],
      parse: (line) => parser.parse(line),
      onRecord: (r) => {
        if (r.t === 'end') this.end = r;
        else if (r.t === 'lost') this.lostSeen += r.n;
        mapper.handle(r);
      },
      onClose: () => {
        if (!this.end && !this.client.stopping) onUnexpectedExit(name, this.client.errorMsg ?? `exited (${this.client.exitText()})`);
      },
    });
  }

  /** SIGTERM, then SIGKILL after 5 s; resolves with the loader's report once it has exited. */
  async stop(): Promise<LoaderReport> {
    await this.client.stop(0, 5000);
    const e = this.end;
    const c = this.client;
    return {
      exitCode: c.exit?.code ?? null,
      signal: c.exit?.signal ?? null,
      lostEvents: e ? Math.max(this.lostSeen, e.lost.ringbuf + e.lost.map_full) : this.lostSeen,
      cpuSeconds: e?.cpu_s ?? 0,
      linesParsed: c.lines - c.malformed,
      malformedLines: c.malformed,
      ...(e?.stale !== undefined ? { stale: e.stale } : {}),
      ...(e?.overwritten !== undefined ? { overwritten: e.overwritten } : {}),
      ...(e?.win_late_us !== undefined ? { windowLateUs: e.win_late_us } : {}),
      ...(e?.progs ? { progs: e.progs } : {}),
      ...(e?.bpf_stats !== undefined ? { bpfStats: e.bpf_stats } : {}),
      ...(e?.stats_on_s !== undefined ? { statsOnSeconds: e.stats_on_s } : {}),
      ...(e?.stats_every !== undefined ? { statsEvery: e.stats_every } : {}),
      ...(e?.wall_s !== undefined ? { wallS: e.wall_s } : {}),
      ...(e?.cpu_run_s !== undefined ? { cpuRunSeconds: e.cpu_run_s } : {}),
      ...(e?.ncpu !== undefined ? { ncpu: e.ncpu } : {}),
      ...(e?.fidelity !== undefined ? { fidelity: e.fidelity } : {}),
      ...(e ? {} : { incomplete: true }),
    };
  }
}

function disabled(reason: string, opts: ProbeOptions, hint: string): ProbeHandle {
  if (modeOf(opts.mode) === 'required') throw new LoadscopeError('ENVIRONMENT', `probes are required but cannot run: ${reason}`, { hint });
  opts.onStatus?.(`probes off: ${reason}`);
  return { status: { enabled: false, reason, probes: [] }, stop: async () => emptyReport() };
}

function emptyReport(): ProbeStopReport {
  return { lostEvents: 0, cpuSeconds: 0, linesParsed: 0, malformedLines: 0, loaders: {} };
}

/**
 * Starts the probe loaders for the run's traffic and feeds their records into opts.sink (metrics
 * `probe.*`, events `probe.*`, times on the run's epoch-ms base). Resolves once every loader has
 * attached or refused. Without what it needs it resolves disabled with the reason, or throws
 * LoadscopeError('ENVIRONMENT') when opts.mode is 'required'.
 */
export async function startProbes(opts: ProbeOptions): Promise<ProbeHandle> {
  const mode = modeOf(opts.mode);
  if (mode === 'off') return { status: { enabled: false, reason: 'probes: off in the scenario', probes: [] }, stop: async () => emptyReport() };
  const names = opts.probes ?? [...ALL_PROBES];
  const problems = filterProblems(opts.filter);
  if (problems.length) throw new LoadscopeError('USAGE', `bad probe filter: ${problems.join('; ')}`, { hint: 'pass the run\'s ports, interfaces or address ranges' });
  const dir = opts.loaderDir ?? defaultLoaderDir();
  const env = environmentProblem(dir, names);
  if (env) return disabled(env.reason, opts, env.hint);
  if (opts.signal?.aborted) return disabled('the run was aborted before the probes started', opts, 'start the run again');

  const origin = opts.windowOriginMs ?? now();
  const failures: string[] = [];
  const started: ProbeLoader[] = [];
  /** Loaders that attached: only their exit is news (one that never attached is a start failure). */
  const attached = new Set<string>();
  let stopping = false;
  for (const name of names) {
    const args = loaderArgs(name, opts.filter, opts, origin);
    if (!args) {
      failures.push(`${name}: needs ports or address ranges in the filter`);
      continue;
    }
    started.push(
      new ProbeLoader(name, join(dir, name), args, opts.sink, (n, why) => {
        if (stopping || !attached.has(n)) return;
        // a loader that dies mid-run: the run goes on without it, and the journal says which and when
        const t = now();
        const message = `probe ${n} stopped ${((t - origin) / 1000).toFixed(1)} s into the run (${why}): the run went on without it; its windows up to then are kept, the unfinished last one is lost`;
        opts.onStatus?.(message);
        opts.sink.event({ kind: 'probes.notice', time: t, source: 'probes', attrs: { probe: n, reason: why, message } });
      }),
    );
  }
  const outcomes = await Promise.all(started.map((l) => l.client.ready(opts.readyTimeoutMs ?? 15_000)));
  const running: ProbeLoader[] = [];
  outcomes.forEach((o, i) => {
    const l = started[i];
    if (o.ok) {
      running.push(l);
      attached.add(l.name);
      opts.onStatus?.(`probe ${l.name} attached (${o.record.progs.join(', ')})`);
    } else failures.push(`${l.name}: ${o.reason}`);
  });

  let stopped: Promise<ProbeStopReport> | undefined;
  const stop = (): Promise<ProbeStopReport> => {
    stopping = true;
    stopped ??= (async () => {
      const reports = await Promise.all(started.map(async (l) => [l.name, await l.stop()] as const));
      const out = emptyReport();
      for (const [name, r] of reports) {
        out.loaders[name] = r;
        out.lostEvents += r.lostEvents;
        out.cpuSeconds += r.cpuSeconds;
        out.linesParsed += r.linesParsed;
        out.malformedLines += r.malformedLines;
      }
      out.cpuSeconds = Math.round(out.cpuSeconds * 1000) / 1000;
      return out;
    })();
    return stopped;
  };

  if (failures.length && (mode === 'required' || running.length === 0)) {
    await stop();
    const reason = failures.join('; ');
    return disabled(reason, opts, hintFor(reason));
  }
  opts.signal?.addEventListener('abort', () => void stop(), { once: true });
  const status: ProbeStatus = { enabled: true, probes: running.map((l) => l.name), fidelity: fidelityOf(opts), ...(failures.length ? { reason: `partly: ${failures.join('; ')}` } : {}) };
  return { status, stop };
}

function hintFor(reason: string): string {
  if (/Operation not permitted|Permission denied/.test(reason)) return 'run as root with BPF allowed (not in a locked-down container), or set probes: off';
  if (/did not attach/.test(reason)) return 'the machine may be overloaded; check `bpftool prog` and retry, or set probes: off';
  return 'run the loader by hand (bpf/.output/<probe> --help) to see why, or set probes: off';
}
