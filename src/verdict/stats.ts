// The statistics of `loadscope compare` (docs/compare.md): a paired, stage-stratified circular block
// bootstrap over the runs' 1 s windows. Windows are resampled in blocks of consecutive windows (their
// figures are autocorrelated), separately within each stage (the stages of a run differ on purpose),
// and at the same places of the stage in both runs (they follow one plan); a replicate merges the
// drawn windows' histograms and recomputes the quantile, or sums the drawn windows' numerators and
// denominators for a ratio. Seeded, so the same runs give the same output.
import { DEFAULT_LAYOUT, highestAtIndex, indexOfValue, valueFromIndex, type SparseHist } from '../core/histogram.ts';
import { mergeSparse, percentiles } from '../analyze/hist.ts';

/** Bootstrap replicates per run and metric family. */
export const RESAMPLES = 1000;
/** Two-sided confidence of the change's interval. */
export const CONFIDENCE = 0.95;
/** Power at which the minimum detectable change is detected. */
export const POWER = 0.8;
/** The fixed seed every metric's random stream derives from (with the metric family's name). */
export const SEED = 20261206;

const Z_CONFIDENCE = 1.959963984540054; // standard normal quantile at 1 - (1 - CONFIDENCE) / 2
const Z_POWER = 0.8416212335729143; // standard normal quantile at POWER

/**
 * The observed change beyond which an estimated MDC lets a change be called: z_conf·√2·s, as a
 * magnitude. The MDC, (z_conf + z_power)·√2·s, is the true change that the observed change exceeds
 * with POWER; requiring the observed change itself to pass the MDC would call a true change of the
 * MDC's size only half the time. Relative changes are on the log scale, as the MDC, so the value
 * differs by direction (`dir` > 0 an increase: MDC 100% → +62.4%; < 0 a decrease: → −38.4%).
 */
export function mdcCritical(mdc: number, kind: ChangeKind, dir = 1): number {
  const k = Z_CONFIDENCE / (Z_CONFIDENCE + Z_POWER);
  if (kind === 'absolute') return mdc * k;
  const log = Math.log1p(mdc) * k;
  return dir < 0 ? -Math.expm1(-log) : Math.expm1(log);
}

