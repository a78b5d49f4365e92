import { createHistogram, decodeSparse, record, summarize, type HistogramSummary, type SparseHist } from '../core/histogram.ts';
import { HistAcc, percentiles, summarizeSparse } from './hist.ts';
import type { RawLine } from '../journal/journal.ts';
import type { JournalRecord, RunEvent, Sample } from '../core/types.ts';

/** Percentiles of a probe histogram, in the unit named by `unit`. */
export type ProbeLatency = HistogramSummary & { unit: 'ns' | 'us' | 'ms' };

/**
 * The sampling error of a sampled latency's p50 and p99: distribution-free 95% intervals from the
 * binomial law of order statistics, [Q(p - 1.96·√(p(1-p)/n)), Q(p + 1.96·√(p(1-p)/n))] on the
 * weighted histogram, with n its effective sample size (Kish: (Σ N·t)² / Σ N²·t over windows timing
 * t pairs at 1 in N). The histogram's own bucket error (≤ 6.25%) comes on top.
 */
export interface SamplingError {
  confidence: 0.95;
  effectiveN: number;
  /** null as the upper end: the sample is too small to bound the quantile from above (p + half-width ≥ 1). */
  p50: [number, number | null];
  p99: [number, number | null];
}

/** Which 1 in N pktlat timed: consecutive windows of one N, from `startMs` to `endMs` (epoch ms). */
export interface SamplingRun {
  startMs: number;
  endMs: number;
  every: number;
  windows: number;
  timed: number;
  packets: number;
}

/**
 * The probes' own cost over the run: the loaders' CPU (user + system, getrusage) and the run time
 * of their BPF programs (the kernel's run-time statistics, which each loader turns on while it runs).
 * `share` is of the whole machine (all CPUs) over the loaders' life.
 */
export interface ProbeCost {
  /** bpfSeconds + dispatchSeconds + loaderSeconds. */
  cpuSeconds: number;
  bpfSeconds: number;
  /**
   * Estimated, not measured: the kernel's run time covers a program's own instructions only, not the
   * tracepoint's call into it (about DISPATCH_NS a run, bench/HISTORY.md: empty programs on the same hooks).
   */
  dispatchSeconds: number;
  loaderSeconds: number;
  /** Of loaderSeconds, what the loaders spent before attaching (loading and verifying the programs). */
  loaderStartSeconds: number;
  /** Program runs (every hook hit, also the ones the filter turns away) and mean ns per run. */
  events: number;
  nsPerEvent: number;
  share: number;
  wallS: number;
  cpus: number;
  /** false: some loader could not turn run-time statistics on; bpfSeconds then misses its programs. */
  bpfStats: boolean;
  /**
   * The run-time statistics were on for 1/`statsEvery` of every window (1: the whole run) and for `statsShare`
   * of the loaders' time since attach (the least of any loader): the programs' runs and run time are
   * what was counted then, scaled by the loader's time over its statistics' time.
   */
  statsEvery: number;
  statsShare: number;
  programs: { probe: string; program: string; runs: number; seconds: number; nsPerRun: number }[];
}

/**
 * results.json "probes" (besides the status the run adds): what the eBPF probes saw of the run's
 * own traffic. Every list is sorted by its count, largest first. Empty when no probe ran.
 */
