import { DEFAULT_LAYOUT, encodeSparse, indexOfValue, type SparseHist } from '../../core/histogram.ts';
import type { Sink } from '../../core/types.ts';
import type { KindTotal } from '../notices.ts';
import { errorKind } from '../windows.ts';
import type { NativeHistogram } from './remote-write.ts';
import type { SeriesDelta } from './receiver.ts';
import { SENT_METRIC, START_METRIC } from './script.ts';

// Folds the deltas of k6's remote write (receiver.ts) into the run's 1 s windows: the same samples
// the WindowRecorder writes for the other engines (http.reqs, http.bytes, http.errors{kind},
// http.latency_us and, for open stages, http.service_time_us), plus http.dropped.
//
// Latency. k6 keeps http_req_duration as a Prometheus native histogram, in seconds, schema 3
// (bucket factor 2^(1/8) ≈ 1.09), one per k6 series (scenario, status, name, …). A window holds the
// native bucket counts added by every delta that falls in it, from every sender: the sum is the
// exact native histogram of the window. At emission each native bucket is written into the HDR
// text form at its upper bound (µs, rounded): a linear map of counts, so HDR windows still merge
// exactly and percentiles read from them are the native histogram's bucket upper bounds (≤ 9% above
// the true value, never below it but for the 0.1% of HDR's own buckets). The native buckets
// themselves travel in the sample's meta.native, so nothing of what k6 sent is lost.
//
// Time. k6 stamps a pushed series with its latest sample's time (ms); the delta holds the samples
// taken since the sender's previous push (receiver.ts `since`). A delta whose span lies in one window
// lands there; one whose span crosses a window boundary is split between the two windows in
// proportion to its time on each side (splitNative). A window is then off by rounding, where placing
// the whole delta at its span's middle was off by up to half a push (k6 hands samples to its outputs
// every 50 ms, so a span is 50–150 ms at pushMs 100: ~22 requests at 440/s). A sender's first push
// has no previous one: its span is one push interval, cut at the sender's start (`started`) and the
// run's, so a k6 that starts in 40 ms puts none of its first requests before the run.

/** k6's names for what is read (prefix k6_, counters _total, times in seconds). */
const DURATION = 'k6_http_req_duration_seconds';
const DATA_RECEIVED = 'k6_data_received_total';
const DROPPED = 'k6_dropped_iterations_total';
const SENT = `k6_${SENT_METRIC}_total`;
const START = `k6_${START_METRIC}_total`;

/** k6 `error_code` of a request timeout; other failed requests without a status are connection errors. */
const K6_TIMEOUT = '1050';

/** What a collector needs to know about the stages of one run. */
export interface StageMap {
  /** Loadscope stage of a series, from its labels (k6 scenario, or the `stage` tag of stepped stages). */
  stageOf(tags: Record<string, string>): string;
  /** Open-model stage: the latency is also recorded as service time (k6 never queues an arrival). */
  isOpen(stage: string): boolean;
}

/** A native histogram's buckets being summed (one schema: a coarser arrival reduces the sum to it). */
interface NativeSum {
  schema: number;
  zeroThreshold: number;
  zeroCount: number;
  sum: number;
  positive: Map<number, number>;
}

interface Window {
  stage: string;
  start: number;
  responses: number;
  bytes: number;
  dropped: number;
  errors: Map<string, number>;
  latency?: NativeSum;
}

/** One sender's totals (a k6 process). */
export interface SenderTotals {
  responses: number;
  failures: number;
  sent: number;
  dropped: number;
  /** Per stage: earliest request start (within one push interval) and latest response seen (run time base). */
  spans: Map<string, { first: number; last: number }>;
}

/** Windows shared by every sender, and each sender's totals. */
export class K6Collector {
  readonly senders = new Map<string, SenderTotals>();
  /** Failed requests by error kind over the run (all senders): how many, and the start of the first one's window. */
  readonly kinds = new Map<string, KindTotal>();
  private windows = new Map<string, Window>();
  /** When each sender (a k6 process) was started, run time base: none of its requests ended before. */
  private readonly spawned = new Map<string, number>();

  /**
   * @param clockOffset added to k6 times to put them on the run's time base (loadscope now() − Date.now()).
   * @param pushMs k6's push interval.
   * @param onFirst called once per stage when its first request is seen.
   * @param onStart called when a generated script's setup() marks the test start.
   */
  constructor(
    private readonly sink: Sink,
    private readonly runStart: number,
    private readonly stages: StageMap,
    private readonly clockOffset: number,
    private readonly pushMs: number,
    private readonly onFirst?: (stage: string, time: number) => void,
    private readonly onStart?: (time: number) => void,
  ) {}

  /** The totals of sender `id` (zeros if it sent nothing). */
  totals(id: string): SenderTotals {
    let t = this.senders.get(id);
    if (!t) this.senders.set(id, (t = { responses: 0, failures: 0, sent: 0, dropped: 0, spans: new Map() }));
    return t;
  }

