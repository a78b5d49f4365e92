import { createHistogram, record, summarize, type HistogramSummary } from '../model/histogram.ts';
import { summarizeEncoded } from './hist.ts';
import type { JournalRecord, RunEvent, Sample } from '../model/types.ts';

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
  /** Load-balancer decisions (hook for the local cluster's eBPF LB; empty until it exists). */
  loadBalancer: { service: string; backend: string; connections: number }[];
  lostEvents: { total: number; byProbe: Record<string, number> };
  loaders: { probe: string; cpuSeconds: number; lines: number; lost: number }[];
}

const byCount = <T>(key: (x: T) => number) => (a: T, b: T) => key(b) - key(a);

function group<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

function histSummary(samples: Sample[], unit: ProbeLatency['unit']): ProbeLatency {
  const s = summarizeEncoded(samples.map((x) => x.hist!).filter(Boolean));
  const sum = samples.reduce((a, x) => a + Number((x.meta as { sum?: number } | undefined)?.sum ?? 0), 0);
  // the kernel's exact sum gives an exact mean; percentiles carry the histogram's bucket error
  return { ...s, mean: s.count ? round3(sum / s.count) : 0, unit };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

function rounded(s: HistogramSummary): HistogramSummary {
  return { ...s, mean: round3(s.mean) };
}

function tagsKey(s: Sample, names: string[]): string {
  return names.map((n) => s.tags[n] ?? '').join('\u0000');
}

/** Summarizes the probe samples and events of a run's journal. Pure. */
export function summarizeProbes(records: JournalRecord[]): ProbesSummary {
  const samples = new Map<string, Sample[]>();
  const events = new Map<string, RunEvent[]>();
  for (const r of records) {
    if (r.type === 'sample' && r.metric.startsWith('probe.')) {
      const list = samples.get(r.metric);
      if (list) list.push(r);
      else samples.set(r.metric, [r]);
    } else if (r.type === 'event' && r.kind.startsWith('probe.')) {
      const list = events.get(r.kind);
      if (list) list.push(r);
      else events.set(r.kind, [r]);
    }
  }
  const S = (m: string) => samples.get(m) ?? [];
  const E = (k: string) => events.get(k) ?? [];
  const total = (xs: Sample[]) => xs.reduce((a, s) => a + s.value, 0);

  const bytes = group(S('probe.pkt_bytes'), (s) => tagsKey(s, ['iface', 'dir']));
  const packets = [...group(S('probe.pkt_count'), (s) => tagsKey(s, ['iface', 'dir']))].map(([k, xs]) => ({
    iface: xs[0].tags.iface,
    dir: xs[0].tags.dir,
    packets: total(xs),
    bytes: total(bytes.get(k) ?? []),
  }));

  const packetLatency = [...group(S('probe.pkt_latency_ns'), (s) => tagsKey(s, ['iface', 'peer', 'dir']))].map(([, xs]) => ({
    iface: xs[0].tags.iface,
    peer: xs[0].tags.peer,
    dir: xs[0].tags.dir,
    ...histSummary(xs, 'ns'),
  }));

  const routes = [...group(S('probe.route_lookups'), (s) => JSON.stringify([s.tags.table, s.tags.oif, s.tags.err, s.meta?.src, s.meta?.dst, s.meta?.gw, s.meta?.proto]))].map(
    ([, xs]) => ({
      table: Number(xs[0].tags.table),
      src: String(xs[0].meta?.src),
      dst: String(xs[0].meta?.dst),
      gw: String(xs[0].meta?.gw),
      oif: xs[0].tags.oif,
      err: Number(xs[0].tags.err),
      proto: Number(xs[0].meta?.proto),
      lookups: total(xs),
    }),
  );

  const dest = ['peer', 'port', 'side'];
  const rtt = [...group(S('probe.tcp_srtt_us'), (s) => tagsKey(s, dest))].map(([, xs]) => ({
    peer: xs[0].tags.peer,
    port: Number(xs[0].tags.port),
    side: xs[0].tags.side,
    ...histSummary(xs, 'us'),
  }));

  const synackBy = group(S('probe.tcp_synack_retrans'), (s) => tagsKey(s, dest));
  const retransKeys = new Set([...group(S('probe.tcp_retrans_segs'), (s) => tagsKey(s, dest)).keys(), ...synackBy.keys()]);
  const segsBy = group(S('probe.tcp_retrans_segs'), (s) => tagsKey(s, dest));
  const byDestination = [...retransKeys].map((k) => {
    const any = (segsBy.get(k) ?? synackBy.get(k))![0];
    return { peer: any.tags.peer, port: Number(any.tags.port), side: any.tags.side, segments: total(segsBy.get(k) ?? []), synack: total(synackBy.get(k) ?? []) };
  });

  const conns = E('probe.conn');
  const dur = createHistogram();
  const conn = createHistogram();
  for (const e of conns) {
    if (e.attrs.state !== 'open') record(dur, Number(e.attrs.durationMs) * 1000);
    if (typeof e.attrs.connectMs === 'number') record(conn, e.attrs.connectMs * 1000);
  }

  const drops = [...group(S('probe.drops'), (s) => tagsKey(s, ['reason', 'iface']))].map(([, xs]) => ({ reason: xs[0].tags.reason, iface: xs[0].tags.iface, count: total(xs) }));

  const lb = [...group(E('probe.lb'), (e) => `${e.attrs.service}\u0000${e.attrs.backend}:${e.attrs.bport}`)].map(([, xs]) => ({
    service: String(xs[0].attrs.service),
    backend: `${xs[0].attrs.backend}:${xs[0].attrs.bport}`,
    connections: xs.length,
  }));

  const lostByProbe: Record<string, number> = {};
  for (const e of E('probe.lost')) lostByProbe[String(e.attrs.probe)] = (lostByProbe[String(e.attrs.probe)] ?? 0) + Number(e.attrs.n);
  const loaders = E('probe.end').map((e) => {
    const lost = e.attrs.lost as { ringbuf?: number; map_full?: number } | undefined;
    const probe = String(e.attrs.probe);
    const n = (lost?.ringbuf ?? 0) + (lost?.map_full ?? 0);
    lostByProbe[probe] = Math.max(lostByProbe[probe] ?? 0, n);
    return { probe, cpuSeconds: Number(e.attrs.cpuSeconds), lines: Number(e.attrs.lines), lost: n };
  });

  return {
    packets: packets.sort(byCount((x) => x.packets)),
    packetLatency: packetLatency.sort(byCount((x) => x.count)),
    routes: routes.sort(byCount((x) => x.lookups)),
    rtt: rtt.sort(byCount((x) => x.count)),
    retransmits: {
      segments: total(S('probe.tcp_retrans_segs')),
      synack: total(S('probe.tcp_synack_retrans')),
      failed: total(S('probe.tcp_retrans_fail')),
      byDestination: byDestination.sort(byCount((x) => x.segments + x.synack)),
    },
    connections: {
      opened: total(S('probe.tcp_conn_opened')),
      closed: total(S('probe.tcp_conn_closed')),
      failed: total(S('probe.tcp_conn_failed')),
      openAtEnd: conns.filter((e) => e.attrs.state === 'open').length,
      ...(dur.totalCount ? { durationMs: rounded(summarize(dur, 1000)) } : {}),
      ...(conn.totalCount ? { connectMs: rounded(summarize(conn, 1000)) } : {}),
    },
    drops: { total: total(S('probe.drops')), byReason: drops.sort(byCount((x) => x.count)) },
    loadBalancer: lb.sort(byCount((x) => x.connections)),
    lostEvents: { total: Object.values(lostByProbe).reduce((a, b) => a + b, 0), byProbe: lostByProbe },
    loaders,
  };
}