export interface ProbesSummary {
  /** Packets and bytes per interface and direction (tx: queued to the device, rx: received from it). */
  packets: { iface: string; dir: string; packets: number; bytes: number }[];
  /** Latency from net_dev_queue on `iface` to netif_receive_skb on `peer` (dir: to/from the run's ports, or any). */
  packetLatency: ({ iface: string; peer: string; dir: string } & ProbeLatency & { timed: number; error?: SamplingError })[];
  /**
   * How packet latency was sampled: `fidelity`, and per run of windows the 1 in N timed, the pairs
   * timed and the packets queued. At `sampled` a latency entry's count is the packets it stands for
   * (each window's pairs × its N), `timed` the pairs measured, and `error` their sampling error.
   */
  sampling: { fidelity: string; timed: number; packets: number; everyMin: number; everyMax: number; windows: SamplingRun[] };
  cost?: ProbeCost;
  /** IPv4 routing decisions (fib_table_lookup), one entry per distinct decision. */
  routes: { table: number; src: string; dst: string; gw: string; oif: string; err: number; proto: number; lookups: number }[];
  /** Smoothed RTT (tcp_probe) per remote address, service port and side. */
  rtt: ({ peer: string; port: number; side: string } & ProbeLatency)[];
  retransmits: { segments: number; synack: number; failed: number; byDestination: { peer: string; port: number; side: string; segments: number; synack: number }[] };
  connections: { opened: number; closed: number; failed: number; openAtEnd: number; durationMs?: HistogramSummary; connectMs?: HistogramSummary };
  drops: { total: number; byReason: { reason: string; iface: string; count: number }[] };
  lostEvents: { total: number; byProbe: Record<string, number> };
  /** Per loader; pktlat adds the pairs it gave up (stale at receive, or overwritten before it) and how late its window timer fired (µs). */
  loaders: { probe: string; cpuSeconds: number; lines: number; lost: number; stale?: number; overwritten?: number; windowLateUs?: number }[];
}

const byCount = <T>(key: (x: T) => number) => (a: T, b: T) => key(b) - key(a);

const round3 = (x: number) => Math.round(x * 1000) / 1000;

function rounded(s: HistogramSummary): HistogramSummary {
  return { ...s, mean: round3(s.mean) };
}

function tagsKey(s: Sample, names: string[]): string {
  return names.map((n) => s.tags[n] ?? '').join('\u0000');
}

/** Per-key accumulation that remembers the first record of each key (its tags name the entry). */
class Keyed<V> {
  readonly map = new Map<string, { first: Sample; v: V }>();
  constructor(private readonly init: () => V) {}
  at(key: string, s: Sample): V {
    let e = this.map.get(key);
    if (!e) this.map.set(key, (e = { first: s, v: this.init() }));
    return e.v;
  }
}

/** A probe histogram accumulated over samples: merged counts plus the kernel's exact sum. */
interface LatAcc {
  acc: HistAcc;
  sum: number;
}
const latAcc = (): LatAcc => ({ acc: new HistAcc(), sum: 0 });

function addLat(l: LatAcc, s: Sample, hist: SparseHist | undefined): void {
  if (s.hist) l.acc.add(hist ?? decodeSparse(s.hist));
  l.sum += Number((s.meta as { sum?: number } | undefined)?.sum ?? 0);
}

function latSummary(l: LatAcc, unit: ProbeLatency['unit']): ProbeLatency {
  const s = summarizeSparse(l.acc.sparse());
  // the kernel's exact sum gives an exact mean; percentiles carry the histogram's bucket error
  return { ...s, mean: s.count ? round3(l.sum / s.count) : 0, unit };
}

/** A sampled packet-latency accumulation: each window's histogram weighted by its N. */
interface SampledLat {
  acc: HistAcc;
  sum: number;
  timed: number;
  /** Σ N·t and Σ N²·t over windows (t pairs timed at 1 in N), for the effective sample size. */
  w1: number;
  w2: number;
}
const sampledLat = (): SampledLat => ({ acc: new HistAcc(), sum: 0, timed: 0, w1: 0, w2: 0 });

function scaled(h: SparseHist, by: number): SparseHist {
  return by === 1 ? h : { ...h, cnt: h.cnt.map((c) => c * by), total: h.total * by };
}

function addSampled(l: SampledLat, h: SparseHist, sum: number, every: number): void {
  l.acc.add(scaled(h, every));
  l.sum += sum * every;
  l.timed += h.total;
  l.w1 += every * h.total;
  l.w2 += every * every * h.total;
}

