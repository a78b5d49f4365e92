import test from 'ava';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoadscopeError } from '../../src/core/errors.ts';
import { describeSkipped, scanJournal, type RawLine } from '../../src/journal/journal.ts';
import type { JournalRecord } from '../../src/core/types.ts';

const tmp = (t: { teardown(fn: () => void): void }) => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-scan-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'events.ndjson');
};

/** What a plain reader makes of the same file: every non-empty line through JSON.parse. */
const reference = (path: string): JournalRecord[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as JournalRecord);

test('scanJournal streams lines across chunk boundaries, multi-byte text and a line longer than a chunk', (t) => {
  const path = tmp(t);
  const lines: string[] = [];
  for (let i = 0; i < 40_000; i++) lines.push(JSON.stringify({ type: 'event', kind: 'k', time: 1e12 + i * 0.37, source: 's', attrs: { text: `é☃𝄞 ${'x'.repeat(i % 200)} "q" \\ ${i}` } }));
  lines.splice(20_000, 0, JSON.stringify({ type: 'sample', metric: 'big', time: 5, value: 1, tags: {}, meta: { blob: '☃'.repeat(3_000_000) } }));
  writeFileSync(path, lines.join('\n') + '\n');
  const got: JournalRecord[] = [];
  const stats = scanJournal(path, (r) => got.push(r));
  t.deepEqual(got, reference(path));
  t.is(stats.records, 40_001);
  t.is(stats.fast, 0);
  t.is(stats.torn, 0);
});

test('fast paths see the type, the exact time and fields of plain lines, and fall back to JSON.parse otherwise', (t) => {
  const path = tmp(t);
  const recs: JournalRecord[] = [
    { type: 'event', kind: 'probe.conn', time: 1768442400031.6067, source: 'p', attrs: { state: 'closed', durationMs: 40.25, connectMs: 0.1, from: 'fe' } },
    { type: 'event', kind: 'probe.conn', time: 1768442400032, source: 'p', attrs: { state: 'closed', durationMs: 7, from: 'a"b\\"durationMs\\":9' } },
    { type: 'sample', metric: 'probe.conn', time: 3.5, value: 1, tags: {} },
    { type: 'event', kind: 'probe.connx', time: 4, source: 'p', attrs: {} },
    { type: 'event', kind: 'probe.conn', time: 1e21, source: 'p', attrs: { state: 'open' } },
    { type: 'event', kind: 'other', time: 6, source: 'p', attrs: {} },
  ];
  writeFileSync(path, recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const seen: { type: string; time: number; floor: number; plain: boolean; state?: string; duration?: number; connect?: number; line: number }[] = [];
  const parsed: JournalRecord[] = [];
  const stats = scanJournal(path, (r) => parsed.push(r), new Map([
    ['probe.conn', (l: RawLine) => {
      seen.push({ type: l.type, time: l.time, floor: l.timeFloor, plain: l.plain(), state: l.str('state'), duration: l.num('durationMs'), connect: l.num('connectMs'), line: l.line });
      return l.type === 'event' && l.plain();
    }],
  ]));
  t.deepEqual(seen, [
    { type: 'event', time: 1768442400031.6067, floor: 1768442400031, plain: true, state: 'closed', duration: 40.25, connect: 0.1, line: 1 },
    // a backslash anywhere: no field is read from the raw bytes (a string could hold a quote or a key)
    { type: 'event', time: 1768442400032, floor: 1768442400032, plain: false, state: undefined, duration: undefined, connect: undefined, line: 2 },
    { type: 'sample', time: 3.5, floor: 3, plain: true, state: undefined, duration: undefined, connect: undefined, line: 3 },
  ]);
  // taken by the fast path: line 1 only; a different name, an exponent time and the rest are parsed as usual
  t.is(stats.fast, 1);
  t.deepEqual(parsed, recs.slice(1));
});

test('a torn last line is skipped even when its name has a fast path; corruption elsewhere is skipped by line number', (t) => {
  const path = tmp(t);
  const take = new Map([['probe.route', () => true]]);
  writeFileSync(path, `${JSON.stringify({ type: 'event', kind: 'probe.route', time: 1, source: 'p', attrs: {} })}\n`);
  appendFileSync(path, '{"type":"event","kind":"probe.route","time":2,"source":"p","attr');
  const stats = scanJournal(path, () => t.fail('nothing to parse'), take);
  t.is(stats.fast, 1);
  t.is(stats.torn, 1);
  t.is(stats.tornLine, 2);
  writeFileSync(path, '{"type":"end","endedAt":1,"outcome":"completed"}\r\n{"type":"event","kind":"probe.route","time":2,"source"\n{"type":"end","endedAt":3,"outcome":"completed"}\n');
  const seen: number[] = [];
  const s2 = scanJournal(path, (_r, line) => seen.push(line), take);
  t.deepEqual(seen, [1, 3]);
  t.deepEqual(s2.skipped, [{ from: 2, to: 2, reason: 'not JSON' }]);
  t.deepEqual([s2.torn, s2.tornLine, s2.skippedLines], [0, 0, 1]);
  t.throws(() => scanJournal(join(path, 'missing'), () => {}), { instanceOf: LoadscopeError, message: /cannot read journal/ });
});

test('garbage, unknown record types and malformed records are skipped in runs of line numbers with their reason', (t) => {
  const path = tmp(t);
  const ev = (i: number) => JSON.stringify({ type: 'event', kind: 'k', time: i, source: 's', attrs: {} });
  const lines = [
    JSON.stringify({ type: 'run', runId: 'r', schemaVersion: 1, scenarioName: 'n', startedAt: 0, plan: [], notices: [] }),
    ev(1),
    'garbage',
    '\u0000\u0000\u0000\u0000',
    '{"type":"sample","metric":"m","time":2,"val',
    JSON.stringify({ type: 'frobnicate', v: 9 }),
    ev(3),
    JSON.stringify({ type: 'sample', metric: 'm', time: 'soon', value: 1, tags: {} }),
    '[1,2]',
    '',
    ev(4),
    ...Array.from({ length: 30 }, () => '%%%'),
    ev(5),
    '{"type":"end","endedAt":6,"outc',
  ];
  writeFileSync(path, lines.join('\n'));
  const got: [string, number][] = [];
  const s = scanJournal(path, (r, line) => got.push([r.type, line]));
  t.deepEqual(got, [['run', 1], ['event', 2], ['event', 7], ['event', 11], ['event', 42]]);
  t.deepEqual(s.skipped, [
    { from: 3, to: 5, reason: 'not JSON' },
    { from: 6, to: 6, reason: 'unknown record type "frobnicate"' },
    { from: 8, to: 8, reason: 'a sample without metric, time and value' },
    { from: 9, to: 9, reason: 'not a record' },
    { from: 12, to: 41, reason: 'not JSON' },
  ]);
  t.is(s.skippedLines, 36);
  t.deepEqual([s.torn, s.tornLine], [1, 43]);
  t.is(describeSkipped(s, 2), 'lines 3-5 (not JSON), line 6 (unknown record type "frobnicate") and 32 more lines');
});