/** A seeded uniform generator on [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed from a name and the fixed SEED (FNV-1a), so each metric family has its own stream. */
export function seedOf(name: string, salt = 0): number {
  let h = (2166136261 ^ SEED ^ salt) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** One stage's windows of a histogram metric, in time order (windows without data left out). */
export interface HistStratum {
  name: string;
  windows: SparseHist[];
}

/** One stage's windows of a ratio metric (sum of num over sum of den), in time order. */
export interface RatioStratum {
  name: string;
  num: number[];
  den: number[];
}

/**
 * Block length for a stratum of `series.length` windows: at least n^(1/3) (the usual rate), and twice
 * the first lag whose autocorrelation falls inside ±2/√n, so a block spans what the windows
 * remember of each other; at most n/3, at least 1.
 */
export function blockLength(series: number[]): number {
  const n = series.length;
  if (n < 3) return 1;
  const mean = series.reduce((a, b) => a + b, 0) / n;
  let c0 = 0;
  for (const x of series) c0 += (x - mean) ** 2;
  let lag = 0;
  if (c0 > 0) {
    const bound = 2 / Math.sqrt(n);
    for (let k = 1; k < n; k++) {
      let ck = 0;
      for (let i = 0; i + k < n; i++) ck += (series[i] - mean) * (series[i + k] - mean);
      if (Math.abs(ck / c0) < bound) {
        lag = k - 1;
        break;
      }
      lag = k;
    }
  }
  return Math.max(1, Math.min(Math.floor(n / 3), Math.max(Math.ceil(Math.cbrt(n)), 2 * lag)));
}

/** Bootstrap replicates of a family: the whole run's and each stratum's, one array per statistic. */
export interface Replicates {
  overall: Float64Array[];
  byStratum: Map<string, Float64Array[]>;
}

/**
 * How the blocks of each replicate are drawn, shared by the two runs: a block starts at the same
 * fraction of its stage in both (the runs follow one plan, so a ramp's windows are compared with the
 * same part of the other run's ramp), and is as long, as a fraction of the stage, in both.
 */
export interface DrawPlan {
  seed: number;
  resamples: number;
  /** Per stage, in draw order: the lengths of one replicate's blocks as fractions of the stage (they sum to 1). */
  stages: { name: string; lengths: number[] }[];
}

/**
 * The plan for two runs' per-window series by stage (`a`, `b`): per stage the longer block length of
 * the two (blockLength) over the longer of the two window counts.
 */
export function planDraws(a: Map<string, number[]>, b: Map<string, number[]>, resamples: number, seed: number): DrawPlan {
  const names = [...new Set([...a.keys(), ...b.keys()])];
  const stages = names.map((name) => {
    const sa = a.get(name) ?? [];
    const sb = b.get(name) ?? [];
    const n = Math.max(sa.length, sb.length);
    const L = Math.min(n, Math.max(sa.length ? blockLength(sa) : 1, sb.length ? blockLength(sb) : 1));
    const full = Math.floor(n / L);
    const rest = n - full * L;
    const lengths = Array.from({ length: full }, () => L / n);
    if (rest > 0) lengths.push(rest / n);
    return { name, lengths };
  });
  return { seed, resamples, stages: stages.filter((s) => s.lengths.length > 0) };
}

/** Per stage, the per-window median of a histogram metric (what its block length is chosen on). */
export function histSeries(strata: HistStratum[]): Map<string, number[]> {
  return new Map(strata.filter((s) => s.windows.length).map((s) => [s.name, s.windows.map((w) => percentiles(w, [50])[0])]));
}

/** Per stage, the per-window ratio of a ratio metric (0 where a window has no denominator). */
export function ratioSeries(strata: RatioStratum[]): Map<string, number[]> {
  return new Map(strata.filter((s) => s.num.length).map((s) => [s.name, s.num.map((x, i) => (s.den[i] > 0 ? x / s.den[i] : 0))]));
}

/** A block of a plan mapped onto a stage of n windows: its start and length in windows. */
const place = (u: number, f: number, n: number) => ({ start: Math.floor(u * n), len: Math.min(n, Math.max(1, Math.round(f * n))) });

/** Percentiles (0 < q ≤ 100) of the merged windows, as results.json computes them, in the histogram's unit. */
export function quantilesOfWindows(windows: SparseHist[], qs: number[]): number[] {
  return percentiles(mergeSparse(windows), qs);
}

const ulp = (x: number) => 2 ** (Math.floor(Math.log2(x)) - 52);
/** The count a percentile needs (analyze/hist.ts's rule: ceil(p/100 · total), at least 1). */
function need(p: number, total: number): number {
  const fp = (Math.min(p, 100) / 100) * total;
  return Math.max(Math.ceil(fp - ulp(fp)), 1);
}

/** Every CHECKPOINT-th bucket's cumulative column is built up front; a column between is built when a search first reads it. */
const CHECKPOINT = 16;

/** Sorted distinct bucket indexes of the windows. */
function distinctBuckets(windows: SparseHist[]): Int32Array {
  let top = -1;
  for (const w of windows) for (const i of w.idx) if (i > top) top = i;
  const seen = new Uint8Array(top + 1);
  let d = 0;
  for (const w of windows)
    for (const i of w.idx)
      if (!seen[i]) {
        seen[i] = 1;
        d++;
      }
  const out = new Int32Array(d);
  for (let i = 0, k = 0; i <= top; i++) if (seen[i]) out[k++] = i;
  return out;
}

/**
 * A stratum's windows as cumulative counts, so a block's count at or below any bucket is two
 * lookups: column x (one per bucket of the stratum's own `keys`) holds at j the count of windows
 * before j at or below bucket x. Columns are built as searches read them (most buckets are never
 * read), each from the checkpoint column below it.
 */
class CumulativeWindows {
  readonly n: number;
  readonly keys: Int32Array;
  /** Local bucket position of each global bucket: the last local key at or below it (-1: none). */
  readonly fromGlobal: Int32Array;
  private readonly cols: (Uint32Array | undefined)[];
  /** The windows' entries grouped by bucket, in window order: bucket x's are first[x] .. first[x + 1] - 1. */
  private readonly first: Int32Array;
  private readonly win: Int32Array;
  private readonly cnt: Float64Array;
  /** Count of all the windows at or below each bucket. */
  private readonly whole: Float64Array;
  private readonly delta: Float64Array;

  constructor(windows: SparseHist[], global: Int32Array) {
    const keys = distinctBuckets(windows);
    const K = keys.length;
    const n = windows.length;
    const pos = new Int32Array(K ? keys[K - 1] + 1 : 0);
    keys.forEach((k, j) => (pos[k] = j));
    const first = new Int32Array(K + 1);
    for (const w of windows) for (const i of w.idx) first[pos[i] + 1]++;
    for (let x = 0; x < K; x++) first[x + 1] += first[x];
    const fill = first.slice(0, K);
    const win = new Int32Array(first[K]);
    const cnt = new Float64Array(first[K]);
    const whole = new Float64Array(K);
    windows.forEach((w, j) => {
      for (let i = 0; i < w.idx.length; i++) {
        const x = pos[w.idx[i]];
        const e = fill[x]++;
        win[e] = j;
        cnt[e] = w.cnt[i];
        whole[x] += w.cnt[i];
      }
    });
    for (let x = 1; x < K; x++) whole[x] += whole[x - 1];
    this.n = n;
    this.keys = keys;
    this.first = first;
    this.win = win;
    this.cnt = cnt;
    this.whole = whole;
    this.delta = new Float64Array(n);
    this.cols = new Array(K);
    for (let x = CHECKPOINT - 1; x < K; x += CHECKPOINT) this.cols[x] = this.build(x - CHECKPOINT, x);
    if (K) this.cols[K - 1] ??= this.build(K - 1 - ((K - 1) % CHECKPOINT) - 1, K - 1);
    this.fromGlobal = new Int32Array(global.length);
    let at = -1;
    for (let g = 0; g < global.length; g++) {
      while (at + 1 < K && keys[at + 1] <= global[g]) at++;
      this.fromGlobal[g] = at;
    }
  }

  /** Column x from column `from` (< x; -1: none) and the entries of the buckets in between. */
  private build(from: number, x: number): Uint32Array {
    const n = this.n;
    const base = from >= 0 ? this.cols[from]! : undefined;
    const d = this.delta;
    d.fill(0);
    for (let e = this.first[from + 1]; e < this.first[x + 1]; e++) d[this.win[e]] += this.cnt[e];
    const col = new Uint32Array(n + 1);
    let run = 0;
    for (let j = 0; j < n; j++) {
      run += d[j];
      col[j + 1] = (base ? base[j + 1] : 0) + run;
    }
    return col;
  }

  /** Column x (0 ≤ x < keys.length). */
  column(x: number): Uint32Array {
    const c = this.cols[x];
    if (c) return c;
    const from = x - (x % CHECKPOINT) - 1;
    return (this.cols[x] = this.build(from, x));
  }

  /** Total count of the circular block of `len` windows from `start`. */
  total(start: number, len: number): number {
    const col = this.cols[this.keys.length - 1]!;
    const end = start + len;
    if (end <= this.n) return col[end] - col[start];
    return col[this.n] - col[start] + col[end - this.n];
  }

  /** Count of every window at or below local bucket x (x < 0: 0). */
  all(x: number): number {
    return x < 0 ? 0 : this.whole[x];
  }
}

/**
 * The blocks one replicate drew from a stratum, as window positions into its cumulative counts: the
 * count at or below bucket x is the sum of column x at `plus` less the sum at `minus`.
 */
class Draws {
  plus: Int32Array;
  minus: Int32Array;
  np = 0;
  nm = 0;
  constructor(readonly cw: CumulativeWindows, draws: number) {
    this.plus = new Int32Array(2 * draws);
    this.minus = new Int32Array(draws);
  }

  clear(): void {
    this.np = 0;
    this.nm = 0;
  }

  /** Adds the circular block of `len` windows from `start`; returns its total count. */
  add(start: number, len: number): number {
    const n = this.cw.n;
    const end = start + len;
    this.minus[this.nm++] = start;
    if (end <= n) this.plus[this.np++] = end;
    else {
      this.plus[this.np++] = n;
      this.plus[this.np++] = end - n;
    }
    return this.cw.total(start, len);
  }

  /** Count of the drawn windows at or below local bucket x (x < 0: 0). */
  countAt(x: number): number {
    if (x < 0) return 0;
    const col = this.cw.column(x);
    const { plus, minus, np, nm } = this;
    let c = 0;
    for (let i = 0; i < np; i++) c += col[plus[i]];
    for (let i = 0; i < nm; i++) c -= col[minus[i]];
    return c;
  }
}

/**
 * Bootstrap replicates of percentiles `qs` (ascending) of a histogram metric, in the histogram's
 * unit: per replicate each stage's windows are redrawn in circular blocks as `plan` says; a
 * percentile of the drawn windows' merged counts is found by bisection over the buckets (exact,
 * nothing is merged); the whole run's replicate joins every stage's draws. Histograms must be in the
 * default layout.
 */
export function bootstrapQuantiles(strata: HistStratum[], qs: number[], plan: DrawPlan, opts: { perStage?: boolean } = {}): Replicates {
  const perStage = opts.perStage ?? true;
  const resamples = plan.resamples;
  const used = strata.filter((s) => s.windows.length > 0);
  const global = distinctBuckets(used.flatMap((s) => s.windows));
  const byName = new Map(
    used.map((s) => {
      const cw = new CumulativeWindows(s.windows, global);
      const blocks = plan.stages.find((p) => p.name === s.name)?.lengths.length ?? 0;
      return [s.name, { cw, draws: new Draws(cw, blocks) }];
    }),
  );
  const stages = [...byName.values()];
  const overall = qs.map(() => new Float64Array(resamples));
  const byStratum = new Map([...byName.keys()].map((name) => [name, qs.map(() => new Float64Array(resamples))]));
  const draw = rng(plan.seed);
  /** All the windows of `sts`: their count at or below each global bucket position, and where their percentiles lie (a replicate's lie near them). */
  const shapeOf = (sts: typeof stages): { cdf: Float64Array; centre: Int32Array } => {
    const cdf = new Float64Array(global.length);
    for (let g = 0; g < global.length; g++) for (const st of sts) cdf[g] += st.cw.all(st.cw.fromGlobal[g]);
    const centre = new Int32Array(qs.length);
    let g = 0;
    for (let i = 0; i < qs.length; i++) {
      const want = need(qs[i], global.length ? cdf[global.length - 1] : 0);
      while (g < global.length - 1 && cdf[g] < want) g++;
      centre[i] = g;
    }
    return { cdf, centre };
  };
  /** Count of the windows drawn in `sts` at or below global bucket position g. */
  const countUpTo = (sts: typeof stages, g: number): number => {
    let c = 0;
    for (const st of sts) c += st.draws.countAt(st.cw.fromGlobal[g]);
    return c;
  };
  /**
   * Percentiles of the windows drawn in `sts` (total count `total`) into out[i][b]: the first global
   * bucket between `from[i]` and `to[i]` (bucket positions) whose count reaches the percentile's,
   * found by galloping out from a guess and then bisection — the bucket plain bisection finds. The guess:
   * one count at the whole windows' percentile, then where their counts (`shape`) move by what was missing.
   */
  const search = (sts: typeof stages, total: number, out: Float64Array[], b: number, from: Int32Array, to: Int32Array, shape: { cdf: Float64Array; centre: Int32Array }, found: Int32Array) => {
    let floor = 0;
    for (let i = 0; i < qs.length; i++) {
      if (total === 0) {
        out[i][b] = NaN;
        continue;
      }
      const want = need(qs[i], total);
      // invariant: no position below lo reaches `want`; hi reaches it, or hi is the range's end
      let lo = Math.max(floor, from[i]);
      let hi = Math.max(lo, to[i]);
      let g = Math.min(Math.max(shape.centre[i], lo), hi);
      if (g < hi) {
        const c = countUpTo(sts, g);
        const { cdf } = shape;
        const target = cdf[g] + ((want - c) * cdf[cdf.length - 1]) / total;
        if (c >= want) hi = g;
        else lo = g + 1;
        let z = hi;
        g = lo;
        while (g < z) {
          const m = (g + z) >> 1;
          if (cdf[m] >= target) z = m;
          else g = m + 1;
        }
      }
      if (g < hi) {
        if (countUpTo(sts, g) >= want) {
          hi = g;
          for (let step = 1; hi - step >= lo; step *= 2) {
            if (countUpTo(sts, hi - step) < want) {
              lo = hi - step + 1;
              break;
            }
            hi -= step;
          }
        } else {
          lo = g + 1;
          for (let step = 1; g + step < hi; step *= 2) {
            if (countUpTo(sts, g + step) >= want) {
              hi = g + step;
              break;
            }
            lo = g + step + 1;
          }
        }
      }
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (countUpTo(sts, mid) >= want) hi = mid;
        else lo = mid + 1;
      }
      floor = lo;
      found[i] = lo;
      out[i][b] = highestAtIndex(DEFAULT_LAYOUT, global[lo]);
    }
  };
  const whole = { from: new Int32Array(qs.length), to: new Int32Array(qs.length).fill(global.length - 1) };
  const lowest = new Int32Array(qs.length);
  const highest = new Int32Array(qs.length);
  const found = new Int32Array(qs.length);
  const shapeAll = shapeOf(stages);
  const shapes = new Map([...byName].map(([name, st]) => [name, shapeOf([st])]));
  for (let b = 0; b < resamples; b++) {
    let grand = 0;
    lowest.fill(global.length - 1);
    highest.fill(0);
    for (const ps of plan.stages) {
      const st = byName.get(ps.name);
      st?.draws.clear();
      let total = 0;
      for (const f of ps.lengths) {
        const u = draw();
        if (!st) continue;
        const { start, len } = place(u, f, st.cw.n);
        total += st.draws.add(start, len);
      }
      if (!st) continue;
      grand += total;
      if (!perStage || total === 0) continue;
      search([st], total, byStratum.get(ps.name)!, b, whole.from, whole.to, shapes.get(ps.name)!, found);
      for (let i = 0; i < qs.length; i++) {
        lowest[i] = Math.min(lowest[i], found[i]);
        highest[i] = Math.max(highest[i], found[i]);
      }
    }
    // a percentile of the merged draws lies between the stages' own percentiles
    if (perStage) search(stages, grand, overall, b, lowest, highest, shapeAll, found);
    else search(stages, grand, overall, b, whole.from, whole.to, shapeAll, found);
  }
  return { overall, byStratum };
}

