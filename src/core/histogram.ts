// The histogram codec: HDR histograms (hdr-histogram-js) for recording, and one text form of their
// bucket counts for the journal and for crossing process boundaries, cheap to read back without the
// library. Journals written before this form carry compressed base64 (HdrHistogram V2); those are
// still read, through the library's public decoder.
import * as hdr from 'hdr-histogram-js';

/** An HDR histogram of integer values (latencies in µs by convention): 1 .. one hour, 3 significant digits. */
export type Histogram = hdr.JsHistogram;

const HIGHEST = 3_600_000_000; // one hour in µs

/** An empty histogram of the default layout (values above one hour are clamped by record, never thrown). */
export function createHistogram(): Histogram {
  return new hdr.Int32Histogram(1, HIGHEST, 3);
}

/** Records one value, clamped into the trackable range so an outlier never throws. */
export function record(h: Histogram, value: number): void {
  h.recordValue(Math.min(HIGHEST, Math.max(1, Math.round(value))));
}

/** Bucket layout of an HDR histogram (its lowest discernible value and significant digits fix it). */
export interface Layout {
  lowest: number;
  digits: number;
  unitMagnitude: number;
  subBucketHalfCountMagnitude: number;
  subBucketHalfCount: number;
  subBucketCount: number;
}

const layouts = new Map<string, Layout>();

/** The layout for these parameters; one object per layout, so layouts compare by identity. */
export function layoutOf(lowest: number, digits: number): Layout {
  const key = `${lowest}/${digits}`;
  let l = layouts.get(key);
  if (!l) {
    const subBucketCountMagnitude = Math.ceil(Math.log2(2 * 10 ** digits));
    const subBucketHalfCountMagnitude = Math.max(subBucketCountMagnitude, 1) - 1;
    l = {
      lowest,
      digits,
      unitMagnitude: Math.floor(Math.log2(lowest)),
      subBucketHalfCountMagnitude,
      subBucketHalfCount: 2 ** subBucketHalfCountMagnitude,
      subBucketCount: 2 ** (subBucketHalfCountMagnitude + 1),
    };
    layouts.set(key, l);
  }
  return l;
}

/** The layout createHistogram builds. */
export const DEFAULT_LAYOUT = layoutOf(1, 3);

/** Powers of two by exponent (`2 ** n` with a variable n is slow in hot loops). */
const POW2 = Float64Array.from({ length: 64 }, (_, i) => 2 ** i);

const bucketOfIndex = (l: Layout, index: number): number => Math.max(0, Math.floor(index / l.subBucketHalfCount) - 1);

/** Lowest value of the bucket at `index` (the library's valueFromIndex). */
export function valueFromIndex(l: Layout, index: number): number {
  let bucketIndex = Math.floor(index / l.subBucketHalfCount) - 1;
  let subBucketIndex = (index % l.subBucketHalfCount) + l.subBucketHalfCount;
  if (bucketIndex < 0) {
    subBucketIndex -= l.subBucketHalfCount;
    bucketIndex = 0;
  }
  return subBucketIndex * POW2[bucketIndex + l.unitMagnitude];
}

/** Highest value of the bucket at `index` (what the library's getValueAtPercentile returns). */
export function highestAtIndex(l: Layout, index: number): number {
  return valueFromIndex(l, index) + POW2[bucketOfIndex(l, index) + l.unitMagnitude] - 1;
}

/** Middle value of the bucket at `index` (what the library's mean weighs with). */
export function medianAtIndex(l: Layout, index: number): number {
  return valueFromIndex(l, index) + Math.floor(POW2[bucketOfIndex(l, index) + l.unitMagnitude] / 2);
}

/** Bucket index of a value (the library's countsArrayIndex). */
export function indexOfValue(l: Layout, value: number): number {
  const mask = (l.subBucketCount - 1) * 2 ** l.unitMagnitude;
  const bucketIndex = Math.max(0, Math.floor(Math.log2(Math.max(value, mask))) - l.unitMagnitude - l.subBucketHalfCountMagnitude);
  const subBucketIndex = Math.floor(value / 2 ** (bucketIndex + l.unitMagnitude));
  return (bucketIndex + 1) * l.subBucketHalfCount + (subBucketIndex - l.subBucketHalfCount);
}

/** A histogram as its non-zero buckets: indexes ascending, their counts, and the counts' sum. */
export interface SparseHist {
  layout: Layout;
  idx: number[];
  cnt: number[];
  total: number;
}

