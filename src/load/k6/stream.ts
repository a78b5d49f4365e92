import type { Sink } from '../../core/types.ts';
import type { WindowRecorder } from '../windows.ts';
import { SENT_METRIC, START_METRIC } from './script.ts';

// Reads k6's `--out json` stream (one JSON object per line) while k6 writes it, and folds the
// points loadscope needs into the run's 1 s windows. Lines look like
//   {"metric":"http_req_duration","type":"Point","data":{"time":"2026-…T21:42:46.484320375Z","value":6.3,"tags":{…}}}
// `time` is k6's wall clock when the sample was taken (for HTTP metrics: when the response ended),
// `value` is in the metric's unit (ms for timings). "type":"Metric" lines declare metrics; skipped.

/** One k6 sample. `time` is epoch ms (float, µs kept) on k6's wall clock. */
export interface K6Point {
  metric: string;
  time: number;
  value: number;
  tags: Record<string, string>;
}

/** The metrics the engine reads; every other line is skipped without being parsed. */
export const READ_METRICS = new Set(['http_req_duration', 'data_received', 'dropped_iterations', SENT_METRIC, START_METRIC]);

/**
 * Splits a chunked NDJSON stream into lines and parses the Point lines of `metrics` only (a cheap
 * prefix test decides before JSON.parse). Malformed lines are counted, never thrown.
 */
export class K6JsonParser {
  lines = 0;
  malformed = 0;
  private rest = '';

  constructor(private readonly onPoint: (p: K6Point) => void, private readonly metrics: ReadonlySet<string> = READ_METRICS) {}

  push(chunk: string): void {
    const text = this.rest + chunk;
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) !== -1) {
      this.line(text, start, nl);
      start = nl + 1;
    }
    this.rest = text.slice(start);
  }

  /** The stream ended: a last line without a newline is still read. */
  end(): void {
    if (this.rest.trim() !== '') this.line(this.rest, 0, this.rest.length);
    this.rest = '';
  }

  private line(text: string, start: number, end: number): void {
    if (end <= start) return;
    this.lines++;
    let metric: string | undefined;
    if (text.startsWith('{"metric":"', start)) {
      const q = text.indexOf('"', start + 11);
      if (q === -1 || q > end) return void this.malformed++;
      metric = text.slice(start + 11, q);
      if (!this.metrics.has(metric) || !text.startsWith('","type":"Point"', q)) return;
    } else if (!text.startsWith('{"type":"Point"', start)) {
      return;
    }
    let rec: { metric?: unknown; data?: { time?: unknown; value?: unknown; tags?: unknown } };
    try {
      rec = JSON.parse(text.slice(start, end));
    } catch {
      this.malformed++;
      return;
    }
    if (typeof rec.metric !== 'string' || !this.metrics.has(rec.metric)) return;
    const d = rec.data;
    const time = typeof d?.time === 'string' ? parseK6Time(d.time) : NaN;
    if (!Number.isFinite(time) || typeof d?.value !== 'number') return void this.malformed++;
    this.onPoint({ metric: rec.metric, time, value: d.value, tags: (d.tags ?? {}) as Record<string, string> });
  }
}

/** RFC 3339 with up to nanoseconds ("2026-11-22T21:42:46.484320375Z", "+02:00") → epoch ms, µs kept. */
export function parseK6Time(text: string): number {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!m) return NaN;
  const whole = Date.parse(m[1] + m[3]);
  const frac = m[2] ? Number(`0.${m[2]}`) * 1000 : 0;
  return whole + frac;
}

/** What a collector needs to know about the stages of one run. */
export interface StageMap {
  /** Loadscope stage of a sample, from its tags (k6 scenario, or the `stage` tag of stepped stages). */
  stageOf(tags: Record<string, string>): string;
  /** Open-model stage: the latency is also recorded as service time (k6 never queues an arrival). */
  isOpen(stage: string): boolean;
}

/** k6 `error_code` of a request timeout; other failed requests without a status are connection errors. */
const K6_TIMEOUT = '1050';