/** The ratio of sums over every stratum's windows (NaN when the denominators sum to 0). */
export function ratioOf(strata: RatioStratum[]): number {
  let num = 0;
  let den = 0;
  for (const s of strata) {
    for (const x of s.num) num += x;
    for (const x of s.den) den += x;
  }
  return den > 0 ? num / den : NaN;
}

/** Bootstrap replicates of a ratio metric (sum of num over sum of den), the whole run's and each stratum's, drawn as `plan` says. */
export function bootstrapRatio(strata: RatioStratum[], plan: DrawPlan): Replicates {
  const resamples = plan.resamples;
  const byName = new Map(
    strata
      .filter((s) => s.num.length > 0)
      .map((s) => {
        // prefix sums over the windows twice, so a circular block is one subtraction
        const n = s.num.length;
        const pn = new Float64Array(2 * n + 1);
        const pd = new Float64Array(2 * n + 1);
        for (let i = 0; i < 2 * n; i++) {
          pn[i + 1] = pn[i] + s.num[i % n];
          pd[i + 1] = pd[i] + s.den[i % n];
        }
        return [s.name, { n, pn, pd }];
      }),
  );
  const overall = [new Float64Array(resamples)];
  const byStratum = new Map([...byName.keys()].map((name) => [name, [new Float64Array(resamples)]]));
  const draw = rng(plan.seed);
  for (let b = 0; b < resamples; b++) {
    let num = 0;
    let den = 0;
    for (const ps of plan.stages) {
      const st = byName.get(ps.name);
      let sn = 0;
      let sd = 0;
      for (const f of ps.lengths) {
        const u = draw();
        if (!st) continue;
        const { start, len } = place(u, f, st.n);
        sn += st.pn[start + len] - st.pn[start];
        sd += st.pd[start + len] - st.pd[start];
      }
      if (!st) continue;
      byStratum.get(ps.name)![0][b] = sd > 0 ? sn / sd : NaN;
      num += sn;
      den += sd;
    }
    overall[0][b] = den > 0 ? num / den : NaN;
  }
  return { overall, byStratum };
}

