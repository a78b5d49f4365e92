// The 1 s windows of the in-process engines (src/load/windows.ts): a long run makes a bounded number
// of histograms (issue 20: one or two new ~92 KiB histograms a second fragmented the load thread's
// malloc arena, the soak's RSS grew ~1.5 MiB/min), and a reused histogram carries only its own window.
import test from 'ava';
import { createHistogram, decode, type Histogram } from '../../src/core/histogram.ts';
import type { RunEvent, Sample } from '../../src/core/types.ts';
import { WindowRecorder } from '../../src/load/windows.ts';

function recorder(): { rec: WindowRecorder; samples: Sample[]; made: () => number } {
  const samples: Sample[] = [];
  let made = 0;
  const sink = { sample: (s: Sample) => void samples.push(s), event: (_e: RunEvent) => undefined };
  const rec = new WindowRecorder(sink, 0, (): Histogram => {
    made++;
    return createHistogram();
  });
  return { rec, samples, made: () => made };
}

test('an hour of windows makes a handful of histograms, not two a second', (t) => {
  const { rec, samples, made } = recorder();
  for (let w = 0; w < 3600; w++) {
    // responses with a service time (open model) and a failure in each window; flushed as the 250 ms timer would
    for (let i = 0; i < 5; i++) rec.record(w * 1000 + i * 100, 'steady', 200, 1000 + w, 100, 500 + w);
    rec.record(w * 1000 + 900, 'steady', 'timeout', 10_000);
    rec.flush(w * 1000 + 1000);
  }
  rec.stop();
  t.is(samples.filter((s) => s.metric === 'http.latency_us').length, 3600);
  t.true(made() <= 4, `${made()} histograms made for 3600 windows`);
});

test('a reused histogram holds its own window only: counts, min and max', (t) => {
  const { rec, samples } = recorder();
  // window 0: slow; window 1: fast, on the histograms window 0 gave back
  for (let i = 0; i < 10; i++) rec.record(i, 'a', 200, 900_000, 0, 800_000);
  rec.flush(1000);
  for (let i = 0; i < 3; i++) rec.record(1000 + i, 'a', 200, 2000, 0, 1000);
  rec.stop();
  const hists = (metric: string) => samples.filter((s) => s.metric === metric).map((s) => decode(s.hist!));
  const [l0, l1] = hists('http.latency_us');
  const [s0, s1] = hists('http.service_time_us');
  t.deepEqual([l0.totalCount, l1.totalCount, s0.totalCount, s1.totalCount], [10, 3, 10, 3]);
  t.true(l1.maxValue < 2100 && l1.minNonZeroValue >= 1990, `window 1 latency ${l1.minNonZeroValue}..${l1.maxValue}`);
  t.true(s1.maxValue < 1100, `window 1 service time max ${s1.maxValue}`);
  t.true(l0.minNonZeroValue > 890_000, `window 0 latency min ${l0.minNonZeroValue}`);
});
