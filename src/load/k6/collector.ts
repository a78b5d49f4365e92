import { DEFAULT_LAYOUT, encodeSparse, indexOfValue, type SparseHist } from '../../core/histogram.ts';
import type { Sink } from '../../core/types.ts';
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
// taken since the sender's previous push (receiver.ts `since`). A delta lands in the window holding
// the middle of that span: with pushes every `pushMs`, a request is about pushMs/2 at most from its
// window (k6 hands samples to its outputs every 50 ms, so a span is 50–150 ms at pushMs 100).

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
  private windows = new Map<string, Window>();

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

  delta(d: SeriesDelta): void {
    const name = d.labels.__name__;
    const end = d.time + this.clockOffset;
    const span = d.since === undefined ? this.pushMs : Math.max(0, d.time - d.since);
    const at = end - span / 2;
    const totals = this.totals(d.sender);
    switch (name) {
      case DURATION: {
        const h = d.histogram;
        if (!h) return;
        const stage = this.stages.stageOf(d.labels);
        this.span(totals, stage, end - span, end);
        const w = this.window(at, stage);
        const status = d.labels.status === undefined ? 200 : Number(d.labels.status);
        if (!(status > 0)) {
          const kind = d.labels.error_code === K6_TIMEOUT ? 'timeout' : 'conn';
          w.errors.set(kind, (w.errors.get(kind) ?? 0) + h.count);
          totals.failures += h.count;
          return;
        }
        w.responses += h.count;
        totals.responses += h.count;
        const kind = errorKind(status);
        if (kind !== undefined) w.errors.set(kind, (w.errors.get(kind) ?? 0) + h.count);
        w.latency = addNative(w.latency, h);
        return;
      }
      case DATA_RECEIVED: {
        if (d.labels.scenario === undefined || !d.value) return;
        this.window(at, this.stages.stageOf(d.labels)).bytes += d.value;
        return;
      }
      case DROPPED:
        if (!d.value) return;
        totals.dropped += d.value;
        this.window(at, this.stages.stageOf(d.labels)).dropped += d.value;
        return;
      case SENT:
        totals.sent += d.value ?? 0;
        return;
      case START:
        if (d.value) this.onStart?.(end);
        return;
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
