import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { K6Engine } from '../../src/load/k6/engine.ts';
import { locateK6 } from '../../src/load/k6/locate.ts';
import type { LoadPlan } from '../../src/load/types.ts';
import { now } from '../../src/core/clock.ts';
import { LoadscopeError } from '../../src/core/errors.ts';
import { readJournal } from '../../src/journal/journal.ts';
import type { RunResult } from '../../src/core/result.ts';
import type { RunEvent, Sample } from '../../src/core/types.ts';
import { sweepStale } from '../../src/core/ledger.ts';
import { runScenario } from '../../src/run/run.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { startServer } from '../helpers/with-server.ts';
import { MemorySink } from '../helpers/memory-sink.ts';

// These tests drive the real k6 (.tools/bin/k6, built by `npm run setup`) against loopback servers.

const USER_SCRIPT = fileURLToPath(new URL('../../fixtures/k6/user-script.js', import.meta.url));
const DRIVER = fileURLToPath(new URL('../../fixtures/k6/run-engine.ts', import.meta.url));

/** Live (non-zombie) processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (cmd.includes(text) && stat[stat.lastIndexOf(')') + 2] !== 'Z') out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}
/** A temp directory removed when the test ends. */
function tmp(t: ExecutionContext, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `ls-k6-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}


function openScenario(engine: 'autocannon' | 'k6', extra = ''): string {
  return `name: open-${engine}
engine: ${engine}
target: { services: bundled }
requests:
  - { name: items, method: GET, path: /api/items, weight: 3 }
  - { name: create, method: POST, path: /api/items, headers: { content-type: application/json }, body: '{"sku":"a-1"}', weight: 1 }
stages:
  - { name: warmup, duration: 2s, connections: 2 }
  - { name: steady, duration: 6s, rate: 200 }
thresholds:
  http_req_duration: ["p(99) < 500"]
  http_req_failed: ["rate < 0.01"]
${extra}`;
}

/** The shape of a JSON value: keys and value types, arrays by their first element; free-form records as "record". */
function shape(x: unknown, path = ''): unknown {
  if (['.http.errorsByKind', '.services', '.probes', '.environment', '.engineNative'].includes(path)) return 'record';
  if (Array.isArray(x)) return x.length ? [shape(x[0], `${path}[]`)] : [];
  if (x !== null && typeof x === 'object') {
    return Object.fromEntries(Object.keys(x).sort().map((k) => [k, shape((x as Record<string, unknown>)[k], `${path}.${k}`)]));
  }
  return x === null ? 'null' : typeof x;
}

/** Paths where two shapes differ; an empty array matches any array and null any value (nullable fields). */
function shapeDiff(a: unknown, b: unknown, path = ''): string[] {
  if (Array.isArray(a) && Array.isArray(b)) return a.length && b.length ? shapeDiff(a[0], b[0], `${path}[]`) : [];
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    const out = [...ka.filter((k) => !kb.includes(k)).map((k) => `${path}.${k} only with k6`), ...kb.filter((k) => !ka.includes(k)).map((k) => `${path}.${k} only with autocannon`)];
    for (const k of ka.filter((x) => kb.includes(x))) out.push(...shapeDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`));
    return out;
  }
  if (a === 'null' || b === 'null') return [];
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [`${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`];
}

const engineSummary = (dir: string) => readJournal(join(dir, 'events.ndjson')).records.find((r) => r.type === 'event' && r.kind === 'engine.summary') as (RunEvent & { attrs: { extra?: { k6?: Record<string, unknown> } } }) | undefined;

