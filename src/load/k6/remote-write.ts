import protobuf from 'protobufjs';
import { compress, uncompress } from 'snappyjs';

// Prometheus remote write 1.0 on the wire: an HTTP POST whose body is one snappy block (no framing)
// of a protobuf `prometheus.WriteRequest`. The subset below is written from the protocol's
// documented field numbers (prompb types.proto / remote.proto): labels, float samples and native
// histograms with integer counts (schema, zero bucket, spans + deltas). Exemplars, metadata and
// float-count histograms are not read. A sample whose value is NaN is a stale marker (k6 sends them
// at its end when asked): it ends a series and carries no value.

const PROTO = `
syntax = "proto3";
package prometheus;
message WriteRequest { repeated TimeSeries timeseries = 1; }
message TimeSeries {
  repeated Label labels = 1;
  repeated Sample samples = 2;
  repeated Histogram histograms = 4;
}
message Label { string name = 1; string value = 2; }
message Sample { double value = 1; int64 timestamp = 2; }
message BucketSpan { sint32 offset = 1; uint32 length = 2; }
message Histogram {
  oneof count { uint64 count_int = 1; double count_float = 2; }
  double sum = 3;
  sint32 schema = 4;
  double zero_threshold = 5;
  oneof zero_count { uint64 zero_count_int = 6; double zero_count_float = 7; }
  repeated BucketSpan negative_spans = 8;
  repeated sint64 negative_deltas = 9;
  repeated double negative_counts = 10;
  repeated BucketSpan positive_spans = 11;
  repeated sint64 positive_deltas = 12;
  repeated double positive_counts = 13;
  int64 timestamp = 15;
}
`;

const root = protobuf.parse(PROTO, { keepCase: false }).root;
const WriteRequestType = root.lookupType('prometheus.WriteRequest');

/** One native histogram as sent: cumulative since the sender started, counts as integers. */
export interface NativeHistogram {
  count: number;
  sum: number;
  /** Bucket i (schema s) holds values in (2^((i−1)/2^s), 2^(i/2^s)]. */
  schema: number;
  zeroThreshold: number;
  zeroCount: number;
  /** Positive buckets: index → count (only non-zero ones). */
  positive: Map<number, number>;
  /** Negative buckets (mirrored indexes); durations never have any. */
  negative: Map<number, number>;
  timestamp: number;
}

/** One series of a write request: its labels (by name), float samples and native histograms. */
export interface Series {
  labels: Record<string, string>;
  samples: { value: number; timestamp: number }[];
  histograms: NativeHistogram[];
}

/** A remote write body did not decode (bad snappy block or protobuf). */
export class RemoteWriteFormatError extends Error {}

/** Largest decompressed body accepted (k6 sends a few KB per push). */
const MAX_BODY = 64 << 20;

/** Decodes one remote write body (snappy block of a WriteRequest) into series. */
export function decodeWriteRequest(body: Uint8Array): Series[] {
  let raw: Uint8Array;
  try {
    raw = uncompress(body, MAX_BODY);
  } catch (cause) {
    throw new RemoteWriteFormatError(`not a snappy block: ${(cause as Error).message}`);
  }
  let obj: { timeseries?: RawSeries[] };
  try {
    obj = WriteRequestType.toObject(WriteRequestType.decode(raw), { longs: Number, oneofs: false, defaults: false }) as { timeseries?: RawSeries[] };
  } catch (cause) {
    throw new RemoteWriteFormatError(`not a protobuf WriteRequest: ${(cause as Error).message}`);
  }
  return (obj.timeseries ?? []).map(toSeries);
}

/** Encodes series as a remote write body (for tests and tools that send: the inverse of decodeWriteRequest). */
export function encodeWriteRequest(series: Series[]): Uint8Array {
  const timeseries = series.map((s) => ({
    labels: Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, value]) => ({ name, value })),
    samples: s.samples,
    histograms: s.histograms.map((h) => {
      const pos = toSpans(h.positive);
      const neg = toSpans(h.negative);
      return {
        countInt: h.count, sum: h.sum, schema: h.schema, zeroThreshold: h.zeroThreshold, zeroCountInt: h.zeroCount,
        positiveSpans: pos.spans, positiveDeltas: pos.deltas, negativeSpans: neg.spans, negativeDeltas: neg.deltas, timestamp: h.timestamp,
      };
    }),
  }));
  const msg = WriteRequestType.fromObject({ timeseries });
  return compress(WriteRequestType.encode(msg).finish());
}

