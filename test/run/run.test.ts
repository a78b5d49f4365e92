import test from 'ava';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runResultSchema, type RunResult } from '../../src/core/result.ts';
import { readJournal } from '../../src/journal/journal.ts';
import { fmtNum } from '../../src/render/view.ts';
import { repoRoot, runCli, startCli } from '../helpers/cli.ts';
import { pidsWithEnv } from '../helpers/with-server.ts';
import { tempDir } from '../helpers/tmp.ts';

const smoke = join(repoRoot, 'fixtures', 'scenarios', 'smoke.yaml');
const outDir = () => tempDir('ls-run-');
const results = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResult;

test.serial('a run writes journal, results and report; client count matches what the frontend served', async (t) => {
  const dir = outDir();
  const r = await runCli(['run', smoke, '--out', dir]);
  t.is(r.code, 0, r.stderr + r.stdout);
  for (const f of ['events.ndjson', 'results.json', 'report.html']) t.true(existsSync(join(dir, f)), f);
  const res = runResultSchema.parse(results(dir));
  t.is(res.outcome, 'completed');
  t.is(res.scenario.name, 'smoke');
  t.true(res.http.requests > 500, `${res.http.requests} requests`);
  const c = res.checks.servedVsClient!;
  t.truthy(c);
  t.true(c.ok, JSON.stringify(c));
  t.true(c.difference >= 0 && c.difference <= res.http.inFlightAtCutoff + (res.http.errorsByKind.timeout ?? 0) + (res.http.errorsByKind.conn ?? 0));
  t.is(res.services.frontend.requestsServed, res.services.backend.requestsServed, 'every frontend request reached the backend');
  t.deepEqual(res.stages.map((s) => s.name), ['warm', 'ramp', 'flat']);
  t.true(res.stages[1].requests >= 380 && res.stages[1].requests <= 460, `ramp ${res.stages[1].requests} of 450 scheduled`);
  t.true(res.windows.length >= 7);
  t.true(res.windows.every((w, i) => w.t === i));
  t.true(res.windows.some((w) => w.stressCores > 0), 'stress shows on the timeline');
  t.deepEqual(res.stress.map((s) => s.name), ['burn']);
  t.true(res.thresholds.length === 2 && res.thresholds.every((x) => x.ok));
  t.regex(res.http.latencyBasis, /mixed/);
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  t.notRegex(html, /<(script|link|img)[^>]+(src|href)=["']?https?:/i, 'self-contained: nothing fetched');
  t.regex(html, /id="chart-rps"/);
  t.regex(html, /id="chart-latency"/);
  t.regex(r.stdout, /report: .*report\.html/);
  // the machine gauge beside the load (src/run/wake-gauge.ts): about one reading a second of the run, each a CPU time per wake-up
  const wake = readFileSync(join(dir, 'events.ndjson'), 'utf8').split('\n').filter((l) => l.includes('"machine.wake_cpu_us"')).map((l) => (JSON.parse(l) as { value: number }).value);
  t.true(wake.length >= res.windows.length - 3 && wake.length <= res.windows.length + 3, `${wake.length} gauge readings over ${res.windows.length} windows`);
  t.true(wake.every((v) => v > 1 && v < 100_000), `CPU per wake-up in µs: ${wake.join(', ')}`);
  // results.json `machine` summarises every reading, and the report says it under the verdict
  const sorted = [...wake].sort((a, b) => a - b);
  const m = res.machine!.wakeCpuUs;
  t.is(m.readings, wake.length);
  const r1 = (x: number) => Math.round(x * 10) / 10; // results.json gives 0.1 µs
  t.true(r1(sorted[0]) <= m.p10 && m.p10 <= m.median && m.median <= m.p90 && m.p90 <= r1(sorted[sorted.length - 1]), JSON.stringify(m));
  t.is(m.median, r1(sorted[Math.ceil(sorted.length / 2) - 1]));
  const said = /data-field="machine">([^<]*)</.exec(html)?.[1] ?? '';
  t.true(said.startsWith('Machine: one wake-up') && said.includes(`cost ${fmtNum(m.median, 0)} µs of CPU (median of ${fmtNum(wake.length, 0)} seconds`), said);

  // the report command rebuilds both files from the journal alone, with the same numbers
  const before = readFileSync(join(dir, 'results.json'), 'utf8');
  rmSync(join(dir, 'results.json'));
  rmSync(join(dir, 'report.html'));
  const again = await runCli(['report', dir]);
  t.is(again.code, 0, again.stderr);
  t.is(readFileSync(join(dir, 'results.json'), 'utf8'), before);
  t.true(existsSync(join(dir, 'report.html')));
});

test.serial('Ctrl-C stops cleanly: exit 130, results and report still written, no service left', async (t) => {
  const dir = outDir();
  const { child, done } = startCli(['run', smoke, '--out', dir, '--duration-scale', '3']);
  await waitFor(() => journalHas(dir, 'stage.start'), 20_000);
  await sleep(1500);
  child.kill('SIGINT');
  const r = await done;
  t.is(r.code, 130, r.stderr);
  t.regex(r.stderr, /interrupted/);
  const res = results(dir);
  t.is(res.outcome, 'interrupted');
  t.true(res.http.requests > 0);
  t.true(res.checks.servedVsClient!.ok, JSON.stringify(res.checks.servedVsClient));
  t.true(existsSync(join(dir, 'report.html')));
  t.deepEqual(pidsWithEnv('LOADSCOPE_RUN_ID', runIdOf(dir)), []);
});

test.serial('a run whose output lost its reader (a parent or CI step that died) stops as on Ctrl-C: results written, nothing left', async (t) => {
  const dir = outDir();
  const { child, done } = startCli(['run', smoke, '--out', dir, '--duration-scale', '3']);
  await waitFor(() => journalHas(dir, 'stage.start'), 20_000);
  const runId = runIdOf(dir);
  // nobody reads its output any more: its next line (the progress, every 5 s) meets a closed pipe
  child.stdout!.destroy();
  child.stderr!.destroy();
  const r = await done;
  t.is(r.code, 130, 'interrupted');
  const res = results(dir);
  t.is(res.outcome, 'interrupted');
  t.true(res.http.requests > 0);
  t.true(res.durationS < 18, `stopped early (${res.durationS} s of a 21 s plan)`);
  t.true(existsSync(join(dir, 'report.html')));
  t.deepEqual(pidsWithEnv('LOADSCOPE_RUN_ID', runId), [], 'its services are gone');
  const clean = await runCli(['cleanup']);
  t.is(clean.code, 0, clean.stderr);
  t.false(clean.stdout.includes(runId), `nothing left by ${runId}: ${clean.stdout}`);
});

test.serial('a killed run loses nothing flushed: its services exit and `report` rebuilds a crashed run', async (t) => {
  const dir = outDir();
  const { child, done } = startCli(['run', smoke, '--out', dir, '--duration-scale', '3']);
  await waitFor(() => journalHas(dir, 'http.reqs'), 20_000);
  await sleep(1200);
  const runId = runIdOf(dir);
  t.true(pidsWithEnv('LOADSCOPE_RUN_ID', runId).length >= 2, 'services are up');
  child.kill('SIGKILL');
  await done;
  await waitFor(() => pidsWithEnv('LOADSCOPE_RUN_ID', runId).length === 0, 5000);
  t.deepEqual(pidsWithEnv('LOADSCOPE_RUN_ID', runId), [], 'services exit when the harness dies');
  const { records } = readJournal(join(dir, 'events.ndjson'));
  t.true(records.some((x) => x.type === 'sample' && x.metric === 'http.reqs'));
  const r = await runCli(['report', dir]);
  t.is(r.code, 0, r.stderr);
  const res = results(dir);
  t.is(res.outcome, 'crashed');
  t.true(res.http.requests > 0);
  // what the dead run created (namespaces, links, cgroups on the local cluster) is removed by the
  // next run, or by `loadscope cleanup`, which names each thing and the run that left it
  const clean = await runCli(['cleanup']);
  t.is(clean.code, 0, clean.stderr);
  t.regex(clean.stdout, new RegExp(`left by dead run ${runId}`));
  const again = await runCli(['cleanup']);
  t.regex(again.stdout, /nothing left by dead runs/);
});

test('run --help and a bad --duration-scale are clean', async (t) => {
  const help = await runCli(['run', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /--duration-scale/);
  const bad = await runCli(['run', smoke, '--duration-scale', 'fast']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--duration-scale fast is not a number/);
  const none = await runCli(['report', join(tmpdir(), 'definitely-not-a-run')]);
  t.is(none.code, 2);
  t.regex(none.stderr, /events\.ndjson does not exist/);
});

function journalHas(dir: string, needle: string): boolean {
  const p = join(dir, 'events.ndjson');
  return existsSync(p) && readFileSync(p, 'utf8').includes(needle);
}

function runIdOf(dir: string): string {
  const first = readFileSync(join(dir, 'events.ndjson'), 'utf8').split('\n').find((l) => l.includes('"type":"run"'));
  return first ? (JSON.parse(first) as { runId: string }).runId : '';
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(100);
  }
}
