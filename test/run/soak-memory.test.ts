// The soak's memory split (scripts/soak.ts memorySplit): after warm-up, the slope of RSS and of each
// part of it, so that a heap leak is told from native memory or the allocator keeping pages (issue 20).
import test from 'ava';
import { memoryPoint, memorySplit, type RssPoint } from '../../scripts/soak.ts';

test('memory split: a flat heap beside a growing rest is named as such; warm-up left out', (t) => {
  // 10 min, warm-up 2 min: heap flat at 50, external 4, the rest grows 1.5 MiB/min; the warm-up's 400 MiB is not fitted
  const pts: RssPoint[] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((m) => ({ min: m, mib: m < 2 ? 400 : 200 + 1.5 * m, heapMib: 40, heapTotalMib: 50, externalMib: 4, arrayBuffersMib: 1 }));
  const line = memorySplit(pts, 10);
  t.regex(line, /RSS \+1\.500 \(203\.0→215\.0\)/);
  t.regex(line, /heap used \+0\.000 \(40\.0→40\.0\)/);
  t.regex(line, /rest \(RSS − heap reserved − external\) \+1\.500 \(149\.0→161\.0\)/);
  t.regex(memorySplit([{ min: 5, mib: 200 }], 10), /RSS n\/a \(200\.0→200\.0\), heap used n\/a \(no samples\)/);
});

test('memory point: this process, its parts within its RSS', (t) => {
  const p = memoryPoint();
  t.true(p.mib > 0 && p.heapMib! > 0 && p.heapMib! <= p.heapTotalMib! && p.arrayBuffersMib! <= p.externalMib! && p.heapTotalMib! < p.mib, JSON.stringify(p));
});
