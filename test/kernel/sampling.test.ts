// Sampled packet latency and the probes' cost as results.json gives them, from mapped loader records:
// each window's histogram weighs by its N, the intervals cover what they claim, the cost adds up.
import test from 'ava';
import { DISPATCH_NS, probeCost, samplingError, summarizeProbes } from '../../src/analyze/probes.ts';
import { HistAcc } from '../../src/analyze/hist.ts';
import { decodeSparse } from '../../src/core/histogram.ts';
import { loglinToEncoded, slotOf } from '../../src/kernel/loghist.ts';
import { ProbeRecordMapper } from '../../src/kernel/mapper.ts';
import type { ProbeRecord } from '../../src/kernel/types.ts';
import { MemorySink } from './helpers/netns.ts';

const W = 1_000_000_000;
const clock: ProbeRecord = { t: 'clock', probe: 'pktlat', pid: 1, mono_ns: 0, realtime_ms: 1_700_000_000_000, err_ns: 60, window_ns: W, t0_ns: 0, hist: 'loglin3' };

/** A hist record of these latencies (ns) for window w, as pktlat prints it. */
function hist(w: number, values: number[]): ProbeRecord {
  const slots = new Map<number, number>();
  for (const v of values) slots.set(slotOf(v), (slots.get(slotOf(v)) ?? 0) + 1);
  const b = [...slots].sort((a, c) => a[0] - c[0]).flat();
  return { t: 'hist', probe: 'pktlat', m: 'pkt_latency_ns', w: w * W, d: W, tags: { iface: 'a', peer: 'b', dir: 'any' }, n: values.length, sum: values.reduce((x, y) => x + y, 0), b };
}
const sampling = (w: number, every: number, timed: number, packets: number): ProbeRecord => ({ t: 'sampling', probe: 'pktlat', w: w * W, d: W, every, timed, packets });

function summarize(records: ProbeRecord[]) {
  const sink = new MemorySink();
  const m = new ProbeRecordMapper(sink, 'pktlat');
  for (const r of [clock, ...records]) m.handle(r);
  return summarizeProbes(sink.records);
}

test('each window weighs by its N: a quiet window timed in full does not outweigh a busy one timed 1 in 100', (t) => {
  // window 0: 1,000 packets at 1 µs, all timed; window 1: 100,000 packets at 100 µs, 1,000 timed (1 in 100)
  const s = summarize([hist(0, Array(1000).fill(1000)), sampling(0, 1, 1000, 1000), hist(1, Array(1000).fill(100_000)), sampling(1, 100, 1000, 100_000)]);
  const l = s.packetLatency[0];
  t.is(l.timed, 2000);
  t.is(l.count, 101_000, 'the packets the pairs stand for');
  // of 101,000 packets 100,000 took 100 µs: the median is 100 µs (unweighted it would sit between)
  t.true(Math.abs(l.p50 - 100_000) / 100_000 < 0.07, `p50 ${l.p50}`);
  t.true(Math.abs(l.mean - (1000 * 1000 + 100_000 * 100_000) / 101_000) < 1, `mean ${l.mean} from the exact sums`);
  t.truthy(l.error);
  // Kish: (Σ N·t)² / Σ N²·t = 101,000² / (1,000 + 10,000,000)
  t.is(l.error!.effectiveN, Math.round(101_000 ** 2 / (1000 + 100 * 100 * 1000)));
  t.deepEqual(
    s.sampling.windows.map((w) => [w.every, w.timed, w.packets]),
    [
      [1, 1000, 1000],
      [100, 1000, 100_000],
    ],
  );
  t.is(s.sampling.fidelity, 'sampled');
  t.is(s.sampling.everyMax, 100);
});

test('consecutive windows of one N are one run; every packet timed has no sampling error', (t) => {
  const recs: ProbeRecord[] = [];
  for (let w = 0; w < 5; w++) recs.push(hist(w, [2000, 3000]), sampling(w, 1, 2, 2));
  const s = summarize(recs);
  t.is(s.sampling.windows.length, 1);
  t.is(s.sampling.windows[0].windows, 5);
  t.is(s.sampling.fidelity, 'full');
  t.is(s.packetLatency[0].error, undefined);
  t.is(s.packetLatency[0].count, 10);
});