test.serial('the same open-model scenario with autocannon and k6: both reach the target rate within 5%, results have the same shape', async (t) => {
  const results: Record<string, RunResult> = {};
  for (const engine of ['autocannon', 'k6'] as const) {
    const dir = tmp(t, engine);
    const { result } = await runScenario(parseScenario(openScenario(engine), `open-${engine}.yaml`), { outDir: dir });
    results[engine] = result;
    const steady = result.stages.find((s) => s.name === 'steady')!;
    t.log(`${engine}: steady ${steady.requests} responses in ${steady.durationS} s = ${steady.rps} req/s, p99 ${steady.latencyMs?.p99} ms; run: sent ${result.http.requestsSent}, responses ${result.http.requests}, dropped ${result.http.dropped}, basis ${result.http.latencyBasis}`);
    t.true(Math.abs(steady.rps! - 200) / 200 <= 0.05, `${engine} reached ${steady.rps} req/s of 200`);
    t.is(result.outcome, 'completed');
    t.true(result.checks.servedVsClient?.ok, JSON.stringify(result.checks.servedVsClient));
    t.is(result.http.errors, 0);
    t.true(result.windows.some((w) => w.stage === 'steady' && w.rps > 150));
  }
  const [a, k] = [results.autocannon, results.k6];
  t.true(Math.abs(a.stages[1].rps! - k.stages[1].rps!) / 200 <= 0.05, `autocannon ${a.stages[1].rps} vs k6 ${k.stages[1].rps}`);
  t.deepEqual(shapeDiff(shape(k), shape(a)), []);
  t.is(k.engine, 'k6');
  t.deepEqual(k.thresholds.map((x) => x.expression), a.thresholds.map((x) => x.expression));
});

test.serial('a user k6 script from fixtures/ runs unchanged; its requests land in windows and stages per k6 scenario', async (t) => {
  const before = createHash('sha256').update(readFileSync(USER_SCRIPT)).digest('hex');
  const dir = tmp(t, 'user');
  const text = `name: k6-user-script
engine: k6
script: ${USER_SCRIPT}
target: { services: bundled }
stages:
  - { name: browse, duration: 4s, rate: 50 }
  - { name: checkout, duration: 4s, connections: 4 }
thresholds:
  http_req_failed: ["rate < 0.01"]
`;
  const { result } = await runScenario(parseScenario(text, 'user.yaml'), { outDir: dir });
  t.is(createHash('sha256').update(readFileSync(USER_SCRIPT)).digest('hex'), before);
  t.false(existsSync(join(dir, 'k6-script.js')), 'no generated script: the user script ran as is');
  const browse = result.stages.find((s) => s.name === 'browse')!;
  const checkout = result.stages.find((s) => s.name === 'checkout')!;
  t.log(`browse ${browse.requests} req (${browse.rps}/s), checkout ${checkout.requests} req, windows ${result.windows.map((w) => `${w.stage}:${w.rps}`).join(' ')}`);
  t.true(Math.abs(browse.requests - 200) <= 10, `browse: 50/s for 4 s, got ${browse.requests}`);
  t.true(checkout.requests > 10);
  t.true(browse.durationS! > 3.5 && browse.durationS! < 4.5, `browse lasted ${browse.durationS} s`);
  t.is(result.windows.reduce((x, w) => x + w.rps, 0), result.http.requests);
  t.true(result.windows.filter((w) => w.rps > 0).length >= 4);
  t.true(result.checks.servedVsClient?.ok, JSON.stringify(result.checks.servedVsClient));
  t.true(result.events.some((e) => e.kind === 'k6.summary'));
  const k6 = engineSummary(dir)!.attrs.extra!.k6!;
  const checks = k6.checks as { name: string; passes: number; fails: number }[];
  t.is(checks.find((c) => c.name === 'items: status 200')?.passes, browse.requests);
  t.true((checks.find((c) => c.name === 'create: status 2xx')?.passes ?? 0) > 0);
  t.true((k6.thresholds as { metric: string }[]).some((x) => x.metric === 'http_req_duration{scenario:browse}'));
});

