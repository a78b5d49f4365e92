// Change points in a series with E-divisive means (Matteson & James 2014), the method Apache Otava
// (ex Hunter) and MongoDB's signal-processing use: in a segment, the split τ that maximises the
// energy statistic q̂ against the segment's end; significance by a permutation test (the segment's
// values shuffled with a fixed seed, p = (1 + #{shuffled max q̂ ≥ observed}) / (1 + permutations));
// a significant split divides the segment and both halves are searched again. Distances are |x − y|
// (exponent α = 1), which lets one scan of a segment take O(n log n): sums of distances to the points
// already moved left come from a Fenwick tree over the values' ranks.
import { xorshift32 } from '../core/random.ts';

/** A change found in a series: the series differs from `index` on (the first point of the new segment). */
export interface ChangePoint {
  index: number;
  /** Means of the segment before and of the segment from `index` on (segments bounded by the other change points). */
  before: number;
  after: number;
  /** Permutation p-value of the split in the segment where it was found. */
  pValue: number;
  /** The energy statistic q̂ of the split. */
  q: number;
}

/** Knobs of the search; the defaults are those of `loadscope history changes`. */
export interface EDivisiveOptions {
  /** A split is a change when its p-value is at most this (default 0.01). */
  maxPValue?: number;
  /** Shuffles per test (default 999: p-values down to 0.001). */
  permutations?: number;
  /** Fewest points on either side of a split (default 5, at least 2). */
  minSize?: number;
  /** Seed of the shuffles; each segment's shuffles are seeded from it and the segment's bounds. */
  seed?: number;
}

export const EDIVISIVE_DEFAULTS = { maxPValue: 0.01, permutations: 999, minSize: 5, seed: 0x5eed } as const;

/** Change points of `series` (finite numbers, in time order), sorted by index. */
export function eDivisive(series: readonly number[], opts: EDivisiveOptions = {}): ChangePoint[] {
  const d = EDIVISIVE_DEFAULTS;
  const o = { maxPValue: opts.maxPValue ?? d.maxPValue, permutations: opts.permutations ?? d.permutations, minSize: opts.minSize ?? d.minSize, seed: opts.seed ?? d.seed };
  if (!(o.minSize >= 2)) throw new RangeError(`minSize must be at least 2, got ${o.minSize}`);
  if (!(o.permutations >= 1)) throw new RangeError(`permutations must be at least 1, got ${o.permutations}`);
  for (const v of series) if (!Number.isFinite(v)) throw new RangeError(`series holds a non-finite value (${v})`);
  const found: { index: number; pValue: number; q: number }[] = [];
  const stack: [number, number][] = [[0, series.length]];
  while (stack.length) {
    const [start, end] = stack.pop()!;
    if (end - start < 2 * o.minSize) continue;
    const seg = series.slice(start, end);
    const scanner = new SegmentScanner(seg, o.minSize);
    const best = scanner.best(identity(seg.length));
    if (best.q <= 0) continue;
    const pValue = permutationPValue(scanner, best.q, o.permutations, o.maxPValue, mixSeed(o.seed, start, end));
    if (pValue > o.maxPValue) continue;
    found.push({ index: start + best.tau, pValue, q: best.q });
    stack.push([start, start + best.tau], [start + best.tau, end]);
  }
  found.sort((a, b) => a.index - b.index);
  const bounds = [0, ...found.map((f) => f.index), series.length];
  return found.map((f, i) => ({ ...f, before: mean(series, bounds[i], bounds[i + 1]), after: mean(series, bounds[i + 1], bounds[i + 2]) }));
}

/**
 * q̂ of one split, computed from its definition in O(n²): the reference the fast scan is tested
 * against. X = seg[0, tau), Y = seg[tau, n).
 */
export function qHat(seg: readonly number[], tau: number): number {
  const m = tau;
  const k = seg.length - tau;
  let cross = 0;
  let left = 0;
  let right = 0;
  for (let i = 0; i < seg.length; i++) {
    for (let j = i + 1; j < seg.length; j++) {
      const d = Math.abs(seg[i] - seg[j]);
      if (j < tau) left += d;
      else if (i >= tau) right += d;
      else cross += d;
    }
  }
  const e = (2 * cross) / (m * k) - left / ((m * (m - 1)) / 2) - right / ((k * (k - 1)) / 2);
  return ((m * k) / (m + k)) * e;
}