/** The non-zero buckets of a library histogram, read through its public counts API. */
export function sparseOf(h: Histogram): SparseHist {
  const layout = layoutOf(h.lowestDiscernibleValue, h.numberOfSignificantValueDigits);
  const idx: number[] = [];
  const cnt: number[] = [];
  let total = 0;
  if (h.totalCount > 0) {
    const last = Math.min(h.countsArrayLength - 1, h.countsArrayIndex(h.maxValue));
    for (let i = 0; i <= last; i++) {
      const c = h.getCountAtIndex(i);
      if (c > 0) {
        idx.push(i);
        cnt.push(c);
        total += c;
      }
    }
  }
  return { layout, idx, cnt, total };
}

/**
 * The journal's text form of sparse buckets: `lowest/digits:` then `index*count` pairs joined by
 * commas, each index after the first written as its distance from the one before. Empty: `1/3:`.
 */
export function encodeSparse(s: SparseHist): string {
  let out = `${s.layout.lowest}/${s.layout.digits}:`;
  let prev = 0;
  for (let i = 0; i < s.idx.length; i++) {
    out += `${i ? ',' : ''}${s.idx[i] - prev}*${s.cnt[i]}`;
    prev = s.idx[i];
  }
  return out;
}

/** Encodes for the journal and for crossing process boundaries (the text form of encodeSparse). */
export function encode(h: Histogram): string {
  return encodeSparse(sparseOf(h));
}

/** Journals before the text form: compressed base64 HdrHistogram V2, whose cookie encodes as "HIST". */
const isCompressedBase64 = (text: string): boolean => text.startsWith('HIST');

const malformed = (text: string): Error => new Error(`not an encoded histogram: ${text.slice(0, 40)}`);

/** Reads the digits from `at`; NaN when there are none. */
function digitsAt(text: string, at: number): { value: number; end: number } {
  let value = 0;
  let i = at;
  for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) value = value * 10 + (c - 48);
  return { value: i === at ? NaN : value, end: i };
}

function parseSparse(text: string): SparseHist {
  const lowest = digitsAt(text, 0);
  const digits = digitsAt(text, lowest.end + 1);
  if (text.charCodeAt(lowest.end) !== 47 /* / */ || text.charCodeAt(digits.end) !== 58 /* : */ || !(lowest.value >= 1) || !(digits.value >= 0 && digits.value <= 5)) throw malformed(text);
  const idx: number[] = [];
  const cnt: number[] = [];
  let total = 0;
  let at = digits.end + 1;
  let index = 0;
  while (at < text.length) {
    const d = digitsAt(text, at);
    const c = digitsAt(text, d.end + 1);
    if (text.charCodeAt(d.end) !== 42 /* * */ || !(c.value > 0) || !(d.value >= 0) || (idx.length > 0 && d.value === 0)) throw malformed(text);
    index += d.value;
    idx.push(index);
    cnt.push(c.value);
    total += c.value;
    at = c.end;
    if (at < text.length && text.charCodeAt(at++) !== 44 /* , */) throw malformed(text);
  }
  if (!Number.isSafeInteger(total) || at !== text.length || text.charCodeAt(text.length - 1) === 44) throw malformed(text);
  return { layout: layoutOf(lowest.value, digits.value), idx, cnt, total };
}

/** The buckets of an encoded histogram, either form (an old journal's through the library: slower). */
export function decodeSparse(text: string): SparseHist {
  return isCompressedBase64(text) ? sparseOf(hdr.decodeFromCompressedBase64(text, 32, false) as Histogram) : parseSparse(text);
}

/** A library histogram with an encoded histogram's counts; min, max and total as the library's own decoder sets them. */
export function decode(text: string): Histogram {
  if (isCompressedBase64(text)) return hdr.decodeFromCompressedBase64(text, 32, false) as Histogram;
  const s = parseSparse(text);
  const top = s.idx.length ? highestAtIndex(s.layout, s.idx[s.idx.length - 1]) : 0;
  const h = new hdr.Int32Histogram(s.layout.lowest, Math.max(HIGHEST, top, 2 * s.layout.lowest), s.layout.digits);
  for (let i = 0; i < s.idx.length; i++) h.recordValueWithCount(valueFromIndex(s.layout, s.idx[i]), s.cnt[i]);
  h.establishInternalTackingValues();
  return h;
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

/** The summary of a library histogram (analysis uses summarizeSparse, with equal figures, on buckets). */
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
