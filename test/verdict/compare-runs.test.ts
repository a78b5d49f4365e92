// The acceptance test of `loadscope compare` (issue 18) with real runs of the bundled services: two
// runs of one scenario call nothing regressed (exit 0); a run whose backend does twice the CPU work
// per request calls p50 and p99 regressed (exit 99). compare.html in real Chromium: both runs'
// timelines drawn, no console errors, nothing fetched.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { withDeathSignal } from '../../src/core/pdeathsig.ts';
import { launchBrowser } from '../../src/render/browser.ts';
import { bin, repoRoot, runCli } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'loadscope-compare-runs-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * ~64 s of open-model load on the bundled backend; `cpuMs` of busy work per request (45% of a core at
 * 4.5 ms, 90% at 9 ms: twice the work shows in the tail as queueing, well above a run's own noise).
 * The steady stage is 60 s, not 30: a machine that stalls now and then for tens of ms (seen in CI,
 * never here) puts a 45%-busy backend's p99 on the few windows that hold a stall, and with one or two
 * stalls in a run the bootstrap's replicates fall either side of them (a p99 MDC of 153% in CI). Twice
 * the windows hold twice the stalls, and the p99 of the run rests on more than one or two of them
 * (docs/compare.md, Limits).
 */
const scenario = (cpuMs: number) => `name: compare-acceptance
services:
  backend:
    routes:
      /api/items: { cpuMs: ${cpuMs}, payloadBytes: 256 }
requests:
  - { method: GET, path: /api/items }
stages:
  - { name: warm, duration: 4s, rate: 50 }
  - { name: steady, duration: 60s, rate: 100 }
`;

/**
 * One run of the scenario. The run gets CPU priority (nice -19 as root): compare sees the noise within
 * a run, not another process's build that slows one run as a whole (docs/compare.md, Limits).
 */
async function run(name: string, cpuMs: number): Promise<string> {
  const before = machine();
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, scenario(cpuMs));
  const dir = join(tmp, name);
  const priority = process.getuid?.() === 0 ? ['nice', '-n', '-19'] : [];
  // SIGTERM from the kernel if this test process dies first (an ava timeout): the run stops and cleans up
  const [cmd, argv] = withDeathSignal(priority[0] ?? process.execPath, [...priority.slice(1), ...(priority.length ? [process.execPath] : []), bin, 'run', file, '--out', dir, '--no-history'], 'TERM');
  const child = spawn(cmd, argv, { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((res) => child.on('close', res));
  if (code !== 0) throw new Error(`loadscope run ${name} exited ${code}: ${stderr.slice(-2000)}`);
  const after = machine();
  quiet[name] = `${name}: ${((after.at - before.at) / 1000).toFixed(1)} s, CPU steal ${after.steal - before.steal} ms (all CPUs), CPU pressure (some) ${((after.pressure - before.pressure) / 1000).toFixed(0)} ms`;
  return dir;
}

/** How quiet the machine was during a run: steal time (/proc/stat, ms at USER_HZ 100) and the kernel's CPU pressure stall total (µs), when readable. */
const quiet: Record<string, string> = {};
function machine(): { at: number; steal: number; pressure: number } {
  const at = Date.now();
  let steal = Number.NaN;
  let pressure = Number.NaN;
  try {
    steal = Number(readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/)[8]) * 10;
  } catch {}
  try {
    pressure = Number(/^some .*total=(\d+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1]);
  } catch {}
  return { at, steal, pressure };
}

const dirs: Record<string, string> = {};
test.before(async (t) => {
  t.timeout(330_000); // three runs of ~70 s each, more on a slow machine
  dirs.base = await run('base', 4.5);
  dirs.heavy = await run('heavy', 9);
  dirs.again = await run('again', 4.5);
});

