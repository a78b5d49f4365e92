import * as hdr from 'hdr-histogram-js';

/** An HDR histogram of integer values (latencies in µs by convention). 3 significant digits. */
export type Histogram = hdr.Histogram;

const HIGHEST = 3_600_000_000; // one hour in µs

export function createHistogram(): Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST,
    numberOfSignificantValueDigits: 3,
    bitBucketSize: 32,
    autoResize: false,
    useWebAssembly: false,
  });
}

/** Records one value, clamped into the trackable range so an outlier never throws. */
export function record(h: Histogram, value: number): void {
  h.recordValue(Math.min(HIGHEST, Math.max(1, Math.round(value))));
}

/** Encodes for the journal and for crossing process boundaries (compressed base64, HdrHistogram V2). */
export function encode(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decode(text: string): Histogram {
  return hdr.decodeFromCompressedBase64(text, 32, false);
}

/** Merges encoded histograms exactly (bucket counts add). */
export function mergeEncoded(texts: Iterable<string>): Histogram {
  const out = createHistogram();
  for (const t of texts) out.add(decode(t));
  return out;
}

/** Percentile summary of a histogram, in the histogram's unit divided by `divisor`. */
export interface HistogramSummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

export function summarize(h: Histogram, divisor = 1): HistogramSummary {
  const at = (p: number) => (h.totalCount ? h.getValueAtPercentile(p) / divisor : 0);
  return {
    count: h.totalCount,
    min: h.totalCount ? h.minNonZeroValue / divisor : 0,
    mean: h.totalCount ? h.mean / divisor : 0,
    p50: at(50),
    p90: at(90),
    p95: at(95),
    p99: at(99),
    p999: at(99.9),
    max: h.totalCount ? h.maxValue / divisor : 0,
  };
}