interface RawSpan { offset?: number; length?: number }
interface RawHistogram {
  countInt?: number; countFloat?: number; sum?: number; schema?: number; zeroThreshold?: number;
  zeroCountInt?: number; zeroCountFloat?: number;
  negativeSpans?: RawSpan[]; negativeDeltas?: number[]; negativeCounts?: number[];
  positiveSpans?: RawSpan[]; positiveDeltas?: number[]; positiveCounts?: number[];
  timestamp?: number;
}
interface RawSeries {
  labels?: { name?: string; value?: string }[];
  samples?: { value?: number; timestamp?: number }[];
  histograms?: RawHistogram[];
}

function toSeries(r: RawSeries): Series {
  const labels: Record<string, string> = {};
  for (const l of r.labels ?? []) labels[l.name ?? ''] = l.value ?? '';
  return {
    labels,
    samples: (r.samples ?? []).map((s) => ({ value: s.value ?? 0, timestamp: s.timestamp ?? 0 })),
    histograms: (r.histograms ?? []).map(toHistogram),
  };
}

function toHistogram(h: RawHistogram): NativeHistogram {
  if (h.countFloat !== undefined || h.positiveCounts?.length || h.negativeCounts?.length) {
    throw new RemoteWriteFormatError('float-count native histograms are not read (k6 sends integer counts)');
  }
  return {
    count: h.countInt ?? 0,
    sum: h.sum ?? 0,
    schema: h.schema ?? 0,
    zeroThreshold: h.zeroThreshold ?? 0,
    zeroCount: h.zeroCountInt ?? 0,
    positive: expand(h.positiveSpans ?? [], h.positiveDeltas ?? []),
    negative: expand(h.negativeSpans ?? [], h.negativeDeltas ?? []),
    timestamp: h.timestamp ?? 0,
  };
}

/**
 * Spans + deltas → bucket index → count. The first span's offset is the first bucket's index, every
 * later offset the gap after the previous span; the first delta is the first bucket's count, every
 * later one the difference from the bucket before it (across spans).
 */
export function expand(spans: RawSpan[], deltas: number[]): Map<number, number> {
  const out = new Map<number, number>();
  let index = 0;
  let count = 0;
  let d = 0;
  for (let s = 0; s < spans.length; s++) {
    index += spans[s].offset ?? 0;
    const length = spans[s].length ?? 0;
    for (let k = 0; k < length; k++, index++) {
      if (d >= deltas.length) throw new RemoteWriteFormatError(`native histogram: spans cover more buckets than its ${deltas.length} deltas`);
      count += deltas[d++];
      if (count < 0) throw new RemoteWriteFormatError('native histogram: a bucket count below zero');
      if (count > 0) out.set(index, count);
    }
  }
  if (d !== deltas.length) throw new RemoteWriteFormatError(`native histogram: ${deltas.length} deltas for ${d} buckets`);
  return out;
}

/** Bucket index → count as spans + deltas (buckets in index order; a gap of any length starts a new span). */
function toSpans(buckets: Map<number, number>): { spans: { offset: number; length: number }[]; deltas: number[] } {
  const idx = [...buckets.keys()].sort((a, b) => a - b);
  const spans: { offset: number; length: number }[] = [];
  const deltas: number[] = [];
  let prevIndex = 0;
  let prevCount = 0;
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k];
    if (k > 0 && i === prevIndex + 1) spans[spans.length - 1].length++;
    else spans.push({ offset: k === 0 ? i : i - prevIndex - 1, length: 1 });
    const c = buckets.get(i)!;
    deltas.push(c - prevCount);
    prevIndex = i;
    prevCount = c;
  }
  return { spans, deltas };
}

/** Upper bound of native bucket `index` at `schema`: 2^(index / 2^schema). */
export function upperBound(schema: number, index: number): number {
  return 2 ** (index / 2 ** schema);
}