const fig = (v: number | null) => (v === null ? '-' : Number(v.toPrecision(3)).toString());
type Doc = { verdict: string; machine: { baseline: number; candidate: number; change: number } | null; metrics: { name: string; baseline: number | null; candidate: number | null; verdict: string; change: number | null; interval: [number, number] | null; mdc: number | null }[] };
const read = (dir: string): Doc => JSON.parse(readFileSync(join(dir, 'compare.json'), 'utf8'));
const brief = (d: Doc) => d.metrics.map((m) => `${m.name} ${m.verdict} ${fig(m.baseline)} → ${fig(m.candidate)} ${m.change === null ? 'n/a' : (m.change * 100).toFixed(1)}% [${m.interval?.map((x) => (x * 100).toFixed(1)).join(', ')}] mdc ${m.mdc === null ? '-' : (m.mdc * 100).toFixed(1)}`).join('\n');

test.serial('two runs of the same scenario: nothing regressed, exit 0', async (t) => {
  const r = await runCli(['compare', dirs.base, dirs.again]);
  const doc = read(dirs.again);
  t.log(`${quiet.base}\n${quiet.again}\nmachine ${JSON.stringify(doc.machine)}\n${brief(doc)}`);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.is(doc.metrics.filter((m) => m.verdict === 'regressed').length, 0);
});

test.serial('a backend doing twice the CPU work per request: p50 and p99 regressed, exit 99', async (t) => {
  const r = await runCli(['compare', dirs.base, dirs.heavy]);
  const doc = read(dirs.heavy);
  t.log(`${quiet.base}\n${quiet.heavy}\nmachine ${JSON.stringify(doc.machine)}\n${brief(doc)}`);
  t.is(r.code, 99, r.stdout + r.stderr);
  const by = new Map(doc.metrics.map((m) => [m.name, m]));
  t.is(by.get('http.latencyMs.p50')?.verdict, 'regressed');
  t.is(by.get('http.latencyMs.p99')?.verdict, 'regressed');
  t.is(by.get('service.cpuMsPerRequest{service:backend}')?.verdict, 'regressed');
  t.is(by.get('http.rps')?.verdict, 'unchanged', 'the open model sends the same load');
});

test.serial('compare.html in Chromium: both timelines drawn in every chart, no console error, nothing fetched', async (t) => {
  const file = join(dirs.heavy, 'compare.html');
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('request', (q) => requests.push(q.url()));
    await page.setViewport({ width: 1280, height: 900 });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load', timeout: 60_000 });
    await page.waitForFunction('window.__loadscope && window.__loadscope.ready', { timeout: 60_000 });
    const state = (await page.evaluate(`(() => {
      const data = JSON.parse(document.getElementById('compare-data').textContent);
      const charts = [...document.querySelectorAll('[data-chart]')].map((el) => {
        let inked = 0, area = 0;
        for (const c of el.querySelectorAll('canvas')) {
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          area += c.width * c.height;
          for (let i = 3; i < d.length; i += 4) if (d[i] > 0) inked++;
        }
        return { id: el.dataset.chart, drawn: el.dataset.drawn === 'true', inked, area };
      });
      const series = data.charts.map((c) => ({ id: c.id, labels: c.series.map((s) => s.label), points: c.series.map((s) => s.values.filter((v) => v !== null).length) }));
      return { errors: window.__loadscope.errors, drawn: window.__loadscope.drawn, charts, series, rows: document.querySelectorAll('#metric-table tbody tr').length, verdict: document.querySelector('[data-field=verdict]').textContent };
    })()`)) as { errors: string[]; drawn: number; charts: { id: string; drawn: boolean; inked: number; area: number }[]; series: { id: string; labels: string[]; points: number[] }[]; rows: number; verdict: string };
    t.deepEqual(problems, []);
    t.deepEqual(state.errors, []);
    t.deepEqual(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:')), []);
    t.true(state.charts.length >= 4, `${state.charts.length} charts`);
    for (const c of state.charts) t.true(c.drawn && c.inked > c.area * 0.02, `${c.id} drawn (${c.inked} of ${c.area} pixels inked)`);
    const latency = state.series.find((s) => s.id === 'latency')!;
    t.deepEqual(latency.labels, ['baseline p50', 'candidate p50', 'baseline p99', 'candidate p99']);
    for (const p of latency.points) t.true(p >= 15, `each run's latency has a point per window: ${latency.points}`);
    t.true(state.rows > 5);
    t.regex(state.verdict, /regressed/);
    await page.screenshot({ path: join(tmp, 'compare.png') });
  } finally {
    await browser.close();
  }
});
