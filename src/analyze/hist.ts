// Figures from a histogram's buckets (SparseHist, core/histogram.ts): exact merges, percentiles in
// one pass, and summaries equal to the library's summarize() of the same counts — without building a
// library histogram per window (test/analyze/hist.test.ts holds them to the library's figures).
import { DEFAULT_LAYOUT, highestAtIndex, indexOfValue, medianAtIndex, valueFromIndex, type HistogramSummary, type Layout, type SparseHist } from '../core/histogram.ts';

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

/** The same figures as core/histogram.ts summarize() of a library histogram with these counts. */
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

/** A histogram in the default layout (journals write that one; anything else is re-bucketed at its buckets' lowest values). */
export function inDefaultLayout(s: SparseHist): SparseHist {
  if (s.layout === DEFAULT_LAYOUT) return s;
  const counts = new Map<number, number>();
  for (let i = 0; i < s.idx.length; i++) {
    const k = indexOfValue(DEFAULT_LAYOUT, valueFromIndex(s.layout, s.idx[i]));
    counts.set(k, (counts.get(k) ?? 0) + s.cnt[i]);
  }
  const idx = [...counts.keys()].sort((a, b) => a - b);
  return { layout: DEFAULT_LAYOUT, idx, cnt: idx.map((k) => counts.get(k)!), total: s.total };
}
