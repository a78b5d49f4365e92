// `loadscope compare` as a user runs it, on synthetic run directories: exit codes 0 / 99 / 2, the
// files it writes, and the errors for unusable input (never a stack trace).
import test from 'ava';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JournalRecord } from '../../src/core/types.ts';
import { runCli } from '../helpers/cli.ts';
import { slowerBy, syntheticRecords, type SyntheticOptions } from '../helpers/synthetic-journal.ts';

const tmp = mkdtempSync(join(tmpdir(), 'loadscope-compare-cli-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

async function runDir(name: string, o: Partial<SyntheticOptions>, edit: (r: JournalRecord) => JournalRecord | undefined = (r) => r): Promise<string> {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const out = createWriteStream(join(dir, 'events.ndjson'));
  for (const r of syntheticRecords({ seconds: 90, packetRecords: 50, events: 20, ...o })) {
    const e = edit(r);
    if (e) out.write(JSON.stringify(e) + '\n');
  }
  await new Promise<void>((res) => out.end(() => res()));
  return dir;
}

const slower = slowerBy(2);

const noStack = (t: { false: (x: boolean, m?: string) => void }, stderr: string) => t.false(/\n\s+at .+:\d+:\d+/.test(stderr), `no stack trace in: ${stderr}`);

test('two runs of one distribution: exit 0, the table, compare.json and compare.html in the candidate directory', async (t) => {
  const a = await runDir('a', { seed: 1 });
  const b = await runDir('b', { seed: 2 });
  const r = await runCli(['compare', a, b]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /method: +paired stage-stratified circular block bootstrap/);
  t.regex(r.stdout, /http\.latencyMs\.p99 .* unchanged/);
  t.regex(r.stdout, /0 regressed/);
  const doc = JSON.parse(readFileSync(join(b, 'compare.json'), 'utf8'));
  t.is(doc.verdict, 'unchanged');
  t.true(doc.metrics.length > 10);
  for (const m of doc.metrics) for (const k of ['name', 'baseline', 'candidate', 'change', 'interval', 'verdict']) t.true(k in m, `${m.name} has ${k}`);
  t.true(existsSync(join(b, 'compare.html')));
});

test('a candidate twice as slow: exit 99, p50 and p99 REGRESSED, files where --out says', async (t) => {
  const a = await runDir('base', { seed: 3 });
  const b = await runDir('slow', { seed: 4 }, slower);
  const out = join(tmp, 'out-slow');
  const r = await runCli(['compare', a, b, '--out', out]);
  t.is(r.code, 99, r.stdout + r.stderr);
  t.regex(r.stdout, /http\.latencyMs\.p50 .* REGRESSED/);
  t.regex(r.stdout, /http\.latencyMs\.p99\{stage:base\} .* REGRESSED/);
  const doc = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8'));
  t.is(doc.verdict, 'regressed');
  t.true(doc.counts.regressed > 0);
  const warm = doc.metrics.find((m: { name: string }) => m.name === 'http.latencyMs.p50{stage:warm}');
  t.is(warm.verdict, 'unchanged', 'the 8-window warm stage is not judged');
  t.regex(warm.note, /8 window\(s\): too few to judge/);
  t.is(warm.interval, null);
  t.false(existsSync(join(b, 'compare.json')), 'nothing written into the candidate directory');
  const relaxed = await runCli(['compare', a, b, '--out', out, ...['p50', 'p90', 'p99'].map((q) => `--threshold=http.latencyMs.${q}=200%`)]);
  t.is(relaxed.code, 0, `a threshold above the change lets it pass: ${relaxed.stdout}`);
});

test('unusable input is exit 2 with a message and a hint, never a stack trace', async (t) => {
  const good = await runDir('good', { seed: 5 });
  const cases: [string[], RegExp][] = [
    [['compare', good], /takes a baseline and a candidate/],
    [['compare', join(tmp, 'nowhere'), good], /no such directory/],
    [['compare', good, good, '--threshold', 'http.latencyMS.p99=5%'], /no metric "http\.latencyMS\.p99"[\s\S]*did you mean http\.latencyMs\.p99/],
    [['compare', good, good, '--threshold', 'http.latencyMs.p99=5ms'], /not NAME=N%/],
  ];
  const onlyResults = join(tmp, 'only-results');
  mkdirSync(onlyResults, { recursive: true });
  writeFileSync(join(onlyResults, 'results.json'), '{}');
  cases.push([['compare', onlyResults, good], /holds no events\.ndjson \(only results\.json\)[\s\S]*hint: compare resamples per-window histograms, which results.json lacks/]);
  const empty = join(tmp, 'empty');
  mkdirSync(empty, { recursive: true });
  cases.push([['compare', good, empty], /candidate .* holds no events\.ndjson/]);
  for (const [args, re] of cases) {
    const r = await runCli(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re);
    noStack(t, r.stderr);
  }
});

test('a crashed run is refused unless --allow-crashed; different scenarios are compared and said', async (t) => {
  const base = await runDir('c-base', { seed: 6 });
  const crashed = await runDir('crashed', { seed: 7 }, (r) => (r.type === 'end' ? undefined : r));
  const r = await runCli(['compare', base, crashed]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /candidate run .* crashed \(its journal has no end record\)/);
  t.regex(r.stderr, /--allow-crashed/);
  noStack(t, r.stderr);
  const allowed = await runCli(['compare', base, crashed, '--allow-crashed']);
  t.is(allowed.code, 0, allowed.stdout + allowed.stderr);
  t.regex(allowed.stdout, /note: +the candidate run crashed/);

  const other = await runDir('other', { seed: 8, hostile: '-x' });
  const o = await runCli(['compare', base, other]);
  t.true(o.code === 0 || o.code === 99, o.stderr);
  t.regex(o.stdout, /note: +different scenarios: baseline report-scale, candidate report-scale-x/);
  const doc = JSON.parse(readFileSync(join(other, 'compare.json'), 'utf8'));
  t.true(doc.notes.some((n: string) => n.startsWith('different scenarios')));
});
