// The USL fit on synthetic data: exact USL points give back their parameters, noisy ones come close,
// and inputs that cannot determine the law say so instead of returning numbers.
import test from 'ava';
import { xorshift32 } from '../../src/core/random.ts';
import { fitUsl, uslThroughput, type UslPoint } from '../../src/verdict/usl.ts';

const law = { lambda: 95, sigma: 0.04, kappa: 0.0008 };
const ns = [1, 2, 4, 8, 16, 24, 32, 48, 64];

test('exact USL points: λ, σ, κ and the peak come back', (t) => {
  const fit = fitUsl(ns.map((n) => ({ concurrency: n, throughput: uslThroughput(law, n) })));
  if (!fit.ok) return t.fail(fit.reason);
  t.true(Math.abs(fit.lambda - law.lambda) / law.lambda < 1e-3, `λ ${fit.lambda}`);
  t.true(Math.abs(fit.sigma - law.sigma) < 1e-4, `σ ${fit.sigma}`);
  t.true(Math.abs(fit.kappa - law.kappa) / law.kappa < 1e-2, `κ ${fit.kappa}`);
  const nStar = Math.sqrt((1 - law.sigma) / law.kappa);
  t.truthy(fit.peak);
  t.true(Math.abs(fit.peak!.concurrency - nStar) / nStar < 0.01, `N* ${fit.peak!.concurrency} vs ${nStar}`);
  t.true(Math.abs(fit.peak!.throughput - uslThroughput(law, nStar)) / uslThroughput(law, nStar) < 0.005);
  t.true(fit.r2 > 0.99999, `R² ${fit.r2}`);
});

test('noisy points (±2% uniform noise): parameters within a tolerance, fit error reported', (t) => {
  const rnd = xorshift32(7);
  const pts: UslPoint[] = [];
  for (const n of ns) for (let k = 0; k < 3; k++) pts.push({ concurrency: n, throughput: uslThroughput(law, n) * (1 + 0.04 * (rnd() - 0.5)) });
  const fit = fitUsl(pts);
  if (!fit.ok) return t.fail(fit.reason);
  t.true(Math.abs(fit.lambda - law.lambda) / law.lambda < 0.05, `λ ${fit.lambda}`);
  t.true(Math.abs(fit.sigma - law.sigma) < 0.02, `σ ${fit.sigma}`);
  t.true(Math.abs(fit.kappa - law.kappa) / law.kappa < 0.35, `κ ${fit.kappa}`);
  // uniform ±2% noise has a standard deviation of 1.15% of X; X peaks near 1000/s here
  const maxX = Math.max(...pts.map((p) => p.throughput));
  t.true(fit.rmse > 0 && fit.rmse < 0.02 * maxX, `rmse ${fit.rmse}`);
  t.true(fit.r2 > 0.98 && fit.r2 < 1, `R² ${fit.r2}`);
});

test('κ = 0 (Amdahl only): no peak predicted, and the note says why', (t) => {
  const amdahl = { lambda: 50, sigma: 0.1, kappa: 0 };
  const fit = fitUsl(ns.map((n) => ({ concurrency: n, throughput: uslThroughput(amdahl, n) })));
  if (!fit.ok) return t.fail(fit.reason);
  t.is(fit.peak, null);
  t.regex(fit.note ?? '', /κ ≈ 0/);
  t.true(Math.abs(fit.sigma - 0.1) < 1e-3, `σ ${fit.sigma}`);
  t.true(Math.abs(fit.lambda - 50) < 0.1, `λ ${fit.lambda}`);
});

test('linear scaling (σ = κ = 0): λ recovered, no peak', (t) => {
  const fit = fitUsl([1, 2, 3, 5].map((n) => ({ concurrency: n, throughput: 20 * n })));
  if (!fit.ok) return t.fail(fit.reason);
  t.true(Math.abs(fit.lambda - 20) < 0.01);
  t.true(fit.sigma < 1e-3);
  t.is(fit.peak, null);
});

test('too few or unusable points: not ok, with the reason', (t) => {
  for (const pts of [[], [{ concurrency: 1, throughput: 10 }], [{ concurrency: 1, throughput: 10 }, { concurrency: 2, throughput: 19 }], [1, 1, 2, 2].map((n) => ({ concurrency: n, throughput: 10 * n })), [{ concurrency: 0, throughput: 0 }, { concurrency: NaN, throughput: 3 }, { concurrency: 2, throughput: -1 }]]) {
    const fit = fitUsl(pts);
    t.false(fit.ok);
    if (!fit.ok) t.regex(fit.reason, /at least three distinct concurrencies/);
  }
});

test('exactly three points: fitted, with a note that the error is meaningless', (t) => {
  const fit = fitUsl([2, 8, 30].map((n) => ({ concurrency: n, throughput: uslThroughput(law, n) })));
  if (!fit.ok) return t.fail(fit.reason);
  t.regex(fit.note ?? '', /three points/);
  t.true(Math.abs(fit.sigma - law.sigma) < 0.01);
});
