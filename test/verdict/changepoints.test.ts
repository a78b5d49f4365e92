import test from 'ava';
import { eDivisive, qHat, SegmentScanner } from '../../src/verdict/changepoints.ts';
import { xorshift32 } from '../../src/core/random.ts';

const rng = xorshift32;

/** Normal noise (Box–Muller), deterministic per seed. */
function normal(seed: number): () => number {
  const r = rng(seed);
  return () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** `levels` as [from index, mean] pairs; noise of sd `sd`. */
function series(n: number, levels: [number, number][], sd: number, seed: number): number[] {
  const z = normal(seed);
  return Array.from({ length: n }, (_, i) => {
    const level = levels.filter(([from]) => from <= i).at(-1)![1];
    return level + sd * z();
  });
}

test('the fast scan gives the q̂ of the definition for every split, in any order of the values', (t) => {
  for (const seed of [1, 2, 3]) {
    const z = normal(seed);
    const seg = Array.from({ length: 37 }, () => Math.round(z() * 10) / 2); // ties included
    const minSize = 3;
    const scanner = new SegmentScanner(seg, minSize);
    const perm = Array.from({ length: seg.length }, (_, i) => i).reverse();
    for (const order of [Array.from({ length: seg.length }, (_, i) => i), perm]) {
      const permuted = order.map((i) => seg[i]);
      let best = { tau: -1, q: -Infinity };
      for (let tau = minSize; tau <= seg.length - minSize; tau++) {
        const q = qHat(permuted, tau);
        if (q > best.q) best = { tau, q };
      }
      const fast = scanner.best(order);
      t.is(fast.tau, best.tau);
      t.true(Math.abs(fast.q - best.q) <= 1e-9 * Math.max(1, Math.abs(best.q)), `${fast.q} vs ${best.q}`);
    }
  }
});

test('a single step is found at the run where it began, with the means on either side', (t) => {
  const xs = series(60, [[0, 100], [40, 125]], 5, 7);
  const cps = eDivisive(xs);
  t.deepEqual(cps.map((c) => c.index), [40]);
  t.true(Math.abs(cps[0].before - 100) < 3, String(cps[0].before));
  t.true(Math.abs(cps[0].after - 125) < 3, String(cps[0].after));
  t.true(cps[0].pValue <= 0.002, String(cps[0].pValue));
});

test('two steps (up, then down) are both found', (t) => {
  const xs = series(80, [[0, 50], [25, 65], [55, 45]], 3, 11);
  const cps = eDivisive(xs);
  t.deepEqual(cps.map((c) => c.index), [25, 55]);
  t.true(cps[0].after > cps[0].before && cps[1].after < cps[1].before);
  t.is(cps[0].after, cps[1].before);
});

test('a step in the newest runs is found at its run once minSize runs carry it; before that, no split can sit there', (t) => {
  const xs = series(60, [[0, 10], [54, 14]], 0.5, 5);
  t.deepEqual(eDivisive(xs).map((c) => c.index), [54]);
  // three runs after the step: the nearest admissible split is minSize (5) runs before the end, so the
  // change shows early (or not at all) until two more runs come
  const early = eDivisive(xs.slice(0, 57)).map((c) => c.index);
  t.true(early.every((i) => i === 57 - 5), String(early));
});

test('power and location: steps of 2σ and 3σ in the middle of 60 runs (100 noise seeds, p ≤ 0.05)', (t) => {
  const seeds = 100;
  for (const [step, within, minNear] of [[2, 2, 90], [3, 1, 95]] as const) {
    let found = 0;
    let exact = 0;
    let near = 0;
    let elsewhere = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const cps = eDivisive(series(60, [[0, 0], [30, step]], 1, 1000 + seed), { maxPValue: 0.05 });
      if (cps.length) found++;
      if (cps.some((c) => c.index === 30)) exact++;
      if (cps.some((c) => Math.abs(c.index - 30) <= within)) near++;
      elsewhere += cps.filter((c) => Math.abs(c.index - 30) > within).length;
    }
    t.log(`${step}σ step at run 30 of 60: a change in ${found}/${seeds}, at run 30 in ${exact}, within ±${within} in ${near}; ${elsewhere} further change(s) elsewhere`);
    t.true(found >= 98, `${found}/${seeds}`);
    t.true(near >= minNear, `${near}/${seeds}`);
  }
});

test('flat noise: false positives at p ≤ 0.05 and p ≤ 0.01 stay near their level (binomial bound)', (t) => {
  const seeds = 300;
  for (const maxPValue of [0.05, 0.01]) {
    let withChange = 0;
    let changes = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const cps = eDivisive(series(60, [[0, 100]], 5, seed), { maxPValue });
      if (cps.length) withChange++;
      changes += cps.length;
    }
    const rate = withChange / seeds;
    // the first split's test is exact (permutation test under exchangeable noise): P(false positive) ≤ level.
    // Upper bound: level + 3 standard deviations of a binomial proportion over `seeds` series.
    const bound = maxPValue + 3 * Math.sqrt((maxPValue * (1 - maxPValue)) / seeds);
    t.log(`flat N(100, 5²), 60 runs, ${seeds} seeds, p ≤ ${maxPValue}: ${withChange} series with a change (rate ${rate.toFixed(3)}, bound ${bound.toFixed(3)}), ${changes} changes in all`);
    t.true(rate <= bound, `false-positive rate ${rate} above ${bound}`);
  }
});

test('the default seed gives nothing on flat noise of several seeds, and the same answer every time', (t) => {
  for (const seed of [101, 202, 303, 404, 505]) {
    const xs = series(60, [[0, 20], [0, 20]], 2, seed);
    t.deepEqual(eDivisive(xs), [], `seed ${seed}`);
  }
  const xs = series(60, [[0, 100], [40, 110]], 5, 9);
  t.deepEqual(eDivisive(xs), eDivisive(xs));
});

test('constant, short and empty series have no change; non-finite values are refused', (t) => {
  t.deepEqual(eDivisive(Array(40).fill(3)), []);
  t.deepEqual(eDivisive([1, 2, 3, 100, 100]), []);
  t.deepEqual(eDivisive([]), []);
  t.throws(() => eDivisive([1, 2, Number.NaN]), { instanceOf: RangeError });
  t.throws(() => eDivisive([1, 2, 3], { minSize: 1 }), { instanceOf: RangeError });
});

test('1,000 points with one step take well under a second', (t) => {
  const xs = series(1000, [[0, 100], [700, 104]], 5, 3);
  const t0 = performance.now();
  const cps = eDivisive(xs);
  const ms = performance.now() - t0;
  t.log(`1,000 points: ${ms.toFixed(0)} ms, changes at ${cps.map((c) => c.index).join(', ')}`);
  t.true(cps.some((c) => Math.abs(c.index - 700) <= 3));
  t.true(ms < 1000, `${ms} ms`);
});