/** Distribution-free 95% intervals of p50 and p99 (SamplingError). */
export function samplingError(h: SparseHist, effectiveN: number): SamplingError {
  const at = (q: number) => percentiles(h, [Math.min(100, Math.max(1e-9, q * 100))])[0];
  const ci = (p: number): [number, number | null] => {
    const half = 1.96 * Math.sqrt((p * (1 - p)) / Math.max(1, effectiveN));
    return [at(p - half), p + half >= 1 ? null : at(p + half)];
  };
  return { confidence: 0.95, effectiveN: Math.round(effectiveN), p50: ci(0.5), p99: ci(0.99) };
}

/** pkt_latency_ns histograms of one window, held until the window's sampling record says its N. */
interface PendingLat {
  key: string;
  first: Sample;
  hist: SparseHist;
  sum: number;
}
/** Windows held at most; an older one is taken at the last N seen (its record never came). */
const MAX_PENDING = 32;

const DEST = ['peer', 'port', 'side'];

/**
 * Summarizes the probe samples and events of a journal as they stream past (add), in memory that
 * grows with the distinct keys, not the records. `finish` does not change the state: a live view
 * may call it every second.
 */
export class ProbeAccumulator {
  private readonly counts = new Keyed(() => ({ n: 0 }));
  private readonly bytes = new Keyed(() => ({ n: 0 }));
  private readonly latency = new Keyed(sampledLat);
  private readonly pending = new Map<number, PendingLat[]>();
  private readonly windows: SamplingRun[] = [];
  private lastEvery = 1;
  private fidelity: string | undefined;
  private readonly routes = new Keyed(() => ({ n: 0 }));
  private readonly rtt = new Keyed(latAcc);
  private readonly segs = new Keyed(() => ({ n: 0 }));
  private readonly synack = new Keyed(() => ({ n: 0 }));
  private readonly drops = new Keyed(() => ({ n: 0 }));
  private readonly totals = new Map<string, number>();
  private readonly dur = createHistogram();
  private readonly conn = createHistogram();
  private openConns = 0;
  private readonly lost: Record<string, number> = {};
  private readonly ends: RunEvent[] = [];

  /** Takes one record; records that are not the probes' own are ignored. */
  /** `hist`: the record's histogram already decoded (so a record's is decoded once for every consumer). */
  add(r: JournalRecord, hist?: SparseHist): void {
    if (r.type === 'sample') {
      if (r.metric.startsWith('probe.')) this.sample(r, hist);
    } else if (r.type === 'event' && r.kind.startsWith('probe.')) this.event(r);
  }

  /** A probe.conn event's fields, from a fast path that did not build the event. */
  addConn(state: string, durationMs: number | undefined, connectMs: number | undefined): void {
    if (state === 'open') this.openConns++;
    else if (durationMs !== undefined) record(this.dur, durationMs * 1000);
    if (connectMs !== undefined) record(this.conn, connectMs * 1000);
  }

  private sample(s: Sample, hist: SparseHist | undefined): void {
    this.totals.set(s.metric, (this.totals.get(s.metric) ?? 0) + s.value);
    switch (s.metric) {
      case 'probe.pkt_count':
        this.counts.at(tagsKey(s, ['iface', 'dir']), s).n += s.value;
        break;
      case 'probe.pkt_bytes':
        this.bytes.at(tagsKey(s, ['iface', 'dir']), s).n += s.value;
        break;
      case 'probe.pkt_latency_ns': {
        const list = this.pending.get(s.time) ?? [];
        if (!list.length) this.pending.set(s.time, list);
        if (s.hist) list.push({ key: tagsKey(s, ['iface', 'peer', 'dir']), first: s, hist: hist ?? decodeSparse(s.hist), sum: Number((s.meta as { sum?: number } | undefined)?.sum ?? 0) });
        if (this.pending.size > MAX_PENDING) {
          const oldest = Math.min(...this.pending.keys());
          this.settle(oldest, this.lastEvery);
        }
        break;
      }
      case 'probe.pkt_timed': {
        const m = (s.meta ?? {}) as { every?: number; packets?: number; windowMs?: number };
        const every = Number(m.every ?? 1);
        this.lastEvery = every;
        this.settle(s.time, every);
        const last = this.windows.at(-1);
        const d = Number(m.windowMs ?? 1000);
        if (last && last.every === every && Math.abs(last.endMs - s.time) < 1) {
          last.endMs = s.time + d;
          last.windows += 1;
          last.timed += s.value;
          last.packets += Number(m.packets ?? 0);
        } else this.windows.push({ startMs: s.time, endMs: s.time + d, every, windows: 1, timed: s.value, packets: Number(m.packets ?? 0) });
        break;
      }
      case 'probe.route_lookups':
        this.routes.at(JSON.stringify([s.tags.table, s.tags.oif, s.tags.err, s.meta?.src, s.meta?.dst, s.meta?.gw, s.meta?.proto]), s).n += s.value;
        break;
      case 'probe.tcp_srtt_us':
        addLat(this.rtt.at(tagsKey(s, DEST), s), s, hist);
        break;
      case 'probe.tcp_retrans_segs':
        this.segs.at(tagsKey(s, DEST), s).n += s.value;
        break;
      case 'probe.tcp_synack_retrans':
        this.synack.at(tagsKey(s, DEST), s).n += s.value;
        break;
      case 'probe.drops':
        this.drops.at(tagsKey(s, ['reason', 'iface']), s).n += s.value;
        break;
    }
  }

