import test from 'ava';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDuration } from '../../src/core/clock.ts';
import { createHistogram, decode, encode, mergeEncoded, record, summarize } from '../../src/core/histogram.ts';
import { Journal, readJournal } from '../../src/journal/journal.ts';
import { tempDir } from '../helpers/tmp.ts';

test('histograms merge exactly across an encode/decode boundary', (t) => {
  const a = createHistogram();
  const b = createHistogram();
  const all = createHistogram();
  for (let i = 1; i <= 5000; i++) {
    const v = (i * 7919) % 100_000 + 1;
    record(i % 2 ? a : b, v);
    record(all, v);
  }
  const merged = mergeEncoded([encode(a), encode(b)]);
  t.is(merged.totalCount, all.totalCount);
  for (const p of [50, 90, 99, 99.9, 100]) t.is(merged.getValueAtPercentile(p), all.getValueAtPercentile(p));
  t.is(decode(encode(all)).getValueAtPercentile(100), all.getValueAtPercentile(100));
  const s = summarize(all, 1000);
  t.true(s.p50 > 40 && s.p50 < 60);
});

test('out-of-range values are clamped, not thrown', (t) => {
  const h = createHistogram();
  record(h, -5);
  record(h, 1e15);
  t.is(h.totalCount, 2);
});

test('durations parse strictly', (t) => {
  t.is(parseDuration('1m30s'), 90_000);
  t.is(parseDuration('250ms'), 250);
  t.is(parseDuration('1.5s'), 1500);
  for (const bad of ['', '10', 's', '10 s', '1x', '5s3']) t.is(parseDuration(bad), undefined, bad);
});

test('the journal survives a torn last line and skips real corruption by line number', (t) => {
  const dir = tempDir('ls-journal-');
  const path = join(dir, 'events.ndjson');
  const j = new Journal(path);
  j.event({ kind: 'a', time: 1, source: 't', attrs: {} });
  j.sample({ metric: 'm', time: 2, value: 3, tags: {} });
  j.flush();
  appendFileSync(path, '{"type":"sample","metr');
  const { records, torn } = readJournal(path);
  t.is(records.length, 2);
  t.is(torn, 1);
  j.close();
  writeFileSync(path, '{"type":"end","endedAt":1,"outcome":"completed"}\nnot json\n{"type":"end"}\n{"type":"end","endedAt":2,"outcome":"completed"}\n');
  const back = readJournal(path);
  t.is(back.records.length, 2);
  t.deepEqual(back.skipped, [{ from: 2, to: 2, reason: 'not JSON' }, { from: 3, to: 3, reason: 'an end record without endedAt and outcome' }]);
  t.is(back.torn, 0);
});
