// The Universal Scalability Law (Gunther): X(N) = λN / (1 + σ(N−1) + κN(N−1)), fitted by least squares to
// (concurrency, throughput) points. The linearised form N/X = a + b(N−1) + cN(N−1) gives the start; a
// Nelder–Mead search on the squared throughput residuals refines it within σ ∈ [0, 1], κ ≥ 0, λ > 0.

/** One observation: N requests in flight on average (Little's law) and X completions per second. */
export interface UslPoint {
  concurrency: number;
  throughput: number;
}

/**
 * The fitted law. `peak` is N* = sqrt((1−σ)/κ) and X(N*); null when κ is (near) zero, where the law has no
 * maximum within reach (throughput only flattens towards λ/σ). `r2` and `rmse` measure the fit on throughput.
 */
export type UslFit =
  | {
      ok: true;
      lambda: number;
      sigma: number;
      kappa: number;
      peak: { concurrency: number; throughput: number } | null;
      r2: number;
      rmse: number;
      points: number;
      note?: string;
    }
  | { ok: false; reason: string; points: number };

/** Throughput the law predicts at concurrency n. */
export function uslThroughput(p: { lambda: number; sigma: number; kappa: number }, n: number): number {
  return (p.lambda * n) / (1 + p.sigma * (n - 1) + p.kappa * n * (n - 1));
}

/** κ below this (relative to the fit's scale) counts as zero: no predicted peak. */
const KAPPA_ZERO = 1e-9;

/** Fits the USL to the points with positive, finite concurrency and throughput; needs three distinct concurrencies. */
export function fitUsl(input: readonly UslPoint[]): UslFit {
  const pts = input.filter((p) => Number.isFinite(p.concurrency) && Number.isFinite(p.throughput) && p.concurrency > 0 && p.throughput > 0);
  const distinct = new Set(pts.map((p) => p.concurrency.toPrecision(6))).size;
  if (distinct < 3) return { ok: false, reason: `the USL has three parameters and needs at least three distinct concurrencies; got ${distinct}`, points: pts.length };

  // start: linear least squares on N/X = a + b(N−1) + c·N(N−1); λ = 1/a, σ = b/a, κ = c/a
  const lin = leastSquares3(pts.map((p) => [1, p.concurrency - 1, p.concurrency * (p.concurrency - 1)]), pts.map((p) => p.concurrency / p.throughput));
  const maxX = Math.max(...pts.map((p) => p.throughput / p.concurrency));
  let start = lin && lin[0] > 0 ? [1 / lin[0], lin[1] / lin[0], lin[2] / lin[0]] : [maxX, 0.1, 0.001];
  start = [start[0] > 0 ? start[0] : maxX, clamp(start[1], 0, 1), Math.max(0, start[2])];

  // refine: Nelder–Mead on log λ, σ, and √κ (so that the bounds hold by construction after clamping)
  const decode = (v: number[]) => ({ lambda: Math.exp(v[0]), sigma: clamp(v[1], 0, 1), kappa: v[2] * v[2] });
  const sse = (v: number[]) => {
    const m = decode(v);
    let s = 0;
    for (const p of pts) s += (uslThroughput(m, p.concurrency) - p.throughput) ** 2;
    return Number.isFinite(s) ? s : Number.MAX_VALUE;
  };
  let best = [Math.log(start[0]), start[1], Math.sqrt(start[2])];
  // restarts from the best point so far: a collapsed simplex gets fresh steps
  for (let round = 0; round < 4; round++) best = nelderMead(sse, best, [0.2, 0.05, Math.max(1e-3, Math.abs(best[2]) * 0.5)]);
  const m = decode(best);

  const mean = pts.reduce((a, p) => a + p.throughput, 0) / pts.length;
  const ssTot = pts.reduce((a, p) => a + (p.throughput - mean) ** 2, 0);
  const ssRes = sse(best);
  const r2 = ssTot > 0 ? 1 - ssRes / ssTot : ssRes === 0 ? 1 : 0;
  const rmse = Math.sqrt(ssRes / pts.length);
  const notes: string[] = [];
  let peak: { concurrency: number; throughput: number } | null = null;
  if (m.kappa > KAPPA_ZERO && m.sigma < 1) {
    const n = Math.sqrt((1 - m.sigma) / m.kappa);
    peak = { concurrency: n, throughput: uslThroughput(m, n) };
    const maxN = Math.max(...pts.map((p) => p.concurrency));
    if (n > 10 * maxN) notes.push(`the predicted peak (N* = ${n.toPrecision(3)}) lies far beyond the measured concurrencies (up to ${maxN.toPrecision(3)}): an extrapolation`);
  } else {
    notes.push(m.sigma >= 1 ? 'σ = 1: throughput does not grow with concurrency' : `κ ≈ 0: no coherency penalty measured, so no peak is predicted (throughput levels off towards λ/σ${m.sigma > 0 ? ` = ${(m.lambda / m.sigma).toPrecision(3)}/s` : ''})`);
  }
  if (pts.length === 3) notes.push('three points fix three parameters exactly: the fit error says nothing about the model');
  return { ok: true, lambda: m.lambda, sigma: m.sigma, kappa: m.kappa, peak, r2, rmse, points: pts.length, ...(notes.length ? { note: notes.join('; ') } : {}) };
}