  /** Folds the held histograms of the window at `time` in, at 1 in `every`. */
  private settle(time: number, every: number): void {
    for (const p of this.pending.get(time) ?? []) addSampled(this.latency.at(p.key, p.first), p.hist, p.sum, every);
    this.pending.delete(time);
  }

  private event(e: RunEvent): void {
    const a = e.attrs;
    switch (e.kind) {
      case 'probe.conn': {
        // a record without a duration (or a garbled one) counts as a connection, not as a duration of NaN
        const d = Number(a.durationMs);
        this.addConn(String(a.state), Number.isFinite(d) ? d : undefined, typeof a.connectMs === 'number' && Number.isFinite(a.connectMs) ? a.connectMs : undefined);
        break;
      }
      case 'probe.lost':
        this.lost[String(a.probe)] = (this.lost[String(a.probe)] ?? 0) + Number(a.n);
        break;
      case 'probe.end':
        this.ends.push(e);
        if (e.attrs.probe === 'pktlat' && typeof e.attrs.fidelity === 'string') this.fidelity = e.attrs.fidelity;
        break;
    }
  }

  finish(): ProbesSummary {
    const total = (m: string) => this.totals.get(m) ?? 0;
    const packets = [...this.counts.map].map(([k, { first, v }]) => ({ iface: first.tags.iface, dir: first.tags.dir, packets: v.n, bytes: this.bytes.map.get(k)?.v.n ?? 0 }));
    const fidelity = this.fidelity ?? (this.windows.some((w) => w.every > 1) ? 'sampled' : this.windows.length ? 'full' : 'unknown');
    // histograms whose window record has not come (yet): at the last N seen, without changing the state
    const lat = new Map([...this.latency.map].map(([k, e]) => [k, { first: e.first, v: { ...e.v, acc: new HistAcc() } }]));
    for (const [k, e] of this.latency.map) lat.get(k)!.v.acc.add(e.v.acc.sparse());
    for (const list of this.pending.values())
      for (const p of list) {
        if (!lat.has(p.key)) lat.set(p.key, { first: p.first, v: sampledLat() });
        addSampled(lat.get(p.key)!.v, p.hist, p.sum, this.lastEvery);
      }
    const packetLatency = [...lat.values()].map(({ first, v }) => {
      const h = v.acc.sparse();
      const sum = summarizeSparse(h);
      const sampled = v.w2 > v.w1; // some window timed fewer than every packet
      return {
        iface: first.tags.iface,
        peer: first.tags.peer,
        dir: first.tags.dir,
        ...sum,
        mean: sum.count ? round3(v.sum / sum.count) : 0,
        unit: 'ns' as const,
        timed: v.timed,
        ...(sampled ? { error: samplingError(h, (v.w1 * v.w1) / v.w2) } : {}),
      };
    });
    const everies = this.windows.map((w) => w.every);
    const routes = [...this.routes.map.values()].map(({ first: s, v }) => ({
      table: Number(s.tags.table),
      src: String(s.meta?.src),
      dst: String(s.meta?.dst),
      gw: String(s.meta?.gw),
      oif: s.tags.oif,
      err: Number(s.tags.err),
      proto: Number(s.meta?.proto),
      lookups: v.n,
    }));
    const rtt = [...this.rtt.map.values()].map(({ first: s, v }) => ({ peer: s.tags.peer, port: Number(s.tags.port), side: s.tags.side, ...latSummary(v, 'us') }));
    const byDestination = [...new Set([...this.segs.map.keys(), ...this.synack.map.keys()])].map((k) => {
      const any = (this.segs.map.get(k) ?? this.synack.map.get(k))!.first;
      return { peer: any.tags.peer, port: Number(any.tags.port), side: any.tags.side, segments: this.segs.map.get(k)?.v.n ?? 0, synack: this.synack.map.get(k)?.v.n ?? 0 };
    });
    const drops = [...this.drops.map.values()].map(({ first: s, v }) => ({ reason: s.tags.reason, iface: s.tags.iface, count: v.n }));
    const lostByProbe: Record<string, number> = { ...this.lost };
    const cost = probeCost(this.ends);
    const loaders = this.ends.map((e) => {
      const lost = e.attrs.lost as { ringbuf?: number; map_full?: number } | undefined;
      const probe = String(e.attrs.probe);
      const n = (lost?.ringbuf ?? 0) + (lost?.map_full ?? 0);
      lostByProbe[probe] = Math.max(lostByProbe[probe] ?? 0, n);
      const pairs = probe === 'pktlat' ? { stale: Number(e.attrs.stale ?? 0), overwritten: Number(e.attrs.overwritten ?? 0), ...(e.attrs.windowLateUs !== undefined ? { windowLateUs: Number(e.attrs.windowLateUs) } : {}) } : {};
      return { probe, cpuSeconds: Number(e.attrs.cpuSeconds), lines: Number(e.attrs.lines), lost: n, ...pairs };
    });
    return {
      packets: packets.sort(byCount((x) => x.packets)),
      packetLatency: packetLatency.sort(byCount((x) => x.count)),
      sampling: {
        fidelity,
        timed: this.windows.reduce((a, w) => a + w.timed, 0),
        packets: this.windows.reduce((a, w) => a + w.packets, 0),
        everyMin: everies.length ? Math.min(...everies) : 1,
        everyMax: everies.length ? Math.max(...everies) : 1,
        windows: this.windows.map((w) => ({ ...w })),
      },
      ...(cost ? { cost } : {}),
      routes: routes.sort(byCount((x) => x.lookups)),
      rtt: rtt.sort(byCount((x) => x.count)),
      retransmits: {
        segments: total('probe.tcp_retrans_segs'),
        synack: total('probe.tcp_synack_retrans'),
        failed: total('probe.tcp_retrans_fail'),
        byDestination: byDestination.sort(byCount((x) => x.segments + x.synack)),
      },
      connections: {
        opened: total('probe.tcp_conn_opened'),
        closed: total('probe.tcp_conn_closed'),
        failed: total('probe.tcp_conn_failed'),
        openAtEnd: this.openConns,
        ...(this.dur.totalCount ? { durationMs: rounded(summarize(this.dur, 1000)) } : {}),
        ...(this.conn.totalCount ? { connectMs: rounded(summarize(this.conn, 1000)) } : {}),
      },
      drops: { total: total('probe.drops'), byReason: drops.sort(byCount((x) => x.count)) },
      lostEvents: { total: Object.values(lostByProbe).reduce((a, b) => a + b, 0), byProbe: lostByProbe },
      loaders,
    };
  }
}

