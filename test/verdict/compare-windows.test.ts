// windows.json: the per-window data a run writes beside results.json so that `loadscope compare`
// reads two small files, not two journals. What compare answers from it must be what it answers from
// the journal, and a file that was not written with the journal and results.json beside it (or is
// damaged, or of another version) must be passed over for the journal.
import test from 'ava';
import { appendFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JournalRecord } from '../../src/core/types.ts';
import { WINDOWS_FILE, WINDOWS_VERSION } from '../../src/analyze/windows.ts';
import { writeOutputs } from '../../src/run/run.ts';
import { readRun } from '../../src/verdict/compare-read.ts';
import { compareRuns } from '../../src/verdict/compare.ts';
import { renderCompare } from '../../src/render/compare.ts';
import { runCli } from '../helpers/cli.ts';
import { slowerBy, syntheticRecords, type SyntheticOptions } from '../helpers/synthetic-journal.ts';

const tmp = mkdtempSync(join(tmpdir(), 'loadscope-compare-windows-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

/** A run directory as a finished run leaves it: the journal, then results.json, windows.json and the rest (writeOutputs, as `loadscope run` and `loadscope report` write them). */
async function finishedRun(name: string, o: Partial<SyntheticOptions>, edit: (r: JournalRecord) => JournalRecord = (r) => r): Promise<string> {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const out = createWriteStream(join(dir, 'events.ndjson'));
  for (const r of syntheticRecords({ seconds: 90, packetRecords: 200, events: 20, wakeUs: 250, ...o })) out.write(JSON.stringify(edit(r)) + '\n');
  await new Promise<void>((res) => out.end(() => res()));
  const written = writeOutputs(dir);
  if (written.files.windows !== join(dir, WINDOWS_FILE)) throw new Error(`windows.json written at ${written.files.windows}`);
  return dir;
}

const slower = slowerBy(1.5);

/** Reads a run from its journal alone: windows.json moved aside for the read. */
function fromJournal(dir: string) {
  const file = join(dir, WINDOWS_FILE);
  renameSync(file, `${file}.aside`);
  try {
    return readRun(dir, 'run');
  } finally {
    renameSync(`${file}.aside`, file);
  }
}

test('compare answers the same from windows.json as from the journal: compare.json and compare.html identical', async (t) => {
  const a = await finishedRun('same-a', { seed: 11 });
  const b = await finishedRun('same-b', { seed: 12 }, slower);
  const sa = readRun(a, 'baseline');
  const sb = readRun(b, 'candidate');
  t.is(sa.source, 'windows.json');
  t.is(sb.source, 'windows.json');
  const ja = fromJournal(a);
  const jb = fromJournal(b);
  t.is(ja.source, 'journal');
  const saved = compareRuns(sa, sb);
  const journal = compareRuns(ja, jb);
  t.true(saved.doc.metrics.length > 10, `${saved.doc.metrics.length} metrics`);
  t.true(saved.doc.counts.regressed > 0, 'the 1.5× slower candidate is called regressed somewhere (the comparison is not vacuous)');
  t.deepEqual(saved.doc, journal.doc);
  t.is(renderCompare(saved.doc, saved.timelines), renderCompare(journal.doc, journal.timelines));
  // the windows' data themselves, not only what this comparison made of them
  for (const k of ['reqs', 'errors', 'unanswered', 'services', 'hpaSyncS', 'wake'] as const) t.deepEqual(sa[k], ja[k], k);
  t.true(sa.wake.size > 80, "the machine gauge's windows too");
  t.deepEqual([...sa.packet.keys()].sort(), [...ja.packet.keys()].sort());
  t.true(sa.packet.size > 0 && sa.services.size > 0, 'the synthetic run has packet latency and services to compare');
});

test('a windows.json not written with the files beside it, damaged, or of another version is passed over for the journal', async (t) => {
  const dir = await finishedRun('stale', { seed: 13 });
  const file = join(dir, WINDOWS_FILE);
  const good = readFileSync(file, 'utf8');
  const results = readFileSync(join(dir, 'results.json'), 'utf8');
  t.is(readRun(dir, 'run').source, 'windows.json');
  const cases: [string, () => void][] = [
    ['cut short', () => writeFileSync(file, good.slice(0, good.length / 2))],
    ['another version', () => writeFileSync(file, good.replace(`"version":${WINDOWS_VERSION},`, '"version":999,'))],
    ['a histogram that does not parse', () => writeFileSync(file, good.replace(/"1\/3:[^"]*"/, '"1/3:x"'))],
    ['results.json rewritten since', () => writeFileSync(join(dir, 'results.json'), results.replace('\n', '\n  '))],
    ['the journal grew since', () => appendFileSync(join(dir, 'events.ndjson'), '\n')],
  ];
  for (const [what, spoil] of cases) {
    spoil();
    t.is(readRun(dir, 'run').source, 'journal', what);
    writeFileSync(file, good);
    writeFileSync(join(dir, 'results.json'), results);
  }
  // `loadscope report` writes it anew with the journal as it is now
  const r = await runCli(['report', dir]);
  t.is(r.code, 99, `the synthetic run fails two of its thresholds (exit 99); its files are written all the same: ${r.stdout}${r.stderr}`);
  t.is(readRun(dir, 'run').source, 'windows.json');
  t.not(readFileSync(file, 'utf8'), good, 'rewritten with the grown journal');
});

test('a run kept without its journal is compared from results.json and windows.json; with neither, exit 2 says what to keep', async (t) => {
  const a = await finishedRun('kept-a', { seed: 14 });
  const b = await finishedRun('kept-b', { seed: 15 });
  const before = await runCli(['compare', a, b, '--out', join(tmp, 'kept-out-1')]);
  t.is(before.code, 0, before.stdout + before.stderr);
  rmSync(join(a, 'events.ndjson'));
  const after = await runCli(['compare', a, b, '--out', join(tmp, 'kept-out-2')]);
  t.is(after.code, 0, after.stdout + after.stderr);
  t.deepEqual(JSON.parse(readFileSync(join(tmp, 'kept-out-2', 'compare.json'), 'utf8')).metrics, JSON.parse(readFileSync(join(tmp, 'kept-out-1', 'compare.json'), 'utf8')).metrics);
  rmSync(join(a, WINDOWS_FILE));
  const neither = await runCli(['compare', a, b]);
  t.is(neither.code, 2, neither.stderr);
  t.regex(neither.stderr, /holds no events\.ndjson \(only results\.json\)/);
  t.regex(neither.stderr, /keep events\.ndjson with the run, or windows\.json/);
  t.false(/\n\s+at .+:\d+:\d+/.test(neither.stderr), 'no stack trace');
  t.false(existsSync(join(b, 'compare.json')), 'nothing written for unusable input');
});
