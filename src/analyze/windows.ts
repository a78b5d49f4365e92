// The per-window data of one run that `loadscope compare` resamples: latency histograms per stage,
// responses and errors, packet latency per interface, CPU and requests served per service, all by
// window index (whole seconds since the run's start), and the machine's CPU per wake-up (src/run/wake-gauge.ts). Collected from the journal's records as they
// stream past (WindowCollector), and kept beside results.json as windows.json (encodeWindows,
// decodeWindows) so that comparing two runs reads two small files instead of two journals.
import { decodeSparse, encodeSparse, type SparseHist } from '../core/histogram.ts';
import type { JournalRecord, RunHeader, Sample } from '../core/types.ts';
import { inDefaultLayout, mergeSparse } from './hist.ts';

/** The stratum of windows outside every stage (before the first, the drain after the last). */
export const OUTSIDE = '';

/** The run directory's file of per-window data, written beside results.json. */
export const WINDOWS_FILE = 'windows.json';
/** Bumped whenever what the collector keeps, or how it is written, changes: an older file is then ignored and the journal read instead. */
export const WINDOWS_VERSION = 2;
const FORMAT = 'loadscope-windows';

/** Per-window CPU seconds and requests served of one service (summed over its pods). */
export interface ServiceWindows {
  cpuS: Map<number, number>;
  served: Map<number, number>;
}

/** A run's per-window data, by window index (seconds since the start). */
export interface RunWindows {
  /** http.latency_us per stage tag, per window (in the default layout; merged when the list grows). */
  latency: Map<string, Map<number, SparseHist[]>>;
  /** Responses per stage tag, per window. */
  reqs: Map<string, Map<number, number>>;
  /** Errors per stage tag, per window; `unanswered` are those that were never answered (timeouts, connection errors). */
  errors: Map<string, Map<number, number>>;
  unanswered: Map<string, Map<number, number>>;
  /** probe.pkt_latency_ns per interface (the local cluster's run tag taken out of its name), per window. */
  packet: Map<string, Map<number, SparseHist[]>>;
  services: Map<string, ServiceWindows>;
  /** The HPA's sync period in seconds (null: no autoscaler). */
  hpaSyncS: number | null;
  /** machine.wake_cpu_us per window: the CPU of one wake-up of the run's gauge thread (src/run/wake-gauge.ts). */
  wake: Map<number, number>;
}

/** An interface name without the local cluster's per-run tag (lsb<tag>, lsv<tag><n>: src/cluster/local/net.ts), so two runs' interfaces match. */
export function ifaceKey(iface: string): string {
  return iface.replace(/^(ls[bv])[0-9a-f]{6}/, '$1*');
}

const UNANSWERED = new Set(['timeout', 'conn']);

const bump = (m: Map<string, Map<number, number>>, key: string, w: number, v: number) => {
  let inner = m.get(key);
  if (!inner) m.set(key, (inner = new Map()));
  inner.set(w, (inner.get(w) ?? 0) + v);
};

const push = (m: Map<string, Map<number, SparseHist[]>>, key: string, w: number, h: SparseHist) => {
  let inner = m.get(key);
  if (!inner) m.set(key, (inner = new Map()));
  const list = inner.get(w);
  if (!list) inner.set(w, [h]);
  else {
    list.push(h);
    if (list.length > 8) inner.set(w, [mergeSparse(list)]);
  }
};

/** Collects a run's per-window data from its journal records, in journal order (`add`), then `finish`. */
export class WindowCollector {
  private header: RunHeader | undefined;
  private readonly early: Sample[] = [];
  private readonly prev = new Map<string, number>();
  private readonly data: RunWindows = {
    latency: new Map(),
    reqs: new Map(),
    errors: new Map(),
    unanswered: new Map(),
    packet: new Map(),
    services: new Map(),
    hpaSyncS: null,
    wake: new Map(),
  };

  add(r: JournalRecord): void {
    if (r.type === 'run') {
      if (this.header) return;
      this.header = r;
      for (const s of this.early.splice(0)) this.sample(s);
    } else if (r.type === 'sample') {
      if (this.header) this.sample(r);
      else this.early.push(r);
    } else if (r.type === 'event' && r.kind === 'hpa.start' && typeof r.attrs.syncPeriodMs === 'number') {
      this.data.hpaSyncS ??= r.attrs.syncPeriodMs / 1000;
    }
  }

  /** The header the records carried (undefined: none yet) and the data so far. */
  finish(): { header: RunHeader | undefined; windows: RunWindows } {
    return { header: this.header, windows: this.data };
  }

  /** A cumulative counter's rise since its last sample, per service, in the window of this sample. */
  private counter(s: Sample, w: number, field: 'cpuS' | 'served'): void {
    const key = `${s.metric}\u0000${s.tags.service}\u0000${s.tags.pod}`;
    const last = this.prev.get(key);
    this.prev.set(key, s.value);
    if (last === undefined) return;
    const delta = s.value >= last ? s.value - last : s.value;
    let sw = this.data.services.get(s.tags.service);
    if (!sw) this.data.services.set(s.tags.service, (sw = { cpuS: new Map(), served: new Map() }));
    sw[field].set(w, (sw[field].get(w) ?? 0) + delta);
  }

