// The report in real headless Chromium: no console errors, no network requests, every chart drawn,
// zoom and hover work; a screenshot is saved under reports/out/screens/.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildResult } from '../../src/analyze/results.ts';
import { launchBrowser, type Browser, type Page } from '../../src/render/browser.ts';
import { renderReport } from '../../src/render/render.ts';
import { repoRoot, runCli } from '../helpers/cli.ts';
import { synthetic } from './fixtures.ts';
import { tempDir } from '../helpers/tmp.ts';

const screens = join(repoRoot, 'reports', 'out', 'screens');

let browser: Browser;
test.before(async () => {
  browser = await launchBrowser();
});
test.after.always(async () => {
  await browser?.close();
});

interface Opened {
  page: Page;
  consoleErrors: string[];
  requests: string[];
}

async function open(file: string): Promise<Opened> {
  const page = await browser.newPage();
  const consoleErrors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn') consoleErrors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  page.on('request', (r) => requests.push(r.url()));
  await page.setViewport({ width: 1280, height: 900 });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load', timeout: 60_000 });
  await page.waitForFunction('window.__loadscope && window.__loadscope.ready', { timeout: 60_000 });
  return { page, consoleErrors, requests };
}

/** Per chart container: how many canvas pixels are not transparent (what uPlot drew: axes, grid, series, cells). */
const INKED = `(() => [...document.querySelectorAll('[data-chart]')].map((el) => {
  const canvases = [...el.querySelectorAll('canvas')];
  let inked = 0, area = 0;
  for (const c of canvases) {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    area += c.width * c.height;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) inked++;
  }
  return { id: el.dataset.chart, drawn: el.dataset.drawn === 'true', canvases: canvases.length, inked, area };
}))()`;

interface Inked {
  id: string;
  drawn: boolean;
  canvases: number;
  inked: number;
  area: number;
}

test('a report with every signal: clean console, no network, every chart drawn, zoom and hover', async (t) => {
  const recs = synthetic({ seconds: 300, packetRecords: 3000, events: 100 });
  const header = recs.find((r) => r.type === 'run')!;
  const result = buildResult(recs);
  const dir = tempDir('loadscope-report-test-');
  const file = join(dir, 'report.html');
  writeFileSync(file, renderReport(result, header.type === 'run' ? header.scenarioText : ''));
  const { page, consoleErrors, requests } = await open(file);

  const charts = (await page.evaluate(INKED)) as Inked[];
  const expected = (await page.evaluate('JSON.parse(document.getElementById("report-data").textContent).charts.map((c) => c.id)')) as string[];
  t.deepEqual(charts.map((c) => c.id).sort(), [...expected].sort(), 'a container for every chart the data describes');
  for (const id of ['rps', 'latency', 'stress', 'cpu', 'memory', 'distribution', 'heat-0', 'heat-3', 'pktlat', 'backends', 'routingUpdates', 'tcp', 'drops']) t.true(expected.includes(id), `chart ${id}`);
  for (const c of charts) {
    t.true(c.drawn && c.canvases > 0, `${c.id} has a canvas`);
    t.true(c.inked > c.area * 0.02, `${c.id} drew something (${c.inked} of ${c.area} pixels)`);
  }
  t.is(await page.evaluate('document.querySelectorAll(".absent").length'), 0, 'every signal is present in this run');

  // zoom: drag across the latency chart; every timeline chart follows
  const box = (await page.evaluate(`(() => { const r = document.querySelector('#chart-latency .u-over').getBoundingClientRect(); window.scrollTo(0, r.top + window.scrollY - 100); const b = document.querySelector('#chart-latency .u-over').getBoundingClientRect(); return { x: b.left, y: b.top, w: b.width, h: b.height }; })()`)) as { x: number; y: number; w: number; h: number };
  await page.mouse.move(box.x + box.w * 0.25, box.y + box.h / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.w * 0.5, box.y + box.h / 2, { steps: 5 });
  await page.mouse.up();
  const ranges = (await page.evaluate('window.__loadscope.ranges()')) as Record<string, [number, number]>;
  t.true(ranges.latency[1] - ranges.latency[0] < 120, `zoomed to ${ranges.latency}`);
  for (const id of ['rps', 'cpu', 'heat-0', 'drops']) t.deepEqual(ranges[id], ranges.latency, `${id} zoomed with the latency chart`);
  t.deepEqual(ranges.distribution[0], -0.5, 'the distribution is not on the timeline');

  // hover: the legend shows the window's values
  await page.mouse.move(box.x + box.w * 0.3, box.y + box.h / 3);
  const legend = (await page.evaluate(`[...document.querySelectorAll('#chart-latency .u-legend .u-value')].map((e) => e.textContent)`)) as string[];
  t.true(legend.some((v) => v !== '--' && v !== ''), `legend values on hover: ${legend}`);

  mkdirSync(screens, { recursive: true });
  const shot = join(screens, 'report-synthetic.png');
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: shot, fullPage: true });
  t.log(`screenshot: ${shot}`);
  await page.close();
  t.deepEqual(consoleErrors, []);
  t.deepEqual(requests, [pathToFileURL(file).href], 'the page fetched nothing but itself');
});

test('the report of a real run opens clean, says which signals are absent, and prints to PDF and PNG', async (t) => {
  const dir = tempDir('loadscope-report-run-');
  const scenario = join(dir, 'short.yaml');
  writeFileSync(
    scenario,
    'name: report-short\ncluster: { mode: loopback }\nprobes: off\nrequests:\n  - { method: GET, path: /api/items }\nstages:\n  - { name: warm, duration: 2s, connections: 2 }\n  - { name: ramp, duration: 3s, rate: { from: 20, to: 150 } }\nthresholds:\n  http_req_duration: ["p(99) < 2000"]\n',
  );
  const run = await runCli(['run', scenario, '--out', join(dir, 'run')]);
  t.is(run.code, 0, run.stderr);
  const out = await runCli(['report', join(dir, 'run'), '--pdf', '--png']);
  t.is(out.code, 0, out.stderr);
  t.regex(out.stdout, /pdf: +\S+report\.pdf/);
  t.regex(out.stdout, /png: +\S+report\.png/);
  const file = join(dir, 'run', 'report.html');
  const { page, consoleErrors, requests } = await open(file);
  const charts = (await page.evaluate(INKED)) as Inked[];
  t.true(charts.length >= 3);
  for (const c of charts) t.true(c.drawn && c.inked > c.area * 0.02, `${c.id} drew something`);
  const text = (await page.evaluate('document.body.innerText')) as string;
  t.regex(text, /eBPF probes: probes did not run: /);
  t.regex(text, /Packet latency heatmap: probes did not run: /);
  mkdirSync(screens, { recursive: true });
  const shot = join(screens, 'report-real-run.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.log(`screenshot: ${shot}`);
  await page.close();
  t.deepEqual(consoleErrors, []);
  t.deepEqual(requests, [pathToFileURL(file).href]);
});