/** How a change is measured: relative (candidate / baseline - 1) or absolute (candidate - baseline, in the metric's unit). */
export type ChangeKind = 'relative' | 'absolute';

/** The change from baseline to candidate with its bootstrap interval and the baseline's minimum detectable change. */
export interface ChangeEstimate {
  /** null: no relative change from a baseline of 0. */
  change: number | null;
  interval: [number, number] | null;
  /** The smallest true change the baseline's own noise lets this comparison detect (CONFIDENCE, POWER), in the change's unit. */
  mdc: number | null;
}

/** Value at quantile p of sorted xs (linear between order statistics). */
function at(sorted: number[], p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  return lo + 1 < sorted.length ? sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]) : sorted[lo];
}

/**
 * The change from `base` to `cand` with the percentile interval of the paired replicates' changes,
 * and the minimum detectable change (z_conf + z_power)·√2·s, s the baseline's own spread: the
 * standard deviation of its replicates less the part the candidate's replicates explain (ρ², the
 * same draws pick the same part of the plan in both runs, so that part is the plan's shape, not
 * noise). On a log scale for relative changes.
 */
export function estimateChange(base: number, cand: number, rb: Float64Array, rc: Float64Array, kind: ChangeKind): ChangeEstimate {
  const pairs: number[] = [];
  const tb: number[] = [];
  const tc: number[] = [];
  const t = (x: number) => (kind === 'relative' ? Math.log(x) : x);
  for (let i = 0; i < Math.min(rb.length, rc.length); i++) {
    if (!Number.isFinite(rb[i]) || !Number.isFinite(rc[i])) continue;
    if (kind === 'relative') {
      if (!(rb[i] > 0 && rc[i] > 0)) continue;
      pairs.push(rc[i] / rb[i] - 1);
    } else pairs.push(rc[i] - rb[i]);
    tb.push(t(rb[i]));
    tc.push(t(rc[i]));
  }
  if (kind === 'relative' && !(base > 0)) return { change: cand === base ? 0 : null, interval: cand === base ? [0, 0] : null, mdc: null };
  const change = kind === 'relative' ? cand / base - 1 : cand - base;
  pairs.sort((a, b) => a - b);
  const alpha = 1 - CONFIDENCE;
  const interval: [number, number] | null = pairs.length >= 20 ? [at(pairs, alpha / 2), at(pairs, 1 - alpha / 2)] : null;
  let mdc: number | null = null;
  if (tb.length > 1) {
    const n = tb.length;
    const mb = tb.reduce((a, b) => a + b, 0) / n;
    const mc = tc.reduce((a, b) => a + b, 0) / n;
    let vb = 0;
    let vc = 0;
    let cov = 0;
    for (let i = 0; i < n; i++) {
      vb += (tb[i] - mb) ** 2;
      vc += (tc[i] - mc) ** 2;
      cov += (tb[i] - mb) * (tc[i] - mc);
    }
    const shared = vb > 0 && vc > 0 ? Math.max(0, cov) ** 2 / (vb * vc) : 0;
    const own = Math.sqrt((vb * (1 - shared)) / (n - 1));
    const d = (Z_CONFIDENCE + Z_POWER) * Math.SQRT2 * own;
    mdc = kind === 'relative' ? Math.expm1(d) : d;
  }
  return { change, interval, mdc };
}