  private sample(s: Sample): void {
    const w = Math.floor((s.time - this.header!.startedAt) / 1000);
    if (w < 0) return;
    const stage = s.tags.stage ?? OUTSIDE;
    const d = this.data;
    switch (s.metric) {
      case 'http.latency_us':
        if (s.hist) push(d.latency, stage, w, inDefaultLayout(decodeSparse(s.hist)));
        return;
      case 'http.reqs':
        bump(d.reqs, stage, w, s.value);
        return;
      case 'http.errors':
        bump(d.errors, stage, w, s.value);
        if (UNANSWERED.has(s.tags.kind ?? '')) bump(d.unanswered, stage, w, s.value);
        return;
      case 'probe.pkt_latency_ns':
        if (s.hist && s.tags.iface) push(d.packet, ifaceKey(s.tags.iface), w, inDefaultLayout(decodeSparse(s.hist)));
        return;
      case 'pod.cpu_seconds':
        if (s.tags.service && s.tags.pod) this.counter(s, w, 'cpuS');
        return;
      case 'pod.requests_served':
        if (s.tags.service && s.tags.pod) this.counter(s, w, 'served');
        return;
      case 'machine.wake_cpu_us':
        d.wake.set(w, s.value);
        return;
    }
  }
}

/** What a windows.json holds besides the data: the run's header, and the sizes of the files it was made with (how a reader tells it is current). */
export interface WindowsMeta {
  header: RunHeader;
  /** events.ndjson's size in bytes when the file was written. */
  journalBytes: number;
  /** results.json's size in bytes, written with it. */
  resultsBytes: number;
}

type Pairs<T> = [number, T][];
const sorted = <T>(m: Map<number, T>): Pairs<T> => [...m].sort((a, b) => a[0] - b[0]);
const histPairs = (m: Map<string, Map<number, SparseHist[]>>) =>
  Object.fromEntries([...m].map(([k, inner]) => [k, sorted(inner).map(([w, list]) => [w, encodeSparse(list.length === 1 ? list[0] : mergeSparse(list))] as [number, string])]));
const numPairs = (m: Map<string, Map<number, number>>) => Object.fromEntries([...m].map(([k, inner]) => [k, sorted(inner)]));

/**
 * windows.json's text: one histogram per window (the window's list merged: merging is exact, so
 * what compare computes is the same as from the journal), counts as [window, value] pairs.
 */
export function encodeWindows(meta: WindowsMeta, w: RunWindows): string {
  return JSON.stringify({
    format: FORMAT,
    version: WINDOWS_VERSION,
    journalBytes: meta.journalBytes,
    resultsBytes: meta.resultsBytes,
    header: meta.header,
    hpaSyncS: w.hpaSyncS,
    latency: histPairs(w.latency),
    reqs: numPairs(w.reqs),
    errors: numPairs(w.errors),
    unanswered: numPairs(w.unanswered),
    packet: histPairs(w.packet),
    services: Object.fromEntries([...w.services].map(([name, s]) => [name, { cpuS: sorted(s.cpuS), served: sorted(s.served) }])),
    wake: sorted(w.wake),
  });
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** A keyed map of [window, value] pairs, each value checked by `val`; undefined when anything is off. */
function pairsMap<T>(x: unknown, val: (v: unknown) => T | undefined): Map<string, Map<number, T>> | undefined {
  if (!isObj(x)) return undefined;
  const out = new Map<string, Map<number, T>>();
  for (const [k, list] of Object.entries(x)) {
    if (!Array.isArray(list)) return undefined;
    const inner = new Map<number, T>();
    for (const p of list) {
      if (!Array.isArray(p) || p.length !== 2 || !Number.isSafeInteger(p[0]) || p[0] < 0) return undefined;
      const v = val(p[1]);
      if (v === undefined) return undefined;
      inner.set(p[0], v);
    }
    out.set(k, inner);
  }
  return out;
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const hist = (v: unknown) => {
  if (typeof v !== 'string') return undefined;
  try {
    return [inDefaultLayout(decodeSparse(v))];
  } catch {
    return undefined;
  }
};

/**
 * Reads windows.json's text. Undefined when it is not this version's file or anything in it is
 * malformed: the caller then reads the journal, which is what counts.
 */
export function decodeWindows(text: string): { meta: WindowsMeta; windows: RunWindows } | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObj(doc) || doc.format !== FORMAT || doc.version !== WINDOWS_VERSION) return undefined;
  const h = doc.header;
  if (!isObj(h) || typeof h.runId !== 'string' || typeof h.startedAt !== 'number' || !Array.isArray(h.plan) || typeof h.scenarioName !== 'string') return undefined;
  const journalBytes = num(doc.journalBytes);
  const resultsBytes = num(doc.resultsBytes);
  const hpaSyncS = doc.hpaSyncS === null ? null : num(doc.hpaSyncS);
  const latency = pairsMap(doc.latency, hist);
  const packet = pairsMap(doc.packet, hist);
  const reqs = pairsMap(doc.reqs, num);
  const errors = pairsMap(doc.errors, num);
  const unanswered = pairsMap(doc.unanswered, num);
  const wake = pairsMap({ wake: doc.wake }, num)?.get('wake');
  if (!wake || journalBytes === undefined || resultsBytes === undefined || hpaSyncS === undefined || !latency || !packet || !reqs || !errors || !unanswered || !isObj(doc.services)) return undefined;
  const services = new Map<string, ServiceWindows>();
  for (const [name, s] of Object.entries(doc.services)) {
    if (!isObj(s)) return undefined;
    const both = pairsMap({ cpuS: s.cpuS, served: s.served }, num);
    if (!both) return undefined;
    services.set(name, { cpuS: both.get('cpuS')!, served: both.get('served')! });
  }
  return {
    meta: { header: h as unknown as RunHeader, journalBytes, resultsBytes },
    windows: { latency, reqs, errors, unanswered, packet, services, hpaSyncS, wake },
  };
}
