// The network part of the analysis: packet latency, packet counts, RTT, retransmits and drops per 1 s
// window, accumulated from probe samples.
import { decodeSparse, type SparseHist } from '../core/histogram.ts';
import type { Sample } from '../core/types.ts';
import { HistAcc, mergeSparse } from './hist.ts';

/** A run longer than this many windows is cut there (a journal with a bogus timestamp must not allocate without bound). */
export const MAX_WINDOWS = 7 * 24 * 3600;
/** Whether window `w` is one a run keeps (0 ≤ w < MAX_WINDOWS). */
export const inWindows = (w: number) => w >= 0 && w < MAX_WINDOWS;

/** A record's value as display text, cut at `max` characters ('' for none). */
export const str = (x: unknown, max = 300) => (typeof x === 'string' ? x : x === undefined || x === null ? '' : typeof x === 'object' ? JSON.stringify(x) : String(x)).slice(0, max);
/** A finite number, or a string holding one, as a number; null otherwise. */
export const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : typeof x === 'string' && x.trim() !== '' && Number.isFinite(Number(x)) ? Number(x) : null);

/** Adds `v` at window `w` of a zero-filled series that grows as windows arrive. */
export function bump(xs: number[], w: number, v: number): void {
  while (xs.length <= w) xs.push(0);
  xs[w] += v;
}

/** Adds a histogram to a window's list, folding the list into one when it grows (bounded memory). */
export function pushHist(byWindow: Map<number, SparseHist[]>, w: number, h: SparseHist): void {
  const list = byWindow.get(w);
  if (!list) byWindow.set(w, [h]);
  else if (list.length < 8) list.push(h);
  else byWindow.set(w, [mergeSparse([...list, h])]);
}

/** The metrics NetworkWindows takes. */
export const NETWORK_METRICS = new Set(['probe.pkt_latency_ns', 'probe.pkt_count', 'probe.tcp_srtt_us', 'probe.tcp_retrans_segs', 'probe.tcp_synack_retrans', 'probe.drops', 'routing.policy_drops', 'routing.no_backend']);

/** Per-window network series from probe samples (NETWORK_METRICS), grown as windows arrive. */
export class NetworkWindows {
  readonly pktHist = new Map<string, Map<number, SparseHist[]>>();
  readonly pktAll = new Map<string, { sum: number; count: number; hasSum: boolean; acc: HistAcc }>();
  readonly pktCount = new Map<string, number[]>();
  readonly rttHist = new Map<number, SparseHist[]>();
  readonly retransmits: number[] = [];
  readonly drops = new Map<string, number[]>();
  sawRetransSample = false;
  sawDropSample = false;

  /** Takes a sample of window `w` (NETWORK_METRICS only); `hist` is its histogram if already decoded. */
  add(s: Sample, w: number, hist: SparseHist | undefined): void {
    switch (s.metric) {
      case 'probe.pkt_latency_ns': {
        if (!s.hist) break;
        const iface = str(s.tags.iface);
        const h = hist ?? decodeSparse(s.hist);
        let all = this.pktAll.get(iface);
        if (!all) this.pktAll.set(iface, (all = { sum: 0, count: 0, hasSum: true, acc: new HistAcc() }));
        all.acc.add(h);
        all.count += h.total;
        const sum = num((s.meta as { sum?: unknown } | undefined)?.sum);
        if (sum === null) all.hasSum = false;
        else all.sum += sum;
        if (!inWindows(w)) break;
        let byW = this.pktHist.get(iface);
        if (!byW) this.pktHist.set(iface, (byW = new Map()));
        pushHist(byW, w, h);
        break;
      }
      case 'probe.pkt_count': {
        const iface = str(s.tags.iface);
        let c = this.pktCount.get(iface);
        if (!c) this.pktCount.set(iface, (c = []));
        if (inWindows(w)) bump(c, w, s.value);
        break;
      }
      case 'probe.tcp_srtt_us': {
        if (!s.hist || !inWindows(w)) break;
        pushHist(this.rttHist, w, hist ?? decodeSparse(s.hist));
        break;
      }
      case 'probe.tcp_retrans_segs':
      case 'probe.tcp_synack_retrans':
        this.sawRetransSample = true;
        if (inWindows(w)) bump(this.retransmits, w, s.value);
        break;
      case 'probe.drops':
      case 'routing.policy_drops':
      case 'routing.no_backend': {
        this.sawDropSample = true;
        const reason = s.metric === 'probe.drops' ? str(s.tags.reason) || 'unknown' : s.metric === 'routing.policy_drops' ? 'load balancer: policy' : 'load balancer: no backend';
        let c = this.drops.get(reason);
        if (!c) this.drops.set(reason, (c = []));
        if (inWindows(w)) bump(c, w, s.value);
        break;
      }
    }
  }
}