function clamp(x: number, lo: number, hi: number): number {
  return Number.isFinite(x) ? Math.min(hi, Math.max(lo, x)) : lo;
}

/** Least squares for three coefficients (normal equations, Cramer's rule); undefined when singular. */
function leastSquares3(rows: number[][], y: number[]): number[] | undefined {
  const a = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  const b = [0, 0, 0];
  rows.forEach((r, k) => {
    for (let i = 0; i < 3; i++) {
      b[i] += r[i] * y[k];
      for (let j = 0; j < 3; j++) a[i][j] += r[i] * r[j];
    }
  });
  const det = (m: number[][]) => m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  const d = det(a);
  if (!Number.isFinite(d) || Math.abs(d) < 1e-12 * Math.max(1, Math.abs(a[2][2]) ** 2)) return undefined;
  return [0, 1, 2].map((c) => det(a.map((row, i) => row.map((v, j) => (j === c ? b[i] : v)))) / d);
}

/** Nelder–Mead minimisation from x0 with initial steps; a fixed budget of iterations. */
function nelderMead(f: (x: number[]) => number, x0: number[], step: number[], iterations = 4000): number[] {
  const n = x0.length;
  let simplex = [x0, ...x0.map((_, i) => x0.map((v, j) => (i === j ? v + step[i] : v)))].map((x) => ({ x, f: f(x) }));
  const comb = (a: number[], b: number[], t: number) => a.map((v, i) => v + t * (b[i] - v));
  for (let it = 0; it < iterations; it++) {
    simplex.sort((p, q) => p.f - q.f);
    const bestF = simplex[0].f;
    const worstF = simplex[n].f;
    if (Math.abs(worstF - bestF) <= 1e-14 * (Math.abs(bestF) + 1e-30) && it > 50) break;
    const centroid = x0.map((_, i) => simplex.slice(0, n).reduce((a, p) => a + p.x[i], 0) / n);
    const worst = simplex[n];
    const r = comb(centroid, worst.x, -1);
    const fr = f(r);
    if (fr < simplex[0].f) {
      const e = comb(centroid, worst.x, -2);
      const fe = f(e);
      simplex[n] = fe < fr ? { x: e, f: fe } : { x: r, f: fr };
    } else if (fr < simplex[n - 1].f) {
      simplex[n] = { x: r, f: fr };
    } else {
      const c = fr < worst.f ? comb(centroid, r, 0.5) : comb(centroid, worst.x, 0.5);
      const fc = f(c);
      if (fc < Math.min(fr, worst.f)) simplex[n] = { x: c, f: fc };
      else simplex = simplex.map((p, i) => (i === 0 ? p : { x: comb(simplex[0].x, p.x, 0.5), f: f(comb(simplex[0].x, p.x, 0.5)) }));
    }
  }
  simplex.sort((p, q) => p.f - q.f);
  return simplex[0].x;
}