/** q̂ for every admissible split of one segment, for the segment's order or any permutation of it. */
export class SegmentScanner {
  readonly n: number;
  private readonly values: readonly number[];
  /** Rank (1-based position in sorted order) of each value. */
  private readonly rank: Int32Array;
  /** Sum of the distances from each value to all values of the segment. */
  private readonly rowSum: Float64Array;
  private readonly total: number;
  private readonly cnt: Float64Array;
  private readonly sum: Float64Array;

  constructor(values: readonly number[], private readonly minSize: number) {
    const n = values.length;
    this.n = n;
    this.values = values;
    const order = identity(n).sort((a, b) => values[a] - values[b]);
    this.rank = new Int32Array(n);
    const prefix = new Float64Array(n + 1);
    order.forEach((idx, r) => {
      this.rank[idx] = r + 1;
      prefix[r + 1] = prefix[r] + values[idx];
    });
    this.rowSum = new Float64Array(n);
    let total = 0;
    order.forEach((idx, r) => {
      const x = values[idx];
      const s = r * x - prefix[r] + (prefix[n] - prefix[r + 1]) - (n - r - 1) * x;
      this.rowSum[idx] = s;
      total += s;
    });
    this.total = total / 2;
    this.cnt = new Float64Array(n + 1);
    this.sum = new Float64Array(n + 1);
  }

  /** The split with the largest q̂ when the segment's values come in the order `perm` (indices into it). */
  best(perm: ArrayLike<number>): { tau: number; q: number } {
    const { n, minSize, cnt, sum, values, rank, rowSum } = this;
    cnt.fill(0);
    sum.fill(0);
    let left = 0;
    let right = this.total;
    let cross = 0;
    let leftTotal = 0;
    let best = { tau: -1, q: -Infinity };
    for (let m = 1; m <= n - minSize; m++) {
      // move point perm[m-1] from the right part to the left part
      const idx = perm[m - 1];
      const x = values[idx];
      const r = rank[idx];
      let cLess = 0;
      let sLess = 0;
      for (let i = r; i > 0; i -= i & -i) {
        cLess += cnt[i];
        sLess += sum[i];
      }
      const cMore = m - 1 - cLess;
      const sMore = leftTotal - sLess;
      const toLeft = cLess * x - sLess + (sMore - cMore * x);
      const toAll = rowSum[idx];
      left += toLeft;
      right -= toAll - toLeft;
      cross += toAll - 2 * toLeft;
      leftTotal += x;
      for (let i = r; i <= n; i += i & -i) {
        cnt[i] += 1;
        sum[i] += x;
      }
      const k = n - m;
      if (m < minSize) continue;
      const e = (2 * cross) / (m * k) - left / ((m * (m - 1)) / 2) - right / ((k * (k - 1)) / 2);
      const q = ((m * k) / n) * e;
      if (q > best.q) best = { tau: m, q };
    }
    return best;
  }
}

function permutationPValue(scanner: SegmentScanner, observed: number, permutations: number, maxP: number, seed: number): number {
  const rand = xorshift(seed);
  const n = scanner.n;
  const perm = identity(n);
  // a shuffled maximum within rounding of the observed one counts as reaching it
  const bar = observed * (1 - 1e-9);
  // past this many exceedances the split cannot be significant any more: stop early
  const hopeless = Math.floor(maxP * (permutations + 1));
  let reached = 0;
  for (let p = 0; p < permutations; p++) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      const t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    if (scanner.best(perm).q >= bar) reached++;
    if (reached >= hopeless) return (1 + reached) / (1 + p + 1);
  }
  return (1 + reached) / (1 + permutations);
}

function identity(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function mean(xs: readonly number[], from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += xs[i];
  return s / (to - from);
}

function mixSeed(seed: number, start: number, end: number): number {
  let h = (seed ^ Math.imul(start + 1, 0x9e3779b1) ^ Math.imul(end + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0 || 1;
}

const xorshift = xorshift32;
