// Report at scale: builds a synthetic one-hour journal with every signal the report shows
// (test/helpers/synthetic-journal.ts, the generator the tests use too), then measures what
// `loadscope report <rundir>` does with it — read the journal, correlate, render — in a child process
// (wall time, CPU time, peak RSS, HTML size) and how long Chromium takes to open and draw the page.
//
//   node --import tsx bench/report-scale.ts [--seconds 3600] [--packets 1000000] [--events 500] [--dir DIR] [--no-browser]
//
// The bench suite calls measureReportScale(); figures are informational, not a test.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { writeSyntheticJournal, type SyntheticOptions } from '../test/helpers/synthetic-journal.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** What one measurement found. Times in ms, sizes in bytes. */
export interface ReportScaleFigures {
  seconds: number;
  packetRecords: number;
  events: number;
  journalBytes: number;
  journalRecords: number;
  /** Child process, `loadscope report` path: stream the journal into results (read, parse, correlate, analyse). */
  correlateMs: number;
  /** results → report.html */
  renderMs: number;
  /** JSON.stringify and writing results.json and report.html. */
  writeMs: number;
  /** The whole `loadscope report`: correlate + render + write. */
  totalMs: number;
  /** Records the journal scanner's fast paths took without JSON.parse (sampled packet records). */
  fastRecords: number;
  cpuMs: number;
  peakRssBytes: number;
  /** Render only (results.json → report.html, a separate process): wall and CPU ms, peak RSS. */
  renderOnlyMs: number;
  renderOnlyCpuMs: number;
  renderOnlyPeakRssBytes: number;
  htmlBytes: number;
  resultsBytes: number;
  /** Chromium: navigation start → every chart drawn; null when the browser could not run. */
  browserOpenMs: number | null;
  browserNote?: string;
  charts?: number;
}

/**
 * The child: what `loadscope report <rundir>` does (src/run/run.ts writeOutputs): stream the journal
 * through the result builder, render, write results.json and report.html; print figures as JSON.
 */
async function child(dir: string): Promise<void> {
  const { buildResultFromJournal } = await import('../src/run/rebuild.ts');
  const { renderReport } = await import('../src/render/render.ts');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { result, header, stats } = buildResultFromJournal(join(dir, 'events.ndjson'));
  const t1 = performance.now();
  const html = renderReport(result, header.scenarioText);
  const t2 = performance.now();
  const json = JSON.stringify(result, null, 2);
  writeFileSync(join(dir, 'report.html'), html);
  writeFileSync(join(dir, 'results.json'), json);
  writeFileSync(join(dir, 'scenario.txt'), header.scenarioText);
  const t3 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    JSON.stringify({
      correlateMs: t1 - t0,
      renderMs: t2 - t1,
      writeMs: t3 - t2,
      totalMs: t3 - t0,
      cpuMs: (cpu.user + cpu.system) / 1000,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      htmlBytes: Buffer.byteLength(html),
      resultsBytes: Buffer.byteLength(json),
      fastRecords: stats.fast,
    }) + '\n',
  );
}

/** The render-only child: results.json (as a finished run leaves it) → report.html. */
async function renderChild(dir: string): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const { renderReport } = await import('../src/render/render.ts');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
  const html = renderReport(result, readFileSync(join(dir, 'scenario.txt'), 'utf8'));
  writeFileSync(join(dir, 'report.html'), html);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ renderOnlyMs: ms, renderOnlyCpuMs: (cpu.user + cpu.system) / 1000, renderOnlyPeakRssBytes: process.resourceUsage().maxRSS * 1024, htmlBytes: Buffer.byteLength(html) }) + '\n');
}

/** Opens the report in Chromium (puppeteer-core) and times navigation → every chart drawn. */
async function openInBrowser(html: string): Promise<{ ms: number; charts: number }> {
  const { launchBrowser } = await import('../src/render/browser.ts');
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const t0 = performance.now();
    await page.goto(pathToFileURL(html).href, { waitUntil: 'load', timeout: 60_000 });
    await page.waitForFunction('window.__loadscope && window.__loadscope.ready', { timeout: 60_000 });
    const ms = performance.now() - t0;
    const charts = (await page.evaluate('window.__loadscope.drawn')) as number;
    return { ms, charts };
  } finally {
    await browser.close();
  }
}

