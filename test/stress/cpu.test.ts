import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { now } from '../../src/core/clock.ts';
import type { RunEvent, Sample } from '../../src/core/types.ts';
import { CpuStressor } from '../../src/stress/cpu.ts';

// Serial: process.cpuUsage() counts every thread of this worker, so the other test's 100% burner (its
// workers are threads here too), had it run concurrently, would add its ~0.2 CPU-s to this measurement.
test.serial('CPU stress burns the scheduled cores for the scheduled time and records it', async (t) => {
  const events: RunEvent[] = [];
  const samples: Sample[] = [];
  const start = now();
  const s = new CpuStressor([{ name: 'p', startMs: 200, durationMs: 1000, cores: 1, utilization: 0.5 }], start, { sample: (x) => samples.push(x), event: (e) => events.push(e) });
  const before = process.cpuUsage();
  await s.start(new AbortController().signal);
  await sleep(1500);
  const used = process.cpuUsage(before);
  const cpuS = (used.user + used.system) / 1e6;
  await s.stop();
  t.deepEqual(events.map((e) => e.kind), ['stress.start', 'stress.stop']);
  const on = events[0].time - start;
  const off = events[1].time - events[0].time;
  t.true(on >= 190 && on < 500, `started after ${on} ms`);
  t.true(off >= 950 && off < 1400, `ran ${off} ms`);
  // 1 core at 50% for 1 s ≈ 0.5 CPU-seconds (a busy machine can only lower it).
  t.log(`burned ${cpuS.toFixed(3)} CPU s; started after ${on.toFixed(0)} ms, ran ${off.toFixed(0)} ms`);
  t.true(cpuS > 0.3 && cpuS < 0.9, `burned ${cpuS} CPU s`);
  t.deepEqual(samples.map((x) => x.value), [0.5, 0]);
});

test('stopping early ends running phases and cancels pending ones', async (t) => {
  const events: RunEvent[] = [];
  const s = new CpuStressor(
    [{ name: 'a', startMs: 0, durationMs: 10_000, cores: 1, utilization: 1 }, { name: 'b', startMs: 5000, durationMs: 1000, cores: 1, utilization: 1 }],
    now(),
    { sample: () => {}, event: (e) => events.push(e) },
  );
  await s.start(new AbortController().signal);
  await sleep(200);
  await s.stop();
  t.deepEqual(events.map((e) => `${e.kind}:${e.attrs.name}`), ['stress.start:a', 'stress.stop:a']);
  t.is(events.filter((e) => e.kind === 'stress.start').length, 1);
});
