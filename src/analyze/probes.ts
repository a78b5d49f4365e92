import { createHistogram, decodeSparse, record, summarize, type HistogramSummary, type SparseHist } from '../core/histogram.ts';
import { HistAcc, summarizeSparse } from './hist.ts';
import type { RawLine } from '../journal/journal.ts';
import type { JournalRecord, RunEvent, Sample } from '../core/types.ts';

/** Percentiles of a probe histogram, in the unit named by `unit`. */
export type ProbeLatency = HistogramSummary & { unit: 'ns' | 'us' | 'ms' };

/**
 * results.json "probes" (besides the status the run adds): what the eBPF probes saw of the run's
 * own traffic. Every list is sorted by its count, largest first. Empty when no probe ran.
 */
export interface ProbesSummary {
  /** Packets and bytes per interface and direction (tx: queued to the device, rx: received from it). */
  packets: { iface: string; dir: string; packets: number; bytes: number }[];
  /** Latency from net_dev_queue on `iface` to netif_receive_skb on `peer` (dir: to/from the run's ports, or any). */
  packetLatency: ({ iface: string; peer: string; dir: string } & ProbeLatency)[];
  /** IPv4 routing decisions (fib_table_lookup), one entry per distinct decision. */
  routes: { table: number; src: string; dst: string; gw: string; oif: string; err: number; proto: number; lookups: number }[];
  /** Smoothed RTT (tcp_probe) per remote address, service port and side. */
  rtt: ({ peer: string; port: number; side: string } & ProbeLatency)[];
  retransmits: { segments: number; synack: number; failed: number; byDestination: { peer: string; port: number; side: string; segments: number; synack: number }[] };
  connections: { opened: number; closed: number; failed: number; openAtEnd: number; durationMs?: HistogramSummary; connectMs?: HistogramSummary };
  drops: { total: number; byReason: { reason: string; iface: string; count: number }[] };
  lostEvents: { total: number; byProbe: Record<string, number> };
  /** Per loader; pktlat adds the pairs it gave up: stale at receive, or overwritten before it. */
  loaders: { probe: string; cpuSeconds: number; lines: number; lost: number; stale?: number; overwritten?: number }[];
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

const DEST = ['peer', 'port', 'side'];

/**
 * Summarizes the probe samples and events of a journal as they stream past (add), in memory that
 * grows with the distinct keys, not the records. `finish` does not change the state: a live view
 * may call it every second.
 */
export class ProbeAccumulator {
  private readonly counts = new Keyed(() => ({ n: 0 }));
  private readonly bytes = new Keyed(() => ({ n: 0 }));
  private readonly latency = new Keyed(latAcc);
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
      case 'probe.pkt_latency_ns':
        addLat(this.latency.at(tagsKey(s, ['iface', 'peer', 'dir']), s), s, hist);
        break;
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
        break;
    }
  }

  finish(): ProbesSummary {
    const total = (m: string) => this.totals.get(m) ?? 0;
    const packets = [...this.counts.map].map(([k, { first, v }]) => ({ iface: first.tags.iface, dir: first.tags.dir, packets: v.n, bytes: this.bytes.map.get(k)?.v.n ?? 0 }));
    const packetLatency = [...this.latency.map.values()].map(({ first, v }) => ({ iface: first.tags.iface, peer: first.tags.peer, dir: first.tags.dir, ...latSummary(v, 'ns') }));
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
    const loaders = this.ends.map((e) => {
      const lost = e.attrs.lost as { ringbuf?: number; map_full?: number } | undefined;
      const probe = String(e.attrs.probe);
      const n = (lost?.ringbuf ?? 0) + (lost?.map_full ?? 0);
      lostByProbe[probe] = Math.max(lostByProbe[probe] ?? 0, n);
      const pairs = probe === 'pktlat' ? { stale: Number(e.attrs.stale ?? 0), overwritten: Number(e.attrs.overwritten ?? 0) } : {};
      return { probe, cpuSeconds: Number(e.attrs.cpuSeconds), lines: Number(e.attrs.lines), lost: n, ...pairs };
    });
    return {
      packets: packets.sort(byCount((x) => x.packets)),
      packetLatency: packetLatency.sort(byCount((x) => x.count)),
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