/** Builds the journal in `dir` (a temporary one by default), measures, returns the figures. */
export async function measureReportScale(opts: Partial<SyntheticOptions> & { dir?: string; browser?: boolean; log?: (s: string) => void } = {}): Promise<ReportScaleFigures> {
  const seconds = opts.seconds ?? 3600;
  const packetRecords = opts.packetRecords ?? 1_000_000;
  const events = opts.events ?? 500;
  const log = opts.log ?? (() => {});
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'loadscope-report-scale-'));
  const journal = join(dir, 'events.ndjson');
  log(`writing a synthetic journal: ${seconds} windows, ${packetRecords} sampled packet records, ${events} events → ${journal}`);
  const written = await writeSyntheticJournal(journal, { seconds, packetRecords, events });
  log(`journal: ${(written.bytes / 1e6).toFixed(1)} MB, ${written.records} records; measuring in a child process`);
  const runChild = (flag: string) =>
    new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), flag, dir], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      p.stdout.on('data', (d) => (text += d));
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve(JSON.parse(text.trim().split('\n').pop()!)) : reject(new Error(`report-scale ${flag} exited with ${code}`))));
    });
  const full = (await runChild('--child')) as unknown as Record<string, number>;
  log('measuring the render step alone (results.json → report.html)');
  const render = (await runChild('--render-child')) as unknown as Record<string, number>;
  const m = { ...full, ...render } as unknown as Omit<ReportScaleFigures, 'seconds' | 'packetRecords' | 'events' | 'journalBytes' | 'journalRecords' | 'browserOpenMs'>;
  let browserOpenMs: number | null = null;
  let browserNote: string | undefined;
  let charts: number | undefined;
  if (opts.browser !== false) {
    try {
      const b = await openInBrowser(join(dir, 'report.html'));
      browserOpenMs = b.ms;
      charts = b.charts;
    } catch (e) {
      browserNote = (e as Error).message.split('\n')[0];
    }
  }
  if (!opts.dir) rmSync(dir, { recursive: true, force: true });
  return { seconds, packetRecords, events, journalBytes: written.bytes, journalRecords: written.records, ...m, browserOpenMs, ...(browserNote ? { browserNote } : {}), ...(charts !== undefined ? { charts } : {}) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { child: { type: 'string' }, 'render-child': { type: 'string' }, seconds: { type: 'string' }, packets: { type: 'string' }, events: { type: 'string' }, dir: { type: 'string' }, 'no-browser': { type: 'boolean' } },
  });
  if (values.child) return child(values.child);
  if (values['render-child']) return renderChild(values['render-child']);
  const f = await measureReportScale({
    seconds: values.seconds ? Number(values.seconds) : undefined,
    packetRecords: values.packets ? Number(values.packets) : undefined,
    events: values.events ? Number(values.events) : undefined,
    dir: values.dir,
    browser: !values['no-browser'],
    log: (s) => process.stderr.write(`${s}\n`),
  });
  const goal = (ok: boolean) => (ok ? 'met' : 'NOT met');
  process.stderr.write(
    [
      `journal        ${(f.journalBytes / 1e6).toFixed(1)} MB, ${f.journalRecords} records`,
      `read+correlate ${f.correlateMs.toFixed(0)} ms (journal streamed in one pass; ${f.fastRecords} records taken without JSON.parse)`,
      `render HTML    ${f.renderMs.toFixed(0)} ms`,
      `write files    ${f.writeMs.toFixed(0)} ms`,
      `render only    ${f.renderOnlyMs.toFixed(0)} ms wall, ${f.renderOnlyCpuMs.toFixed(0)} ms CPU, peak RSS ${(f.renderOnlyPeakRssBytes / 1048576).toFixed(0)} MiB (results.json → report.html; goal ≤ 3000 ms, ≤ 300 MB: ${goal(f.renderOnlyMs <= 3000 && f.renderOnlyPeakRssBytes <= 300e6)})`,
      `journal→HTML   ${f.totalMs.toFixed(0)} ms wall, ${f.cpuMs.toFixed(0)} ms CPU, peak RSS ${(f.peakRssBytes / 1048576).toFixed(0)} MiB (the whole \`loadscope report\`; goal ≤ 3000 ms, ≤ 300 MB: ${goal(f.totalMs <= 3000 && f.peakRssBytes <= 300e6)})`,
      `HTML           ${(f.htmlBytes / 1e6).toFixed(2)} MB (goal ≤ 5 MB: ${goal(f.htmlBytes <= 5e6)}); results.json ${(f.resultsBytes / 1e6).toFixed(2)} MB`,
      `Chromium open  ${f.browserOpenMs === null ? `not measured: ${f.browserNote}` : `${f.browserOpenMs.toFixed(0)} ms to every chart drawn (${f.charts} charts; goal ≤ 2000 ms: ${goal(f.browserOpenMs <= 2000)})`}`,
    ].join('\n') + '\n',
  );
  process.stdout.write(JSON.stringify(f) + '\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
