// The statistics of `loadscope compare` on synthetic windows and synthetic journals: a null case
// (one distribution, two seeds: nothing called), planted shifts (called, with the planted change
// inside the interval), interval coverage with autocorrelated windows, and the verdict rule.
import test from 'ava';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHistogram, decodeSparse, encode, record, sparseOf, valueFromIndex, type SparseHist } from '../../src/core/histogram.ts';
import type { JournalRecord } from '../../src/core/types.ts';
import { compareRunDirs, judge, parseThresholds } from '../../src/verdict/compare.ts';
import { blockLength, bootstrapQuantiles, estimateChange, histSeries, planDraws, quantilesOfWindows, rng } from '../../src/verdict/stats.ts';
import { LoadscopeError } from '../../src/core/errors.ts';
import { HistAcc, percentiles } from '../../src/analyze/hist.ts';
import { syntheticRecords, type SyntheticOptions } from '../helpers/synthetic-journal.ts';

const tmp = mkdtempSync(join(tmpdir(), 'loadscope-compare-stats-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

/** A synthetic run directory; `edit` may change each record (a planted shift). */
async function runDir(name: string, o: SyntheticOptions, edit: (r: JournalRecord) => JournalRecord | undefined = (r) => r): Promise<string> {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const out = createWriteStream(join(dir, 'events.ndjson'));
  for (const r of syntheticRecords(o)) {
    const e = edit(r);
    if (e) out.write(JSON.stringify(e) + '\n');
  }
  await new Promise<void>((res) => out.end(() => res()));
  return dir;
}

/** Multiplies every value of an encoded histogram by `factor`. */
function scaled(text: string, factor: number): string {
  const s = decodeSparse(text);
  const h = createHistogram();
  for (let i = 0; i < s.idx.length; i++) h.recordValueWithCount(Math.max(1, Math.round(valueFromIndex(s.layout, s.idx[i]) * factor)), s.cnt[i]);
  return encode(h);
}

const latencyTimes = (factor: number) => (r: JournalRecord): JournalRecord => (r.type === 'sample' && r.metric === 'http.latency_us' && r.hist ? { ...r, hist: scaled(r.hist, factor) } : r);

const FIVE_MIN: SyntheticOptions = { seconds: 300, packetRecords: 300, events: 40 };

/** Every pod's CPU counter times `factor`: its rises, so each service's CPU per request, scale by it. */
const cpuTimes = (factor: number) => (r: JournalRecord): JournalRecord => (r.type === 'sample' && r.metric === 'pod.cpu_seconds' ? { ...r, value: r.value * factor } : r);

test("the machine's own shift: CPU per request ×1.4 is called when the machine's CPU per wake-up stayed, not when it moved +35% with it; ×2 is called either way", async (t) => {
  const a = await runDir('machine-a', { ...FIVE_MIN, seed: 5, wakeUs: 250 });
  const cpu = (d: ReturnType<typeof compareRunDirs>['doc']) => d.metrics.find((m) => m.name === 'service.cpuMsPerRequest{service:backend}')!;
  const same = compareRunDirs(a, await runDir('machine-same', { ...FIVE_MIN, seed: 6, wakeUs: 250 }, cpuTimes(1.4))).doc;
  t.deepEqual(same.machine, { metric: 'machine.wake_cpu_us', baseline: same.machine!.baseline, candidate: same.machine!.baseline, change: 0 });
  t.is(cpu(same).verdict, 'regressed', JSON.stringify(cpu(same)));

  const moved = compareRunDirs(a, await runDir('machine-moved', { ...FIVE_MIN, seed: 6, wakeUs: 250 * 1.35 }, cpuTimes(1.4))).doc;
  t.true(Math.abs(moved.machine!.change - 0.35) < 0.005, JSON.stringify(moved.machine));
  t.is(cpu(moved).verdict, 'unchanged', JSON.stringify(cpu(moved)));
  t.regex(cpu(moved).note ?? '', /machine's own shift/);
  t.true(moved.notes.some((n) => n.includes('machine.wake_cpu_us') && n.includes('+35%')), moved.notes.join('\n'));
  t.true(Math.abs(cpu(moved).change! - 0.4) < 0.05, 'the change itself is reported as measured');

  const double = compareRunDirs(a, await runDir('machine-double', { ...FIVE_MIN, seed: 6, wakeUs: 250 * 1.35 }, cpuTimes(2))).doc;
  t.is(cpu(double).verdict, 'regressed', JSON.stringify(cpu(double)));

  // a run from before the gauge: judged without it, and said so
  const old = compareRunDirs(a, await runDir('machine-none', { ...FIVE_MIN, seed: 6 }, cpuTimes(1.4))).doc;
  t.is(old.machine, null);
  t.is(cpu(old).verdict, 'regressed');
  t.true(old.notes.some((n) => n.startsWith('no machine gauge')));
});

/**
 * Every packet-latency window redrawn from the shape seen on the acceptance scenario's backend veth (docs/compare.md): a
 * body of 1.5–12 µs and a slow tail of 30–60 µs holding `slow` of the packets, all ×`factor`; deterministic per seed.
 */
const packetShape = (slow: number, factor: number, seed: number) => {
  const r = rng(seed);
  return (rec: JournalRecord): JournalRecord => {
    if (rec.type !== 'sample' || rec.metric !== 'probe.pkt_latency_ns' || !rec.hist) return rec;
    const h = createHistogram();
    for (let i = 0; i < rec.value; i++) record(h, factor * (r() < slow ? 30_000 + 30_000 * r() : 1_500 * Math.exp(2 * r() ** 3)));
    return { ...rec, hist: encode(h) };
  };
};

test('packet p99 is reported, not judged, by default: a slow tail going from 0.7% to 1.15% of packets moves it several-fold (seen between identical CI runs); --threshold judges it; ×5 on every packet is called by p50', async (t) => {
  const a = await runDir('tail-a', { ...FIVE_MIN, seed: 7 }, packetShape(0.007, 1, 70));
  const b = await runDir('tail-b', { ...FIVE_MIN, seed: 8 }, packetShape(0.0115, 1, 80));
  const by = (d: ReturnType<typeof compareRunDirs>['doc']) => new Map(d.metrics.map((m) => [m.name, m]));
  const doc = compareRunDirs(a, b).doc;
  const p99 = by(doc).get('packet.latencyUs.p99{iface:veth-be}')!;
  t.log(JSON.stringify(p99));
  t.true(p99.change! > 1.5, `the tail share's shift moves p99 several-fold: ${JSON.stringify(p99)}`);
  t.is(p99.verdict, 'reported');
  t.is(p99.threshold, null);
  t.regex(p99.note ?? '', /not judged by default/);
  t.true(p99.interval !== null && p99.mdc !== null, 'its interval and MDC are still given');
  t.is(by(doc).get('packet.latencyUs.p50{iface:veth-be}')!.verdict, 'unchanged');
  t.is(doc.counts.regressed, 0);
  t.is(doc.verdict, 'unchanged');
  t.true(doc.counts.reported >= 4, `one p99 per interface: ${JSON.stringify(doc.counts)}`);

  // the user's own threshold judges it by the usual rule
  const judged = by(compareRunDirs(a, b, { thresholds: parseThresholds(['packet.latencyUs.p99=50%']) }).doc).get('packet.latencyUs.p99{iface:veth-be}')!;
  t.is(judged.threshold, 0.5);
  t.is(judged.verdict, 'regressed', JSON.stringify(judged));

  // a packet path five times slower throughout is called by default, through p50
  const slower = compareRunDirs(a, await runDir('tail-x5', { ...FIVE_MIN, seed: 8 }, packetShape(0.007, 5, 80))).doc;
  t.is(by(slower).get('packet.latencyUs.p50{iface:veth-be}')!.verdict, 'regressed');
  t.is(by(slower).get('packet.latencyUs.p99{iface:veth-be}')!.verdict, 'reported');
  t.is(slower.verdict, 'regressed');
});

test('null case: two runs of one distribution (other seed) — nothing regressed, nothing improved', async (t) => {
  const a = await runDir('null-a', { ...FIVE_MIN, seed: 1 });
  const b = await runDir('null-b', { ...FIVE_MIN, seed: 2 });
  const { doc } = compareRunDirs(a, b);
  t.true(doc.metrics.length > 15, `${doc.metrics.length} metrics`);
  const called = doc.metrics.filter((m) => m.verdict === 'regressed' || m.verdict === 'improved').map((m) => `${m.name} ${m.verdict} ${m.change}`);
  t.deepEqual(called, []);
  t.is(doc.verdict, 'unchanged');
  t.is(doc.method.name, 'block bootstrap');
  for (const m of doc.metrics) t.truthy(m.name && 'baseline' in m && 'candidate' in m && 'change' in m && 'interval' in m && m.verdict);
});

test('planted shift: latency ×1.6 in the candidate — p50 regressed overall, every percentile of the steady stages, the planted change inside the intervals; throughput and CPU unchanged', async (t) => {
  const a = await runDir('shift-a', { ...FIVE_MIN, seed: 1 });
  const b = await runDir('shift-b', { ...FIVE_MIN, seed: 2 }, latencyTimes(1.6));
  const { doc } = compareRunDirs(a, b);
  const by = new Map(doc.metrics.map((m) => [m.name, m]));
  // the synthetic ramp and peak stages swing with the autoscaler: their tails are too unsteady to call,
  // and the run's p99 is theirs; the steady warm stage is called at every percentile
  for (const name of ['http.latencyMs.p50', 'http.latencyMs.p50{stage:warm}', 'http.latencyMs.p90{stage:warm}', 'http.latencyMs.p99{stage:warm}', 'http.latencyMs.p50{stage:base}', 'http.latencyMs.p99{stage:base}']) {
    const m = by.get(name)!;
    t.is(m.verdict, 'regressed', `${name}: ${JSON.stringify(m)}`);
    t.true(m.interval![0] <= 0.6 && 0.6 <= m.interval![1] + 0.01, `${name}: +60% within ${m.interval}`);
  }
  t.not(by.get('http.latencyMs.p99')!.verdict, 'improved');
  t.is(by.get('http.rps')!.verdict, 'unchanged');
  t.is(by.get('service.cpuMsPerRequest{service:backend}')!.verdict, 'unchanged');
  t.is(doc.verdict, 'regressed');

  const back = compareRunDirs(b, a).doc;
  t.is(back.metrics.find((m) => m.name === 'http.latencyMs.p50')!.verdict, 'improved', 'the other way round it is an improvement');
  t.is(back.counts.regressed, 0);
});

test('a planted shift below its threshold is not called; a lower threshold calls it', async (t) => {
  const a = await runDir('small-a', { ...FIVE_MIN, seed: 3 });
  const b = await runDir('small-b', { ...FIVE_MIN, seed: 4 }, latencyTimes(1.06));
  const p50 = (doc: ReturnType<typeof compareRunDirs>['doc']) => doc.metrics.find((m) => m.name === 'http.latencyMs.p50{stage:base}')!;
  const dflt = p50(compareRunDirs(a, b).doc);
  t.is(dflt.verdict, 'unchanged', JSON.stringify(dflt));
  t.true(dflt.change! > 0.03 && dflt.change! < 0.09);
  const strict = p50(compareRunDirs(a, b, { thresholds: parseThresholds(['http.latencyMs.p50{stage:base}=2%']) }).doc);
  t.is(strict.threshold, 0.02);
  t.is(strict.verdict, 'regressed', JSON.stringify(strict));
});

test('the output is reproducible: the same runs give the same document', async (t) => {
  const a = await runDir('rep-a', { seconds: 120, packetRecords: 100, events: 20, seed: 5 });
  const b = await runDir('rep-b', { seconds: 120, packetRecords: 100, events: 20, seed: 6 });
  t.deepEqual(compareRunDirs(a, b).doc, compareRunDirs(a, b).doc);
});

/** Windows of `n` latencies each, lognormal around `median` µs, the median drifting as an AR(1) process with coefficient phi (autocorrelated windows). */
function windows(r: () => number, count: number, n: number, median: number, phi: number): SparseHist[] {
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  let drift = 0;
  const out: SparseHist[] = [];
  for (let w = 0; w < count; w++) {
    drift = phi * drift + Math.sqrt(1 - phi * phi) * 0.25 * gauss();
    const h = createHistogram();
    for (let i = 0; i < n; i++) record(h, median * Math.exp(drift + 0.4 * gauss()));
    out.push(sparseOf(h));
  }
  return out;
}

test('interval coverage with autocorrelated windows: same distribution, the 95% interval holds 0 in most trials; without blocks it would not', (t) => {
  const r = rng(7);
  let covered = 0;
  let coveredIid = 0;
  const trials = 40;
  for (let k = 0; k < trials; k++) {
    const wa = windows(r, 150, 40, 5000, 0.7);
    const wb = windows(r, 150, 40, 5000, 0.7);
    const [a] = quantilesOfWindows(wa, [50]);
    const [b] = quantilesOfWindows(wb, [50]);
    const sa = [{ name: 's', windows: wa }];
    const sb = [{ name: 's', windows: wb }];
    const plan = planDraws(histSeries(sa), histSeries(sb), 400, 100 + k);
    const ra = bootstrapQuantiles(sa, [50], plan);
    const rb = bootstrapQuantiles(sb, [50], plan);
    const e = estimateChange(a, b, ra.overall[0], rb.overall[0], 'relative');
    if (e.interval![0] <= 0 && 0 <= e.interval![1]) covered++;
    // the same with one window per block: windows taken as independent
    const ia = iidQuantiles(wa, 400, r);
    const ib = iidQuantiles(wb, 400, r);
    const ei = estimateChange(a, b, ia, ib, 'relative');
    if (ei.interval![0] <= 0 && 0 <= ei.interval![1]) coveredIid++;
  }
  t.log(`covered: block bootstrap ${covered}/${trials}, windows as independent ${coveredIid}/${trials}`);
  t.true(covered >= 34, `block bootstrap covered ${covered}/${trials}`);
  t.true(coveredIid <= covered - 8, `independent resampling covered ${coveredIid}/${trials}, far fewer than ${covered}`);
});

/** Replicates of the median with windows drawn one by one (no blocks). */
function iidQuantiles(ws: SparseHist[], resamples: number, r: () => number): Float64Array {
  const out = new Float64Array(resamples);
  const acc = new HistAcc();
  for (let b = 0; b < resamples; b++) {
    acc.clear();
    for (let i = 0; i < ws.length; i++) acc.add(ws[Math.floor(r() * ws.length)]);
    out[b] = percentiles(acc.sparse(), [50])[0];
  }
  return out;
}

/** Strata a, b, c of autocorrelated windows: [count, requests per window, median µs, phi] each. */
const threeStages = (seed: number, specs: [number, number, number, number][]) => {
  const r = rng(seed);
  return specs.map(([count, n, median, phi], i) => ({ name: 'abc'[i], windows: windows(r, count, n, median, phi) }));
};

test('the whole run\'s percentiles are the same whether or not each stage\'s are searched first (the bounds of the fast path)', (t) => {
  const strata = threeStages(11, [[40, 30, 3000, 0.5], [60, 50, 9000, 0.5], [25, 20, 1500, 0.2]]);
  const plan = planDraws(histSeries(strata), histSeries(strata), 300, 5);
  const fast = bootstrapQuantiles(strata, [50, 90, 99], plan);
  const plain = bootstrapQuantiles(strata, [50, 90, 99], plan, { perStage: false });
  t.deepEqual(fast.overall, plain.overall);
  t.is(plain.byStratum.get('a')![0][0], 0, 'no stage figures when not asked');
  t.true(fast.byStratum.get('b')![0][0] > 0);
});

test('the fast percentile search (cumulative columns, galloping) equals merging each replicate\'s drawn windows', (t) => {
  const strata = threeStages(23, [[70, 40, 3000, 0.6], [90, 60, 12000, 0.3], [33, 5, 800, 0.1]]);
  const qs = [1, 50, 90, 99, 100];
  const plan = planDraws(histSeries(strata), histSeries(strata), 200, 9);
  const fast = bootstrapQuantiles(strata, qs, plan);
  // the plain way: redraw the same blocks (the plan's stream, a block at u·n of length f·n, circular), merge, read percentiles
  const draw = rng(plan.seed);
  const acc = new HistAcc();
  const stage = new HistAcc();
  let checked = 0;
  for (let b = 0; b < plan.resamples; b++) {
    acc.clear();
    for (const ps of plan.stages) {
      const ws = strata.find((s) => s.name === ps.name)!.windows;
      const n = ws.length;
      stage.clear();
      for (const f of ps.lengths) {
        const start = Math.floor(draw() * n);
        const len = Math.min(n, Math.max(1, Math.round(f * n)));
        for (let k = 0; k < len; k++) {
          acc.add(ws[(start + k) % n]);
          stage.add(ws[(start + k) % n]);
        }
      }
      t.deepEqual(qs.map((_, i) => fast.byStratum.get(ps.name)![i][b]), percentiles(stage.sparse(), qs), `stage ${ps.name}, replicate ${b}`);
    }
    t.deepEqual(qs.map((_, i) => fast.overall[i][b]), percentiles(acc.sparse(), qs), `whole run, replicate ${b}`);
    checked++;
  }
  t.is(checked, 200);
});

test('block length: about n^(1/3) for white noise, longer for autocorrelated windows, never above n/3', (t) => {
  const r = rng(3);
  const white = Array.from({ length: 125 }, () => r());
  t.is(blockLength(white), 5);
  let x = 0;
  const ar = Array.from({ length: 125 }, () => (x = 0.9 * x + r() - 0.5));
  t.true(blockLength(ar) > 8, `AR(0.9): ${blockLength(ar)}`);
  t.true(blockLength(Array.from({ length: 30 }, (_, i) => i)) <= 10);
  t.is(blockLength([1, 2]), 1);
});

test('the verdict rule: beyond the threshold and the MDC, interval clear of zero; higher-is-better metrics the other way', (t) => {
  const m = { better: 'lower' as const, threshold: 0.1 };
  t.is(judge({ ...m, change: 0.2, interval: [0.15, 0.25], mdc: 0.05 }).verdict, 'regressed');
  t.is(judge({ ...m, change: 0.08, interval: [0.05, 0.1], mdc: 0.02 }).verdict, 'unchanged', 'under the threshold');
  // An MDC of 30% (log scale: ln 1.3 = 0.262) is called from 0.262 · 1.96 / (1.96 + 0.84) = 0.184, i.e. +20.1%:
  // a true change of the MDC's size passes that with 80% power; it would pass the MDC itself half the time.
  t.is(judge({ ...m, change: 0.19, interval: [0.15, 0.25], mdc: 0.3 }).verdict, 'unchanged', 'under the MDC\'s critical value');
  t.regex(judge({ ...m, change: 0.19, interval: [0.15, 0.25], mdc: 0.3 }).note ?? '', /noise: a change under \+20% \(the critical value of this MDC\)/);
  t.is(judge({ ...m, change: 0.22, interval: [0.15, 0.25], mdc: 0.3 }).verdict, 'regressed', 'under the MDC, beyond its critical value');
  t.is(judge({ ...m, change: 0.22, interval: [0.15, 0.25], mdc: 0.3, changeKind: 'absolute' }).verdict, 'regressed', 'absolute: critical 0.21');
  t.is(judge({ ...m, change: 0.2, interval: [0.15, 0.25], mdc: 0.3, changeKind: 'absolute' }).verdict, 'unchanged', 'absolute: under 0.21');
  t.is(judge({ ...m, change: 0.25, interval: null, mdc: 0.3 }, { floor: true }).verdict, 'unchanged', 'a one-value floor is its own critical value');
  t.is(judge({ ...m, change: 0.35, interval: null, mdc: 0.3 }, { floor: true }).verdict, 'regressed', 'beyond the floor');
  // Each direction has its own critical value on the log scale: an MDC of 100% (ln 2) is called from
  // +62.4% up and from −38.4% down (a decrease of the MDC's size, −50%, with 80% power too).
  const wide = { ...m, threshold: 0.1, mdc: 1 };
  t.is(judge({ ...wide, change: 0.6, interval: [0.3, 0.9] }).verdict, 'unchanged', 'up: under +62.4%');
  t.is(judge({ ...wide, change: 0.65, interval: [0.3, 0.9] }).verdict, 'regressed', 'up: beyond +62.4%');
  t.is(judge({ ...wide, change: -0.4, interval: [-0.5, -0.3] }).verdict, 'improved', 'down: beyond −38.4%');
  t.is(judge({ ...wide, change: -0.36, interval: [-0.5, -0.3] }).verdict, 'unchanged', 'down: under −38.4%');
  t.regex(judge({ ...wide, change: -0.36, interval: [-0.5, -0.3] }).note ?? '', /noise: a change under -38%/);
  t.is(judge({ better: 'higher', threshold: 0.05, mdc: 1, change: -0.4, interval: [-0.5, -0.3] }).verdict, 'regressed', 'less throughput: the downward critical value');
  // beyond the threshold and the critical value, but the interval holds zero: said so, not called noise
  t.is(judge({ ...m, change: 0.25, interval: [-0.01, 0.4], mdc: 0.3 }).note, 'the 95% interval holds no change: not called');
  t.is(judge({ ...m, change: 0.2, interval: [-0.01, 0.4], mdc: 0.05 }).verdict, 'unchanged', 'interval holds zero');
  t.is(judge({ ...m, change: -0.2, interval: [-0.25, -0.15], mdc: 0.05 }).verdict, 'improved');
  t.is(judge({ better: 'higher', threshold: 0.05, change: -0.2, interval: [-0.25, -0.15], mdc: 0.01 }).verdict, 'regressed', 'less throughput is worse');
  t.is(judge({ ...m, change: 0.5, interval: null, mdc: null }).verdict, 'regressed', 'one value per run: the threshold alone');
  t.is(judge({ ...m, change: null, interval: null, mdc: null }).verdict, 'unchanged');
});

test('--threshold: N% per metric, tags allowed; a misspelt metric names the nearest; a bad form says how', (t) => {
  const th = parseThresholds(['http.latencyMs.p99=10%', 'http.latencyMs.p50{stage:peak}=2.5%']);
  t.is(th.get('http.latencyMs.p99'), 0.1);
  t.is(th.get('http.latencyMs.p50{stage:peak}'), 0.025);
  const e = t.throws(() => parseThresholds(['http.latencyMS.p99=10%']), { instanceOf: LoadscopeError }) as LoadscopeError;
  t.is(e.code, 'USAGE');
  t.regex(e.hint ?? '', /did you mean http\.latencyMs\.p99\?/);
  const f = t.throws(() => parseThresholds(['http.latencyMs.p99=10']), { instanceOf: LoadscopeError }) as LoadscopeError;
  t.regex(f.message, /not NAME=N%/);
});