/** The probes' cost from the loaders' end events; undefined when none ended. */
export function probeCost(ends: RunEvent[]): ProbeCost | undefined {
  if (!ends.length) return undefined;
  const programs: ProbeCost['programs'] = [];
  let loaderSeconds = 0;
  let loaderRun = 0;
  let wallS = 0;
  let cpus = 0;
  let bpfStats = true;
  let statsEvery = 1;
  let statsShare = 1;
  for (const e of ends) {
    const a = e.attrs;
    loaderSeconds += Number(a.cpuSeconds ?? 0);
    loaderRun += Number(a.cpuRunSeconds ?? a.cpuSeconds ?? 0);
    const wall = Number(a.wallS ?? 0);
    wallS = Math.max(wallS, wall);
    cpus = Math.max(cpus, Number(a.ncpu ?? 0));
    if (a.bpfStats !== true) bpfStats = false;
    // statistics on for 1/N of every window: what they counted, scaled by the loader's time over theirs
    const every = Number(a.statsEvery ?? 1);
    const on = Number(a.statsOnSeconds ?? wall);
    const scale = every > 1 && on > 0 && wall > on ? wall / on : 1;
    statsEvery = Math.max(statsEvery, every);
    if (wall > 0) statsShare = Math.min(statsShare, Math.min(1, on / wall));
    for (const [program, p] of Object.entries((a.progs ?? {}) as Record<string, { run_cnt?: number; run_ns?: number }>)) {
      const runs = Math.round(Number(p.run_cnt ?? 0) * scale);
      const ns = Number(p.run_ns ?? 0) * scale;
      programs.push({ probe: String(a.probe), program, runs, seconds: round6(ns / 1e9), nsPerRun: runs ? Math.round(ns / runs) : 0 });
    }
  }
  const bpfSeconds = programs.reduce((x, p) => x + p.seconds, 0);
  const events = programs.reduce((x, p) => x + p.runs, 0);
  const dispatchSeconds = (events * DISPATCH_NS) / 1e9;
  const cpuSeconds = loaderSeconds + bpfSeconds + dispatchSeconds;
  return {
    cpuSeconds: round6(cpuSeconds),
    bpfSeconds: round6(bpfSeconds),
    dispatchSeconds: round6(dispatchSeconds),
    loaderSeconds: round6(loaderSeconds),
    loaderStartSeconds: round6(Math.max(0, loaderSeconds - loaderRun)),
    events,
    nsPerEvent: events ? Math.round((cpuSeconds * 1e9) / events) : 0,
    share: wallS > 0 && cpus > 0 ? round6(cpuSeconds / (wallS * cpus)) : 0,
    wallS,
    cpus,
    bpfStats,
    statsEvery,
    statsShare: round6(statsShare),
    programs: programs.sort(byCount((p) => p.seconds)),
  };
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/** What a tracepoint hit costs around a program's run (bench/probe-cost: an empty program, ~55 ns a hit). */
export const DISPATCH_NS = 55;

/**
 * The notice of probes that ran the packet probe and counted no packet at all (a filter that missed
 * the target: "probes on" and nothing recorded), else none. Pure.
 */
export function probeNotices(status: Record<string, unknown>, s: ProbesSummary): string[] {
  const packetProbe = status.enabled === true && Array.isArray(status.probes) && status.probes.includes('pktlat');
  if (!packetProbe || s.packets.some((p) => p.packets > 0)) return [];
  return ['probes on, but they counted no packet of the target: the probe filter missed its traffic (no packet data in the results)'];
}

/** Summarizes the probe samples and events of a run's journal. Pure. */
export function summarizeProbes(records: Iterable<JournalRecord>): ProbesSummary {
  const acc = new ProbeAccumulator();
  for (const r of records) acc.add(r);
  return acc.finish();
}

/** The probe.conn fast path (scanJournal): reads state, duration and connect time from a plain line into `acc`. */
export function takeConn(l: RawLine, acc: ProbeAccumulator): boolean {
  if (l.type !== 'event' || !l.plain()) return false;
  const state = l.str('state');
  const duration = l.num('durationMs');
  if (state === undefined || (state !== 'open' && duration === undefined)) return false;
  acc.addConn(state, duration, l.num('connectMs'));
  return true;
}
