// Fast reading of the journal's encoded HDR histograms. hdr-histogram-js decodes one in ~0.25 ms and
// summarizes one in ~5 ms (it walks every bucket once per percentile and once more for the mean); a
// one-hour run holds tens of thousands, so correlation reads them here instead: a small inflate, the
// counts kept sparse, every percentile in one pass. Results are identical to the library's
// (summarize() of a decoded or merged histogram) — test/correlate/hist.test.ts holds it to that.
import { createHistogram, decode as libDecode, type Histogram, type HistogramSummary } from '../core/histogram.ts';

/** Bucket layout of an HDR histogram (lowest discernible value and significant digits fix it). */
export interface Layout {
  lowest: number;
  digits: number;
  unitMagnitude: number;
  subBucketHalfCountMagnitude: number;
  subBucketHalfCount: number;
  subBucketCount: number;
}

/** A decoded histogram: non-zero counts only, ascending by index. */
export interface SparseHist {
  layout: Layout;
  idx: number[];
  cnt: number[];
  total: number;
}

const layouts = new Map<string, Layout>();

export function layoutOf(lowest: number, digits: number): Layout {
  const key = `${lowest}/${digits}`;
  let l = layouts.get(key);
  if (!l) {
    const largestSingleUnit = 2 * 10 ** digits;
    const subBucketCountMagnitude = Math.ceil(Math.log2(largestSingleUnit));
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

/** The layout model/histogram.ts builds (1 µs .. 1 h, 3 digits). */
export const DEFAULT_LAYOUT = layoutOf(1, 3);

/** Powers of two by exponent (`2 ** n` with a variable n is slow in V8's hot loops). */
const POW2 = Float64Array.from({ length: 64 }, (_, i) => 2 ** i);

/** Lowest value of the bucket at `index` (HDR valueFromIndex). */
export function valueFromIndex(l: Layout, index: number): number {
  let bucketIndex = Math.floor(index / l.subBucketHalfCount) - 1;
  let subBucketIndex = (index % l.subBucketHalfCount) + l.subBucketHalfCount;
  if (bucketIndex < 0) {
    subBucketIndex -= l.subBucketHalfCount;
    bucketIndex = 0;
  }
  return subBucketIndex * POW2[bucketIndex + l.unitMagnitude];
}

function bucketOfIndex(l: Layout, index: number): number {
  return Math.max(0, Math.floor(index / l.subBucketHalfCount) - 1);
}

/** Highest value equivalent to the bucket at `index` (what getValueAtPercentile returns). */
export function highestAtIndex(l: Layout, index: number): number {
  return valueFromIndex(l, index) + POW2[bucketOfIndex(l, index) + l.unitMagnitude] - 1;
}

/** Middle value of the bucket at `index` (what the library's mean weighs with). */
export function medianAtIndex(l: Layout, index: number): number {
  return valueFromIndex(l, index) + Math.floor(POW2[bucketOfIndex(l, index) + l.unitMagnitude] / 2);
}

/** Counts-array index of a value (HDR countsArrayIndex). */
export function indexOfValue(l: Layout, value: number): number {
  const mask = (l.subBucketCount - 1) * 2 ** l.unitMagnitude;
  const bucketIndex = Math.max(0, Math.floor(Math.log2(Math.max(value, mask))) - l.unitMagnitude - l.subBucketHalfCountMagnitude);
  const subBucketIndex = Math.floor(value / 2 ** (bucketIndex + l.unitMagnitude));
  return (bucketIndex + 1) * l.subBucketHalfCount + (subBucketIndex - l.subBucketHalfCount);
}

// ---- inflate (RFC 1950/1951), enough for the small zlib streams HDR writes ----

const FAST_BITS = 9;

/** Canonical Huffman code: counts per length, symbols in code order, and a 9-bit lookup table. */
interface Tree {
  counts: Uint16Array;
  symbols: Uint16Array;
  /** Indexed by the next FAST_BITS input bits: symbol << 4 | code length, or 0 for longer codes. */
  fast: Uint32Array;
}

const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

const newTree = (): Tree => ({ counts: new Uint16Array(16), symbols: new Uint16Array(320), fast: new Uint32Array(1 << FAST_BITS) });

/** Bit-reversed FAST_BITS-bit numbers (Huffman codes are stored most significant bit first). */
const REVERSED = Uint16Array.from({ length: 1 << FAST_BITS }, (_, x) => {
  let r = 0;
  for (let i = 0; i < FAST_BITS; i++) r |= ((x >> i) & 1) << (FAST_BITS - 1 - i);
  return r;
});
const offs = new Uint16Array(16);

function buildTree(t: Tree, lengths: Uint8Array, off: number, num: number, fast = true): void {
  t.counts.fill(0);
  if (fast) t.fast.fill(0);
  for (let i = 0; i < num; i++) t.counts[lengths[off + i]]++;
  t.counts[0] = 0;
  for (let sum = 0, i = 0; i < 16; i++) {
    offs[i] = sum;
    sum += t.counts[i];
  }
  for (let i = 0; i < num; i++) if (lengths[off + i]) t.symbols[offs[lengths[off + i]]++] = i;
  if (!fast) return;
  let code = 0;
  let k = 0;
  for (let len = 1; len < 16; len++) {
    for (let j = 0; j < t.counts[len]; j++, k++, code++) {
      if (len > FAST_BITS) continue;
      const entry = (t.symbols[k] << 4) | len;
      for (let x = REVERSED[code << (FAST_BITS - len)]; x < 1 << FAST_BITS; x += 1 << len) t.fast[x] = entry;
    }
    code <<= 1;
  }
}

const FIXED_LIT = newTree();
const FIXED_DIST = newTree();
{
  const l = new Uint8Array(288);
  l.fill(8, 0, 144);
  l.fill(9, 144, 256);
  l.fill(7, 256, 280);
  l.fill(8, 280, 288);
  buildTree(FIXED_LIT, l, 0, 288);
  const d = new Uint8Array(30).fill(5);
  buildTree(FIXED_DIST, d, 0, 30);
}

class Inflater {
  pos: number;
  buf = 0;
  bits = 0;
  out: Uint8Array;
  n = 0;
  private lit = newTree();
  private dist = newTree();
  private clen = newTree();
  private lengths = new Uint8Array(288 + 32);
  private src: Uint8Array = new Uint8Array(0);

  constructor() {
    this.pos = 0;
    this.out = new Uint8Array(4096);
  }

  /** Makes at least n (≤ 24) bits available; past the end of input, zero bits (checked by `over`). */
  private need(n: number): void {
    while (this.bits < n) {
      this.buf |= (this.pos < this.src.length ? this.src[this.pos] : 0) << this.bits;
      this.pos++;
      this.bits += 8;
    }
  }

  private read(n: number): number {
    if (n === 0) return 0;
    this.need(n);
    const v = this.buf & ((1 << n) - 1);
    this.buf >>>= n;
    this.bits -= n;
    return v;
  }

  private sym(t: Tree): number {
    this.need(16);
    const e = t.fast[this.buf & ((1 << FAST_BITS) - 1)];
    if (e !== 0) {
      const len = e & 15;
      this.buf >>>= len;
      this.bits -= len;
      return e >>> 4;
    }
    let sum = 0;
    let cur = 0;
    let len = 0;
    do {
      cur = 2 * cur + (this.buf & 1);
      this.buf >>>= 1;
      this.bits--;
      len++;
      if (len > 15) throw new Error('inflate: bad code');
      sum += t.counts[len];
      cur -= t.counts[len];
    } while (cur >= 0);
    return t.symbols[sum + cur];
  }

  private ensure(extra: number): void {
    if (this.n + extra <= this.out.length) return;
    const next = new Uint8Array(Math.max(this.out.length * 2, this.n + extra));
    next.set(this.out.subarray(0, this.n));
    this.out = next;
  }

  private dynamicTrees(): void {
    const hlit = this.read(5) + 257;
    const hdist = this.read(5) + 1;
    const hclen = this.read(4) + 4;
    const lengths = this.lengths;
    lengths.fill(0, 0, 19);
    for (let i = 0; i < hclen; i++) lengths[CLEN_ORDER[i]] = this.read(3);
    buildTree(this.clen, lengths, 0, 19, false);
    let i = 0;
    while (i < hlit + hdist) {
      const s = this.sym(this.clen);
      if (s < 16) {
        lengths[i++] = s;
        continue;
      }
      let rep: number;
      let val = 0;
      if (s === 16) {
        if (i === 0) throw new Error('inflate: repeat without a previous length');
        val = lengths[i - 1];
        rep = 3 + this.read(2);
      } else if (s === 17) rep = 3 + this.read(3);
      else rep = 11 + this.read(7);
      if (i + rep > hlit + hdist) throw new Error('inflate: too many lengths');
      lengths.fill(val, i, i + rep);
      i += rep;
    }
    buildTree(this.lit, lengths, 0, hlit);
    buildTree(this.dist, lengths, hlit, hdist);
  }

  private over(): void {
    if (this.pos - (this.bits >> 3) > this.src.length) throw new Error('inflate: truncated input');
  }

  private block(lt: Tree, dt: Tree): void {
    for (;;) {
      const s = this.sym(lt);
      if (s === 256) return this.over();
      if (s < 256) {
        if (this.n >= this.out.length) this.ensure(1);
        this.out[this.n++] = s;
        continue;
      }
      const li = s - 257;
      if (li >= 29) throw new Error('inflate: bad length code');
      const len = LENGTH_BASE[li] + this.read(LENGTH_EXTRA[li]);
      const di = this.sym(dt);
      if (di >= 30) throw new Error('inflate: bad distance code');
      const d = DIST_BASE[di] + this.read(DIST_EXTRA[di]);
      if (d > this.n) throw new Error('inflate: distance too far back');
      this.ensure(len);
      const out = this.out;
      for (let k = 0; k < len; k++, this.n++) out[this.n] = out[this.n - d];
      this.over();
    }
  }

  /** Inflates `src` from `start`; the result is a view of this inflater's buffer, valid until the next call. */
  run(src: Uint8Array, start: number, sizeHint: number): Uint8Array {
    this.src = src;
    this.pos = start;
    this.buf = 0;
    this.bits = 0;
    this.n = 0;
    if (this.out.length < sizeHint) this.out = new Uint8Array(sizeHint);
    let last = 0;
    do {
      last = this.read(1);
      const type = this.read(2);
      if (type === 0) {
        // drop the rest of the current byte, give back whole bytes already buffered
        this.pos -= this.bits >> 3;
        this.buf = 0;
        this.bits = 0;
        if (this.pos + 4 > this.src.length) throw new Error('inflate: truncated stored block');
        const len = this.src[this.pos] | (this.src[this.pos + 1] << 8);
        this.pos += 4;
        if (this.pos + len > this.src.length) throw new Error('inflate: truncated stored block');
        this.ensure(len);
        this.out.set(this.src.subarray(this.pos, this.pos + len), this.n);
        this.n += len;
        this.pos += len;
      } else if (type === 1) this.block(FIXED_LIT, FIXED_DIST);
      else if (type === 2) {
        this.dynamicTrees();
        this.block(this.lit, this.dist);
      } else throw new Error('inflate: bad block type');
    } while (!last);
    return this.out.subarray(0, this.n);
  }
}

/** Inflates a zlib stream (header, deflate data; the checksum is not verified). */
export function inflateZlib(src: Uint8Array, sizeHint = 4096): Uint8Array {
  if (src.length < 2 || (src[0] & 0x0f) !== 8 || ((src[0] << 8) | src[1]) % 31 !== 0 || src[1] & 0x20) throw new Error('inflate: not a zlib stream');
  return inflater.run(src, 2, sizeHint).slice();
}

/** One inflater for every histogram: its trees and output buffer are reused, not reallocated per call. */
const inflater = new Inflater();

const V2_COOKIE = 0x1c849303;
const V2_COMPRESSED_COOKIE = 0x1c849304;

function int64(b: Uint8Array, at: number): number {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return v.getUint32(at) * 2 ** 32 + v.getUint32(at + 4);
}

/** Decodes a compressed base64 HDR V2 histogram (model/histogram.ts encode) into sparse counts. */
export function decodeSparse(text: string): SparseHist {
  try {
    return decodeSparseFast(text);
  } catch {
    return fromHistogram(libDecode(text));
  }
}

function decodeSparseFast(text: string): SparseHist {
  const raw = Buffer.from(text, 'base64');
  if (raw.length < 10 || (raw.readInt32BE(0) & ~0xf0) !== V2_COMPRESSED_COOKIE) throw new Error('not a compressed V2 histogram');
  const len = raw.readInt32BE(4);
  const z = raw.subarray(8, 8 + len);
  if (z.length < 2 || (z[0] & 0x0f) !== 8 || ((z[0] << 8) | z[1]) % 31 !== 0 || z[1] & 0x20) throw new Error('inflate: not a zlib stream');
  const u = inflater.run(z, 2, len * 4);
  const view = new DataView(u.buffer, u.byteOffset, u.byteLength);
  if ((view.getInt32(0) & ~0xf0) !== V2_COOKIE) throw new Error('not a V2 histogram');
  const payload = view.getInt32(4);
  const digits = view.getInt32(12);
  const lowest = int64(u, 16);
  const layout = layoutOf(lowest, digits);
  const idx: number[] = [];
  const cnt: number[] = [];
  let total = 0;
  let p = 40;
  const end = 40 + payload;
  let at = 0;
  while (p < end) {
    let v = u[p++];
    let value = v & 0x7f;
    let scale = 128;
    while (v & 0x80) {
      v = u[p++];
      value += (v & 0x7f) * scale;
      scale *= 128;
    }
    const n = value % 2 === 0 ? value / 2 : -(value + 1) / 2;
    if (n < 0) at += -n;
    else {
      if (n > 0) {
        idx.push(at);
        cnt.push(n);
        total += n;
      }
      at++;
    }
  }
  return { layout, idx, cnt, total };
}

interface CountsAccess {
  countsArrayLength: number;
  getCountAtIndex(i: number): number;
  _counts?: ArrayLike<number>;
  lowestDiscernibleValue: number;
  numberOfSignificantValueDigits: number;
}

/** Sparse counts of a library histogram. */
export function fromHistogram(h: Histogram): SparseHist {
  const a = h as unknown as CountsAccess;
  const layout = layoutOf(a.lowestDiscernibleValue, a.numberOfSignificantValueDigits);
  const idx: number[] = [];
  const cnt: number[] = [];
  let total = 0;
  const counts = a._counts;
  const n = a.countsArrayLength;
  for (let i = 0; i < n; i++) {
    const c = counts ? counts[i] : a.getCountAtIndex(i);
    if (c > 0) {
      idx.push(i);
      cnt.push(c);
      total += c;
    }
  }
  return { layout, idx, cnt, total };
}

/**
 * A library histogram with the same counts (what results.ts merges with `add`): the fast decode,
 * then min, max and total set as the library's own decode sets them.
 */
export function decodeHistogram(text: string): Histogram {
  let s: SparseHist;
  try {
    s = decodeSparseFast(text);
  } catch {
    return libDecode(text);
  }
  const h = createHistogram();
  const a = h as unknown as CountsAccess & { setCountAtIndex(i: number, v: number): void; setTotalCount(n: number): void; maxValue: number; minNonZeroValue: number };
  if (a.lowestDiscernibleValue !== s.layout.lowest || a.numberOfSignificantValueDigits !== s.layout.digits || (s.idx.length && s.idx[s.idx.length - 1] >= a.countsArrayLength)) {
    return libDecode(text);
  }
  let minIdx = -1;
  for (let i = 0; i < s.idx.length; i++) {
    a.setCountAtIndex(s.idx[i], s.cnt[i]);
    if (minIdx < 0 && s.idx[i] !== 0) minIdx = s.idx[i];
  }
  a.setTotalCount(s.total);
  a.maxValue = s.idx.length ? highestAtIndex(s.layout, s.idx[s.idx.length - 1]) : 0;
  a.minNonZeroValue = minIdx >= 0 ? valueFromIndex(s.layout, minIdx) : Number.MAX_VALUE;
  return h;
}

/**
 * Merges sparse histograms exactly (counts add per bucket). Histograms of another layout are
 * re-bucketed into the first one's at their bucket's lowest value.
 */
export class HistAcc {
  layout: Layout | undefined;
  private counts = new Float64Array(0);
  private touched: number[] = [];
  total = 0;

  add(s: SparseHist): void {
    if (s.total === 0) return;
    this.layout ??= s.layout;
    const same = s.layout === this.layout;
    const last = s.idx.length ? (same ? s.idx[s.idx.length - 1] : indexOfValue(this.layout, valueFromIndex(s.layout, s.idx[s.idx.length - 1]))) : 0;
    if (last >= this.counts.length) {
      const next = new Float64Array(Math.max(last + 1, this.counts.length * 2, 1024));
      next.set(this.counts);
      this.counts = next;
    }
    const counts = this.counts;
    for (let i = 0; i < s.idx.length; i++) {
      const k = same ? s.idx[i] : indexOfValue(this.layout, valueFromIndex(s.layout, s.idx[i]));
      if (counts[k] === 0) this.touched.push(k);
      counts[k] += s.cnt[i];
    }
    this.total += s.total;
  }

  sparse(): SparseHist {
    // a typed array sorts numerically in native code (a comparator sort was a third of correlation's time)
    const sorted = Int32Array.from(this.touched).sort();
    const idx = new Array<number>(sorted.length);
    const cnt = new Array<number>(sorted.length);
    for (let i = 0; i < sorted.length; i++) {
      idx[i] = sorted[i];
      cnt[i] = this.counts[sorted[i]];
    }
    return { layout: this.layout ?? DEFAULT_LAYOUT, idx, cnt, total: this.total };
  }

  /** Empties the accumulator, keeping its memory. */
  clear(): void {
    for (const k of this.touched) this.counts[k] = 0;
    this.touched.length = 0;
    this.total = 0;
    this.layout = undefined;
  }
}

const scratch = new HistAcc();

/** Two sparse histograms of one layout merged by walking both index lists once. */
function mergeTwo(a: SparseHist, b: SparseHist): SparseHist {
  const idx: number[] = [];
  const cnt: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.idx.length || j < b.idx.length) {
    const x = i < a.idx.length ? a.idx[i] : Infinity;
    const y = j < b.idx.length ? b.idx[j] : Infinity;
    if (x === y) {
      idx.push(x);
      cnt.push(a.cnt[i++] + b.cnt[j++]);
    } else if (x < y) {
      idx.push(x);
      cnt.push(a.cnt[i++]);
    } else {
      idx.push(y);
      cnt.push(b.cnt[j++]);
    }
  }
  return { layout: a.layout, idx, cnt, total: a.total + b.total };
}

/** Merges several sparse histograms into one (exact). */
export function mergeSparse(list: SparseHist[]): SparseHist {
  const some = list.filter((s) => s.total > 0);
  if (some.length === 0) return list[0] ?? { layout: DEFAULT_LAYOUT, idx: [], cnt: [], total: 0 };
  if (some.length === 1) return some[0];
  if (some.length <= 4 && some.every((s) => s.layout === some[0].layout)) return some.reduce(mergeTwo);
  scratch.clear();
  for (const s of some) scratch.add(s);
  return scratch.sparse();
}

const ulp = (x: number) => 2 ** (Math.floor(Math.log2(x)) - 52);

function countAt(p: number, total: number): number {
  const fp = (Math.min(p, 100) / 100) * total;
  return Math.max(Math.ceil(fp - ulp(fp)), 1);
}

/** Value at each percentile (0 < p ≤ 100), in one pass, divided by `divisor`; zeros when empty. */
export function percentiles(s: SparseHist, ps: number[], divisor = 1): number[] {
  const out = ps.map(() => 0);
  if (s.total === 0) return out;
  const order = ps.map((p, i) => ({ need: countAt(p, s.total), i })).sort((a, b) => a.need - b.need);
  let k = 0;
  let cum = 0;
  for (let j = 0; j < s.idx.length && k < order.length; j++) {
    cum += s.cnt[j];
    while (k < order.length && cum >= order[k].need) {
      out[order[k].i] = highestAtIndex(s.layout, s.idx[j]) / divisor;
      k++;
    }
  }
  return out;
}

/** Same figures as model/histogram.ts summarize() of the equivalent library histogram. */
export function summarizeSparse(s: SparseHist, divisor = 1): HistogramSummary {
  if (s.total === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0, max: 0 };
  const [p50, p90, p95, p99, p999] = percentiles(s, [50, 90, 95, 99, 99.9], divisor);
  let sum = 0;
  let minIdx = -1;
  for (let j = 0; j < s.idx.length; j++) {
    sum += medianAtIndex(s.layout, s.idx[j]) * s.cnt[j];
    if (minIdx < 0 && s.idx[j] !== 0) minIdx = s.idx[j];
  }
  return {
    count: s.total,
    min: minIdx >= 0 ? valueFromIndex(s.layout, minIdx) / divisor : Number.MAX_VALUE / divisor,
    mean: sum / s.total / divisor,
    p50,
    p90,
    p95,
    p99,
    p999,
    max: highestAtIndex(s.layout, s.idx[s.idx.length - 1]) / divisor,
  };
}

/** summarize() for a library histogram, in one pass over its counts instead of eight. */
export function summarizeFast(h: Histogram, divisor = 1): HistogramSummary {
  return summarizeSparse(fromHistogram(h), divisor);
}

/** Merges encoded histograms and summarizes them (summarize(mergeEncoded(texts)) without the cost). */
export function summarizeEncoded(texts: Iterable<string>, divisor = 1): HistogramSummary {
  const acc = new HistAcc();
  for (const t of texts) acc.add(decodeSparse(t));
  return summarizeSparse(acc.sparse(), divisor);
}

/**
 * Counts per value range: `edges` are ascending upper bounds (a value v falls in the first range
 * with v ≤ edge; values above the last edge go to the last range). Each HDR bucket is placed by
 * its middle value.
 */
export function bucketize(s: SparseHist, edges: number[], divisor = 1): number[] {
  const out = new Array<number>(edges.length).fill(0);
  let e = 0;
  for (let j = 0; j < s.idx.length; j++) {
    const v = medianAtIndex(s.layout, s.idx[j]) / divisor;
    while (e < edges.length - 1 && v > edges[e]) e++;
    out[e] += s.cnt[j];
  }
  return out;
}

