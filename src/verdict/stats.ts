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

/**
 * A stratum's windows as cumulative counts, so a block's count at or below any bucket is two
 * lookups: row j of `cum` holds, per bucket of the stratum's own `keys`, the count of windows
 * before j at or below it.
 */
class CumulativeWindows {
  readonly n: number;
  readonly keys: Int32Array;
  readonly cum: Uint32Array;
  /** Local bucket position of each global bucket: the last local key at or below it (-1: none). */
  readonly fromGlobal: Int32Array;

  constructor(windows: SparseHist[], global: Int32Array) {
    const distinct = new Set<number>();
    for (const w of windows) for (const i of w.idx) distinct.add(i);
    const keys = Int32Array.from(distinct).sort();
    const K = keys.length;
    const pos = new Int32Array(K ? keys[K - 1] + 1 : 0);
    keys.forEach((k, j) => (pos[k] = j));
    this.n = windows.length;
    this.keys = keys;
    this.cum = new Uint32Array((windows.length + 1) * K);
    const dense = new Float64Array(K);
    windows.forEach((w, j) => {
      dense.fill(0);
      for (let i = 0; i < w.idx.length; i++) dense[pos[w.idx[i]]] += w.cnt[i];
      const prev = j * K;
      const row = prev + K;
      let run = 0;
      for (let x = 0; x < K; x++) {
        run += dense[x];
        this.cum[row + x] = this.cum[prev + x] + run;
      }
    });
    this.fromGlobal = new Int32Array(global.length);
    let at = -1;
    for (let g = 0; g < global.length; g++) {
      while (at + 1 < K && keys[at + 1] <= global[g]) at++;
      this.fromGlobal[g] = at;
    }
  }

  /** Total count of the circular block of `len` windows from `start`. */
  total(start: number, len: number): number {
    const K = this.keys.length;
    const x = K - 1;
    const end = start + len;
    if (end <= this.n) return this.cum[end * K + x] - this.cum[start * K + x];
    return this.cum[this.n * K + x] - this.cum[start * K + x] + this.cum[(end - this.n) * K + x];
  }
}

/**
 * The blocks one replicate drew from a stratum, as row offsets into its cumulative counts: the
 * count at or below bucket x is the sum of cum[plus + x] less the sum of cum[minus + x].
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
    const { n, keys } = this.cw;
    const K = keys.length;
    const end = start + len;
    this.minus[this.nm++] = start * K;
    if (end <= n) this.plus[this.np++] = end * K;
    else {
      this.plus[this.np++] = n * K;
      this.plus[this.np++] = (end - n) * K;
    }
    return this.cw.total(start, len);
  }

  /** Count of the drawn windows at or below local bucket x (x < 0: 0). */
  countAt(x: number): number {
    if (x < 0) return 0;
    const cum = this.cw.cum;
    let c = 0;
    for (let i = 0; i < this.np; i++) c += cum[this.plus[i] + x];
    for (let i = 0; i < this.nm; i++) c -= cum[this.minus[i] + x];
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
  const distinct = new Set<number>();
  for (const s of used) for (const w of s.windows) for (const i of w.idx) distinct.add(i);
  const global = Int32Array.from(distinct).sort();
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
  /**
   * Percentiles of the windows drawn in `sts` (total count `total`) into out[i][b], by bisection over
   * the global buckets between `from[i]` and `to[i]` (bucket positions).
   */
  const search = (sts: typeof stages, total: number, out: Float64Array[], b: number, from: Int32Array, to: Int32Array, found: Int32Array) => {
    let floor = 0;
    qs.forEach((q, i) => {
      if (total === 0) return void (out[i][b] = NaN);
      const want = need(q, total);
      let lo = Math.max(floor, from[i]);
      let hi = Math.max(lo, to[i]);
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        let c = 0;
        for (const st of sts) c += st.draws.countAt(st.cw.fromGlobal[mid]);
        if (c >= want) hi = mid;
        else lo = mid + 1;
      }
      floor = lo;
      found[i] = lo;
      out[i][b] = highestAtIndex(DEFAULT_LAYOUT, global[lo]);
    });
  };
  const whole = { from: new Int32Array(qs.length), to: new Int32Array(qs.length).fill(global.length - 1) };
  const lowest = new Int32Array(qs.length);
  const highest = new Int32Array(qs.length);
  const found = new Int32Array(qs.length);
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
      search([st], total, byStratum.get(ps.name)!, b, whole.from, whole.to, found);
      for (let i = 0; i < qs.length; i++) {
        lowest[i] = Math.min(lowest[i], found[i]);
        highest[i] = Math.max(highest[i], found[i]);
      }
    }
    // a percentile of the merged draws lies between the stages' own percentiles
    if (perStage) search(stages, grand, overall, b, lowest, highest, found);
    else search(stages, grand, overall, b, whole.from, whole.to, found);
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