test.serial('two k6 processes split the load; thresholds are judged on the merged data, not per process', async (t) => {
  const dir = tmp(t, 'merge');
  // Each process sends about half of 100/s × 4 s: k6 alone fails "count > 300" in both (exit 99),
  // the merged data passes it.
  const text = `name: k6-two
engine: k6
target: { services: bundled }
stages:
  - { name: steady, duration: 4s, rate: 100 }
thresholds:
  http_reqs: ["count > 300"]
`;
  process.env.LOADSCOPE_K6_INSTANCES = '2';
  let result: RunResult;
  try {
    ({ result } = await runScenario(parseScenario(text, 'two.yaml'), { outDir: dir }));
  } finally {
    delete process.env.LOADSCOPE_K6_INSTANCES;
  }
  const perProcess = result.events.filter((e) => e.kind === 'k6.summary');
  t.is(perProcess.length, 2);
  for (const e of perProcess) t.regex(e.text, /exited 99 \(thresholds crossed\); k6 thresholds crossed: .*http_reqs count > 300/);
  const merged = result.thresholds.find((x) => x.metric === 'http_reqs')!;
  t.true(merged.ok, JSON.stringify(merged));
  t.true(Math.abs(merged.observed! - 400) <= 20, `observed ${merged.observed}`);
  t.is(result.outcome, 'completed');
  t.true(result.checks.servedVsClient?.ok, JSON.stringify(result.checks.servedVsClient));
  // The journal's window histograms hold every response of both processes.
  const lat = readJournal(join(dir, 'events.ndjson')).records.filter((r) => r.type === 'sample' && r.metric === 'http.latency_us') as Sample[];
  t.is(lat.reduce((x, s) => x + s.value, 0), result.http.requests);
  const k6 = engineSummary(dir)!.attrs.extra!.k6!;
  t.deepEqual(k6.executionSegments, ['0:1/2', '1/2:1']);
  t.deepEqual(k6.exitCodes, [99, 99]);
  t.true(readdirSync(dir).includes('k6-summary-1.json'));
});

test('a k6 failure (bad script) is an ENGINE error carrying k6\'s stderr', async (t) => {
  const server = await startServer((_req, res) => res.end('ok'));
  t.teardown(() => server.close());
  const dir = tmp(t, 'bad');
  const script = join(dir, 'bad.js');
  writeFileSync(script, "import http from 'k6/http';\nexport default function () { http.get(__ENV.BASE_URL + '/' ; }\n");
  const plan: LoadPlan = { baseUrl: server.url, requests: [], stages: [{ name: 's', startMs: 0, durationMs: 1000, model: 'closed', connections: 1 }], requestTimeoutMs: 1000, runStart: now(), sink: new MemorySink(), script, workDir: dir };
  const err = await t.throwsAsync(new K6Engine().run(plan, new AbortController().signal), { instanceOf: LoadscopeError });
  t.is(err!.code, 'ENGINE');
  t.regex(err!.message, /exited with code 107 \(script exception\)/);
  t.regex(err!.message, /bad\.js.*Line 2/s);
  t.truthy(err!.hint);
  t.regex(readFileSync(join(dir, 'k6.log'), 'utf8'), /could not initialize/);
});

test('aborting stops k6 gracefully: what was measured is kept and the running stage ends early', async (t) => {
  const server = await startServer((_req, res) => res.end('ok'));
  t.teardown(() => server.close());
  const dir = tmp(t, 'abort');
  const sink = new MemorySink();
  const ac = new AbortController();
  // Aborted 2 s into the load, not 2.5 s after the test began: k6's own start (its binary, the script's
  // init) took a part of a fixed delay that grows on a busy machine, and with it the responses counted.
  let loadAt: number | undefined;
  let abortedAt: number | undefined;
  const record = sink.event.bind(sink);
  sink.event = (e) => {
    record(e);
    if (e.kind !== 'stage.start' || loadAt !== undefined) return;
    loadAt = now();
    setTimeout(() => {
      abortedAt = now();
      ac.abort();
    }, 2000);
  };
  const plan: LoadPlan = {
    baseUrl: server.url,
    requests: [{ method: 'GET', path: '/', headers: {}, weight: 1 }],
    stages: [
      { name: 'one', startMs: 0, durationMs: 10_000, model: 'open', rate: { from: 50, to: 50 } },
      { name: 'two', startMs: 10_000, durationMs: 10_000, model: 'open', rate: { from: 50, to: 50 } },
    ],
    requestTimeoutMs: 1000,
    runStart: now(),
    sink,
    workDir: dir,
  };
  const t0 = now();
  const summary = await new K6Engine().run(plan, ac.signal);
  t.log(`the load began ${Math.round(loadAt! - t0)} ms after the engine started; k6 stopped ${Math.round(now() - abortedAt!)} ms after the abort`);
  t.true(abortedAt !== undefined && now() - abortedAt < 5500, 'k6 stopped on SIGINT');
  t.true(summary.responses > 50, `${summary.responses} responses`);
  t.is(summary.requestsSent, summary.responses + summary.errors + summary.inFlightAtCutoff);
  const starts = sink.events.filter((e) => e.kind === 'stage.start').map((e) => e.attrs.stage);
  const ends = sink.events.filter((e) => e.kind === 'stage.end');
  t.deepEqual(starts, ['one']);
  t.is(ends.length, 1);
  t.true(ends[0].time - abortedAt! < 1500, 'the stage ended at the abort');
  t.is(sink.samples.filter((s) => s.metric === 'http.reqs').reduce((x, s) => x + s.value, 0), summary.responses);
});