  /** Sender `id` is started at `time` (run time base): the span of its first push begins no earlier. */
  started(id: string, time: number): void {
    this.spawned.set(id, time);
  }

  delta(d: SeriesDelta): void {
    const name = d.labels.__name__;
    // never before the run (only a wall-clock step during the run, after clockOffset was read, could do that)
    const end = Math.max(d.time + this.clockOffset, this.runStart);
    // A sender's first push has no previous one to start its span: it is taken as one push interval,
    // but never before the sender was started nor before the run (a k6 that starts in 40 ms and
    // pushes its first requests at 50 ms put half of them in the second before the run).
    const nominal = d.since === undefined ? this.pushMs : Math.max(0, d.time - d.since);
    const first = Math.min(end, Math.max(end - nominal, this.runStart, this.spawned.get(d.sender) ?? -Infinity));
    const span = end - first;
    const totals = this.totals(d.sender);
    // The observations of a delta happened over [first, end]. When that span crosses a window
    // boundary, each window gets the share of them that its part of the span holds (whole
    // observations, the earlier part rounded, the rest to the later part): a window is then off
    // by rounding, not by up to half a push of requests.
    const boundary = this.runStart + Math.floor((end - this.runStart) / 1000) * 1000;
    const earlier = span > 0 && first < boundary ? (boundary - first) / span : 0;
    switch (name) {
      case DURATION: {
        const h = d.histogram;
        if (!h) return;
        const stage = this.stages.stageOf(d.labels);
        this.span(totals, stage, first, end);
        if (earlier > 0) {
          const [a, b] = splitNative(h, earlier);
          this.duration(this.window(boundary - 1, stage), a, d.labels, totals);
          this.duration(this.window(boundary, stage), b, d.labels, totals);
        } else this.duration(this.window(end, stage), h, d.labels, totals);
        return;
      }
      case DATA_RECEIVED: {
        if (d.labels.scenario === undefined || !d.value) return;
        const stage = this.stages.stageOf(d.labels);
        const a = Math.round(d.value * earlier);
        if (a) this.window(boundary - 1, stage).bytes += a;
        this.window(end, stage).bytes += d.value - a;
        return;
      }
      case DROPPED: {
        if (!d.value) return;
        totals.dropped += d.value;
        const stage = this.stages.stageOf(d.labels);
        const a = Math.round(d.value * earlier);
        if (a) this.window(boundary - 1, stage).dropped += a;
        if (d.value - a) this.window(end, stage).dropped += d.value - a;
        return;
      }
      case SENT:
        totals.sent += d.value ?? 0;
        return;
      case START:
        if (d.value) this.onStart?.(end);
        return;
    }
  }

  /** Adds request durations of one series (its status and error code in `labels`) to a window. */
  private duration(w: Window, h: NativeHistogram, labels: Record<string, string>, totals: SenderTotals): void {
    if (h.count === 0) return;
    const status = labels.status === undefined ? 200 : Number(labels.status);
    if (!(status > 0)) {
      const kind = labels.error_code === K6_TIMEOUT ? 'timeout' : 'conn';
      this.failed(w, kind, h.count);
      totals.failures += h.count;
      return;
    }
    w.responses += h.count;
    totals.responses += h.count;
    const kind = errorKind(status);
    if (kind !== undefined) this.failed(w, kind, h.count);
    w.latency = addNative(w.latency, h);
  }

  private failed(w: Window, kind: string, n: number): void {
    w.errors.set(kind, (w.errors.get(kind) ?? 0) + n);
    const k = this.kinds.get(kind);
    if (!k) this.kinds.set(kind, { n, first: w.start });
    else {
      k.n += n;
      if (w.start < k.first) k.first = w.start;
    }
  }

  /** Emits every window that ended before `upTo` (all of them when upTo is Infinity). */
  flush(upTo: number): void {
    for (const [key, w] of this.windows) {
      if (w.start + 1000 > upTo) continue;
      this.emit(w);
      this.windows.delete(key);
    }
  }

  private window(time: number, stage: string): Window {
    const idx = Math.floor((time - this.runStart) / 1000);
    const key = idx + '|' + stage;
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = { stage, start: this.runStart + idx * 1000, responses: 0, bytes: 0, dropped: 0, errors: new Map() }));
    return w;
  }

  private span(totals: SenderTotals, stage: string, first: number, last: number): void {
    const s = totals.spans.get(stage);
    if (!s) {
      totals.spans.set(stage, { first, last });
      const earliest = Math.min(first, ...[...this.senders.values()].map((t) => t.spans.get(stage)?.first ?? Infinity));
      if (earliest === first) this.onFirst?.(stage, first);
      return;
    }
    if (first < s.first) s.first = first;
    if (last > s.last) s.last = last;
  }

  private emit(w: Window): void {
    const tags = { stage: w.stage };
    if (w.responses || w.bytes || w.errors.size) {
      this.sink.sample({ metric: 'http.reqs', time: w.start, value: w.responses, tags });
      this.sink.sample({ metric: 'http.bytes', time: w.start, value: w.bytes, tags });
    }
    for (const [kind, n] of w.errors) this.sink.sample({ metric: 'http.errors', time: w.start, value: n, tags: { stage: w.stage, kind } });
    if (w.latency) {
      const hist = encodeSparse(toHdr(w.latency));
      const total = w.responses;
      const meta = { native: nativeMeta(w.latency) };
      this.sink.sample({ metric: 'http.latency_us', time: w.start, value: total, tags, hist, meta });
      if (this.stages.isOpen(w.stage)) this.sink.sample({ metric: 'http.service_time_us', time: w.start, value: total, tags, hist, meta });
    }
    if (w.dropped) this.sink.sample({ metric: 'http.dropped', time: w.start, value: w.dropped, tags });
  }
}

