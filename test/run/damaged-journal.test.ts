import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../../src/core/result.ts';
import { runCli } from '../helpers/cli.ts';

// `loadscope report` on the journal of a real short run, damaged on purpose: what is readable is rebuilt,
// what was skipped is named by line number, and the exit code says which kind of damage it was
// (README "Exit codes": a torn last line keeps the run's own code, anything else is 2).

const root = mkdtempSync(join(tmpdir(), 'ls-damaged-'));
let base: { lines: string[]; result: RunResult; code: number | null };

test.before(async () => {
  const scenario = join(root, 'damaged.yaml');
  // a threshold no run meets: the run's own exit code is 99, which a torn last line must keep
  writeFileSync(scenario, 'name: damaged\ncluster: { mode: loopback }\nprobes: off\nstages:\n  - { name: a, duration: 1s, connections: 2 }\n  - { name: b, duration: 1s, rate: 50 }\nthresholds:\n  http_req_duration: ["p(99) < 0.001"]\n');
  const r = await runCli(['run', scenario, '--out', join(root, 'base')]);
  const text = readFileSync(join(root, 'base', 'events.ndjson'), 'utf8');
  base = { lines: text.split('\n').filter((l) => l !== ''), result: JSON.parse(readFileSync(join(root, 'base', 'results.json'), 'utf8')) as RunResult, code: r.code };
});
test.after.always(() => rmSync(root, { recursive: true, force: true }));

/** A run directory holding `text` as its journal; `loadscope report` on it, and the results it wrote. */
async function report(name: string, text: string) {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'events.ndjson'), text);
  const r = await runCli(['report', dir]);
  let result: RunResult | undefined;
  try {
    result = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResult;
  } catch {
    result = undefined;
  }
  return { ...r, result };
}

const headerLine = () => base.lines.findIndex((l) => l.startsWith('{"type":"run"'));
const firstSampleLine = () => base.lines.findIndex((l, i) => i > headerLine() && l.startsWith('{"type":"sample","metric":"http.'));

test('the base run is what the damage is measured against: exit 99, every line readable', async (t) => {
  t.is(base.code, 99);
  t.true(base.lines.length > 10);
  t.true(base.result.http.requests > 0);
  const r = await report('intact', base.lines.join('\n') + '\n');
  t.is(r.code, 99, r.stderr);
  t.false(r.result!.notices.some((n) => n.startsWith('journal')));
  t.deepEqual(r.result!.http, base.result.http);
});

test('a truncated last line (a killed run) is skipped and said, and report exits as the run did (99)', async (t) => {
  const last = base.lines[base.lines.length - 1];
  const text = base.lines.slice(0, -1).join('\n') + '\n' + last.slice(0, Math.floor(last.length / 2));
  const r = await report('torn', text);
  t.is(r.code, 99, r.stderr + r.stdout);
  const n = base.lines.length;
  t.true(r.result!.notices.includes(`journal cut short: line ${n}, the last, was cut short (the run stopped while writing it) and was skipped`), r.result!.notices.join('\n'));
  t.regex(r.stdout, new RegExp(`notice\\s+journal cut short: line ${n}, the last`));
  t.is(r.result!.http.requests, base.result.http.requests);
  t.is(r.stderr, '');
});

test('garbage in the middle: the rest is rebuilt, the skipped lines are named, exit 2', async (t) => {
  const lines = [...base.lines];
  const at = firstSampleLine();
  t.true(at > 0);
  const skippedSample = JSON.parse(lines[at]) as { metric: string; value: number };
  lines[at] = lines[at].slice(0, 20) + '\u0000\u0000garbage' + lines[at].slice(40);
  lines.splice(at + 1, 0, 'not json at all', '\u0000'.repeat(64));
  const r = await report('garbage', lines.join('\n') + '\n');
  t.is(r.code, 2, r.stderr + r.stdout);
  const from = at + 1;
  t.true(r.result!.notices.includes(`journal damaged: 3 unreadable lines skipped: lines ${from}-${from + 2} (not JSON)`), r.result!.notices.join('\n'));
  t.regex(r.stderr, /events\.ndjson: damaged; results and report were rebuilt from the readable lines/);
  t.notRegex(r.stderr, /\n\s+at |internal error/);
  t.regex(readFileSync(join(root, 'garbage', 'report.html'), 'utf8'), new RegExp(`lines ${from}-${from + 2} \\(not JSON\\)`));
  // everything else is there: the requests of the skipped window are missing, no more
  if (skippedSample.metric === 'http.latency_us') t.is(r.result!.http.requests, base.result.http.requests - skippedSample.value);
  t.true(r.result!.http.requests > 0);
  t.is(r.result!.stages.length, base.result.stages.length);
});

test('records of an unknown type and a header of an unknown format version are skipped or flagged, exit 2', async (t) => {
  const lines = [...base.lines];
  const h = headerLine();
  lines.splice(h + 1, 0, JSON.stringify({ type: 'span', v: 2, time: 1 }), JSON.stringify({ type: 'sample', metric: 'x', time: 'later' }));
  const r = await report('unknown', lines.join('\n') + '\n');
  t.is(r.code, 2, r.stderr + r.stdout);
  t.true(r.result!.notices.includes(`journal damaged: 2 unreadable lines skipped: line ${h + 2} (unknown record type "span"), line ${h + 3} (a sample without metric, time and value)`), r.result!.notices.join('\n'));
  const v2 = [...base.lines];
  v2[h] = v2[h].replace('"schemaVersion":1,', '"schemaVersion":2,');
  const r2 = await report('version', v2.join('\n') + '\n');
  t.is(r2.code, 2, r2.stderr + r2.stdout);
  t.true(r2.result!.notices.some((n) => n.startsWith('journal damaged: written in format 2; this loadscope reads format 1')), r2.result!.notices.join('\n'));
  t.is(r2.result!.http.requests, base.result.http.requests);
});

test('a damaged header leaves nothing to rebuild: exit 2 naming the skipped line, no stack', async (t) => {
  const lines = [...base.lines];
  const h = headerLine();
  lines[h] = lines[h].slice(0, 30) + '\u0000' + lines[h].slice(31, 200);
  const r = await report('header', lines.join('\n') + '\n');
  t.is(r.code, 2, r.stderr + r.stdout);
  t.regex(r.stderr, new RegExp(`no run header; skipped line ${h + 1} \\(not JSON\\)`));
  t.regex(r.stderr, /hint: the header line is damaged/);
  t.notRegex(r.stderr, /\n\s+at /);
});