/**
 * Folds one k6 process's points into the shared WindowRecorder (http.* windows) plus http.dropped
 * windows (k6's dropped_iterations), and keeps that process's totals.
 * Several collectors (one per k6 process) may feed one recorder: the windows' HDR histograms then
 * hold the merged data exactly.
 */
export class K6Collector {
  responses = 0;
  failures = 0;
  sent = 0;
  dropped = 0;
  /** Per stage: earliest request start and latest response seen (run time base). */
  readonly spans = new Map<string, { first: number; last: number }>();
  /** data_received arrives per iteration, after its requests; it is added to the stage's next request. */
  private pendingBytes = new Map<string, number>();
  /** Dropped arrivals per 1 s window and stage, emitted as http.dropped samples (the timeline shows where k6 fell behind). */
  private droppedWindows = new Map<string, { time: number; stage: string; n: number }>();

  /**
   * @param clockOffset added to k6 times to put them on the run's time base (loadscope now() − Date.now()).
   * @param onFirst called once per stage when its first request is seen (stage start = that request's send).
   * @param onStart called when a generated script's setup() marks the test start.
   */
  constructor(
    private readonly recorder: WindowRecorder,
    private readonly stages: StageMap,
    private readonly clockOffset: number,
    private readonly onFirst?: (stage: string, time: number) => void,
    private readonly onStart?: (time: number) => void,
    private readonly runStart = 0,
  ) {}

  point(p: K6Point): void {
    const time = p.time + this.clockOffset;
    switch (p.metric) {
      case 'http_req_duration': {
        const stage = this.stages.stageOf(p.tags);
        this.span(stage, time - p.value, time);
        const status = p.tags.status === undefined ? 200 : Number(p.tags.status);
        if (!(status > 0)) {
          this.recorder.record(time, stage, p.tags.error_code === K6_TIMEOUT ? 'timeout' : 'conn');
          this.failures++;
          return;
        }
        const us = p.value * 1000;
        const bytes = this.pendingBytes.get(stage) ?? 0;
        if (bytes) this.pendingBytes.set(stage, 0);
        this.recorder.record(time, stage, status, us, bytes, this.stages.isOpen(stage) ? us : undefined);
        this.responses++;
        return;
      }
      case 'data_received': {
        if (p.tags.scenario === undefined) return;
        const stage = this.stages.stageOf(p.tags);
        this.pendingBytes.set(stage, (this.pendingBytes.get(stage) ?? 0) + p.value);
        return;
      }
      case 'dropped_iterations': {
        this.dropped += p.value;
        const stage = this.stages.stageOf(p.tags);
        const start = this.runStart + Math.floor((time - this.runStart) / 1000) * 1000;
        const key = `${start}|${stage}`;
        const w = this.droppedWindows.get(key);
        if (w) w.n += p.value;
        else this.droppedWindows.set(key, { time: start, stage, n: p.value });
        return;
      }
      case SENT_METRIC:
        this.sent += p.value;
        return;
      case START_METRIC:
        this.onStart?.(time);
        return;
    }
  }

  /** Emits the http.dropped windows that ended before `upTo` (all of them when upTo is Infinity). */
  flushDropped(sink: Sink, upTo: number): void {
    for (const [key, w] of this.droppedWindows) {
      if (w.time + 1000 > upTo) continue;
      sink.sample({ metric: 'http.dropped', time: w.time, value: w.n, tags: { stage: w.stage } });
      this.droppedWindows.delete(key);
    }
  }

  /** Bytes received after the last request of their stage; written as http.bytes samples at `time`. */
  flushBytes(sink: Sink, time: number): void {
    for (const [stage, bytes] of this.pendingBytes) {
      if (bytes > 0) sink.sample({ metric: 'http.bytes', time: Math.floor(time), value: bytes, tags: { stage } });
    }
    this.pendingBytes.clear();
  }

  private span(stage: string, first: number, last: number): void {
    const s = this.spans.get(stage);
    if (!s) {
      this.spans.set(stage, { first, last });
      this.onFirst?.(stage, first);
      return;
    }
    if (first < s.first) s.first = first;
    if (last > s.last) s.last = last;
  }
}
