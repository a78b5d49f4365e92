import { now } from '../core/clock.ts';
import { createHistogram, encode, record, type Histogram } from '../core/histogram.ts';
import type { Sink } from '../core/types.ts';

/** Outcome of one request as an engine saw it. */
export type Outcome = number | 'timeout' | 'conn';

interface Bucket {
  stage: string;
  start: number;
  responses: number;
  late: number;
  bytes: number;
  errors: Map<string, number>;
  latency: Histogram;
  serviceTime?: Histogram;
}

/** Cleared histograms kept for reuse: the windows and stages open at once, twice (latency, service time). */
const SPARE_MAX = 8;

/** Error kind of an outcome, or undefined for a success (status 100–399, as k6's http_req_failed). */
export function errorKind(o: Outcome): string | undefined {
  if (typeof o !== 'number') return o;
  if (o >= 500) return 'http_5xx';
  if (o >= 400) return 'http_4xx';
  return undefined;
}

/**
 * Aggregates request outcomes into 1 s windows aligned to the run start, one bucket per window and
 * stage, and emits each finished window to the sink: http.reqs, http.errors{kind}, http.bytes,
 * http.latency_us (HDR: responses and failed requests alike, each with the time it took, as k6's
 * http_req_duration), http.reqs_late (responses that came after their stage ended) and, when
 * recorded, http.service_time_us (HDR, from the actual send).
 */
export class WindowRecorder {
  private buckets = new Map<string, Bucket>();
  private current?: Bucket;
  private currentKey = '';
  private currentIdx = -1;
  private timer?: NodeJS.Timeout;
  /** Failed requests by error kind over the whole run: how many, and when the first failed. */
  readonly totals = new Map<string, { n: number; first: number }>();
  /**
   * Histograms of emitted windows, cleared for the next ones: a histogram's counts are ~92 KiB of
   * native memory, and one or two new ones a second fragmented the load thread's malloc arena (RSS
   * +1.5 MiB/min of freed but kept pages in a soak at 200 req/s, issue 20).
   */
  private spare: Histogram[] = [];

  /** `newHistogram`: how a histogram is made when no spare is left (a test counts them). */
  constructor(private readonly sink: Sink, private readonly runStart: number, private readonly newHistogram: () => Histogram = createHistogram) {}

  start(): void {
    this.timer = setInterval(() => this.flush(now()), 250);
    this.timer.unref();
  }

  /** Records one finished request at `time`: a response (status) or a failure; latencyUs undefined when its start is unknown; late: its stage had ended. */
  record(time: number, stage: string, outcome: Outcome, latencyUs?: number, bytes = 0, serviceTimeUs?: number, late = false): void {
    const idx = Math.floor((time - this.runStart) / 1000);
    let b = this.current;
    // hot path: the same window and stage as the last record (no key string is built)
    if (b === undefined || idx !== this.currentIdx || stage !== b.stage) {
      const key = idx + '|' + stage;
      this.currentIdx = idx;
      b = this.buckets.get(key);
      if (!b) {
        b = { stage, start: this.runStart + idx * 1000, responses: 0, late: 0, bytes: 0, errors: new Map(), latency: this.histogram() };
        this.buckets.set(key, b);
      }
      this.current = b;
      this.currentKey = key;
    }
    if (latencyUs !== undefined) record(b.latency, latencyUs);
    if (typeof outcome === 'number') {
      b.responses++;
      b.bytes += bytes;
      if (late) b.late++;
      if (serviceTimeUs !== undefined) record((b.serviceTime ??= this.histogram()), serviceTimeUs);
    }
    const kind = errorKind(outcome);
    if (kind !== undefined) {
      b.errors.set(kind, (b.errors.get(kind) ?? 0) + 1);
      const k = this.totals.get(kind);
      if (k) k.n++;
      else this.totals.set(kind, { n: 1, first: time });
    }
  }

  /** Emits every window that ended before `upTo` (all of them when upTo is Infinity). */
  flush(upTo: number): void {
    for (const [key, b] of this.buckets) {
      if (b.start + 1000 > upTo) continue;
      this.emit(b);
      this.buckets.delete(key);
      if (key === this.currentKey) this.current = undefined;
      this.release(b.latency);
      if (b.serviceTime) this.release(b.serviceTime);
    }
  }

  private histogram(): Histogram {
    return this.spare.pop() ?? this.newHistogram();
  }

  /** An emitted window's histogram (encoded already) back to the spares, cleared; a few are enough (windows open at once). */
  private release(h: Histogram): void {
    if (this.spare.length >= SPARE_MAX) return;
    h.reset();
    this.spare.push(h);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.flush(Infinity);
  }

  private emit(b: Bucket): void {
    const tags = { stage: b.stage };
    this.sink.sample({ metric: 'http.reqs', time: b.start, value: b.responses, tags });
    this.sink.sample({ metric: 'http.bytes', time: b.start, value: b.bytes, tags });
    if (b.late) this.sink.sample({ metric: 'http.reqs_late', time: b.start, value: b.late, tags });
    for (const [kind, n] of b.errors) this.sink.sample({ metric: 'http.errors', time: b.start, value: n, tags: { stage: b.stage, kind } });
    if (b.latency.totalCount) this.sink.sample({ metric: 'http.latency_us', time: b.start, value: b.latency.totalCount, tags, hist: encode(b.latency) });
    if (b.serviceTime?.totalCount) this.sink.sample({ metric: 'http.service_time_us', time: b.start, value: b.serviceTime.totalCount, tags, hist: encode(b.serviceTime) });
  }
}