/** Adds a native histogram's buckets into a sum (the coarser schema of the two wins; exact). */
/**
 * Splits a native histogram's observations in two: the first part gets round(count·f) of them, taken
 * from every bucket in proportion (largest remainders first, ties to the lower bucket), the second the
 * rest; the sum is split in proportion. Both parts together are exactly the histogram.
 */
export function splitNative(h: NativeHistogram, f: number): [NativeHistogram, NativeHistogram] {
  const cells: { key: number | 'zero'; count: number; take: number; rest: number }[] = [];
  if (h.zeroCount) cells.push({ key: 'zero', count: h.zeroCount, take: 0, rest: 0 });
  for (const [i, c] of [...h.positive].sort((x, y) => x[0] - y[0])) if (c) cells.push({ key: i, count: c, take: 0, rest: 0 });
  const total = cells.reduce((a, c) => a + c.count, 0);
  const want = Math.min(total, Math.max(0, Math.round(total * f)));
  let taken = 0;
  for (const c of cells) {
    const exact = c.count * f;
    c.take = Math.min(c.count, Math.floor(exact));
    c.rest = exact - c.take;
    taken += c.take;
  }
  for (const c of [...cells].sort((x, y) => y.rest - x.rest)) {
    if (taken >= want) break;
    if (c.take < c.count) {
      c.take++;
      taken++;
    }
  }
  const part = (pick: (c: (typeof cells)[number]) => number, sum: number): NativeHistogram => {
    const positive = new Map<number, number>();
    let zero = 0;
    let count = 0;
    for (const c of cells) {
      const n = pick(c);
      if (!n) continue;
      count += n;
      if (c.key === 'zero') zero = n;
      else positive.set(c.key, n);
    }
    return { ...h, count, sum, zeroCount: zero, positive, negative: new Map() };
  };
  const a = part((c) => c.take, total ? (h.sum * taken) / total : 0);
  return [a, part((c) => c.count - c.take, h.sum - a.sum)];
}

export function addNative(into: NativeSum | undefined, h: NativeHistogram): NativeSum {
  let s = into ?? { schema: h.schema, zeroThreshold: h.zeroThreshold, zeroCount: 0, sum: 0, positive: new Map() };
  if (h.schema < s.schema) s = { ...s, schema: h.schema, positive: reduce(s.positive, 2 ** (s.schema - h.schema)) };
  const src = h.schema > s.schema ? reduce(h.positive, 2 ** (h.schema - s.schema)) : h.positive;
  for (const [i, c] of src) s.positive.set(i, (s.positive.get(i) ?? 0) + c);
  s.zeroCount += h.zeroCount;
  s.zeroThreshold = Math.max(s.zeroThreshold, h.zeroThreshold);
  s.sum += h.sum;
  return s;
}

function reduce(m: Map<number, number>, f: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const [i, c] of m) {
    const j = Math.ceil(i / f);
    out.set(j, (out.get(j) ?? 0) + c);
  }
  return out;
}

/**
 * Native buckets (seconds) → HDR buckets (µs, the default layout): each native bucket's count at
 * its upper bound; the zero bucket at 1 µs (HDR's lowest value).
 */
export function toHdr(n: NativeSum): SparseHist {
  const counts = new Map<number, number>();
  const put = (us: number, c: number) => {
    const i = indexOfValue(DEFAULT_LAYOUT, Math.min(3_600_000_000, Math.max(1, Math.round(us))));
    counts.set(i, (counts.get(i) ?? 0) + c);
  };
  if (n.zeroCount) put(1, n.zeroCount);
  for (const [i, c] of n.positive) put(2 ** (i / 2 ** n.schema) * 1e6, c);
  const idx = [...counts.keys()].sort((a, b) => a - b);
  const cnt = idx.map((i) => counts.get(i)!);
  return { layout: DEFAULT_LAYOUT, idx, cnt, total: cnt.reduce((a, b) => a + b, 0) };
}

/** The native buckets as sent, for meta.native: `index*count` pairs in index order. */
function nativeMeta(n: NativeSum): Record<string, unknown> {
  const buckets = [...n.positive].sort((a, b) => a[0] - b[0]).map(([i, c]) => `${i}*${c}`).join(',');
  return { unit: 's', schema: n.schema, zeroThreshold: n.zeroThreshold, zeroCount: n.zeroCount, sum: n.sum, buckets };
}