test('the 95% interval of p50 and p99 covers the true quantile about 95% of the time', (t) => {
  // a known distribution (exponential, mean 10 µs); 60 samples of it (so that the interval, not the
  // histogram's buckets, sets the width), 400 times
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) + 0.5) / 2 ** 31;
  const draw = () => Math.round(-Math.log(1 - rnd()) * 10_000);
  const q = (p: number) => -Math.log(1 - p) * 10_000;
  let c50 = 0;
  let c99 = 0;
  const trials = 400;
  const sampleOf = (n: number) => {
    const acc = new HistAcc();
    acc.add(decodeSparse(loglinToEncoded((hist(0, Array.from({ length: n }, draw)) as Extract<ProbeRecord, { t: 'hist' }>).b)));
    return samplingError(acc.sparse(), n);
  };
  const covers = (x: number, r: [number, number | null]) => x >= r[0] * 0.875 && (r[1] === null || x <= r[1] * 1.125);
  for (let i = 0; i < trials; i++) {
    // the histogram's buckets (≤ 12.5% wide, read at their top) widen what can be claimed by a bucket
    if (covers(q(0.5), sampleOf(60).p50)) c50++;
    // p99 needs n·1% well above 1 for an upper end: 2,000 samples
    if (covers(q(0.99), sampleOf(2000).p99)) c99++;
  }
  t.log(`coverage over ${trials} samples: p50 of 60 ${((c50 / trials) * 100).toFixed(1)}%, p99 of 2,000 ${((c99 / trials) * 100).toFixed(1)}%`);
  t.true(c50 / trials >= 0.9, 'p50');
  t.true(c99 / trials >= 0.9, 'p99');
  t.is(sampleOf(60).p99[1], null, 'no upper end for p99 from 60 samples: the largest of them is below p99 more often than not');
  // and it is not vacuous: the interval of p50 from 60 samples is narrower than the middle half of the distribution
  const e = sampleOf(60);
  t.true(e.p50[1]! - e.p50[0] < q(0.75) - q(0.25), JSON.stringify(e));
  const big = sampleOf(4000);
  t.true(big.p50[1]! - big.p50[0] < e.p50[1]! - e.p50[0], 'more samples, a narrower interval');
});

test('probes.cost adds the programs\' run time to the loaders\' CPU, per event and as a share of the machine', (t) => {
  const end = (probe: string, cpu: number, run: number, progs: Record<string, [number, number]>) => ({
    kind: 'probe.end',
    time: 0,
    source: `probe.${probe}`,
    attrs: { probe, cpuSeconds: cpu, cpuRunSeconds: run, lines: 1, lost: { ringbuf: 0, map_full: 0 }, bpfStats: true, wallS: 10, ncpu: 2, progs: Object.fromEntries(Object.entries(progs).map(([k, [n, ns]]) => [k, { id: 1, run_cnt: n, run_ns: ns }])) },
  });
  const c = probeCost([end('pktlat', 0.3, 0.2, { lsc_pkt_queue: [1_000_000, 300_000_000], lsc_pkt_recv: [1_000_000, 500_000_000] }), end('tcpwatch', 0.1, 0.05, { lsc_tcp_iter: [100, 100_000] })])!;
  t.is(c.bpfSeconds, 0.8001);
  t.is(c.loaderSeconds, 0.4);
  t.is(c.loaderStartSeconds, 0.15);
  t.is(c.events, 2_000_100);
  t.is(c.dispatchSeconds, Math.round((2_000_100 * DISPATCH_NS) / 1e3) / 1e6);
  const total = 1.2001 + (2_000_100 * DISPATCH_NS) / 1e9;
  t.is(c.cpuSeconds, Math.round(total * 1e6) / 1e6);
  t.is(c.nsPerEvent, Math.round((total * 1e9) / 2_000_100));
  t.is(c.share, Math.round((total / 20) * 1e6) / 1e6);
  t.deepEqual(c.programs.map((p) => [p.program, p.nsPerRun]), [
    ['lsc_pkt_recv', 500],
    ['lsc_pkt_queue', 300],
    ['lsc_tcp_iter', 1000],
  ]);
  t.true(c.bpfStats);
  t.deepEqual([c.statsEvery, c.statsShare], [1, 1], 'end records without the fields: statistics on throughout');
  t.is(probeCost([]), undefined);
});

test('probes.cost from run-time statistics on for 1/10 of every window: runs and run time scaled by the loader\'s time over theirs', (t) => {
  const end = (probe: string, on: number, progs: Record<string, [number, number]>) => ({
    kind: 'probe.end',
    time: 0,
    source: `probe.${probe}`,
    attrs: { probe, cpuSeconds: 0.1, cpuRunSeconds: 0.1, lines: 1, lost: { ringbuf: 0, map_full: 0 }, bpfStats: true, statsOnSeconds: on, statsEvery: 10, wallS: 10, ncpu: 2, progs: Object.fromEntries(Object.entries(progs).map(([k, [n, ns]]) => [k, { id: 1, run_cnt: n, run_ns: ns }])) },
  });
  const c = probeCost([end('pktlat', 1.25, { lsc_pkt_queue: [100_000, 12_000_000] }), end('fibroute', 2, { lsc_fib_lookup: [1000, 200_000] })])!;
  t.is(c.statsEvery, 10);
  t.is(c.statsShare, 0.125, 'the least share of any loader');
  t.deepEqual(
    c.programs.map((p) => [p.program, p.runs, p.seconds, p.nsPerRun]),
    [
      ['lsc_pkt_queue', 800_000, 0.096, 120],
      ['lsc_fib_lookup', 5000, 0.001, 200],
    ],
  );
  t.is(c.bpfSeconds, 0.097);
  t.is(c.events, 805_000);
});