test('no k6 binary: an ENVIRONMENT error whose hint says how to get k6', async (t) => {
  const empty = tmp(t, 'nok6');
  const plan: LoadPlan = { baseUrl: 'http://127.0.0.1:1', requests: [], stages: [], requestTimeoutMs: 1000, runStart: now(), sink: new MemorySink(), workDir: empty };
  const err = await t.throwsAsync(new K6Engine({ locate: { env: { PATH: empty }, root: empty } }).run(plan, new AbortController().signal), { instanceOf: LoadscopeError });
  t.is(err!.code, 'ENVIRONMENT');
  t.regex(err!.message, /k6 engine needs the k6 binary/);
  t.regex(err!.hint!, /install Go/);

  // With Go on PATH, the hint is the setup step that builds k6 from the Go module proxy.
  const bin = join(empty, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'go'), '#!/bin/sh\nexit 1\n');
  chmodSync(join(bin, 'go'), 0o755);
  const withGo = await t.throwsAsync(locateK6({ env: { PATH: bin }, root: empty }), { instanceOf: LoadscopeError });
  t.regex(withGo!.hint!, /npm run setup.*go install go\.k6\.io\/k6@v1\.8\.1/s);

  // LOADSCOPE_K6 pointing at something that is not k6 is named as such.
  const bad = await t.throwsAsync(locateK6({ env: { PATH: '', LOADSCOPE_K6: join(bin, 'go') }, root: empty }), { instanceOf: LoadscopeError });
  t.regex(bad!.message, /does not run as k6/);

  // LOADSCOPE_K6 naming no file is an error too, never a quiet fall-back to another k6.
  const tools = join(empty, '.tools', 'bin');
  mkdirSync(tools, { recursive: true });
  writeFileSync(join(tools, 'k6'), '#!/bin/sh\necho "k6 v1.8.1 (fake)"\n');
  chmodSync(join(tools, 'k6'), 0o755);
  t.is((await locateK6({ env: { PATH: '' }, root: empty })).source, 'tools');
  const missing = await t.throwsAsync(locateK6({ env: { PATH: '', LOADSCOPE_K6: join(empty, 'no-such-k6') }, root: empty }), { instanceOf: LoadscopeError });
  t.is(missing!.code, 'ENVIRONMENT');
  t.regex(missing!.message, /LOADSCOPE_K6=.*no-such-k6 is not an executable file/);
});

test('a loadscope killed outright takes its k6 process with it and leaves nothing behind to sweep', async (t) => {
  const server = await startServer((_req, res) => res.end('ok'));
  t.teardown(() => server.close());
  const dir = tmp(t, 'orphan');
  const ledgers = tmp(t, 'ledgers');
  const driver = spawn(process.execPath, ['--import', 'tsx', DRIVER, dir, server.url, ledgers], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void driver.kill('SIGKILL'));
  await new Promise<void>((res, rej) => {
    createInterface({ input: driver.stdout! }).on('line', (l) => l === 'started' && res());
    driver.once('exit', (code) => rej(new Error(`driver exited ${code} before the stage started`)));
  });
  const k6 = processesMentioning(join(dir, 'k6-summary.json'));
  t.is(k6.length, 1, 'one k6 process runs for the driver');
  driver.kill('SIGKILL');
  let left = k6;
  for (let i = 0; i < 40 && left.length; i++) {
    await sleep(50);
    left = processesMentioning(join(dir, 'k6-summary.json'));
  }
  t.deepEqual(left, [], 'k6 died with its parent (PR_SET_PDEATHSIG via setpriv)');
  // results come by remote write to a socket of the dead process: no FIFO or stream file was made
  t.deepEqual(readdirSync(dir).filter((f) => f.startsWith('.k6-stream-')), []);
  t.deepEqual(sweepStale(ledgers).filter((r) => r.includes('k6-driver')), []);
});
